//! Every GraphQL document the client sends, in one place, so a test can validate each against the pinned
//! schema of every supported version.
/// Customer lookup by email, phone or id (`CustomerIdentifierInput`).
pub const CUSTOMER_BY_IDENTIFIER: &str = "query CustomerByIdentifier($identifier: CustomerIdentifierInput!) { customerByIdentifier(identifier: $identifier) { id } }";

/// Customer create/update/upsert.
pub const CUSTOMER_SET: &str = "mutation CustomerSet($input: CustomerSetInput!, $identifier: CustomerSetIdentifiers) { customerSet(input: $input, identifier: $identifier) { customer { id } userErrors { code field message } } }";

/// Metafields of any owner (customers: `customerSet` takes none).
pub const METAFIELDS_SET: &str = "mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $metafields) { metafields { id } userErrors { code field message elementIndex } } }";

/// Metafields of any owner removed (a NULL in the warehouse clears the metafield).
pub const METAFIELDS_DELETE: &str = "mutation MetafieldsDelete($metafields: [MetafieldIdentifierInput!]!) { metafieldsDelete(metafields: $metafields) { deletedMetafields { key namespace ownerId } userErrors { field message } } }";

/// Product lookup by handle or id.
pub const PRODUCT_BY_IDENTIFIER: &str = "query ProductByIdentifier($identifier: ProductIdentifierInput!) { productByIdentifier(identifier: $identifier) { id } }";

/// Product create/update/upsert, synchronously.
pub const PRODUCT_SET: &str = "mutation ProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers) { productSet(input: $input, identifier: $identifier, synchronous: true) { product { id } userErrors { code field message } } }";

/// Product delete.
pub const PRODUCT_DELETE: &str = "mutation ProductDelete($input: ProductDeleteInput!) { productDelete(input: $input, synchronous: true) { deletedProductId userErrors { field message } } }";

/// Inventory item update.
pub const INVENTORY_ITEM_UPDATE: &str = "mutation InventoryItemUpdate($id: ID!, $input: InventoryItemInput!) { inventoryItemUpdate(id: $id, input: $input) { inventoryItem { id } userErrors { field message } } }";

/// Whether an item is stocked at a location.
pub const INVENTORY_LEVEL: &str = "query InventoryLevel($item: ID!, $location: ID!) { inventoryItem(id: $item) { id inventoryLevel(locationId: $location) { id } } }";

/// Stock an item at a location. Like the quantity mutations it takes an `@idempotent` key (required from
/// 2026-04, accepted from 2026-01).
pub const INVENTORY_ACTIVATE: &str = "mutation InventoryActivate($item: ID!, $location: ID!, $key: String!) { inventoryActivate(inventoryItemId: $item, locationId: $location) @idempotent(key: $key) { inventoryLevel { id } userErrors { field message } } }";

/// Set quantities. The `@idempotent` key is required from 2026-04 and accepted from 2026-01; the input differs
/// by version (2026-01 compares quantities unless told not to; later versions need `changeFromQuantity`).
pub const INVENTORY_SET_QUANTITIES: &str = "mutation InventorySetQuantities($input: InventorySetQuantitiesInput!, $key: String!) { inventorySetQuantities(input: $input) @idempotent(key: $key) { inventoryAdjustmentGroup { id } userErrors { code field message } } }";

/// Add redeem codes to a code discount (asynchronous; poll [`DISCOUNT_BULK_CREATION`]).
pub const DISCOUNT_CODES_BULK_ADD: &str = "mutation DiscountRedeemCodeBulkAdd($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) { discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) { bulkCreation { id done } userErrors { code field message } } }";

/// The state and per-code results of a bulk code creation.
pub const DISCOUNT_BULK_CREATION: &str = "query DiscountRedeemCodeBulkCreation($id: ID!) { discountRedeemCodeBulkCreation(id: $id) { id done codes(first: 250) { nodes { code errors { code field message } discountRedeemCode { id } } } } }";

