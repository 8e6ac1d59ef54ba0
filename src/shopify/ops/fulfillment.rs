//! Fulfillment events and the seven fulfillment-order actions: each row is sent once.
//!
//! Shopify has no idempotency key for these mutations, so the transport never resends them on its own. When an
//! answer is lost (a dropped connection, a timeout, a 5xx that may come after the commit), the fulfillment's
//! events or the fulfillment order's state are read: a write found there took effect, and only a provably
//! absent one is sent again. A row whose earlier attempt was lost in a previous run (`resend`) is checked the
//! same way before its first send.
use chrono::DateTime;
use serde_json::{Map, Value, json};

use super::documents::*;
use super::{Sent, call, id_of, rejection, require, send_checked, succeeded, text, unexpected};
use crate::core::config::ActionKind;
use crate::core::write::WriteOutcome;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

/// Pages of a fulfillment's events read while looking for a lost one (50 each).
const EVENT_PAGES: u32 = 40;

pub(super) async fn event(
    t: &Transport,
    key: String,
    mut fields: Map<String, Value>,
    resend: bool,
) -> Result<WriteOutcome, ShopifyError> {
    // The order id is for the legacy REST path; the GraphQL input is keyed by fulfillment only.
    fields.remove("orderId");
    let fulfillment = match require(&key, &fields, "fulfillmentId") {
        Ok(id) => id,
        Err(r) => return Ok(r),
    };
    let (wanted, row, fulfillment) = (&fields, &key, fulfillment.as_str());
    let sent = send_checked(
        t,
        resend,
        FULFILLMENT_EVENT_CREATE,
        json!({ "event": wanted }),
        "fulfillmentEventCreate",
        move || async move {
            let found = find_event(t, fulfillment, wanted).await?;
            Ok(found.map(|id| succeeded(row.clone(), Some(id), true)))
        },
    )
    .await?;
    let payload = match sent {
        Sent::Answer { payload, .. } => payload,
        Sent::Found(found) => return Ok(found),
    };
    if let Some(rejected) = rejection(&key, &payload) {
        return Ok(rejected);
    }
    Ok(match id_of(&payload, "/fulfillmentEvent/id") {
        Some(id) => succeeded(key, Some(id), true),
        None => unexpected(&key, "fulfillmentEventCreate", &payload),
    })
}

