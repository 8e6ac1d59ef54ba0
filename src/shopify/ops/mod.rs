//! Operations for the whole scope: how each object, event and action is matched and written, per mode.
//!
//! [`ShopifyClient`] implements the engine's [`ShopifyApi`]: it receives a batch of [`WriteOp`]s for one sync
//! and answers one [`WriteOutcome`] per op. Ops run concurrently; the store's shared cost budget, not a fixed
//! rate, decides how fast they go. Identified upserts of products and customers go several to a request
//! ([`batch`]); above the sync's bulk threshold the engine sends them as bulk operations ([`crate::shopify::bulk`]).
pub mod batch;
mod customers;
mod discounts;
pub mod documents;
mod fulfillment;
mod inventory;
pub(crate) mod lookup;
mod products;
pub mod shop;

use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::context::RequestContext;
use super::error::ShopifyError;
use super::transport::Transport;
use crate::core::config::{ObjectKind, SyncConfig, Target};
use crate::core::write::{ApiFailure, BoxFuture, ShopifyApi, WriteOp, WriteOutcome};

/// Rows per batched request unless told otherwise: 250 points, a quarter of the single-query ceiling.
pub const DEFAULT_BATCH_SIZE: usize = 25;

/// The Admin API, as the engine sees it.
#[derive(Debug, Clone)]
pub struct ShopifyClient {
    transport: Transport,
    concurrency: usize,
    batch_size: usize,
    bulk: crate::shopify::bulk::BulkSettings,
}

impl ShopifyClient {
    /// A client over `transport`, running up to `concurrency` requests at once, batching
    /// [`DEFAULT_BATCH_SIZE`] upserts per request.
    pub fn new(transport: Transport, concurrency: usize) -> ShopifyClient {
        ShopifyClient {
            transport,
            concurrency: concurrency.max(1),
            batch_size: DEFAULT_BATCH_SIZE,
            bulk: crate::shopify::bulk::BulkSettings::default(),
        }
    }

    /// Sends up to `size` identified upserts per request (1 turns batching off). Capped so a batch stays
    /// under Shopify's 1000-point single-query ceiling.
    pub fn with_batch_size(mut self, size: usize) -> ShopifyClient {
        self.batch_size = size.max(1);
        self
    }

    /// How bulk operations are polled and how long a busy shop is waited for.
    pub fn with_bulk_settings(
        mut self,
        settings: crate::shopify::bulk::BulkSettings,
    ) -> ShopifyClient {
        self.bulk = settings;
        self
    }

    /// The bulk settings.
    pub fn bulk_settings(&self) -> &crate::shopify::bulk::BulkSettings {
        &self.bulk
    }

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
            ..
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
                    ..
                },
            ) => customers::upsert(t, sync, key, fields, known_id).await,
            (
                Target::Object(ObjectKind::Products),
                WriteOp::Upsert {
                    key,
                    fields,
                    known_id,
                    ..
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
                    ..
                },
            ) => inventory::update_item(t, key, fields, known_id).await,
            (
                Target::Object(ObjectKind::InventoryLevels),
                WriteOp::Upsert {
                    key,
                    fields,
                    idempotency_key,
                    ..
                },
            ) => inventory::upsert_level(t, sync, key, fields, idempotency_key).await,
            (
                Target::Object(ObjectKind::Discounts),
                WriteOp::Upsert {
                    key,
                    fields,
                    known_id,
                    ..
                },
            ) => discounts::write_code(t, sync, key, fields, known_id).await,
            (
                Target::Event(_),
                WriteOp::Send {
                    key,
                    fields,
                    resend,
                    ..
                },
            ) => fulfillment::event(t, key, fields, resend).await,
            (
                Target::Action(action),
                WriteOp::Send {
                    key,
                    fields,
                    resend,
                    ..
                },
            ) => fulfillment::action(t, action, key, fields, resend).await,
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

/// What the client sends in one go: one op, or a batch of identified upserts.
enum Unit {
    One(WriteOp),
    Batch(Vec<batch::SetCall>),
}

