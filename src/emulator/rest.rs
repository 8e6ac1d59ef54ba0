//! Legacy REST endpoints shopsync may fall back to: fulfillment events and price-rule discount codes, behind
//! the request-count REST bucket (`X-Shopify-Shop-Api-Call-Limit`, 429 + `Retry-After`).
//!
//! A REST `price_rule_id` is taken to be the numeric id of the `DiscountCodeNode` (the mapping is unconfirmed
//! upstream); 422 bodies follow Rails' `{"errors": {"field": ["message"]}}` convention.
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::domain::{self, gid};
use super::server::{gate, inject_faults, json_response, resolve_version};
use super::store::{Inner, Shared};

/// The REST routes.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/admin/api/{version}/orders/{order_id}/fulfillments/{fulfillment_id}/events.json",
            post(create_event).get(list_events),
        )
        .route(
            "/admin/api/{version}/price_rules/{price_rule_id}/discount_codes.json",
            post(create_code).get(list_codes),
        )
        .route(
            "/admin/api/{version}/price_rules/{price_rule_id}/discount_codes/{id}",
            get(show_code).put(update_code),
        )
}

/// Version, faults, auth and the REST bucket; `Err` is the refusal to send.
async fn admit(shared: &Shared, version: &str, headers: &HeaderMap) -> Result<String, Response> {
    if resolve_version(version).is_none() {
        return Err(json_response(404, json!({"errors": "Not Found"})));
    }
    if let Some(resp) = inject_faults(shared, None).await {
        return Err(resp);
    }
    gate(shared, headers).map_err(|r| *r)?;
    let now = shared.clock.elapsed();
    let mut g = shared.lock();
    let leak = shared.config.plan.rest_leak_rate();
    match g.rest.take(now) {
        Ok((used, size)) => Ok(format!("{used}/{size}")),
        Err(retry) => {
            let mut resp = json_response(
                429,
                json!({"errors": format!("Exceeded {leak} calls per second for api client. Reduce request rates to resume uninterrupted service.")}),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("{:.1}", retry.max(0.1))) {
                resp.headers_mut().insert("retry-after", v);
            }
            Err(resp)
        }
    }
}

fn with_limit(mut resp: Response, limit: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(limit) {
        resp.headers_mut()
            .insert("x-shopify-shop-api-call-limit", v);
    }
    resp
}

fn unprocessable(field: &str, message: &str) -> Value {
    json!({"errors": {field: [message]}})
}

fn event_rest_json(g: &Inner, id: u64, order_id: u64) -> Value {
    let Some(e) = g.state.fulfillment_events.get(&id) else {
        return Value::Null;
    };
    let f = &e.fields;
    let s = |k: &str| f.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": id, "fulfillment_id": e.fulfillment_id, "order_id": order_id, "shop_id": 1,
        "status": f.get("status").and_then(Value::as_str).map(str::to_lowercase),
        "message": s("message"), "happened_at": s("happenedAt"), "city": s("city"), "province": s("province"),
        "country": s("country"), "zip": s("zip"), "address1": s("address1"), "latitude": s("latitude"), "longitude": s("longitude"),
        "estimated_delivery_at": s("estimatedDeliveryAt"), "created_at": e.created_at, "updated_at": e.created_at,
        "admin_graphql_api_id": gid("FulfillmentEvent", id),
    })
}

const REST_EVENT_STATUSES: &[&str] = &[
    "label_purchased",
    "label_printed",
    "ready_for_pickup",
    "confirmed",
    "in_transit",
    "out_for_delivery",
    "attempted_delivery",
    "delayed",
    "delivered",
    "failure",
    "carrier_picked_up",
];

