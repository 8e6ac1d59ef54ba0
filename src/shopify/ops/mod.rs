//! Operations for the whole scope: how each object, event and action is matched and written, per mode.
//!
//! [`crate::shopify::ShopifyClient`] sends a sync's ops through [`one`] (one request per op), [`batch`]
//! (identified upserts of products and customers, several to a request) or, above the sync's bulk threshold,
//! [`crate::shopify::bulk`]. This module knows the objects; it does not know the client.
pub mod batch;
mod customers;
mod discounts;
pub mod documents;
mod fulfillment;
mod inventory;
mod products;
pub mod shop;

use serde_json::{Map, Value, json};

use super::error::ShopifyError;
use super::transport::Transport;
use crate::core::config::{ObjectKind, SyncConfig, Target};
use crate::core::write::{WriteOp, WriteOutcome};

/// The row's identified upsert when it can be batched or run in bulk; `Some(Err)` for a row refused
/// before sending; `None` when it needs the one-by-one path (a lookup, metafields, another object).
pub(crate) fn set_call(
    sync: &SyncConfig,
    op: &WriteOp,
) -> Option<Result<batch::SetCall, WriteOutcome>> {
    let WriteOp::Upsert {
        key,
        fields,
        known_id,
    } = op
    else {
        return None;
    };
    match sync.target {
        Target::Object(ObjectKind::Products) => {
            products::direct(sync, key, fields, known_id.as_deref())
        }
        Target::Object(ObjectKind::Customers) => {
            customers::direct(sync, key, fields, known_id.as_deref())
        }
        _ => None,
    }
}

/// Sends one op the one-by-one way: the object's own lookup, write or delete, or the event or action.
pub(crate) async fn one(
    t: &Transport,
    sync: &SyncConfig,
    op: WriteOp,
) -> Result<WriteOutcome, ShopifyError> {
    match (sync.target, op) {
        (
            Target::Object(ObjectKind::Customers),
            WriteOp::Upsert {
                key,
                fields,
                known_id,
            },
        ) => customers::upsert(t, sync, key, fields, known_id).await,
        (
            Target::Object(ObjectKind::Products),
            WriteOp::Upsert {
                key,
                fields,
                known_id,
            },
        ) => products::upsert(t, sync, key, fields, known_id).await,
        (Target::Object(ObjectKind::Products), WriteOp::Delete { key, shopify_id }) => {
            products::delete(t, key, shopify_id).await
        }
        (
            Target::Object(ObjectKind::InventoryItems),
            WriteOp::Upsert {
                key,
                fields,
                known_id,
            },
        ) => inventory::update_item(t, key, fields, known_id).await,
        (Target::Object(ObjectKind::InventoryLevels), WriteOp::Upsert { key, fields, .. }) => {
            inventory::upsert_level(t, sync, key, fields).await
        }
        (
            Target::Object(ObjectKind::Discounts),
            WriteOp::Upsert {
                key,
                fields,
                known_id,
            },
        ) => discounts::write_code(t, sync, key, fields, known_id).await,
        (Target::Event(_), WriteOp::Send { key, fields, .. }) => {
            fulfillment::event(t, key, fields).await
        }
        (Target::Action(action), WriteOp::Send { key, fields, .. }) => {
            fulfillment::action(t, action, key, fields).await
        }
        (target, op) => Ok(WriteOutcome::Rejected {
            key: op.key().to_string(),
            code: Some("UNSUPPORTED_OPERATION".into()),
            field: vec![],
            message: format!("{target} cannot {}", op_name(&op)),
        }),
    }
}

fn op_name(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::Upsert { .. } => "be written this way",
        WriteOp::Delete { .. } => "be deleted",
        WriteOp::Send { .. } => "be sent as an event or action",
    }
}

/// Runs `document` and returns the payload at `root` (the mutation or query field).
async fn call(
    t: &Transport,
    document: &str,
    variables: Value,
    root: &str,
) -> Result<Value, ShopifyError> {
    let response = t.execute(document, variables).await?;
    Ok(response.data.get(root).cloned().unwrap_or(Value::Null))
}

/// The first user error of a payload as a rejection, if any.
fn rejection(key: &str, payload: &Value) -> Option<WriteOutcome> {
    let errors = payload.get("userErrors")?.as_array()?;
    let first = errors.first()?;
    let message = errors
        .iter()
        .filter_map(|e| e.get("message").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("; ");
    Some(WriteOutcome::Rejected {
        key: key.to_string(),
        code: first
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_string),
        field: first
            .get("field")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        message,
    })
}

/// A string field of the row, if present and non-null.
fn text(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    }
}

/// A required field, or the rejection that names it.
fn require(key: &str, fields: &Map<String, Value>, name: &str) -> Result<String, WriteOutcome> {
    text(fields, name).ok_or_else(|| WriteOutcome::Rejected {
        key: key.to_string(),
        code: Some("MISSING_FIELD".into()),
        field: vec![name.to_string()],
        message: format!("{name} is required but the row has no value for it"),
    })
}

/// A rejection for a row whose record does not exist (update mode).
fn not_found(key: &str, what: &str) -> WriteOutcome {
    WriteOutcome::Rejected {
        key: key.to_string(),
        code: Some("NOT_FOUND".into()),
        field: vec![],
        message: format!("no {what} in Shopify; mode update only changes existing records"),
    }
}

fn id_of(payload: &Value, path: &str) -> Option<String> {
    payload
        .pointer(path)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn succeeded(key: String, id: Option<String>, created: bool) -> WriteOutcome {
    WriteOutcome::Succeeded {
        key,
        shopify_id: id,
        created,
    }
}

/// Metafields mapped for a record, in `MetafieldsSetInput` shape for `owner`.
fn metafields_for(owner: &str, metafields: &Value) -> Vec<Value> {
    metafields
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    let mut m = m.clone();
                    if let Some(obj) = m.as_object_mut() {
                        obj.insert("ownerId".into(), json!(owner));
                    }
                    m
                })
                .collect()
        })
        .unwrap_or_default()
}
