//! Shopify ids in warehouse rows: a number (`9002`, as warehouses store ids) or a global id
//! (`gid://shopify/Customer/9002`) become the one global id the Admin API takes.
//!
//! Every id-typed mapping target goes through [`normalize`], so the diff sees one spelling per record, `plan`
//! shows what is sent, and a global id of the wrong type (a `Product` gid mapped to a customer id) rejects the
//! row naming the field instead of reaching Shopify as "not found".
//!
//! Where a field accepts more than one type, the others are legacy names for the same record with the same
//! number (Shopify's `legacyResourceId`):
//! - `priceRuleId` of discounts: the REST Admin API and the deprecated GraphQL `PriceRule` object name a code
//!   discount by its price rule id; the GraphQL discount APIs name it `DiscountCodeNode` with the same number (a
//!   price rule *is* the code discount; REST price rules and GraphQL code discounts list the same records).
//! - `id` of discounts: a redeem code is `DiscountRedeemCode` in GraphQL; REST's discount code and the
//!   deprecated `PriceRuleDiscountCode` object carry the same number.
use serde_json::Value;

use super::config::{ActionKind, EventKind, ObjectKind, Target};

/// What kind of record an id-typed field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdKind {
    /// The type every value becomes, e.g. `Customer`.
    pub canonical: &'static str,
    /// Other gid types naming the same record by the same number.
    pub aliases: &'static [&'static str],
}

impl IdKind {
    const fn of(canonical: &'static str) -> IdKind {
        IdKind {
            canonical,
            aliases: &[],
        }
    }

    /// Every gid type accepted, canonical first.
    pub fn accepted(&self) -> Vec<&'static str> {
        std::iter::once(self.canonical)
            .chain(self.aliases.iter().copied())
            .collect()
    }
}

const CUSTOMER: IdKind = IdKind::of("Customer");
const PRODUCT: IdKind = IdKind::of("Product");
const INVENTORY_ITEM: IdKind = IdKind::of("InventoryItem");
const LOCATION: IdKind = IdKind::of("Location");
const FULFILLMENT: IdKind = IdKind::of("Fulfillment");
const ORDER: IdKind = IdKind::of("Order");
const FULFILLMENT_ORDER: IdKind = IdKind::of("FulfillmentOrder");
const FULFILLMENT_HOLD: IdKind = IdKind::of("FulfillmentHold");
const CODE_DISCOUNT: IdKind = IdKind {
    canonical: "DiscountCodeNode",
    aliases: &["PriceRule"],
};
const REDEEM_CODE: IdKind = IdKind {
    canonical: "DiscountRedeemCode",
    aliases: &["PriceRuleDiscountCode"],
};

/// The top-level fields of `target` that hold ids, and what they name (lists are normalised element-wise).
pub fn id_fields(target: Target) -> &'static [(&'static str, IdKind)] {
    match target {
        Target::Object(ObjectKind::Customers) => &[("id", CUSTOMER)],
        Target::Object(ObjectKind::Products) => &[("id", PRODUCT)],
        Target::Object(ObjectKind::Discounts) => {
            &[("priceRuleId", CODE_DISCOUNT), ("id", REDEEM_CODE)]
        }
        Target::Object(ObjectKind::InventoryItems) => &[("id", INVENTORY_ITEM)],
        Target::Object(ObjectKind::InventoryLevels) => &[
            ("inventoryItemId", INVENTORY_ITEM),
            ("locationId", LOCATION),
        ],
        Target::Event(EventKind::FulfillmentEvents) => {
            &[("fulfillmentId", FULFILLMENT), ("orderId", ORDER)]
        }
        Target::Action(ActionKind::MoveFulfillmentOrder) => &[
            ("fulfillmentOrderId", FULFILLMENT_ORDER),
            ("newLocationId", LOCATION),
        ],
        Target::Action(ActionKind::ReleaseFulfillmentOrderHold) => &[
            ("fulfillmentOrderId", FULFILLMENT_ORDER),
            ("holdIds", FULFILLMENT_HOLD),
        ],
        Target::Action(_) => &[("fulfillmentOrderId", FULFILLMENT_ORDER)],
    }
}

/// The kind of id `field` of `target` holds, if it holds one.
pub fn id_kind(target: Target, field: &str) -> Option<IdKind> {
    id_fields(target)
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, k)| *k)
}

/// Why a value is not an id of the expected kind; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct IdError {
    /// The mapping target.
    pub field: String,
    /// What is wrong, and what is accepted.
    pub reason: String,
}

/// The record number of a gid `gid://shopify/{ty}/{n}` (a `?query` suffix allowed), as `(ty, n)`.
pub fn parse_gid(text: &str) -> Option<(&str, u64)> {
    let rest = text.strip_prefix("gid://shopify/")?;
    let (ty, number) = rest.split_once('/')?;
    let number = number.split('?').next()?;
    if ty.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ty, number.parse().ok()?))
}