async fn create_event(
    AxState(shared): AxState<Arc<Shared>>,
    Path((version, order_id, fulfillment_id)): Path<(String, u64, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limit = match admit(&shared, &version, &headers).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut g = shared.lock();
    if g.state
        .fulfillments
        .get(&fulfillment_id)
        .is_none_or(|f| f.order_id != order_id)
    {
        return with_limit(json_response(404, json!({"errors": "Not Found"})), &limit);
    }
    let Some(event) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("event").and_then(Value::as_object).cloned())
    else {
        return with_limit(
            json_response(
                400,
                json!({"errors": {"event": "Required parameter missing or invalid"}}),
            ),
            &limit,
        );
    };
    let status = event.get("status").and_then(Value::as_str).unwrap_or("");
    if !REST_EVENT_STATUSES.contains(&status) {
        return with_limit(
            json_response(422, unprocessable("status", "is not included in the list")),
            &limit,
        );
    }
    // Same rules as GraphQL: translate snake_case fields and reuse fulfillmentEventCreate.
    let mut input = Map::new();
    input.insert(
        "fulfillmentId".into(),
        json!(gid("Fulfillment", fulfillment_id)),
    );
    input.insert("status".into(), json!(status.to_uppercase()));
    for (rest, gql) in [
        ("message", "message"),
        ("happened_at", "happenedAt"),
        ("city", "city"),
        ("province", "province"),
        ("country", "country"),
        ("zip", "zip"),
        ("address1", "address1"),
        ("latitude", "latitude"),
        ("longitude", "longitude"),
        ("estimated_delivery_at", "estimatedDeliveryAt"),
    ] {
        if let Some(v) = event.get(rest) {
            input.insert(gql.into(), v.clone());
        }
    }
    let mut args = Map::new();
    args.insert("fulfillmentEvent".into(), Value::Object(input));
    g.state.now = Some(shared.clock.now());
    let before = g.state.revision;
    let cx = domain::RootCtx {
        version: crate::core::config::ApiVersion::DEFAULT,
        mutation: true,
        idempotency_key: None,
    };
    let out = domain::resolve_root(&mut g.state, "fulfillmentEventCreate", &args, &cx);
    if g.state.revision != before {
        g.writes += 1;
    }
    let id = out.ok().and_then(|v| {
        v["fulfillmentEvent"]
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.rsplit('/').next()?.parse::<u64>().ok())
    });
    match id {
        Some(id) => with_limit(
            json_response(
                201,
                json!({"fulfillment_event": event_rest_json(&g, id, order_id)}),
            ),
            &limit,
        ),
        None => with_limit(
            json_response(
                422,
                unprocessable("base", "Fulfillment event could not be created"),
            ),
            &limit,
        ),
    }
}

async fn list_events(
    AxState(shared): AxState<Arc<Shared>>,
    Path((version, order_id, fulfillment_id)): Path<(String, u64, u64)>,
    headers: HeaderMap,
) -> Response {
    let limit = match admit(&shared, &version, &headers).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let g = shared.lock();
    let Some(f) = g
        .state
        .fulfillments
        .get(&fulfillment_id)
        .filter(|f| f.order_id == order_id)
    else {
        return with_limit(json_response(404, json!({"errors": "Not Found"})), &limit);
    };
    let events: Vec<Value> = f
        .events
        .iter()
        .map(|e| event_rest_json(&g, *e, order_id))
        .collect();
    with_limit(
        json_response(200, json!({"fulfillment_events": events})),
        &limit,
    )
}

fn code_rest_json(price_rule: u64, id: u64, code: &str, created: &str) -> Value {
    json!({"id": id, "price_rule_id": price_rule, "code": code, "usage_count": 0, "created_at": created, "updated_at": created})
}

async fn create_code(
    AxState(shared): AxState<Arc<Shared>>,
    Path((version, rule)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limit = match admit(&shared, &version, &headers).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut g = shared.lock();
    if !g.state.discounts.contains_key(&rule) {
        return with_limit(json_response(404, json!({"errors": "Not Found"})), &limit);
    }
    let Some(code) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("discount_code").and_then(|d| d.get("code")).cloned())
    else {
        return with_limit(
            json_response(
                400,
                json!({"errors": {"discount_code": "Required parameter missing or invalid"}}),
            ),
            &limit,
        );
    };
    let code = code.as_str().unwrap_or("").to_string();
    let error = code_error(&g, &code, None);
    if let Some(e) = error {
        return with_limit(json_response(422, unprocessable("code", e)), &limit);
    }
    g.state.now = Some(shared.clock.now());
    let id = g.state.next_id();
    let now = g.state.now_str();
    g.state.add_discount_code(rule, id, code.clone());
    g.state.touch();
    g.writes += 1;
    with_limit(
        json_response(
            201,
            json!({"discount_code": code_rest_json(rule, id, &code, &now)}),
        ),
        &limit,
    )
}