/// The id of the fulfillment's event that carries every value `fields` sends, if there is one. Shopify keeps
/// no idempotency key for events, so the values are the identity: `happenedAt` (mapped by most syncs) tells
/// otherwise identical events apart. `None` also for an unknown fulfillment: sending again is then refused.
async fn find_event(
    t: &Transport,
    fulfillment: &str,
    fields: &Map<String, Value>,
) -> Result<Option<String>, ShopifyError> {
    let mut after: Option<String> = None;
    for _ in 0..EVENT_PAGES {
        let payload = call(
            t,
            FULFILLMENT_EVENTS,
            json!({ "id": fulfillment, "after": after }),
            "fulfillment",
        )
        .await?;
        let Some(events) = payload.get("events") else {
            return Ok(None);
        };
        let nodes = events.get("nodes").and_then(Value::as_array);
        if let Some(found) = nodes
            .into_iter()
            .flatten()
            .find(|node| event_matches(fields, node))
        {
            return Ok(found.get("id").and_then(Value::as_str).map(str::to_string));
        }
        let page = events.get("pageInfo");
        let next = page
            .and_then(|p| p.get("hasNextPage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        after = page
            .and_then(|p| p.get("endCursor"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if !next || after.is_none() {
            return Ok(None);
        }
    }
    // Too many events to be sure: the outcome stays unknown rather than risking a duplicate.
    Err(ShopifyError::Decode(format!(
        "fulfillment {fulfillment} has more than {} events; cannot tell whether the lost one was recorded",
        EVENT_PAGES * 50
    )))
}

/// Whether `node` (a `FulfillmentEvent`) carries every value the row sent. Timestamps compare as instants and
/// coordinates as numbers, since Shopify answers in its own formats; enum values ignore case.
pub(crate) fn event_matches(fields: &Map<String, Value>, node: &Value) -> bool {
    fields
        .iter()
        .filter(|(name, _)| name.as_str() != "fulfillmentId")
        .all(|(name, sent)| {
            let stored = node.get(name).unwrap_or(&Value::Null);
            match name.as_str() {
                "happenedAt" | "estimatedDeliveryAt" => same_instant(sent, stored),
                "latitude" | "longitude" => same_number(sent, stored),
                "status" => same_text(sent, stored, true),
                _ => same_text(sent, stored, false),
            }
        })
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn same_text(a: &Value, b: &Value, ignore_case: bool) -> bool {
    match (as_text(a), as_text(b)) {
        (Some(a), Some(b)) if ignore_case => a.eq_ignore_ascii_case(&b),
        (a, b) => a == b,
    }
}

fn same_instant(a: &Value, b: &Value) -> bool {
    let instant = |v: &Value| {
        v.as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    };
    match (instant(a), instant(b)) {
        (Some(a), Some(b)) => a == b,
        _ => same_text(a, b, false),
    }
}

fn same_number(a: &Value, b: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (number(a), number(b)) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => same_text(a, b, false),
    }
}

pub(super) async fn action(
    t: &Transport,
    action: ActionKind,
    key: String,
    fields: Map<String, Value>,
    resend: bool,
) -> Result<WriteOutcome, ShopifyError> {
    let id = match require(&key, &fields, "fulfillmentOrderId") {
        Ok(id) => id,
        Err(r) => return Ok(r),
    };
    let (document, root, variables) = match action {
        ActionKind::CancelFulfillmentOrder => (
            FULFILLMENT_ORDER_CANCEL,
            "fulfillmentOrderCancel",
            json!({ "id": id }),
        ),
        ActionKind::MarkFulfillmentOrderIncomplete => (
            FULFILLMENT_ORDER_CLOSE,
            "fulfillmentOrderClose",
            json!({ "id": id, "message": text(&fields, "message") }),
        ),
        ActionKind::HoldFulfillmentOrder => {
            let mut hold = fields.clone();
            hold.remove("fulfillmentOrderId");
            (
                FULFILLMENT_ORDER_HOLD,
                "fulfillmentOrderHold",
                json!({ "id": id, "hold": hold }),
            )
        }
        ActionKind::MoveFulfillmentOrder => {
            let location = match require(&key, &fields, "newLocationId") {
                Ok(l) => l,
                Err(r) => return Ok(r),
            };
            (
                FULFILLMENT_ORDER_MOVE,
                "fulfillmentOrderMove",
                json!({ "id": id, "newLocationId": location }),
            )
        }
        ActionKind::OpenFulfillmentOrder => (
            FULFILLMENT_ORDER_OPEN,
            "fulfillmentOrderOpen",
            json!({ "id": id }),
        ),
        ActionKind::ReleaseFulfillmentOrderHold => (
            FULFILLMENT_ORDER_RELEASE_HOLD,
            "fulfillmentOrderReleaseHold",
            json!({ "id": id, "holdIds": fields.get("holdIds"), "externalId": text(&fields, "externalId") }),
        ),
        ActionKind::RescheduleFulfillmentOrder => {
            let at = match require(&key, &fields, "fulfillAt") {
                Ok(a) => a,
                Err(r) => return Ok(r),
            };
            (
                FULFILLMENT_ORDER_RESCHEDULE,
                "fulfillmentOrderReschedule",
                json!({ "id": id, "fulfillAt": at }),
            )
        }
    };
    let (fo, wanted, row) = (&id, &fields, &key);
    let sent = send_checked(t, resend, document, variables, root, move || async move {
        let state = call(
            t,
            FULFILLMENT_ORDER_STATE,
            json!({ "id": fo }),
            "fulfillmentOrder",
        )
        .await?;
        Ok(action_took_effect(action, wanted, &state)
            .then(|| succeeded(row.clone(), Some(fo.clone()), false)))
    })
    .await?;
    let payload = match sent {
        Sent::Answer { payload, .. } => payload,
        Sent::Found(done) => return Ok(done),
    };
    if payload.is_null() {
        // Shopify answers an unknown fulfillment order with a top-level error and a null payload.
        return Ok(WriteOutcome::Rejected {
            key,
            code: Some("RESOURCE_NOT_FOUND".into()),
            field: vec!["fulfillmentOrderId".into()],
            message: format!("fulfillment order {id} does not exist"),
        });
    }
    if let Some(rejected) = rejection(&key, &payload) {
        return Ok(rejected);
    }
    Ok(succeeded(key, Some(id), false))
}

/// Whether the fulfillment order `fo` (as [`FULFILLMENT_ORDER_STATE`] reads it; null when it does not exist)
/// shows the effect of `action` with the row's `fields`. A state the action leads to counts as its effect: the
/// action was applied, or there is nothing left for it to do.
pub(crate) fn action_took_effect(
    action: ActionKind,
    fields: &Map<String, Value>,
    fo: &Value,
) -> bool {
    if fo.is_null() {
        return false;
    }
    let status = fo.get("status").and_then(Value::as_str).unwrap_or("");
    let holds: &[Value] = fo
        .get("fulfillmentHolds")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    match action {
        ActionKind::CancelFulfillmentOrder => matches!(status, "CANCELLED" | "CLOSED"),
        ActionKind::MarkFulfillmentOrderIncomplete => status == "INCOMPLETE",
        ActionKind::OpenFulfillmentOrder => status == "OPEN",
        ActionKind::HoldFulfillmentOrder => {
            // Shopify keeps one hold per handle (empty by default) for an app and fulfillment order.
            let handle = text(fields, "handle").unwrap_or_default();
            let reason = fields.get("reason").unwrap_or(&Value::Null);
            status == "ON_HOLD"
                && holds.iter().any(|h| {
                    same_text(
                        h.get("handle").unwrap_or(&Value::Null),
                        &json!(handle),
                        false,
                    ) && (reason.is_null()
                        || same_text(h.get("reason").unwrap_or(&Value::Null), reason, true))
                })
        }
        ActionKind::ReleaseFulfillmentOrderHold => {
            match fields.get("holdIds").and_then(Value::as_array) {
                Some(ids) if !ids.is_empty() => !holds
                    .iter()
                    .any(|h| ids.iter().any(|id| h.get("id") == Some(id))),
                _ => status != "ON_HOLD" && holds.is_empty(),
            }
        }
        ActionKind::MoveFulfillmentOrder => {
            let to = fields.get("newLocationId").unwrap_or(&Value::Null);
            let at = fo
                .pointer("/assignedLocation/location/id")
                .unwrap_or(&Value::Null);
            !to.is_null() && same_text(at, to, false)
        }
        ActionKind::RescheduleFulfillmentOrder => {
            let to = fields.get("fulfillAt").unwrap_or(&Value::Null);
            !to.is_null() && same_instant(fo.get("fulfillAt").unwrap_or(&Value::Null), to)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn an_event_is_recognised_by_every_value_sent_in_shopify_formats() {
        let sent = row(json!({
            "fulfillmentId": "gid://shopify/Fulfillment/1", "status": "in_transit", "message": null,
            "happenedAt": "2026-11-20T09:15:00+01:00", "latitude": "52.5", "city": "Berlin"
        }));
        let stored = json!({
            "id": "gid://shopify/FulfillmentEvent/9", "status": "IN_TRANSIT", "message": null,
            "happenedAt": "2026-11-20T08:15:00Z", "latitude": 52.5, "city": "Berlin", "zip": null
        });
        assert!(event_matches(&sent, &stored));
        // Another time, message or place is another event.
        for (field, other) in [
            ("happenedAt", json!("2026-11-20T08:16:00Z")),
            ("message", json!("Left the hub")),
            ("city", json!("Leipzig")),
            ("latitude", json!(52.6)),
            ("status", json!("DELIVERED")),
        ] {
            let mut s = stored.clone();
            s[field] = other;
            assert!(!event_matches(&sent, &s), "{field}");
        }
    }

    #[test]
    fn an_action_took_effect_when_the_fulfillment_order_shows_it() {
        let fo = |status: &str, holds: Value| {
            json!({"id": "gid://shopify/FulfillmentOrder/5", "status": status, "fulfillAt": "2026-12-30T09:00:00Z",
                   "assignedLocation": {"location": {"id": "gid://shopify/Location/2"}}, "fulfillmentHolds": holds})
        };
        let hold = row(json!({"reason": "HIGH_RISK_OF_FRAUD"}));
        let held = fo(
            "ON_HOLD",
            json!([{"id": "gid://shopify/FulfillmentHold/7", "handle": "", "reason": "HIGH_RISK_OF_FRAUD"}]),
        );
        assert!(action_took_effect(
            ActionKind::HoldFulfillmentOrder,
            &hold,
            &held
        ));
        let other_hold = fo(
            "ON_HOLD",
            json!([{"id": "h", "handle": "", "reason": "AWAITING_PAYMENT"}]),
        );
        assert!(!action_took_effect(
            ActionKind::HoldFulfillmentOrder,
            &hold,
            &other_hold
        ));
        assert!(!action_took_effect(
            ActionKind::HoldFulfillmentOrder,
            &hold,
            &fo("OPEN", json!([]))
        ));
        let release = row(json!({"holdIds": ["gid://shopify/FulfillmentHold/7"]}));
        assert!(!action_took_effect(
            ActionKind::ReleaseFulfillmentOrderHold,
            &release,
            &held
        ));
        assert!(action_took_effect(
            ActionKind::ReleaseFulfillmentOrderHold,
            &release,
            &fo("OPEN", json!([]))
        ));
        let none = Map::new();
        assert!(action_took_effect(
            ActionKind::OpenFulfillmentOrder,
            &none,
            &fo("OPEN", json!([]))
        ));
        assert!(!action_took_effect(
            ActionKind::OpenFulfillmentOrder,
            &none,
            &fo("SCHEDULED", json!([]))
        ));
        assert!(action_took_effect(
            ActionKind::CancelFulfillmentOrder,
            &none,
            &fo("CLOSED", json!([]))
        ));
        assert!(!action_took_effect(
            ActionKind::CancelFulfillmentOrder,
            &none,
            &fo("OPEN", json!([]))
        ));
        let moved = row(json!({"newLocationId": "gid://shopify/Location/2"}));
        assert!(action_took_effect(
            ActionKind::MoveFulfillmentOrder,
            &moved,
            &fo("OPEN", json!([]))
        ));
        let elsewhere = row(json!({"newLocationId": "gid://shopify/Location/3"}));
        assert!(!action_took_effect(
            ActionKind::MoveFulfillmentOrder,
            &elsewhere,
            &fo("OPEN", json!([]))
        ));
        let later = row(json!({"fulfillAt": "2026-12-30T10:00:00+01:00"}));
        assert!(action_took_effect(
            ActionKind::RescheduleFulfillmentOrder,
            &later,
            &fo("SCHEDULED", json!([]))
        ));
        let other_day = row(json!({"fulfillAt": "2026-12-31T09:00:00Z"}));
        assert!(!action_took_effect(
            ActionKind::RescheduleFulfillmentOrder,
            &other_day,
            &fo("SCHEDULED", json!([]))
        ));
        // An unknown fulfillment order shows nothing: the action is sent, and Shopify says why not.
        assert!(!action_took_effect(
            ActionKind::OpenFulfillmentOrder,
            &none,
            &Value::Null
        ));
    }
}