/// The code discount a redeem code belongs to (case-insensitive, as Shopify looks codes up), with the redeem
/// codes matching `$search` (a phrase search for the code; the exact one is picked from the few that match).
pub const CODE_DISCOUNT_BY_CODE: &str = "query CodeDiscountByCode($code: String!, $search: String!) { codeDiscountNodeByCode(code: $code) { id codeDiscount { __typename ... on DiscountCodeBasic { codes(first: 10, query: $search) { nodes { id code } } } ... on DiscountCodeBxgy { codes(first: 10, query: $search) { nodes { id code } } } ... on DiscountCodeFreeShipping { codes(first: 10, query: $search) { nodes { id code } } } ... on DiscountCodeApp { codes(first: 10, query: $search) { nodes { id code } } } } } }";

/// A code discount's usage settings and kind (its update mutation depends on the kind).
pub const CODE_DISCOUNT_USAGE: &str = "query CodeDiscountUsage($id: ID!) { codeDiscountNode(id: $id) { id codeDiscount { __typename ... on DiscountCodeBasic { usageLimit appliesOncePerCustomer } ... on DiscountCodeBxgy { usageLimit appliesOncePerCustomer } ... on DiscountCodeFreeShipping { usageLimit appliesOncePerCustomer } ... on DiscountCodeApp { usageLimit appliesOncePerCustomer } } } }";

/// Changes a basic code discount (shopsync sends only its usage settings).
pub const DISCOUNT_CODE_BASIC_UPDATE: &str = "mutation DiscountCodeBasicUpdate($id: ID!, $input: DiscountCodeBasicInput!) { discountCodeBasicUpdate(id: $id, basicCodeDiscount: $input) { codeDiscountNode { id } userErrors { code field message } } }";

/// Changes a buy X get Y code discount (usage settings only).
pub const DISCOUNT_CODE_BXGY_UPDATE: &str = "mutation DiscountCodeBxgyUpdate($id: ID!, $input: DiscountCodeBxgyInput!) { discountCodeBxgyUpdate(id: $id, bxgyCodeDiscount: $input) { codeDiscountNode { id } userErrors { code field message } } }";

/// Changes a free shipping code discount (usage settings only).
pub const DISCOUNT_CODE_FREE_SHIPPING_UPDATE: &str = "mutation DiscountCodeFreeShippingUpdate($id: ID!, $input: DiscountCodeFreeShippingInput!) { discountCodeFreeShippingUpdate(id: $id, freeShippingCodeDiscount: $input) { codeDiscountNode { id } userErrors { code field message } } }";

/// Changes an app code discount (usage settings only).
pub const DISCOUNT_CODE_APP_UPDATE: &str = "mutation DiscountCodeAppUpdate($id: ID!, $input: DiscountCodeAppInput!) { discountCodeAppUpdate(id: $id, codeAppDiscount: $input) { codeAppDiscount { discountId } userErrors { code field message } } }";

/// A fulfillment tracking event.
pub const FULFILLMENT_EVENT_CREATE: &str = "mutation FulfillmentEventCreate($event: FulfillmentEventInput!) { fulfillmentEventCreate(fulfillmentEvent: $event) { fulfillmentEvent { id } userErrors { field message } } }";