async fn list_codes(
    AxState(shared): AxState<Arc<Shared>>,
    Path((version, rule)): Path<(String, u64)>,
    headers: HeaderMap,
) -> Response {
    let limit = match admit(&shared, &version, &headers).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let g = shared.lock();
    let Some(d) = g.state.discounts.get(&rule) else {
        return with_limit(json_response(404, json!({"errors": "Not Found"})), &limit);
    };
    let codes: Vec<Value> = d
        .codes
        .iter()
        .map(|(id, c)| code_rest_json(rule, *id, c, &d.created_at))
        .collect();
    with_limit(json_response(200, json!({"discount_codes": codes})), &limit)
}

/// `{id}.json` of a single-code path: the code's number.
fn code_number(segment: &str) -> Option<u64> {
    segment.strip_suffix(".json")?.parse().ok()
}

/// Why `code` cannot be a redeem code (Rails-style message), if it cannot; `except` is the code being renamed.
fn code_error(g: &Inner, code: &str, except: Option<u64>) -> Option<&'static str> {
    if code.trim().is_empty() {
        Some("can't be blank")
    } else if code.chars().count() > 255 {
        Some("is too long (maximum is 255 characters)")
    } else if code.contains('\n') || code.contains('\r') {
        Some("cannot contain newline characters.")
    } else if g
        .state
        .discount_code_holders(code)
        .iter()
        .any(|(_, id)| Some(*id) != except)
    {
        Some("must be unique. Please try a different code.")
    } else {
        None
    }
}

async fn show_code(
    AxState(shared): AxState<Arc<Shared>>,
    Path((version, rule, id)): Path<(String, u64, String)>,
    headers: HeaderMap,
) -> Response {
    let limit = match admit(&shared, &version, &headers).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let g = shared.lock();
    let found = code_number(&id).and_then(|id| {
        let d = g.state.discounts.get(&rule).filter(|d| !d.automatic)?;
        let (_, code) = d.codes.iter().find(|(c, _)| *c == id)?;
        Some(code_rest_json(rule, id, code, &d.created_at))
    });
    match found {
        Some(code) => with_limit(json_response(200, json!({"discount_code": code})), &limit),
        None => with_limit(json_response(404, json!({"errors": "Not Found"})), &limit),
    }
}

/// `PUT .../discount_codes/{id}.json`: renames a code of the price rule (the only writable field; a code of
/// another price rule is not found there).
async fn update_code(
    AxState(shared): AxState<Arc<Shared>>,
    Path((version, rule, id)): Path<(String, u64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limit = match admit(&shared, &version, &headers).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut g = shared.lock();
    let Some(id) = code_number(&id).filter(|id| {
        g.state
            .discounts
            .get(&rule)
            .is_some_and(|d| !d.automatic && d.codes.iter().any(|(c, _)| c == id))
    }) else {
        return with_limit(json_response(404, json!({"errors": "Not Found"})), &limit);
    };
    let Some(input) = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("discount_code").and_then(Value::as_object).cloned())
    else {
        return with_limit(
            json_response(
                400,
                json!({"errors": {"discount_code": "Required parameter missing or invalid"}}),
            ),
            &limit,
        );
    };
    if let Some(code) = input.get("code") {
        let code = code.as_str().unwrap_or("").to_string();
        if let Some(e) = code_error(&g, &code, Some(id)) {
            return with_limit(json_response(422, unprocessable("code", e)), &limit);
        }
        g.state.now = Some(shared.clock.now());
        let now = g.state.now_str();
        g.state.rename_discount_code(rule, id, code);
        if let Some(d) = g.state.discounts.get_mut(&rule) {
            d.updated_at = now;
        }
        g.state.touch();
        g.writes += 1;
    }
    let Some(d) = g.state.discounts.get(&rule) else {
        return with_limit(json_response(404, json!({"errors": "Not Found"})), &limit);
    };
    let code = d
        .codes
        .iter()
        .find(|(c, _)| *c == id)
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let updated = code_rest_json(rule, id, &code, &d.created_at);
    with_limit(
        json_response(200, json!({"discount_code": updated})),
        &limit,
    )
}
