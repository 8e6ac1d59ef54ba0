//! Domain behaviour over loopback: products and inventory, the 2026-04 inventory contract, discounts,
//! fulfillment orders and events, seeding.
use serde_json::{Value, json};
use shopsync::emulator::seed::Fixture;
use shopsync::emulator::{Emulator, RunningEmulator};

async fn gql(emu: &RunningEmulator, version: &str, query: &str, variables: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/admin/api/{version}/graphql.json",
            emu.base_url()
        ))
        .header("X-Shopify-Access-Token", emu.token())
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

const SEED: &str = r##"
shop: {name: seeded}
locations: [Warehouse, Store]
products:
  - title: Blue Shirt
    variants:
      - {sku: BLUE-S, price: "10.00", option: S, inventory: {Warehouse: 5}}
orders:
  - name: "#1001"
    line_items: [{title: Blue Shirt, quantity: 2, sku: BLUE-S}]
    fulfillments: [{status: SUCCESS}]
"##;

async fn seeded() -> RunningEmulator {
    let fixture = Fixture::parse(SEED.as_bytes(), "inline").unwrap();
    Emulator::builder()
        .seed(fixture)
        .start_on_loopback()
        .await
        .unwrap()
}

const SET_QTY: &str = "mutation S($input: InventorySetQuantitiesInput!, $key: String!) { inventorySetQuantities(input: $input) @idempotent(key: $key) { inventoryAdjustmentGroup { changes { name delta } } userErrors { field message code } } }";
const SET_QTY_NO_KEY: &str = "mutation S($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { code } } }";