/// Cancel a fulfillment order. (Its user errors have no `code` before 2026-04.)
pub const FULFILLMENT_ORDER_CANCEL: &str = "mutation FulfillmentOrderCancel($id: ID!) { fulfillmentOrderCancel(id: $id) { fulfillmentOrder { id status } userErrors { field message } } }";
/// Mark a fulfillment order incomplete.
pub const FULFILLMENT_ORDER_CLOSE: &str = "mutation FulfillmentOrderClose($id: ID!, $message: String) { fulfillmentOrderClose(id: $id, message: $message) { fulfillmentOrder { id status } userErrors { field message } } }";
/// Hold a fulfillment order.
pub const FULFILLMENT_ORDER_HOLD: &str = "mutation FulfillmentOrderHold($id: ID!, $hold: FulfillmentOrderHoldInput!) { fulfillmentOrderHold(id: $id, fulfillmentHold: $hold) { fulfillmentHold { id } fulfillmentOrder { id status } userErrors { code field message } } }";
/// Move a fulfillment order to another location.
pub const FULFILLMENT_ORDER_MOVE: &str = "mutation FulfillmentOrderMove($id: ID!, $newLocationId: ID!) { fulfillmentOrderMove(id: $id, newLocationId: $newLocationId) { movedFulfillmentOrder { id status } userErrors { field message } } }";
/// Open a scheduled fulfillment order.
pub const FULFILLMENT_ORDER_OPEN: &str = "mutation FulfillmentOrderOpen($id: ID!) { fulfillmentOrderOpen(id: $id) { fulfillmentOrder { id status } userErrors { field message } } }";
/// Release the holds of a fulfillment order.
pub const FULFILLMENT_ORDER_RELEASE_HOLD: &str = "mutation FulfillmentOrderReleaseHold($id: ID!, $holdIds: [ID!], $externalId: String) { fulfillmentOrderReleaseHold(id: $id, holdIds: $holdIds, externalId: $externalId) { fulfillmentOrder { id status } userErrors { code field message } } }";
/// Reschedule a scheduled fulfillment order.
pub const FULFILLMENT_ORDER_RESCHEDULE: &str = "mutation FulfillmentOrderReschedule($id: ID!, $fulfillAt: DateTime!) { fulfillmentOrderReschedule(id: $id, fulfillAt: $fulfillAt) { fulfillmentOrder { id status } userErrors { code field message } } }";

/// A fulfillment's events, newest first: how a send whose answer was lost is looked for.
pub const FULFILLMENT_EVENTS: &str = "query FulfillmentEvents($id: ID!, $after: String) { fulfillment(id: $id) { id events(first: 50, after: $after, sortKey: HAPPENED_AT, reverse: true) { nodes { id status message happenedAt estimatedDeliveryAt city province country zip address1 latitude longitude } pageInfo { hasNextPage endCursor } } } }";
/// The state of a fulfillment order that the seven actions change: how an action whose answer was lost is
/// found to have taken effect or not.
pub const FULFILLMENT_ORDER_STATE: &str = "query FulfillmentOrderState($id: ID!) { fulfillmentOrder(id: $id) { id status fulfillAt assignedLocation { location { id } } fulfillmentHolds { id handle reason reasonNotes } } }";

/// Reserve a staged upload target for a bulk mutation's variables file.
pub const STAGED_UPLOADS_CREATE: &str = "mutation StagedUploadsCreate($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) { stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }";

/// Start a bulk mutation over an uploaded JSONL file (one line of variables per row).
pub const BULK_OPERATION_RUN_MUTATION: &str = "mutation BulkOperationRunMutation($mutation: String!, $path: String!) { bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $path) { bulkOperation { id status } userErrors { code field message } } }";

/// Poll one bulk operation (the `bulkOperation(id:)` query exists from 2026-01, the oldest version supported).
pub const BULK_OPERATION: &str = "query BulkOperation($id: ID!) { bulkOperation(id: $id) { id status errorCode objectCount url partialDataUrl } }";

/// The latest bulk mutation of this app on the shop: what a run that lost track of its own looks for.
pub const CURRENT_BULK_MUTATION: &str =
    "query CurrentBulkMutation { currentBulkOperation(type: MUTATION) { id status query } }";

/// The cheap shop query a destination check sends.
pub const SHOP: &str = "query Shop { shop { name myshopifyDomain plan { publicDisplayName } } currentAppInstallation { accessScopes { handle } } }";

