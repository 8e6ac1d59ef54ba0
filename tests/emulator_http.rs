//! The emulator over loopback: HTTP status codes, GraphQL shapes, throttling, controls.
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shopsync::core::config::ApiVersion;
use shopsync::emulator::{Emulator, ManualClock, Plan, RunningEmulator};

async fn post(emu: &RunningEmulator, version: &str, token: &str, body: &str) -> (u16, Value) {
    let url = format!("{}/admin/api/{version}/graphql.json", emu.base_url());
    let resp = reqwest::Client::new()
        .post(url)
        .header("X-Shopify-Access-Token", token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn gql(emu: &RunningEmulator, query: &str, variables: Value) -> Value {
    let body = json!({"query": query, "variables": variables}).to_string();
    let (status, v) = post(emu, "2026-07", emu.token(), &body).await;
    assert_eq!(status, 200);
    v
}

const CREATE: &str = "mutation C($input: CustomerInput!) { customerCreate(input: $input) { customer { id email tags displayName } userErrors { field message } } }";

#[tokio::test]
async fn http_errors_have_shopify_status_and_bodies() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let (s, v) = post(&emu, "2026-07", "wrong", r#"{"query":"{ shop { id } }"}"#).await;
    assert_eq!(s, 401);
    assert_eq!(
        v,
        json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
    );
    let (s, v) = post(&emu, "foo", emu.token(), r#"{"query":"{ shop { id } }"}"#).await;
    assert_eq!((s, v), (404, json!({"errors": "Not Found"})));
    let (s, _) = post(&emu, "2026-07", emu.token(), "{not json").await;
    assert_eq!(s, 400);
    let client = reqwest::Client::new();
    client
        .post(format!("{}/__emulator/shop-status", emu.base_url()))
        .body(r#"{"status":"locked"}"#)
        .send()
        .await
        .unwrap();
    let (s, _) = post(
        &emu,
        "2026-07",
        emu.token(),
        r#"{"query":"{ shop { id } }"}"#,
    )
    .await;
    assert_eq!(s, 423);
}

#[tokio::test]
async fn old_versions_fall_forward_with_header() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/api/2025-01/graphql.json", emu.base_url()))
        .header("X-Shopify-Access-Token", emu.token())
        .json(&json!({"query": "{ shop { name } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-shopify-api-version"], "2026-01");
}

#[tokio::test]
async fn customer_create_projects_exactly_the_selection_and_validates() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let v = gql(
        &emu,
        CREATE,
        json!({"input": {"email": " Ann@Example.com", "firstName": "Ann", "tags": ["b", "a,B"]}}),
    )
    .await;
    let c = &v["data"]["customerCreate"]["customer"];
    assert_eq!(c["email"], "ann@example.com");
    assert_eq!(c["tags"], json!(["a", "b"]));
    assert_eq!(c["displayName"], "Ann");
    assert_eq!(c.as_object().unwrap().len(), 4);
    assert!(
        c["id"]
            .as_str()
            .unwrap()
            .starts_with("gid://shopify/Customer/")
    );
    assert!(v["extensions"]["cost"]["throttleStatus"]["maximumAvailable"].is_number());

    let dup = gql(&emu, CREATE, json!({"input": {"email": "ann@example.com"}})).await;
    assert_eq!(
        dup["data"]["customerCreate"]["userErrors"],
        json!([{"field": ["email"], "message": "Email has already been taken"}])
    );
    assert_eq!(dup["data"]["customerCreate"]["customer"], Value::Null);
    assert_eq!(emu.write_count(), 1);

    let aliased = gql(&emu, "query Q($q: String!) { found: customers(first: 5, query: $q) { nodes { ...F } } } fragment F on Customer { mail: email }", json!({"q": "email:ann@example.com"})).await;
    assert_eq!(
        aliased["data"],
        json!({"found": {"nodes": [{"mail": "ann@example.com"}]}})
    );
    assert_eq!(emu.write_count(), 1, "reads do not count as writes");
}

#[tokio::test]
async fn validation_and_variable_errors_have_shopify_codes() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let v = gql(&emu, "mutation { customerDelete(input: {id: \"gid://shopify/Customer/1\"}) { userErrors { code } } }", json!({})).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "undefinedField");
    assert!(v.get("data").is_none());
    let v = gql(
        &emu,
        "query Q($i: CustomerIdentifierInput!) { customerByIdentifier(identifier: $i) { id } }",
        json!({"i": {}}),
    )
    .await;
    let e = &v["errors"][0];
    assert_eq!(e["extensions"]["code"], "INVALID_VARIABLE");
    assert_eq!(
        e["message"],
        "Variable $i of type CustomerIdentifierInput! was provided invalid value"
    );
    assert_eq!(
        e["extensions"]["problems"][0]["explanation"],
        "'CustomerIdentifierInput' requires exactly one argument, but 0 were provided."
    );
    let v = gql(
        &emu,
        "mutation M($input: CustomerSetInput!) { customerSet(input: $input) { customer { id } } }",
        json!({"input": {"metafields": []}}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["message"],
        "Variable $input of type CustomerSetInput! was provided invalid value for metafields (Field is not defined on CustomerSetInput)"
    );
    let v = gql(&emu, "query { shop { id", json!({})).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "PARSE_ERROR");
}

#[tokio::test]
async fn burst_is_throttled_and_bucket_refills_at_plan_rate() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let emu = Emulator::builder()
        .plan(Plan::Custom {
            bucket: 25,
            restore: 5,
        })
        .clock(clock.clone())
        .start_on_loopback()
        .await
        .unwrap();
    let q = "mutation C($input: CustomerInput!) { customerCreate(input: $input) { userErrors { message } } }";
    for i in 0..2 {
        let v = gql(
            &emu,
            q,
            json!({"input": {"email": format!("b{i}@example.com")}}),
        )
        .await;
        assert_eq!(v["extensions"]["cost"]["requestedQueryCost"], 10);
        assert_eq!(
            v["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
            25 - 10 * (i + 1)
        );
    }
    let v = gql(&emu, q, json!({"input": {"email": "b2@example.com"}})).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "THROTTLED");
    assert!(v.get("data").is_none());
    assert_eq!(v["extensions"]["cost"]["actualQueryCost"], Value::Null);
    assert_eq!(
        v["extensions"]["cost"]["throttleStatus"],
        json!({"maximumAvailable": 25, "currentlyAvailable": 5, "restoreRate": 5})
    );
    clock.advance(Duration::from_secs(1));
    let v = gql(&emu, q, json!({"input": {"email": "b3@example.com"}})).await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        v["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
        0
    );
}