#[tokio::test]
async fn product_set_creates_variants_with_inventory_items_and_levels() {
    let emu = seeded().await;
    let loc = gql(
        &emu,
        "2026-07",
        "{ locations(first: 5) { nodes { id name } } }",
        json!({}),
    )
    .await;
    let warehouse = loc["data"]["locations"]["nodes"][0]["id"].clone();
    let q = "mutation P($input: ProductSetInput!) { productSet(input: $input) { product { handle variants(first: 5) { nodes { title sku inventoryItem { id tracked inventoryLevel(locationId: \"LOC\") { quantities(names: [\"available\", \"on_hand\"]) { name quantity } } } } } } userErrors { field message code } } }"
        .replace("LOC", warehouse.as_str().unwrap());
    let input = json!({"input": {"title": "Red Hat!", "productOptions": [{"name": "Size", "values": [{"name": "M"}, {"name": "L"}]}],
        "variants": [
            {"optionValues": [{"optionName": "Size", "name": "M"}], "sku": "RH-M", "inventoryItem": {"tracked": true}, "inventoryQuantities": [{"locationId": warehouse, "name": "available", "quantity": 7}]},
            {"optionValues": [{"optionName": "Size", "name": "L"}], "sku": "RH-L"}]}});
    let v = gql(&emu, "2026-07", &q, input).await;
    let p = &v["data"]["productSet"]["product"];
    assert_eq!(p["handle"], "red-hat");
    let variants = p["variants"]["nodes"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    assert_eq!(variants[0]["title"], "M");
    assert_eq!(variants[0]["inventoryItem"]["tracked"], true);
    assert_eq!(
        variants[0]["inventoryItem"]["inventoryLevel"]["quantities"],
        json!([{"name": "available", "quantity": 7}, {"name": "on_hand", "quantity": 7}])
    );
    assert_eq!(variants[1]["inventoryItem"]["inventoryLevel"], Value::Null);

    let dup = json!({"input": {"title": "X", "productOptions": [{"name": "Size", "values": [{"name": "M"}]}],
        "variants": [{"optionValues": [{"optionName": "Size", "name": "M"}]}, {"optionValues": [{"optionName": "Size", "name": "M"}]}]}});
    let v = gql(&emu, "2026-07", "mutation P($input: ProductSetInput!) { productSet(input: $input) { product { id } userErrors { field message code } } }", dup).await;
    assert_eq!(
        v["data"]["productSet"]["userErrors"],
        json!([{"field": ["input", "variants", "1"], "message": "The variant 'M' already exists. Please change at least one option value.", "code": "INVALID_VARIANT"}])
    );
}

#[tokio::test]
async fn inventory_set_quantities_follows_the_2026_04_contract() {
    let emu = seeded().await;
    let dump = emu.dump();
    let item = format!(
        "gid://shopify/InventoryItem/{}",
        dump["inventory_items"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
    );
    let level = dump["levels"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let loc = format!("gid://shopify/Location/{}", level["location_id"]);
    let row = |change: Value| json!({"inventoryItemId": item, "locationId": loc, "quantity": 9, "changeFromQuantity": change});
    let input = json!({"name": "available", "reason": "correction", "quantities": [row(json!(5))]});

    // 2026-01 accepts a missing key; 2026-04 does not.
    let v = gql(&emu, "2026-04", SET_QTY_NO_KEY, json!({"input": input})).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert_eq!(v["data"]["inventorySetQuantities"], Value::Null);
    let mut no_change = input.clone();
    no_change["quantities"][0]
        .as_object_mut()
        .unwrap()
        .remove("changeFromQuantity");
    let v = gql(
        &emu,
        "2026-04",
        SET_QTY,
        json!({"input": no_change, "key": "k0"}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["message"],
        "InventoryQuantityInput must include the following argument: changeFromQuantity."
    );
    assert_eq!(emu.write_count(), 0);

    let v = gql(
        &emu,
        "2026-04",
        SET_QTY,
        json!({"input": input, "key": "k1"}),
    )
    .await;
    assert_eq!(
        v["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"],
        json!([{"name": "available", "delta": 4}, {"name": "on_hand", "delta": 4}])
    );
    // The same key and arguments replay the stored answer without applying twice.
    let again = gql(
        &emu,
        "2026-04",
        SET_QTY,
        json!({"input": input, "key": "k1"}),
    )
    .await;
    assert_eq!(again["data"], v["data"]);
    assert_eq!(emu.write_count(), 1);
    // A stale changeFromQuantity is refused.
    let stale = json!({"name": "available", "reason": "correction", "quantities": [row(json!(5))]});
    let v = gql(
        &emu,
        "2026-04",
        SET_QTY,
        json!({"input": stale, "key": "k2"}),
    )
    .await;
    assert_eq!(
        v["data"]["inventorySetQuantities"]["userErrors"][0]["code"],
        "CHANGE_FROM_QUANTITY_STALE"
    );
    let bad = json!({"name": "damaged", "reason": "nope", "quantities": [row(Value::Null)]});
    let v = gql(&emu, "2026-04", SET_QTY, json!({"input": bad, "key": "k3"})).await;
    let codes: Vec<&str> = v["data"]["inventorySetQuantities"]["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["INVALID_NAME", "INVALID_REASON"]);
}

#[tokio::test]
async fn discount_codes_validate_and_redeem_codes_are_capped() {
    let emu = seeded().await;
    let create = "mutation C($d: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $d) { codeDiscountNode { id codeDiscount { ... on DiscountCodeBasic { title status codesCount { count } } } } userErrors { field message code extraInfo } } }";
    let d = json!({"title": "Ten", "code": "TEN", "startsAt": "2026-01-01T00:00:00Z", "customerGets": {"value": {"percentage": 0.1}, "items": {"all": true}}, "context": {"all": "ALL"}});
    let v = gql(&emu, "2026-04", create, json!({"d": d})).await;
    let node = &v["data"]["discountCodeBasicCreate"]["codeDiscountNode"];
    assert_eq!(node["codeDiscount"]["status"], "ACTIVE");
    let id = node["id"].as_str().unwrap().to_string();
    let v = gql(&emu, "2026-04", create, json!({"d": d})).await;
    assert_eq!(
        v["data"]["discountCodeBasicCreate"]["userErrors"],
        json!([{"field": ["basicCodeDiscount", "code"], "message": "Code must be unique. Please try a different code.", "code": "TAKEN", "extraInfo": null}])
    );
    let mut no_start = d.clone();
    no_start.as_object_mut().unwrap().remove("startsAt");
    no_start["code"] = json!("OTHER");
    let v = gql(&emu, "2026-04", create, json!({"d": no_start})).await;
    assert_eq!(
        v["data"]["discountCodeBasicCreate"]["userErrors"][0]["message"],
        "Starts at can't be blank"
    );

    let add = "mutation A($id: ID!, $codes: [DiscountRedeemCodeInput!]!) { discountRedeemCodeBulkAdd(discountId: $id, codes: $codes) { bulkCreation { id done } userErrors { field message code } } }";
    let too_many: Vec<Value> = (0..251).map(|i| json!({"code": format!("C{i}")})).collect();
    let v = gql(&emu, "2026-04", add, json!({"id": id, "codes": too_many})).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"],
        "MAX_INPUT_SIZE_EXCEEDED"
    );
    assert_eq!(
        v["errors"][0]["message"],
        "The input array size of 251 is greater than the maximum allowed of 250."
    );
    assert_eq!(
        v["errors"][0]["path"],
        json!(["discountRedeemCodeBulkAdd", "codes"])
    );
    assert!(v.get("data").is_none());
    let v = gql(
        &emu,
        "2026-04",
        add,
        json!({"id": id, "codes": [{"code": "A1"}, {"code": "a1"}, {"code": "TEN"}]}),
    )
    .await;
    let bulk = v["data"]["discountRedeemCodeBulkAdd"]["bulkCreation"]["id"].clone();
    let poll = gql(&emu, "2026-04", "query B($id: ID!) { discountRedeemCodeBulkCreation(id: $id) { done importedCount failedCount codes(first: 5) { nodes { code errors { message } } } } }", json!({"id": bulk})).await;
    let b = &poll["data"]["discountRedeemCodeBulkCreation"];
    assert_eq!(
        (
            b["done"].clone(),
            b["importedCount"].clone(),
            b["failedCount"].clone()
        ),
        (json!(true), json!(1), json!(2))
    );
    assert_eq!(
        b["codes"]["nodes"][1]["errors"][0]["message"],
        "Codes must be unique within BulkDiscountCodeCreation"
    );
    let by_code = gql(
        &emu,
        "2026-04",
        "{ codeDiscountNodeByCode(code: \"a1\") { id } }",
        json!({}),
    )
    .await;
    assert_eq!(by_code["data"]["codeDiscountNodeByCode"]["id"], json!(id));
}

#[tokio::test]
async fn discount_inputs_follow_shopify_general_rules() {
    let emu = seeded().await;
    let create = "mutation C($d: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $d) { codeDiscountNode { id codeDiscount { ... on DiscountCodeBasic { context { __typename ... on DiscountCustomers { customers { id } } } customerGets { value { ... on DiscountAmount { amount { amount currencyCode } } } } } } } userErrors { field message code } } }";
    let base = json!({"title": "Rules", "code": "RULES", "startsAt": "2026-01-01T00:00:00Z", "customerGets": {"value": {"discountAmount": {"amount": "7", "appliesOnEachItem": false}}, "items": {"all": true}}});
    // A product both added and removed is refused before anything else, as a top-level error.
    let mut overlap = base.clone();
    overlap["customerGets"]["items"] = json!({"products": {"productsToAdd": ["gid://shopify/Product/1"], "productsToRemove": ["gid://shopify/Product/1"]}});
    let v = gql(&emu, "2026-04", create, json!({"d": overlap})).await;
    assert_eq!(
        v["errors"][0]["message"],
        "The same Product id is present in both 'add' and 'remove' fields"
    );
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert_eq!(v["data"]["discountCodeBasicCreate"], Value::Null);
    // So is a customer both added and removed in the newer `context` spelling.
    let mut overlap = base.clone();
    overlap["context"] = json!({"customers": {"add": ["gid://shopify/Customer/1"], "remove": ["gid://shopify/Customer/1"]}});
    let v = gql(&emu, "2026-04", create, json!({"d": overlap})).await;
    assert_eq!(
        v["errors"][0]["message"],
        "A customer id is present in `add` and `remove` fields"
    );
    // An end before the start, and an unknown product, are userErrors.
    let mut bad = base.clone();
    bad["endsAt"] = json!("2025-12-31T00:00:00Z");
    bad["customerGets"]["items"] =
        json!({"products": {"productsToAdd": ["gid://shopify/Product/424242"]}});
    let v = gql(&emu, "2026-04", create, json!({"d": bad})).await;
    assert_eq!(
        v["data"]["discountCodeBasicCreate"]["userErrors"],
        json!([
            {"field": ["basicCodeDiscount", "endsAt"], "message": "Ends at needs to be after starts_at", "code": "INVALID"},
            {"field": ["basicCodeDiscount", "customerGets", "items", "products", "productsToAdd"], "message": "Product with id: 424242 is invalid", "code": "INVALID"}
        ])
    );
    // Amounts answer in Decimal's shortest form, in the shop's currency (USD unless seeded).
    let v = gql(&emu, "2026-04", create, json!({"d": base})).await;
    let node = &v["data"]["discountCodeBasicCreate"]["codeDiscountNode"];
    assert_eq!(
        node["codeDiscount"]["customerGets"]["value"]["amount"],
        json!({"amount": "7.0", "currencyCode": "USD"})
    );
    assert_eq!(
        node["codeDiscount"]["context"]["__typename"],
        "DiscountBuyerSelectionAll"
    );
    // The buyer context follows the input; `context` replaces an earlier `customerSelection`.
    let update = "mutation U($id: ID!, $d: DiscountCodeBasicInput!) { discountCodeBasicUpdate(id: $id, basicCodeDiscount: $d) { codeDiscountNode { codeDiscount { ... on DiscountCodeBasic { context { __typename } } } } userErrors { message } } }";
    let id = node["id"].clone();
    let v = gql(
        &emu,
        "2026-04",
        update,
        json!({"id": id, "d": {"customerSelection": {"customers": {"add": ["gid://shopify/Customer/1"]}}}}),
    )
    .await;
    assert_eq!(
        v["data"]["discountCodeBasicUpdate"]["codeDiscountNode"]["codeDiscount"]["context"]["__typename"],
        "DiscountCustomers"
    );
    let v = gql(
        &emu,
        "2026-04",
        update,
        json!({"id": id, "d": {"context": {"customerSegments": {"add": ["gid://shopify/Segment/9"]}}}}),
    )
    .await;
    assert_eq!(
        v["data"]["discountCodeBasicUpdate"]["codeDiscountNode"]["codeDiscount"]["context"]["__typename"],
        "DiscountCustomerSegments"
    );
}

#[tokio::test]
async fn fulfillment_order_actions_apply_status_rules() {
    let emu = seeded().await;
    let fo_id = format!(
        "gid://shopify/FulfillmentOrder/{}",
        emu.dump()["fulfillment_orders"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
    );
    let hold = "mutation H($id: ID!, $h: FulfillmentOrderHoldInput!) { fulfillmentOrderHold(id: $id, fulfillmentHold: $h) { fulfillmentHold { id handle displayReason } fulfillmentOrder { status supportedActions { action } } userErrors { field message code } } }";
    let v = gql(
        &emu,
        "2026-04",
        hold,
        json!({"id": fo_id, "h": {"reason": "OTHER", "handle": "a"}}),
    )
    .await;
    let out = &v["data"]["fulfillmentOrderHold"];
    assert_eq!(out["fulfillmentOrder"]["status"], "ON_HOLD");
    assert_eq!(
        out["fulfillmentOrder"]["supportedActions"],
        json!([{"action": "RELEASE_HOLD"}, {"action": "HOLD"}, {"action": "MOVE"}])
    );
    let v = gql(
        &emu,
        "2026-04",
        hold,
        json!({"id": fo_id, "h": {"reason": "OTHER", "handle": "a"}}),
    )
    .await;
    assert_eq!(
        v["data"]["fulfillmentOrderHold"]["userErrors"][0]["code"],
        "DUPLICATE_FULFILLMENT_HOLD_HANDLE"
    );
    let open = "mutation O($id: ID!) { fulfillmentOrderOpen(id: $id) { fulfillmentOrder { status } userErrors { field message } } }";
    let v = gql(&emu, "2026-04", open, json!({"id": fo_id})).await;
    assert_eq!(
        v["data"]["fulfillmentOrderOpen"]["userErrors"],
        json!([{"field": null, "message": "Expected fulfillment order status to be valid but it was on_hold."}])
    );
    let release = "mutation R($id: ID!) { fulfillmentOrderReleaseHold(id: $id) { fulfillmentOrder { status } userErrors { field message } } }";
    let v = gql(&emu, "2026-04", release, json!({"id": fo_id})).await;
    assert_eq!(
        v["data"]["fulfillmentOrderReleaseHold"]["fulfillmentOrder"]["status"],
        "OPEN"
    );
    let resched = "mutation S($id: ID!) { fulfillmentOrderReschedule(id: $id, fulfillAt: \"2030-01-01T00:00:00Z\") { fulfillmentOrder { status } userErrors { field message } } }";
    let v = gql(&emu, "2026-04", resched, json!({"id": fo_id})).await;
    assert_eq!(
        v["data"]["fulfillmentOrderReschedule"]["userErrors"][0]["message"],
        "Fulfillment order must be scheduled."
    );
    let cancel = "mutation C($id: ID!) { fulfillmentOrderCancel(id: $id) { fulfillmentOrder { status } replacementFulfillmentOrder { status requestStatus } userErrors { field message } } }";
    let v = gql(&emu, "2026-04", cancel, json!({"id": fo_id})).await;
    assert_eq!(
        v["data"]["fulfillmentOrderCancel"]["fulfillmentOrder"]["status"],
        "CLOSED"
    );
    assert_eq!(
        v["data"]["fulfillmentOrderCancel"]["replacementFulfillmentOrder"],
        json!({"status": "OPEN", "requestStatus": "UNSUBMITTED"})
    );
    let v = gql(&emu, "2026-04", cancel, json!({"id": fo_id})).await;
    assert_eq!(
        v["data"]["fulfillmentOrderCancel"]["userErrors"][0]["message"],
        "Fulfillment order is not in cancelable request state and can't be canceled."
    );
    let v = gql(
        &emu,
        "2026-04",
        cancel,
        json!({"id": "gid://shopify/FulfillmentOrder/0"}),
    )
    .await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "RESOURCE_NOT_FOUND");
    assert_eq!(
        v["errors"][0]["message"],
        "Invalid id: gid://shopify/FulfillmentOrder/0"
    );
    assert_eq!(v["data"]["fulfillmentOrderCancel"], Value::Null);
}

#[tokio::test]
async fn fulfillment_events_update_the_fulfillment() {
    let emu = seeded().await;
    let f = format!(
        "gid://shopify/Fulfillment/{}",
        emu.dump()["fulfillments"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
    );
    let q = "mutation E($e: FulfillmentEventInput!) { fulfillmentEventCreate(fulfillmentEvent: $e) { fulfillmentEvent { status city } userErrors { field message } } }";
    let v = gql(&emu, "2026-04", q, json!({"e": {"fulfillmentId": f, "status": "IN_TRANSIT", "city": "Ottawa", "happenedAt": "2026-05-01T10:00:00Z"}})).await;
    assert_eq!(
        v["data"]["fulfillmentEventCreate"]["fulfillmentEvent"],
        json!({"status": "IN_TRANSIT", "city": "Ottawa"})
    );
    let read = gql(
        &emu,
        "2026-04",
        "query F($id: ID!) { fulfillment(id: $id) { displayStatus inTransitAt } }",
        json!({"id": f}),
    )
    .await;
    assert_eq!(
        read["data"]["fulfillment"],
        json!({"displayStatus": "IN_TRANSIT", "inTransitAt": "2026-05-01T10:00:00Z"})
    );
    let v = gql(
        &emu,
        "2026-04",
        q,
        json!({"e": {"fulfillmentId": "gid://shopify/Fulfillment/1", "status": "DELIVERED"}}),
    )
    .await;
    assert_eq!(
        v["data"]["fulfillmentEventCreate"]["userErrors"],
        json!([{"field": ["fulfillmentEvent", "fulfillmentId"], "message": "Fulfillment does not exist."}])
    );
    let v = gql(
        &emu,
        "2026-04",
        q,
        json!({"e": {"fulfillmentId": f, "status": "TELEPORTED"}}),
    )
    .await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "INVALID_VARIABLE");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Expected \"TELEPORTED\" to be one of: LABEL_PURCHASED")
    );
}

#[tokio::test]
async fn seed_control_replaces_state_and_bad_fixtures_are_named() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/__emulator/seed", emu.base_url()))
        .body(SEED)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = gql(&emu, "2026-07", "{ shop { name } }", json!({})).await;
    assert_eq!(v["data"]["shop"]["name"], "seeded");
    assert_eq!(emu.write_count(), 0);
    let r = client
        .post(format!("{}/__emulator/seed", emu.base_url()))
        .body("products: [{title: x, colour: red}]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
}

#[tokio::test]
async fn inventory_adjust_applies_deltas_and_set_on_hand_refuses_negatives() {
    let emu = seeded().await;
    let dump = emu.dump();
    let item = format!(
        "gid://shopify/InventoryItem/{}",
        dump["inventory_items"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
    );
    let level = dump["levels"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let loc = format!("gid://shopify/Location/{}", level["location_id"]);
    let adjust = "mutation A($input: InventoryAdjustQuantitiesInput!) { inventoryAdjustQuantities(input: $input) @idempotent(key: \"adj-1\") { inventoryAdjustmentGroup { changes { name delta } } userErrors { field code } } }";
    let input = json!({"name": "available", "reason": "correction", "changes": [{"inventoryItemId": item, "locationId": loc, "delta": -2, "changeFromQuantity": 5}]});
    let v = gql(&emu, "2026-04", adjust, json!({"input": input})).await;
    assert_eq!(
        v["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["changes"],
        json!([{"name": "available", "delta": -2}, {"name": "on_hand", "delta": -2}])
    );
    assert_eq!(
        emu.dump()["levels"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["available"],
        3
    );
    let on_hand = "mutation S($input: InventorySetOnHandQuantitiesInput!) { inventorySetOnHandQuantities(input: $input) @idempotent(key: \"oh-1\") { userErrors { field code } } }";
    let input = json!({"reason": "correction", "setQuantities": [{"inventoryItemId": item, "locationId": loc, "quantity": -1, "changeFromQuantity": 3}]});
    let v = gql(&emu, "2026-04", on_hand, json!({"input": input})).await;
    assert_eq!(
        v["data"]["inventorySetOnHandQuantities"]["userErrors"],
        json!([{"field": ["input", "setQuantities", "0", "quantity"], "code": "INVALID_QUANTITY_NEGATIVE"}])
    );
}

#[tokio::test]
async fn inventory_states_mirror_on_hand_and_transfers_move_stock_between_locations() {
    let emu = seeded().await;
    let dump = emu.dump();
    let item_id = dump["inventory_items"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let item = format!("gid://shopify/InventoryItem/{item_id}");
    let locs = gql(
        &emu,
        "2026-04",
        "{ locations(first: 5) { nodes { id name } } }",
        json!({}),
    )
    .await;
    let loc_of = |name: &str| {
        locs["data"]["locations"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    let (warehouse, store) = (loc_of("Warehouse"), loc_of("Store"));
    let level_at = |emu: &RunningEmulator, loc: &Value| {
        let n: u64 = loc
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        emu.dump()["levels"]
            .as_object()
            .unwrap()
            .values()
            .find(|l| l["location_id"] == n)
            .cloned()
            .unwrap()
    };
    // Damaged stock is on hand but not available; its change carries the ledger document.
    let adjust = "mutation A($input: InventoryAdjustQuantitiesInput!) { inventoryAdjustQuantities(input: $input) @idempotent(key: \"dmg-1\") { inventoryAdjustmentGroup { changes { name delta ledgerDocumentUri } } userErrors { code } } }";
    let input = json!({"name": "damaged", "reason": "damaged", "changes": [{"inventoryItemId": item, "locationId": warehouse, "delta": 2, "changeFromQuantity": 0, "ledgerDocumentUri": "ledger://dmg"}]});
    let v = gql(&emu, "2026-04", adjust, json!({"input": input})).await;
    assert_eq!(
        v["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["changes"],
        json!([{"name": "damaged", "delta": 2, "ledgerDocumentUri": "ledger://dmg"}, {"name": "on_hand", "delta": 2, "ledgerDocumentUri": null}])
    );
    let l = level_at(&emu, &warehouse);
    assert_eq!(
        (
            l["available"].clone(),
            l["on_hand"].clone(),
            l["others"]["damaged"].clone()
        ),
        (json!(5), json!(7), json!(2))
    );
    // The only stocked location cannot be deactivated.
    let levels = gql(
        &emu,
        "2026-04",
        "query($id: ID!) { inventoryItem(id: $id) { inventoryLevels(first: 5) { nodes { id } } } }",
        json!({"id": item}),
    )
    .await;
    let level_id = levels["data"]["inventoryItem"]["inventoryLevels"]["nodes"][0]["id"].clone();
    let deactivate = "mutation D($id: ID!) { inventoryDeactivate(inventoryLevelId: $id) { userErrors { field message } } }";
    let v = gql(&emu, "2026-04", deactivate, json!({"id": level_id})).await;
    assert_eq!(
        v["data"]["inventoryDeactivate"]["userErrors"][0]["message"],
        "The product couldn't be unstocked from Warehouse because products need to be stocked at a minimum of 1 location."
    );
    // A transfer ready to ship reserves at the origin; shipping it makes it incoming at the destination.
    let activate = "mutation($i: ID!, $l: ID!) { inventoryActivate(inventoryItemId: $i, locationId: $l) @idempotent(key: \"act-1\") { userErrors { message } } }";
    let v = gql(&emu, "2026-04", activate, json!({"i": item, "l": store})).await;
    assert_eq!(v["data"]["inventoryActivate"]["userErrors"], json!([]));
    let create = "mutation($input: InventoryTransferCreateAsReadyToShipInput!) { inventoryTransferCreateAsReadyToShip(input: $input) @idempotent(key: \"tr-1\") { inventoryTransfer { id status totalQuantity lineItems(first: 5) { nodes { shippableQuantity } } } userErrors { message } } }";
    let v = gql(&emu, "2026-04", create, json!({"input": {"originLocationId": warehouse, "destinationLocationId": store, "lineItems": [{"inventoryItemId": item, "quantity": 3}]}})).await;
    let transfer = &v["data"]["inventoryTransferCreateAsReadyToShip"]["inventoryTransfer"];
    assert_eq!(
        (
            transfer["status"].clone(),
            transfer["lineItems"]["nodes"][0]["shippableQuantity"].clone()
        ),
        (json!("READY_TO_SHIP"), json!(3))
    );
    let l = level_at(&emu, &warehouse);
    assert_eq!(
        (
            l["available"].clone(),
            l["others"]["reserved"].clone(),
            l["on_hand"].clone()
        ),
        (json!(2), json!(3), json!(7))
    );
    let ship = "mutation($input: InventoryShipmentCreateInput!) { inventoryShipmentCreateInTransit(input: $input) @idempotent(key: \"sh-1\") { inventoryShipment { status } userErrors { message } } }";
    let v = gql(&emu, "2026-04", ship, json!({"input": {"movementId": transfer["id"], "lineItems": [{"inventoryItemId": item, "quantity": 3}]}})).await;
    assert_eq!(
        v["data"]["inventoryShipmentCreateInTransit"]["inventoryShipment"]["status"],
        "IN_TRANSIT"
    );
    let l = level_at(&emu, &warehouse);
    assert_eq!(
        (
            l["available"].clone(),
            l["others"]["reserved"].clone(),
            l["on_hand"].clone()
        ),
        (json!(2), json!(0), json!(4))
    );
    assert_eq!(level_at(&emu, &store)["others"]["incoming"], 3);
    // From 2026-04 a transfer mutation without @idempotent is refused.
    let v = gql(
        &emu,
        "2026-04",
        "mutation($id: ID!) { inventoryTransferCancel(id: $id) { userErrors { message } } }",
        json!({"id": transfer["id"]}),
    )
    .await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

#[tokio::test]
async fn metafields_set_checks_every_input_then_stores_on_the_owner() {
    let emu = seeded().await;
    let products = gql(
        &emu,
        "2026-04",
        "{ products(first: 1) { nodes { id } } }",
        json!({}),
    )
    .await;
    let owner = products["data"]["products"]["nodes"][0]["id"].clone();
    let set = "mutation S($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) { metafields { namespace key type value jsonValue ownerType } userErrors { field message code elementIndex } } }";
    // One bad input fails the whole call: nothing is stored.
    let bad = gql(&emu, "2026-04", set, json!({"m": [
        {"ownerId": owner, "namespace": "custom", "key": "flag", "type": "boolean", "value": "t"},
        {"ownerId": owner, "namespace": "custom", "key": "sizes", "type": "list.number_integer", "value": "[1,\"x\"]"},
    ]}))
    .await;
    assert_eq!(
        bad["data"]["metafieldsSet"],
        json!({"metafields": [], "userErrors": [{"field": ["metafields", "1", "value"], "message": "Value must be an integer.", "code": "INVALID_VALUE", "elementIndex": 1}]})
    );
    let ok = gql(&emu, "2026-04", set, json!({"m": [
        {"ownerId": owner, "namespace": "custom", "key": "flag", "type": "boolean", "value": " TRUE "},
        {"ownerId": owner, "namespace": "custom", "key": "weight", "type": "weight", "value": "{\"value\":2,\"unit\":\"kg\"}"},
    ]}))
    .await;
    assert_eq!(ok["data"]["metafieldsSet"]["userErrors"], json!([]));
    assert_eq!(
        ok["data"]["metafieldsSet"]["metafields"][1],
        json!({"namespace": "custom", "key": "weight", "type": "weight", "value": "{\"value\":2.0,\"unit\":\"KILOGRAMS\"}",
            "jsonValue": {"value": 2, "unit": "KILOGRAMS"}, "ownerType": "PRODUCT"})
    );
    // The owner reads them back, and the store's state holds them.
    let read = gql(&emu, "2026-04", "query R($id: ID!) { product(id: $id) { metafield(namespace: \"custom\", key: \"flag\") { value } } }", json!({"id": owner})).await;
    assert_eq!(read["data"]["product"]["metafield"]["value"], "true");
    let state: Value = reqwest::get(format!("{}/__emulator/state", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored = state.to_string();
    assert!(
        stored.contains("KILOGRAMS"),
        "state lacks the stored metafield: {stored:.400}"
    );
    // Deleting answers the identifier once, then null.
    let del = "mutation D($m: [MetafieldIdentifierInput!]!) { metafieldsDelete(metafields: $m) { deletedMetafields { key } userErrors { message } } }";
    let id = json!({"m": [{"ownerId": owner, "namespace": "custom", "key": "flag"}]});
    let first = gql(&emu, "2026-04", del, id.clone()).await;
    assert_eq!(
        first["data"]["metafieldsDelete"]["deletedMetafields"],
        json!([{"key": "flag"}])
    );
    let again = gql(&emu, "2026-04", del, id).await;
    assert_eq!(
        again["data"]["metafieldsDelete"]["deletedMetafields"],
        json!([null])
    );
}

/// The emulator's lookup indexes agree with its records (as rebuilt from scratch).
fn assert_indexes_consistent(emu: &RunningEmulator, after: &str) {
    assert!(
        emu.shared().lock().state.indexes_consistent(),
        "indexes out of step with the records after {after}"
    );
}

const CUSTOMER_BY: &str = "query B($i: CustomerIdentifierInput!) { customerByIdentifier(identifier: $i) { id email phone } }";

async fn customer_by(emu: &RunningEmulator, identifier: Value) -> Value {
    gql(emu, "2026-04", CUSTOMER_BY, json!({"i": identifier})).await["data"]["customerByIdentifier"]
        .clone()
}

#[tokio::test]
async fn customer_email_and_phone_changes_move_every_lookup() {
    let emu = seeded().await;
    let create = "mutation C($input: CustomerInput!) { customerCreate(input: $input) { customer { id } userErrors { field message } } }";
    let update = "mutation U($input: CustomerInput!) { customerUpdate(input: $input) { customer { id email phone } userErrors { field message } } }";
    let set = "mutation S($input: CustomerSetInput!, $identifier: CustomerSetIdentifiers) { customerSet(input: $input, identifier: $identifier) { customer { id email } userErrors { field message code } } }";
    let v = gql(
        &emu,
        "2026-04",
        create,
        json!({"input": {"email": "Old@Example.com", "phone": "+14155550100"}}),
    )
    .await;
    let a = v["data"]["customerCreate"]["customer"]["id"].clone();
    assert!(a.is_string(), "{v}");
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "old@example.com"})).await["id"],
        a
    );

    let v = gql(
        &emu,
        "2026-04",
        update,
        json!({"input": {"id": a, "email": "new@example.com", "phone": "+14155550101"}}),
    )
    .await;
    assert_eq!(v["data"]["customerUpdate"]["userErrors"], json!([]), "{v}");
    assert_indexes_consistent(&emu, "customerUpdate of email and phone");
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "old@example.com"})).await,
        Value::Null
    );
    assert_eq!(
        customer_by(&emu, json!({"phoneNumber": "+14155550100"})).await,
        Value::Null
    );
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "NEW@example.com"})).await["id"],
        a
    );
    assert_eq!(
        customer_by(&emu, json!({"phoneNumber": "+1 415 555 0101"})).await["id"],
        a
    );

    // The old email and phone are free again; the new ones are taken.
    let v = gql(
        &emu,
        "2026-04",
        create,
        json!({"input": {"email": "old@example.com", "phone": "+14155550100"}}),
    )
    .await;
    let b = v["data"]["customerCreate"]["customer"]["id"].clone();
    assert!(b.is_string() && b != a, "{v}");
    let v = gql(
        &emu,
        "2026-04",
        create,
        json!({"input": {"email": "new@example.com"}}),
    )
    .await;
    assert_eq!(
        v["data"]["customerCreate"]["userErrors"],
        json!([{"field": ["email"], "message": "Email has already been taken"}])
    );
    let v = gql(
        &emu,
        "2026-04",
        create,
        json!({"input": {"phone": "+14155550101"}}),
    )
    .await;
    assert_eq!(
        v["data"]["customerCreate"]["userErrors"],
        json!([{"field": ["phone"], "message": "Phone has already been taken"}])
    );

    // customerSet by identifier finds the customer under its new email, and makes a new one under an unknown email.
    let v = gql(&emu, "2026-04", set, json!({"input": {"email": "new@example.com", "firstName": "A"}, "identifier": {"email": "new@example.com"}})).await;
    assert_eq!(v["data"]["customerSet"]["customer"]["id"], a, "{v}");
    let v = gql(&emu, "2026-04", set, json!({"input": {"email": "third@example.com"}, "identifier": {"email": "third@example.com"}})).await;
    let c = v["data"]["customerSet"]["customer"]["id"].clone();
    assert!(c.is_string() && c != a && c != b, "{v}");
    // customerSet moving a customer's email through its id.
    let v = gql(
        &emu,
        "2026-04",
        set,
        json!({"input": {"email": "fourth@example.com"}, "identifier": {"id": c}}),
    )
    .await;
    assert_eq!(v["data"]["customerSet"]["customer"]["id"], c, "{v}");
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "third@example.com"})).await,
        Value::Null
    );
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "fourth@example.com"})).await["id"],
        c
    );
    assert_indexes_consistent(&emu, "customerSet");

    // Deleting frees the keys; merging leaves only the survivor's.
    let v = gql(&emu, "2026-04", "mutation D($input: CustomerDeleteInput!) { customerDelete(input: $input) { deletedCustomerId userErrors { message } } }", json!({"input": {"id": a}})).await;
    assert_eq!(v["data"]["customerDelete"]["deletedCustomerId"], a, "{v}");
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "new@example.com"})).await,
        Value::Null
    );
    assert_eq!(
        customer_by(&emu, json!({"phoneNumber": "+14155550101"})).await,
        Value::Null
    );
    assert_indexes_consistent(&emu, "customerDelete");
    let v = gql(
        &emu,
        "2026-04",
        create,
        json!({"input": {"email": "new@example.com"}}),
    )
    .await;
    assert_eq!(v["data"]["customerCreate"]["userErrors"], json!([]), "{v}");
    let v = gql(&emu, "2026-04", "mutation M($one: ID!, $two: ID!) { customerMerge(customerOneId: $one, customerTwoId: $two) { resultingCustomerId userErrors { message } } }", json!({"one": b, "two": c})).await;
    assert_eq!(v["data"]["customerMerge"]["resultingCustomerId"], c, "{v}");
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "old@example.com"})).await,
        Value::Null
    );
    assert_eq!(
        customer_by(&emu, json!({"emailAddress": "fourth@example.com"})).await["id"],
        c
    );
    assert_indexes_consistent(&emu, "customerMerge");
}