impl ShopifyClient {
    /// Applies `ops` one request per op, or per batch of identified upserts.
    pub(crate) async fn write_ops(
        &self,
        sync: &SyncConfig,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, ApiFailure> {
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut others = Vec::new();
        let mut sets: Vec<batch::SetCall> = Vec::new();
        for op in ops {
            match (self.batch_size > 1)
                .then(|| Self::set_call(sync, &op))
                .flatten()
            {
                Some(Ok(set)) => sets.push(set),
                Some(Err(refused)) => outcomes.push(refused),
                None => others.push(op),
            }
        }
        match self.write_sets(sync, sets, others).await {
            Ok(mut o) => {
                outcomes.append(&mut o);
                Ok(outcomes)
            }
            Err(mut f) => {
                outcomes.append(&mut f.outcomes);
                f.outcomes = outcomes;
                Err(f)
            }
        }
    }

    /// Sends `sets` in batches (one by one when batching is off) and `others` one request each.
    pub(crate) async fn write_sets(
        &self,
        sync: &SyncConfig,
        sets: Vec<batch::SetCall>,
        others: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, ApiFailure> {
        let sync_id: std::sync::Arc<str> = sync.id.as_str().into();
        let mut outcomes = Vec::with_capacity(sets.len() + others.len());
        let mut units: Vec<Unit> = others.into_iter().map(Unit::One).collect();
        let size = sets
            .first()
            .map_or(1, |s| self.batch_size.min(batch::max_batch(s.kind)).max(1));
        let mut sets = sets.into_iter().peekable();
        while sets.peek().is_some() {
            units.push(Unit::Batch(sets.by_ref().take(size).collect()));
        }
        let results: Vec<batch::RowResults> = futures::stream::iter(units)
            .map(|unit| {
                let sync_id = sync_id.clone();
                async move {
                    match unit {
                        Unit::One(op) => {
                            // The row's key travels with its requests to the debugger log.
                            let key = op.key().to_string();
                            let context = RequestContext::new(sync_id, vec![key.clone()]);
                            vec![(key, context.scope(self.one(sync, op)).await)]
                        }
                        Unit::Batch(sets) => {
                            // A batched request's log entry names every row it carries.
                            let keys = sets.iter().map(|s| s.key.clone()).collect();
                            let context = RequestContext::new(sync_id, keys);
                            context.scope(batch::send(&self.transport, sets)).await
                        }
                    }
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut run_failure: Option<ShopifyError> = None;
        for (key, result) in results.into_iter().flatten() {
            match result {
                Ok(o) => outcomes.push(o),
                // The store refused the credentials or is unavailable as a whole: this op was not applied.
                Err(e) if e.fails_run() => {
                    run_failure.get_or_insert(e);
                }
                // A request that may have reached Shopify without an answer: its effect is unknown.
                Err(e) if batch::unknown_effect(&e) => outcomes.push(WriteOutcome::Unknown {
                    key,
                    message: e.to_string(),
                }),
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
    }
}

impl ShopifyApi for ShopifyClient {
    fn write<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            let absent = lookup::absent_keys(&self.transport, sync, &ops).await;
            marking_created(self.write_ops(sync, ops).await, &absent)
        })
    }

    fn resolves_unknown(&self, sync: &SyncConfig) -> bool {
        // Events and actions read the fulfillment (order) before sending again.
        matches!(sync.target, Target::Event(_) | Target::Action(_))
    }

    fn bulk_eligible(&self, sync: &SyncConfig, op: &WriteOp) -> bool {
        matches!(Self::set_call(sync, op), Some(Ok(_)))
    }

    fn write_bulk<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            let absent = lookup::absent_keys(&self.transport, sync, &ops).await;
            marking_created(crate::shopify::bulk::write(self, sync, ops).await, &absent)
        })
    }
}

/// The writes of keys that had no record before count as creations (see [`lookup`]).
fn marking_created(
    result: Result<Vec<WriteOutcome>, ApiFailure>,
    absent: &std::collections::HashSet<String>,
) -> Result<Vec<WriteOutcome>, ApiFailure> {
    match result {
        Ok(mut outcomes) => {
            lookup::mark_created(&mut outcomes, absent);
            Ok(outcomes)
        }
        Err(mut failure) => {
            lookup::mark_created(&mut failure.outcomes, absent);
            Err(failure)
        }
    }
}

/// Runs `document` and returns the payload at `root` (the mutation or query field): an object, or null when
/// Shopify answered the field with a top-level error. Any other shape is not Shopify's answer.
async fn call(
    t: &Transport,
    document: &str,
    variables: Value,
    root: &str,
) -> Result<Value, ShopifyError> {
    let response = t.execute(document, variables).await?;
    match response.data.get(root) {
        Some(payload @ (Value::Object(_) | Value::Null)) => Ok(payload.clone()),
        None if response.data.is_object() => Ok(Value::Null),
        _ => Err(ShopifyError::Decode(format!(
            "the answer's `{root}` is not an object: {}",
            preview(&response.data)
        ))),
    }
}

/// The start of `value` as JSON, for messages about answers that are not what Shopify sends.
fn preview(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// A row whose mutation answered neither with its record nor with user errors.
fn unexpected(key: &str, root: &str, payload: &Value) -> WriteOutcome {
    WriteOutcome::Rejected {
        key: key.to_string(),
        code: None,
        field: vec![],
        message: format!(
            "Shopify's answer to {root} carries neither the record nor a user error: {}",
            preview(payload)
        ),
    }
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

/// Whether the row clears a metafield (a NULL in the warehouse): such a row needs a delete after its write, so it
/// goes one by one.
fn clears_metafields(fields: &Map<String, Value>) -> bool {
    fields
        .get("metafields")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter()
                .any(|m| m.get("value").is_some_and(Value::is_null))
        })
}

/// Takes the row's mapped metafields out of `fields`: those to set, then those to clear (NULL values).
fn take_metafields(fields: &mut Map<String, Value>) -> (Vec<Value>, Vec<Value>) {
    let list = match fields.remove("metafields") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    list.into_iter()
        .partition(|m| !m.get("value").is_some_and(Value::is_null))
}

/// Deletes the `cleared` metafields of `owner` (`metafieldsDelete`; one that does not exist is no error). The
/// row's rejection when Shopify refuses.
async fn clear_metafields(
    t: &Transport,
    key: &str,
    owner: &str,
    cleared: &[Value],
) -> Result<Option<WriteOutcome>, ShopifyError> {
    if cleared.is_empty() {
        return Ok(None);
    }
    let identifiers: Vec<Value> = cleared
        .iter()
        .map(|m| json!({ "ownerId": owner, "namespace": m.get("namespace"), "key": m.get("key") }))
        .collect();
    let payload = call(
        t,
        documents::METAFIELDS_DELETE,
        json!({ "metafields": identifiers }),
        "metafieldsDelete",
    )
    .await?;
    Ok(rejection(key, &payload))
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
