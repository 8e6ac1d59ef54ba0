//! Operations for the whole scope: how each object, event and action is matched and written, per mode.
//!
//! [`ShopifyClient`] implements the engine's [`ShopifyApi`]: it receives a batch of [`WriteOp`]s for one sync
//! and answers one [`WriteOutcome`] per op. Ops run concurrently; the store's shared cost budget, not a fixed
//! rate, decides how fast they go.
mod customers;
mod discounts;
pub mod documents;
mod fulfillment;
mod inventory;
mod products;
pub mod shop;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::context::RequestContext;
use super::error::ShopifyError;
use super::transport::Transport;
use crate::core::config::{ObjectKind, SyncConfig, Target};
use crate::core::write::{ApiFailure, BoxFuture, ShopifyApi, WriteOp, WriteOutcome};

/// The Admin API, as the engine sees it.
#[derive(Debug, Clone)]
pub struct ShopifyClient {
    transport: Transport,
    concurrency: usize,
}

impl ShopifyClient {
    /// A client over `transport`, running up to `concurrency` requests at once.
    pub fn new(transport: Transport, concurrency: usize) -> ShopifyClient {
        ShopifyClient {
            transport,
            concurrency: concurrency.max(1),
        }
    }

    /// The transport (and through it the store and its budget).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    async fn one(&self, sync: &SyncConfig, op: WriteOp) -> Result<WriteOutcome, ShopifyError> {
        let t = &self.transport;
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
}

fn op_name(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::Upsert { .. } => "be written this way",
        WriteOp::Delete { .. } => "be deleted",
        WriteOp::Send { .. } => "be sent as an event or action",
    }
}

impl ShopifyApi for ShopifyClient {
    fn write<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            let sync_id: std::sync::Arc<str> = sync.id.as_str().into();
            let results: Vec<(String, Result<WriteOutcome, ShopifyError>)> =
                futures::stream::iter(ops)
                    .map(|op| {
                        // The row's key travels with its requests to the debugger log.
                        let context =
                            RequestContext::new(sync_id.clone(), vec![op.key().to_string()]);
                        async move {
                            (
                                op.key().to_string(),
                                context.scope(self.one(sync, op)).await,
                            )
                        }
                    })
                    .buffer_unordered(self.concurrency)
                    .collect()
                    .await;
            let mut outcomes = Vec::with_capacity(results.len());
            let mut run_failure: Option<ShopifyError> = None;
            for (key, result) in results {
                match result {
                    Ok(o) => outcomes.push(o),
                    // The store refused the credentials or is unavailable as a whole: this op was not applied.
                    Err(e) if e.fails_run() => {
                        run_failure.get_or_insert(e);
                    }
                    // A request that may have reached Shopify without an answer: its effect is unknown.
                    Err(e @ (ShopifyError::Network { .. } | ShopifyError::Exhausted { .. })) => {
                        outcomes.push(WriteOutcome::Unknown {
                            key,
                            message: e.to_string(),
                        })
                    }
                    Err(e) => outcomes.push(WriteOutcome::Rejected {
                        key,
                        code: None,
                        field: vec![],
                        message: e.to_string(),
                    }),
                }
            }
            match run_failure {
                None => Ok(outcomes),
                Some(e) => Err(ApiFailure {
                    message: e.to_string(),
                    fails_run: true,
                    retry_after: None,
                    outcomes,
                }),
            }
        })
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