#[tokio::test]
async fn product_handle_changes_and_deletes_move_the_handle_lookup() {
    let emu = seeded().await;
    let set = "mutation P($input: ProductSetInput!) { productSet(input: $input) { product { id handle totalInventory } userErrors { field message code } } }";
    let by_handle = "query B($h: String!) { productByIdentifier(identifier: {handle: $h}) { id } }";
    let loc = gql(
        &emu,
        "2026-04",
        "{ locations(first: 1) { nodes { id } } }",
        json!({}),
    )
    .await["data"]["locations"]["nodes"][0]["id"]
        .clone();
    let variants = |skus: &[&str]| -> Value {
        skus.iter()
            .map(|s| json!({"optionValues": [{"optionName": "Size", "name": s}], "sku": s, "inventoryItem": {"tracked": true}, "inventoryQuantities": [{"locationId": loc, "name": "available", "quantity": 3}]}))
            .collect()
    };
    let options = json!([{"name": "Size", "values": [{"name": "S"}, {"name": "M"}]}]);
    let v = gql(&emu, "2026-04", set, json!({"input": {"title": "Hat", "handle": "hat-one", "productOptions": options, "variants": variants(&["S", "M"])}})).await;
    let p = v["data"]["productSet"]["product"].clone();
    assert_eq!(p["totalInventory"], 6, "{v}");
    let id = p["id"].clone();
    let v = gql(&emu, "2026-04", set, json!({"input": {"id": id, "title": "Hat", "handle": "hat-two", "productOptions": [{"name": "Size", "values": [{"name": "S"}]}], "variants": variants(&["S"])}})).await;
    assert_eq!(
        v["data"]["productSet"]["product"]["handle"], "hat-two",
        "{v}"
    );
    assert_eq!(
        v["data"]["productSet"]["product"]["totalInventory"], 3,
        "the dropped variant's level is gone: {v}"
    );
    assert_indexes_consistent(
        &emu,
        "productSet changing the handle and dropping a variant",
    );
    assert_eq!(
        gql(&emu, "2026-04", by_handle, json!({"h": "hat-one"})).await["data"]["productByIdentifier"],
        Value::Null
    );
    assert_eq!(
        gql(&emu, "2026-04", by_handle, json!({"h": "hat-two"})).await["data"]["productByIdentifier"]
            ["id"],
        id
    );
    // The old handle is free: a new product takes it as given, not suffixed.
    let v = gql(
        &emu,
        "2026-04",
        set,
        json!({"input": {"title": "Hat", "handle": "hat-one"}}),
    )
    .await;
    assert_eq!(
        v["data"]["productSet"]["product"]["handle"], "hat-one",
        "{v}"
    );
    let v = gql(&emu, "2026-04", "mutation D($id: ID!) { productDelete(input: {id: $id}) { deletedProductId userErrors { message } } }", json!({"id": id})).await;
    assert_eq!(v["data"]["productDelete"]["deletedProductId"], id, "{v}");
    assert_eq!(
        gql(&emu, "2026-04", by_handle, json!({"h": "hat-two"})).await["data"]["productByIdentifier"],
        Value::Null
    );
    assert_indexes_consistent(&emu, "productDelete");
    let v = gql(&emu, "2026-04", set, json!({"input": {"title": "Hat Two"}})).await;
    assert_eq!(
        v["data"]["productSet"]["product"]["handle"], "hat-two",
        "{v}"
    );
}

