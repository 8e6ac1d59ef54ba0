//! Inventory items (update by id) and inventory levels (stock the item at the location, then set quantities).
use serde_json::{Map, Value, json};

use super::documents::{
    INVENTORY_ACTIVATE, INVENTORY_ITEM_UPDATE, INVENTORY_LEVEL, INVENTORY_SET_QUANTITIES,
};
use super::{call, id_of, not_found, rejection, require, succeeded, text};
use crate::core::config::{ApiVersion, SyncConfig, SyncMode};
use crate::core::write::WriteOutcome;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

pub(super) async fn update_item(
    t: &Transport,
    key: String,
    mut fields: Map<String, Value>,
    known_id: Option<String>,
) -> Result<WriteOutcome, ShopifyError> {
    let id = match known_id.or_else(|| text(&fields, "id")) {
        Some(id) => id,
        None => {
            return Ok(require(&key, &fields, "id")
                .err()
                .unwrap_or_else(|| not_found(&key, "inventory item")));
        }
    };
    fields.remove("id");
    let payload = call(
        t,
        INVENTORY_ITEM_UPDATE,
        json!({ "id": id, "input": fields }),
        "inventoryItemUpdate",
    )
    .await?;
    if let Some(rejected) = rejection(&key, &payload) {
        return Ok(rejected);
    }
    Ok(succeeded(key, id_of(&payload, "/inventoryItem/id"), false))
}

pub(super) async fn upsert_level(
    t: &Transport,
    sync: &SyncConfig,
    key: String,
    fields: Map<String, Value>,
    idempotency_key: String,
) -> Result<WriteOutcome, ShopifyError> {
    let (item, location, quantity) = match (
        require(&key, &fields, "inventoryItemId"),
        require(&key, &fields, "locationId"),
        fields.get("quantity").and_then(Value::as_i64),
    ) {
        (Ok(i), Ok(l), Some(q)) => (i, l, q),
        (Err(r), _, _) | (_, Err(r), _) => return Ok(r),
        (_, _, None) => {
            return Ok(WriteOutcome::Rejected {
                key,
                code: Some("INVALID".into()),
                field: vec!["quantity".into()],
                message: "quantity must be a whole number".into(),
            });
        }
    };
    let level = call(
        t,
        INVENTORY_LEVEL,
        json!({ "item": item, "location": location }),
        "inventoryItem",
    )
    .await?;
    if level.is_null() {
        return Ok(not_found(&key, &format!("inventory item {item}")));
    }
    let existing = id_of(&level, "/inventoryLevel/id");
    let mut created = false;
    match (sync.mode, &existing) {
        (SyncMode::Insert, Some(id)) => {
            return Ok(WriteOutcome::Skipped {
                key,
                shopify_id: Some(id.clone()),
                reason: "the item is already stocked at this location; mode insert leaves it alone"
                    .into(),
            });
        }
        (SyncMode::Update, None) => {
            return Ok(not_found(
                &key,
                &format!("inventory level of {item} at {location}"),
            ));
        }
        (_, None) => {
            let payload = call(
                t,
                INVENTORY_ACTIVATE,
                // Its own key, derived from the write's: a retry of this write stocks the item once.
                json!({ "item": item, "location": location, "key": format!("{idempotency_key}:activate") }),
                "inventoryActivate",
            )
            .await?;
            if let Some(rejected) = rejection(&key, &payload) {
                return Ok(rejected);
            }
            created = true;
        }
        _ => {}
    }
    let name = text(&fields, "name").unwrap_or_else(|| "available".into());
    let reason = text(&fields, "reason").unwrap_or_else(|| "correction".into());
    let mut row = json!({ "inventoryItemId": item, "locationId": location, "quantity": quantity });
    let mut input = json!({ "name": name, "reason": reason, "quantities": [] });
    match t.store().version {
        // 2026-01 still compares against a stated quantity unless asked not to.
        ApiVersion::V2026_01 => input["ignoreCompareQuantity"] = json!(true),
        // From 2026-04 changeFromQuantity must be present; null means "whatever it is now".
        ApiVersion::V2026_04 | ApiVersion::V2026_07 => row["changeFromQuantity"] = Value::Null,
    }
    input["quantities"] = json!([row]);
    if let Some(uri) = text(&fields, "referenceDocumentUri") {
        input["referenceDocumentUri"] = json!(uri);
    }
    // The engine's key names this one write (run, row, values): its retries share it, and a later run's write
    // of a quantity seen before (25 -> 30 -> 25) is a new write, not a replay of the first answer.
    let payload = call(
        t,
        INVENTORY_SET_QUANTITIES,
        json!({ "input": input, "key": idempotency_key }),
        "inventorySetQuantities",
    )
    .await?;
    if let Some(rejected) = rejection(&key, &payload) {
        return Ok(rejected);
    }
    let id = existing.or_else(|| Some(format!("{item}@{location}")));
    Ok(succeeded(key, id, created))
}
