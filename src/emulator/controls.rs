//! Test controls under `/__emulator/`, a path real Shopify cannot have.
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::seed::Fixture;
use super::server::json_response;
use super::store::{Faults, Shared, ShopStatus};

/// Routes: reset, seed, state, writes, faults, shop status, throttling.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/__emulator/reset", post(reset))
        .route("/__emulator/seed", post(seed))
        .route("/__emulator/state", get(state))
        .route("/__emulator/writes", get(writes))
        .route("/__emulator/faults", get(get_faults).post(set_faults))
        .route("/__emulator/shop-status", post(shop_status))
        .route(
            "/__emulator/throttling",
            get(get_throttling).post(throttling),
        )
}

async fn reset(AxState(shared): AxState<Arc<Shared>>) -> Response {
    shared.reset();
    json_response(200, json!({"ok": true}))
}

async fn seed(AxState(shared): AxState<Arc<Shared>>, body: Bytes) -> Response {
    let fixture = match Fixture::parse(&body, "POST /__emulator/seed") {
        Ok(f) => f,
        Err(e) => return json_response(400, json!({"error": e.to_string()})),
    };
    match fixture.build(shared.clock.now()) {
        Ok(mut state) => {
            let mut g = shared.lock();
            state.base_url = g.state.base_url.clone();
            g.baseline = state.clone();
            g.state = state;
            g.writes = 0;
            json_response(200, json!({"ok": true}))
        }
        Err(e) => json_response(400, json!({"error": e.to_string()})),
    }
}

async fn state(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let dump = serde_json::to_value(&shared.lock().state).unwrap_or(Value::Null);
    json_response(200, dump)
}

async fn writes(AxState(shared): AxState<Arc<Shared>>) -> Response {
    json_response(200, json!({"writes": shared.lock().writes}))
}

async fn get_faults(AxState(shared): AxState<Arc<Shared>>) -> Response {
    json_response(
        200,
        serde_json::to_value(&shared.lock().faults).unwrap_or(Value::Null),
    )
}

async fn set_faults(AxState(shared): AxState<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f)
            if [f.error_rate, f.drop_rate, f.drop_after_apply_rate]
                .iter()
                .all(|r| (0.0..=1.0).contains(r)) =>
        {
            shared.lock().faults = f.clone();
            json_response(200, serde_json::to_value(f).unwrap_or(Value::Null))
        }
        Ok(_) => json_response(
            400,
            json!({"error": "error_rate, drop_rate and drop_after_apply_rate must be between 0 and 1"}),
        ),
        Err(e) => json_response(400, json!({"error": format!("faults body: {e}")})),
    }
}

async fn shop_status(AxState(shared): AxState<Arc<Shared>>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Body {
        status: ShopStatus,
    }
    match serde_json::from_slice::<Body>(&body) {
        Ok(b) => {
            shared.lock().status = b.status;
            json_response(200, json!({"status": b.status}))
        }
        Err(e) => json_response(
            400,
            json!({"error": format!("shop-status body (expected {{\"status\": \"active|locked|frozen\"}}): {e}")}),
        ),
    }
}

/// Whether throttling is on, the bucket now and the points charged so far (what a client cannot count when
/// answers are lost after the shop applied them).
async fn get_throttling(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let now = shared.clock.elapsed();
    let mut inner = shared.lock();
    let status = inner.bucket.status_at(now).to_json();
    json_response(
        200,
        json!({"enabled": inner.throttling, "pointsCharged": inner.bucket.charged(), "throttleStatus": status}),
    )
}

async fn throttling(AxState(shared): AxState<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("enabled").and_then(Value::as_bool))
    {
        Some(on) => {
            shared.lock().throttling = on;
            json_response(200, json!({"enabled": on}))
        }
        None => json_response(
            400,
            json!({"error": "throttling body: expected {\"enabled\": true|false}"}),
        ),
    }
}
