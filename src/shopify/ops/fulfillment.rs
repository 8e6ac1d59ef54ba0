//! Fulfillment events and the seven fulfillment-order actions: each row is sent once.
use serde_json::{Map, Value, json};

use super::documents::*;
use super::{call, id_of, rejection, require, succeeded, text};
use crate::core::config::ActionKind;
use crate::core::write::WriteOutcome;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

pub(super) async fn event(
    t: &Transport,
    key: String,
    mut fields: Map<String, Value>,
) -> Result<WriteOutcome, ShopifyError> {
    // The order id is for the legacy REST path; the GraphQL input is keyed by fulfillment only.
    fields.remove("orderId");
    let payload = call(
        t,
        FULFILLMENT_EVENT_CREATE,
        json!({ "event": fields }),
        "fulfillmentEventCreate",
    )
    .await?;
    if let Some(rejected) = rejection(&key, &payload) {
        return Ok(rejected);
    }
    Ok(succeeded(
        key,
        id_of(&payload, "/fulfillmentEvent/id"),
        true,
    ))
}

pub(super) async fn action(
    t: &Transport,
    action: ActionKind,
    key: String,
    fields: Map<String, Value>,
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
    let payload = call(t, document, variables, root).await?;
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