#[tokio::test]
async fn discount_code_renames_and_deletes_move_the_code_lookup() {
    let emu = seeded().await;
    let create = "mutation C($d: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $d) { codeDiscountNode { id } userErrors { field message code } } }";
    let update = "mutation U($id: ID!, $d: DiscountCodeBasicInput!) { discountCodeBasicUpdate(id: $id, basicCodeDiscount: $d) { codeDiscountNode { id } userErrors { field message code } } }";
    let by_code = "query B($c: String!) { codeDiscountNodeByCode(code: $c) { id } }";
    let d = |code: &str| json!({"title": code, "code": code, "startsAt": "2026-01-01T00:00:00Z", "customerGets": {"value": {"percentage": 0.1}, "items": {"all": true}}, "context": {"all": "ALL"}});
    let v = gql(&emu, "2026-04", create, json!({"d": d("TEN")})).await;
    let first = v["data"]["discountCodeBasicCreate"]["codeDiscountNode"]["id"].clone();
    assert!(first.is_string(), "{v}");
    let v = gql(
        &emu,
        "2026-04",
        update,
        json!({"id": first, "d": {"code": "Eleven"}}),
    )
    .await;
    assert_eq!(
        v["data"]["discountCodeBasicUpdate"]["userErrors"],
        json!([]),
        "{v}"
    );
    assert_indexes_consistent(&emu, "a code renamed");
    assert_eq!(
        gql(&emu, "2026-04", by_code, json!({"c": "ten"})).await["data"]["codeDiscountNodeByCode"],
        Value::Null
    );
    assert_eq!(
        gql(&emu, "2026-04", by_code, json!({"c": "ELEVEN"})).await["data"]["codeDiscountNodeByCode"]
            ["id"],
        first
    );
    let v = gql(&emu, "2026-04", create, json!({"d": d("ten")})).await;
    let second = v["data"]["discountCodeBasicCreate"]["codeDiscountNode"]["id"].clone();
    assert!(second.is_string(), "the old code is free again: {v}");
    let v = gql(&emu, "2026-04", create, json!({"d": d("eleven")})).await;
    assert_eq!(
        v["data"]["discountCodeBasicCreate"]["userErrors"][0]["code"], "TAKEN",
        "{v}"
    );
    let v = gql(&emu, "2026-04", "mutation D($id: ID!) { discountCodeDelete(id: $id) { deletedCodeDiscountId userErrors { message } } }", json!({"id": first})).await;
    assert_eq!(
        v["data"]["discountCodeDelete"]["deletedCodeDiscountId"], first,
        "{v}"
    );
    assert_indexes_consistent(&emu, "discountCodeDelete");
    assert_eq!(
        gql(&emu, "2026-04", by_code, json!({"c": "eleven"})).await["data"]["codeDiscountNodeByCode"],
        Value::Null
    );
    let v = gql(&emu, "2026-04", create, json!({"d": d("ELEVEN")})).await;
    assert_eq!(
        v["data"]["discountCodeBasicCreate"]["userErrors"],
        json!([]),
        "{v}"
    );
    assert_indexes_consistent(&emu, "a code reused");
}