/// `value` (a number, digits as text, or a gid of an accepted type) as the canonical gid of `kind`. NULL stays
/// NULL (whether a NULL is allowed is the caller's business).
pub fn normalize(field: &str, kind: IdKind, value: &Value) -> Result<Value, IdError> {
    let fail = |reason: String| IdError {
        field: field.to_string(),
        reason,
    };
    let expected = || {
        format!(
            "expected a {} id: a number or gid://shopify/{}/<number>",
            kind.canonical,
            kind.accepted().join("|")
        )
    };
    let number = match value {
        Value::Null => return Ok(Value::Null),
        Value::Number(n) => n
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| fail(format!("{n} is not an id; {}", expected())))?,
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| fail(format!("{s:?} is not an id; {}", expected())))?
            } else {
                match parse_gid(s) {
                    Some((ty, n)) if kind.accepted().contains(&ty) => n,
                    Some((ty, _)) => {
                        return Err(fail(format!(
                            "{s:?} is a {ty} id, not a {} id; {}",
                            kind.canonical,
                            expected()
                        )));
                    }
                    None => return Err(fail(format!("{s:?} is not an id; {}", expected()))),
                }
            }
        }
        Value::Array(items) => {
            return items
                .iter()
                .map(|v| normalize(field, kind, v))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        other => return Err(fail(format!("{other} is not an id; {}", expected()))),
    };
    Ok(Value::String(format!(
        "gid://shopify/{}/{number}",
        kind.canonical
    )))
}

/// Normalises every id-typed top-level field of `target` present in `fields`; the first bad one is the error.
pub fn normalize_fields(
    target: Target,
    fields: &mut serde_json::Map<String, Value>,
) -> Result<(), IdError> {
    for (field, kind) in id_fields(target) {
        if let Some(v) = fields.get_mut(*field) {
            *v = normalize(field, *kind, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_and_gids_become_the_canonical_gid() {
        let gid = json!("gid://shopify/Customer/9002");
        assert_eq!(normalize("id", CUSTOMER, &json!(9002)).unwrap(), gid);
        assert_eq!(normalize("id", CUSTOMER, &json!("9002")).unwrap(), gid);
        assert_eq!(normalize("id", CUSTOMER, &json!(" 9002 ")).unwrap(), gid);
        assert_eq!(normalize("id", CUSTOMER, &gid).unwrap(), gid);
        assert_eq!(
            normalize("id", CUSTOMER, &json!("gid://shopify/Customer/9002?x=1")).unwrap(),
            gid
        );
        assert_eq!(
            normalize("id", CUSTOMER, &Value::Null).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn legacy_names_of_discounts_map_to_the_graphql_types() {
        let node = json!("gid://shopify/DiscountCodeNode/2001");
        for v in [
            json!(2001),
            json!("gid://shopify/PriceRule/2001"),
            node.clone(),
        ] {
            assert_eq!(normalize("priceRuleId", CODE_DISCOUNT, &v).unwrap(), node);
        }
        assert_eq!(
            normalize(
                "id",
                REDEEM_CODE,
                &json!("gid://shopify/PriceRuleDiscountCode/7")
            )
            .unwrap(),
            json!("gid://shopify/DiscountRedeemCode/7")
        );
    }

    #[test]
    fn wrong_types_and_non_ids_name_the_field() {
        let e = normalize("id", CUSTOMER, &json!("gid://shopify/Product/1")).unwrap_err();
        assert_eq!(e.field, "id");
        assert!(
            e.to_string().contains("is a Product id, not a Customer id"),
            "{e}"
        );
        for bad in [
            json!("abc"),
            json!(-3),
            json!(0),
            json!(1.5),
            json!(true),
            json!(""),
        ] {
            let e = normalize("locationId", LOCATION, &bad).unwrap_err();
            assert!(e.to_string().starts_with("locationId: "), "{e}");
        }
        assert_eq!(
            normalize(
                "holdIds",
                FULFILLMENT_HOLD,
                &json!([1, "gid://shopify/FulfillmentHold/2"])
            )
            .unwrap(),
            json!([
                "gid://shopify/FulfillmentHold/1",
                "gid://shopify/FulfillmentHold/2"
            ])
        );
    }

    #[test]
    fn every_target_names_its_required_id_fields() {
        // A required field whose name says it is an id must be normalised.
        for target in crate::config::ObjectKind::ALL
            .iter()
            .map(|o| Target::Object(*o))
            .chain(EventKind::ALL.iter().map(|e| Target::Event(*e)))
            .chain(ActionKind::ALL.iter().map(|a| Target::Action(*a)))
        {
            for field in target.required_fields() {
                if field.ends_with("Id") {
                    assert!(id_kind(target, field).is_some(), "{target}.{field}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn number_text_and_gid_agree(n in 1u64..u64::MAX, alias in 0usize..2) {
            let kind = CODE_DISCOUNT;
            let ty = kind.accepted()[alias];
            let a = normalize("f", kind, &json!(n)).unwrap();
            let b = normalize("f", kind, &json!(n.to_string())).unwrap();
            let c = normalize("f", kind, &json!(format!("gid://shopify/{ty}/{n}"))).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(&a, &c);
            // Normalising twice changes nothing.
            prop_assert_eq!(normalize("f", kind, &a).unwrap(), a);
        }

        #[test]
        fn other_types_are_refused(ty in "[A-Z][A-Za-z]{1,20}", n in 1u64..u64::MAX) {
            prop_assume!(!CUSTOMER.accepted().contains(&ty.as_str()));
            let e = normalize("id", CUSTOMER, &json!(format!("gid://shopify/{ty}/{n}")));
            prop_assert!(e.is_err());
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".*") {
            let _ = normalize("id", CUSTOMER, &json!(s));
        }
    }
}
