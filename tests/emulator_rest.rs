//! Legacy REST endpoints and the REST request bucket.
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shopsync::emulator::seed::Fixture;
use shopsync::emulator::{Emulator, ManualClock, RunningEmulator};

const SEED: &str = r##"
orders:
  - name: "#1001"
    line_items: [{title: Shirt, quantity: 1}]
    fulfillments: [{status: SUCCESS}]
discounts:
  - {title: Summer, codes: [SUMMER]}
"##;

async fn start() -> (RunningEmulator, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let emu = Emulator::builder()
        .clock(clock.clone())
        .seed(Fixture::parse(SEED.as_bytes(), "inline").unwrap())
        .start_on_loopback()
        .await
        .unwrap();
    (emu, clock)
}

fn first_key(v: &Value, map: &str) -> String {
    v[map].as_object().unwrap().keys().next().unwrap().clone()
}

#[tokio::test]
async fn fulfillment_events_over_rest() {
    let (emu, _) = start().await;
    let dump = emu.dump();
    let (order, fulfillment) = (first_key(&dump, "orders"), first_key(&dump, "fulfillments"));
    let url = format!(
        "{}/admin/api/2026-07/orders/{order}/fulfillments/{fulfillment}/events.json",
        emu.base_url()
    );
    let client = reqwest::Client::new();
    let r = client
        .post(&url)
        .header("X-Shopify-Access-Token", emu.token())
        .json(&json!({"event": {"status": "in_transit", "city": "Ottawa"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-shopify-shop-api-call-limit"], "1/40");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["fulfillment_event"]["status"], "in_transit");
    assert_eq!(v["fulfillment_event"]["city"], "Ottawa");
    assert!(
        v["fulfillment_event"]["admin_graphql_api_id"]
            .as_str()
            .unwrap()
            .starts_with("gid://shopify/FulfillmentEvent/")
    );
    let r = client
        .post(&url)
        .header("X-Shopify-Access-Token", emu.token())
        .json(&json!({"event": {"status": "teleported"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let list: Value = client
        .get(&url)
        .header("X-Shopify-Access-Token", emu.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["fulfillment_events"].as_array().unwrap().len(), 1);
    let r = client
        .get(format!(
            "{}/admin/api/2026-07/orders/1/fulfillments/{fulfillment}/events.json",
            emu.base_url()
        ))
        .header("X-Shopify-Access-Token", emu.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(emu.write_count(), 1);
}

#[tokio::test]
async fn price_rule_discount_codes_over_rest() {
    let (emu, _) = start().await;
    let rule = first_key(&emu.dump(), "discounts");
    let url = format!(
        "{}/admin/api/2026-07/price_rules/{rule}/discount_codes.json",
        emu.base_url()
    );
    let client = reqwest::Client::new();
    let post = |code: &str| {
        client
            .post(&url)
            .header("X-Shopify-Access-Token", emu.token())
            .json(&json!({"discount_code": {"code": code}}))
            .send()
    };
    let r = post("AUTUMN").await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["discount_code"]["code"], "AUTUMN");
    assert_eq!(v["discount_code"]["price_rule_id"].to_string(), rule);
    let r = post("summer").await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"errors": {"code": ["must be unique. Please try a different code."]}})
    );
    let list: Value = client
        .get(&url)
        .header("X-Shopify-Access-Token", emu.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = list["discount_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["SUMMER", "AUTUMN"]);
}

#[tokio::test]
async fn rest_bucket_answers_429_with_retry_after_and_leaks() {
    let (emu, clock) = start().await;
    let rule = first_key(&emu.dump(), "discounts");
    let url = format!(
        "{}/admin/api/2026-07/price_rules/{rule}/discount_codes.json",
        emu.base_url()
    );
    let client = reqwest::Client::new();
    for i in 1..=40 {
        let r = client
            .get(&url)
            .header("X-Shopify-Access-Token", emu.token())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["x-shopify-shop-api-call-limit"],
            format!("{i}/40").as_str()
        );
    }
    let r = client
        .get(&url)
        .header("X-Shopify-Access-Token", emu.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "0.5");
    assert_eq!(
        r.json::<Value>().await.unwrap()["errors"],
        "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
    );
    clock.advance(Duration::from_secs(1));
    let r = client
        .get(&url)
        .header("X-Shopify-Access-Token", emu.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-shopify-shop-api-call-limit"], "39/40");
}