/// `fulfillmentOrderClose` as captured: only at the app's fulfillment service, only in progress with the request
/// accepted; it leaves the order INCOMPLETE with its request CLOSED.
#[tokio::test]
async fn a_fulfillment_service_closes_only_the_orders_it_accepted() {
    let fixture = Fixture::parse(
        br##"
locations: [Warehouse, {id: 77, name: Parcel partner, fulfillment_service: parcel-partner}]
orders:
  - name: "#1001"
    line_items: [{title: Shirt, quantity: 1}]
    fulfillment_orders:
      - {id: 901, location: Warehouse, status: IN_PROGRESS, request_status: ACCEPTED}
      - {id: 902, location_id: 77, status: IN_PROGRESS, request_status: ACCEPTED}
      - {id: 903, location_id: 77, status: OPEN, request_status: SUBMITTED}
"##,
        "inline",
    )
    .unwrap();
    let emu = Emulator::builder()
        .seed(fixture)
        .start_on_loopback()
        .await
        .unwrap();
    let close = "mutation C($id: ID!) { fulfillmentOrderClose(id: $id, message: \"No stock\") { fulfillmentOrder { status requestStatus supportedActions { action } assignedLocation { location { isFulfillmentService } } } userErrors { field message } } }";
    let run = |id: u64| {
        let emu = &emu;
        async move {
            gql(
                emu,
                "2026-04",
                close,
                json!({"id": format!("gid://shopify/FulfillmentOrder/{id}")}),
            )
            .await["data"]["fulfillmentOrderClose"]
                .clone()
        }
    };
    let refused = |v: &Value, message: &str| {
        assert_eq!(v["fulfillmentOrder"], Value::Null, "{v}");
        assert_eq!(
            v["userErrors"],
            json!([{"field": null, "message": message}]),
            "{v}"
        );
    };
    refused(
        &run(901).await,
        "The fulfillment order's assigned fulfillment service must be of api type",
    );
    refused(
        &run(903).await,
        "The fulfillment order is not in an in progress state.",
    );
    let v = run(902).await;
    assert_eq!(v["userErrors"], json!([]), "{v}");
    let fo = &v["fulfillmentOrder"];
    assert_eq!(fo["status"], "INCOMPLETE");
    assert_eq!(fo["requestStatus"], "CLOSED");
    assert_eq!(
        fo["supportedActions"],
        json!([{"action": "REQUEST_FULFILLMENT"}, {"action": "CREATE_FULFILLMENT"}, {"action": "HOLD"}, {"action": "MOVE"}])
    );
    assert_eq!(
        fo["assignedLocation"]["location"]["isFulfillmentService"],
        true
    );
    // Closed once: no longer in progress.
    refused(
        &run(902).await,
        "The fulfillment order is not in an in progress state.",
    );
}