#[tokio::test]
async fn faults_and_reset_controls() {
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let client = reqwest::Client::new();
    gql(&emu, CREATE, json!({"input": {"email": "x@example.com"}})).await;
    let dump: Value = client
        .get(format!("{}/__emulator/state", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dump["customers"].as_object().unwrap().len(), 1);
    client
        .post(format!("{}/__emulator/faults", emu.base_url()))
        .body(r#"{"error_rate":1.0}"#)
        .send()
        .await
        .unwrap();
    let (s, _) = post(
        &emu,
        "2026-07",
        emu.token(),
        r#"{"query":"{ shop { id } }"}"#,
    )
    .await;
    assert_eq!(s, 503);
    client
        .post(format!("{}/__emulator/faults", emu.base_url()))
        .body(r#"{"force_throttle":true}"#)
        .send()
        .await
        .unwrap();
    let v = gql(&emu, "{ shop { id } }", json!({})).await;
    assert_eq!(v["errors"][0]["extensions"]["code"], "THROTTLED");
    client
        .post(format!("{}/__emulator/reset", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(emu.write_count(), 0);
    let v = gql(&emu, "{ customers(first: 5) { nodes { id } } }", json!({})).await;
    assert_eq!(v["data"]["customers"]["nodes"], json!([]));
    let _ = ApiVersion::DEFAULT;
}

#[tokio::test]
async fn actual_cost_is_refunded_like_the_captures() {
    // Captured on a live store: this selection requests 11 and, when the customer is null, costs 10.
    // A frozen clock keeps refill out of the bucket arithmetic.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let emu = Emulator::builder()
        .clock(clock)
        .start_on_loopback()
        .await
        .unwrap();
    let q = "mutation C($input: CustomerInput!) { customerCreate(input: $input) { customer { id email defaultEmailAddress { emailAddress } } userErrors { field message } } }";
    let ok = gql(&emu, q, json!({"input": {"email": "cost@example.com"}})).await;
    assert_eq!(ok["extensions"]["cost"]["requestedQueryCost"], 11);
    assert_eq!(ok["extensions"]["cost"]["actualQueryCost"], 11);
    assert_eq!(
        ok["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
        1989
    );
    let dup = gql(&emu, q, json!({"input": {"email": "cost@example.com"}})).await;
    assert_eq!(dup["extensions"]["cost"]["requestedQueryCost"], 11);
    assert_eq!(dup["extensions"]["cost"]["actualQueryCost"], 10);
    assert_eq!(
        dup["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
        1979
    );
    let read = gql(&emu, "{ customers(first: 10) { nodes { id } } }", json!({})).await;
    assert_eq!(read["extensions"]["cost"]["requestedQueryCost"], 12);
    assert_eq!(read["extensions"]["cost"]["actualQueryCost"], 3);
}

#[tokio::test]
async fn fragments_on_nodes_are_charged_like_the_captures() {
    // `nodes` returns the `Node` interface: Shopify charges the most expensive of its possible selections,
    // type-conditioned fragments included. Each capture's own document and requested cost, replayed.
    let emu = Emulator::builder().start_on_loopback().await.unwrap();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures/2025-01/products");
    let mut checked = 0;
    for file in [
        "metafields-set-parity.json",
        "metafields-generic-product-owner.json",
    ] {
        let capture: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        for call in capture["upstreamCalls"].as_array().unwrap() {
            let query = call["query"].as_str().unwrap();
            if !query.contains("... on") {
                continue;
            }
            let captured = &call["response"]["body"]["extensions"]["cost"]["requestedQueryCost"];
            assert!(captured.is_u64(), "{file}: {}", call["response"]);
            let v = gql(&emu, query, call["variables"].clone()).await;
            assert!(v.get("errors").is_none(), "{file}: {v}");
            assert_eq!(
                &v["extensions"]["cost"]["requestedQueryCost"], captured,
                "{file}: {query}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2);
    // The live read's shape: the node plus the `seo` object its Product fragment selects.
    let q = "query Q($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Product { title seo { title } } } }";
    let v = gql(&emu, q, json!({"ids": ["gid://shopify/Product/999999"]})).await;
    assert_eq!(v["extensions"]["cost"]["requestedQueryCost"], 2);
    assert_eq!(v["data"]["nodes"], json!([null]));
}