/// Every document, for validation.
pub fn all() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CUSTOMER_BY_IDENTIFIER", CUSTOMER_BY_IDENTIFIER),
        ("CUSTOMER_SET", CUSTOMER_SET),
        ("METAFIELDS_SET", METAFIELDS_SET),
        ("PRODUCT_BY_IDENTIFIER", PRODUCT_BY_IDENTIFIER),
        ("METAFIELDS_DELETE", METAFIELDS_DELETE),
        ("PRODUCT_SET", PRODUCT_SET),
        ("PRODUCT_DELETE", PRODUCT_DELETE),
        ("INVENTORY_ITEM_UPDATE", INVENTORY_ITEM_UPDATE),
        ("INVENTORY_LEVEL", INVENTORY_LEVEL),
        ("INVENTORY_ACTIVATE", INVENTORY_ACTIVATE),
        ("INVENTORY_SET_QUANTITIES", INVENTORY_SET_QUANTITIES),
        ("DISCOUNT_CODES_BULK_ADD", DISCOUNT_CODES_BULK_ADD),
        ("DISCOUNT_BULK_CREATION", DISCOUNT_BULK_CREATION),
        ("CODE_DISCOUNT_BY_CODE", CODE_DISCOUNT_BY_CODE),
        ("CODE_DISCOUNT_USAGE", CODE_DISCOUNT_USAGE),
        ("DISCOUNT_CODE_BASIC_UPDATE", DISCOUNT_CODE_BASIC_UPDATE),
        ("DISCOUNT_CODE_BXGY_UPDATE", DISCOUNT_CODE_BXGY_UPDATE),
        (
            "DISCOUNT_CODE_FREE_SHIPPING_UPDATE",
            DISCOUNT_CODE_FREE_SHIPPING_UPDATE,
        ),
        ("DISCOUNT_CODE_APP_UPDATE", DISCOUNT_CODE_APP_UPDATE),
        ("FULFILLMENT_EVENT_CREATE", FULFILLMENT_EVENT_CREATE),
        ("FULFILLMENT_ORDER_CANCEL", FULFILLMENT_ORDER_CANCEL),
        ("FULFILLMENT_ORDER_CLOSE", FULFILLMENT_ORDER_CLOSE),
        ("FULFILLMENT_ORDER_HOLD", FULFILLMENT_ORDER_HOLD),
        ("FULFILLMENT_ORDER_MOVE", FULFILLMENT_ORDER_MOVE),
        ("FULFILLMENT_ORDER_OPEN", FULFILLMENT_ORDER_OPEN),
        (
            "FULFILLMENT_ORDER_RELEASE_HOLD",
            FULFILLMENT_ORDER_RELEASE_HOLD,
        ),
        ("FULFILLMENT_ORDER_RESCHEDULE", FULFILLMENT_ORDER_RESCHEDULE),
        ("FULFILLMENT_EVENTS", FULFILLMENT_EVENTS),
        ("FULFILLMENT_ORDER_STATE", FULFILLMENT_ORDER_STATE),
        ("STAGED_UPLOADS_CREATE", STAGED_UPLOADS_CREATE),
        ("BULK_OPERATION_RUN_MUTATION", BULK_OPERATION_RUN_MUTATION),
        ("BULK_OPERATION", BULK_OPERATION),
        ("CURRENT_BULK_MUTATION", CURRENT_BULK_MUTATION),
        ("SHOP", SHOP),
    ]
}

/// The upserts the client can send several to a document (aliased) and run as bulk operations: one mutation
/// per row, identified so that sending it again changes nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetMutation {
    /// `productSet` ([`PRODUCT_SET`]).
    ProductSet,
    /// `customerSet` ([`CUSTOMER_SET`]).
    CustomerSet,
}

impl SetMutation {
    /// Every kind, for validation.
    pub const ALL: [SetMutation; 2] = [SetMutation::ProductSet, SetMutation::CustomerSet];

    /// The mutation's root field.
    pub fn root(self) -> &'static str {
        match self {
            SetMutation::ProductSet => "productSet",
            SetMutation::CustomerSet => "customerSet",
        }
    }

    /// The one-row document; also the inner mutation of a bulk operation (its variables are one JSONL line).
    pub fn single(self) -> &'static str {
        match self {
            SetMutation::ProductSet => PRODUCT_SET,
            SetMutation::CustomerSet => CUSTOMER_SET,
        }
    }

    /// Where the record's id is in the payload.
    pub fn id_path(self) -> &'static str {
        match self {
            SetMutation::ProductSet => "/product/id",
            SetMutation::CustomerSet => "/customer/id",
        }
    }

    /// What Shopify charges for one (a mutation root field costs 10; the payload's objects are included).
    pub fn unit_cost(self) -> u64 {
        10
    }

    fn types(self) -> (&'static str, &'static str) {
        match self {
            SetMutation::ProductSet => ("ProductSetInput!", "ProductSetIdentifiers"),
            SetMutation::CustomerSet => ("CustomerSetInput!", "CustomerSetIdentifiers"),
        }
    }

    fn field(self, i: usize) -> String {
        match self {
            SetMutation::ProductSet => format!(
                "m{i}: productSet(input: $input{i}, identifier: $identifier{i}, synchronous: true) {{ product {{ id }} userErrors {{ code field message }} }}"
            ),
            SetMutation::CustomerSet => format!(
                "m{i}: customerSet(input: $input{i}, identifier: $identifier{i}) {{ customer {{ id }} userErrors {{ code field message }} }}"
            ),
        }
    }
}

