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
pub mod live;
pub(crate) mod lookup;
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

fn op_name(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::Upsert { .. } => "be written this way",
        WriteOp::Delete { .. } => "be deleted",
        WriteOp::Send { .. } => "be sent as an event or action",
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

/// Sends of one non-idempotent write, each after a check that found the previous one absent, before its fate
/// is reported unknown.
const SENDS: u32 = 4;

/// Whether a failed send may have been applied by Shopify (so it must be checked, not blindly resent).
fn maybe_applied(e: &ShopifyError) -> bool {
    match e {
        ShopifyError::Network { .. } => true,
        ShopifyError::Unavailable { status, .. } => *status >= 500,
        ShopifyError::Exhausted { last, .. } => maybe_applied(last),
        _ => false,
    }
}

/// What became of a write sent with [`send_checked`].
pub(super) enum Sent<T> {
    /// Shopify answered; `after_loss` when an earlier send of the same write lost its answer, so a refusal
    /// may be the first send having landed after the check.
    Answer { payload: Value, after_loss: bool },
    /// The check found the write had taken effect.
    Found(T),
}

/// Sends a write Shopify cannot deduplicate (no idempotency key: events, actions, creates) at most [`SENDS`]
/// times: first `check` (when `resend`), then after every answer that was lost. The transport itself never
/// resends it. `check` answers `Some` when the write is found to have taken effect.
async fn send_checked<T, C, F>(
    t: &Transport,
    resend: bool,
    document: &str,
    variables: Value,
    root: &str,
    check: C,
) -> Result<Sent<T>, ShopifyError>
where
    C: Fn() -> F,
    F: std::future::Future<Output = Result<Option<T>, ShopifyError>>,
{
    let once = t.without_resends();
    let mut lost = None;
    for attempt in 0..SENDS {
        if (resend || attempt > 0)
            && let Some(done) = check().await?
        {
            return Ok(Sent::Found(done));
        }
        match call(&once, document, variables.clone(), root).await {
            Ok(payload) => {
                return Ok(Sent::Answer {
                    payload,
                    after_loss: lost.is_some(),
                });
            }
            Err(e) if maybe_applied(&e) => lost = Some(e),
            Err(e) => return Err(e),
        }
    }
    // Still unknown: reported as such (`Exhausted` reads as an unknown effect), and the next run checks again.
    Err(ShopifyError::Exhausted {
        attempts: SENDS,
        last: Box::new(lost.unwrap_or_else(|| ShopifyError::Decode("no answer".into()))),
    })
}

/// Creates a record that a lookup has just shown absent, once: a create has no idempotency key, so when its
/// answer is lost, `find` (the same lookup) decides. The record was absent a moment before the first send,
/// so one found now is the one this sync created. A resend refused because the key is taken (the first send
/// landed after the check) is settled by `find` the same way. Answers the create's payload, or the id found.
async fn create_once<C, F>(
    t: &Transport,
    document: &str,
    variables: Value,
    root: &str,
    find: C,
) -> Result<Sent<String>, ShopifyError>
where
    C: Fn() -> F,
    F: std::future::Future<Output = Result<Option<String>, ShopifyError>>,
{
    match send_checked(t, false, document, variables, root, &find).await? {
        Sent::Answer {
            payload,
            after_loss: true,
        } if key_taken(&payload) => match find().await? {
            Some(id) => Ok(Sent::Found(id)),
            None => Ok(Sent::Answer {
                payload,
                after_loss: true,
            }),
        },
        sent => Ok(sent),
    }
}

/// Whether a create was refused because its unique key (email, phone, handle) belongs to a record already:
/// "Email has already been taken", "Handle 'x' already in use. Please provide a new handle."
fn key_taken(payload: &Value) -> bool {
    payload
        .get("userErrors")
        .and_then(Value::as_array)
        .is_some_and(|errors| {
            errors.iter().any(|e| {
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                message.contains("has already been taken") || message.contains("already in use")
            })
        })
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