/// `n` aliased record lookups in one query, the `i`-th taking `$identifier{i}`: products by
/// `ProductIdentifierInput`, customers by `CustomerIdentifierInput`. Aliases as in [`batched`].
pub fn batched_lookup(kind: SetMutation, n: usize) -> String {
    let (name, field, input) = match kind {
        SetMutation::ProductSet => ("Products", "productByIdentifier", "ProductIdentifierInput!"),
        SetMutation::CustomerSet => (
            "Customers",
            "customerByIdentifier",
            "CustomerIdentifierInput!",
        ),
    };
    let vars: Vec<String> = (0..n).map(|i| format!("$identifier{i}: {input}")).collect();
    let fields: Vec<String> = (0..n)
        .map(|i| format!("m{i}: {field}(identifier: $identifier{i}) {{ id }}"))
        .collect();
    format!(
        "query Lookup{name}({}) {{ {} }}",
        vars.join(", "),
        fields.join(" ")
    )
}

/// The alias of the `i`-th mutation of a [`batched`] document.
pub fn alias(i: usize) -> String {
    format!("m{i}")
}

/// `n` aliased copies of `kind` in one document, the `i`-th taking `$input{i}` and `$identifier{i}`.
pub fn batched(kind: SetMutation, n: usize) -> String {
    let (input, identifier) = kind.types();
    let vars: Vec<String> = (0..n)
        .map(|i| format!("$input{i}: {input}, $identifier{i}: {identifier}"))
        .collect();
    let fields: Vec<String> = (0..n).map(|i| kind.field(i)).collect();
    format!(
        "mutation {}Batch({}) {{ {} }}",
        match kind {
            SetMutation::ProductSet => "ProductSet",
            SetMutation::CustomerSet => "CustomerSet",
        },
        vars.join(", "),
        fields.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use apollo_compiler::ExecutableDocument;

    use super::*;
    use crate::core::config::ApiVersion;

    #[test]
    fn every_document_validates_against_every_supported_schema() {
        let mut failures = Vec::new();
        for version in ApiVersion::ALL {
            let schema = crate::schema::schema(version);
            for (name, doc) in all() {
                if let Err(e) =
                    ExecutableDocument::parse_and_validate(schema, doc, format!("{name}.graphql"))
                {
                    failures.push(format!("{name} @ {version}: {}", e.errors));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn batched_documents_validate_against_every_supported_schema() {
        let mut failures = Vec::new();
        for version in ApiVersion::ALL {
            let schema = crate::schema::schema(version);
            for kind in SetMutation::ALL {
                // Every size the client can send, up to the largest the 1000-point ceiling allows.
                for n in 1..=super::super::batch::max_batch(kind) {
                    let doc = batched(kind, n);
                    match ExecutableDocument::parse_and_validate(schema, &doc, "batch.graphql") {
                        Ok(d) => {
                            let op = d
                                .operations
                                .iter()
                                .next()
                                .map(|o| o.selection_set.selections.len());
                            assert_eq!(op, Some(n), "{kind:?} x {n}: one aliased field per row");
                        }
                        Err(e) => {
                            failures.push(format!("{kind:?} x {n} @ {version}: {}", e.errors))
                        }
                    }
                }
                for n in [1, super::super::lookup::LOOKUP_BATCH] {
                    let doc = batched_lookup(kind, n);
                    if let Err(e) =
                        ExecutableDocument::parse_and_validate(schema, &doc, "lookup.graphql")
                    {
                        failures.push(format!("lookup {kind:?} x {n} @ {version}: {}", e.errors));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
