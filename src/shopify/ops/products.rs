//! Products: `productSet` with the handle identifier is the upsert; deletes only ever target ids this sync
//! recorded (the engine passes only those).
use serde_json::{Map, Value, json};

use super::batch::SetCall;
use super::documents::{PRODUCT_BY_IDENTIFIER, PRODUCT_DELETE, PRODUCT_SET, SetMutation};
use super::{
    Sent, call, clear_metafields, clears_metafields, create_once, id_of, not_found, rejection,
    require, succeeded, take_metafields,
};
use crate::core::config::{SyncConfig, SyncMode};
use crate::core::write::WriteOutcome;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

/// The row's `productSet` when it needs no lookup first (its id is known, or mode upsert matches by handle);
/// `Some(Err)` for a row refused before sending; `None` when a lookup must decide.
pub(super) fn direct(
    sync: &SyncConfig,
    key: &str,
    fields: &Map<String, Value>,
    known_id: Option<&str>,
) -> Option<Result<SetCall, WriteOutcome>> {
    if let (Some(id), SyncMode::Insert) = (known_id, sync.mode) {
        // Insert creates and never updates, whatever the record: the diff sends no known key in insert mode,
        // and this keeps it so should one arrive.
        return Some(Err(WriteOutcome::Skipped {
            key: key.to_string(),
            shopify_id: Some(id.to_string()),
            reason: "mode insert never updates an existing product".into(),
        }));
    }
    let handle = match require(key, fields, "handle") {
        Ok(h) => h,
        Err(rejected) => return Some(Err(rejected)),
    };
    if clears_metafields(fields) {
        // The cleared metafields are deleted after the write, one row at a time.
        return None;
    }
    let identifier = match (known_id, sync.mode) {
        (Some(id), _) => json!({ "id": id }),
        (None, SyncMode::Upsert) => json!({ "handle": handle }),
        (None, _) => return None,
    };
    Some(Ok(SetCall {
        key: key.to_string(),
        kind: SetMutation::ProductSet,
        input: fields.clone(),
        identifier,
    }))
}

pub(super) async fn upsert(
    t: &Transport,
    sync: &SyncConfig,
    key: String,
    mut fields: Map<String, Value>,
    known_id: Option<String>,
) -> Result<WriteOutcome, ShopifyError> {
    match direct(sync, &key, &fields, known_id.as_deref()) {
        Some(Ok(set)) => return set.send(t).await,
        Some(Err(rejected)) => return Ok(rejected),
        None => {}
    }
    let handle = match require(&key, &fields, "handle") {
        Ok(h) => h,
        Err(rejected) => return Ok(rejected),
    };
    let identifier = match (known_id, sync.mode) {
        (Some(id), _) => Some(json!({ "id": id })),
        (None, SyncMode::Upsert) => Some(json!({ "handle": handle })),
        (None, mode) => match (mode, find(t, &handle).await?) {
            (SyncMode::Insert, Some(id)) => {
                return Ok(WriteOutcome::Skipped {
                    key,
                    shopify_id: Some(id),
                    reason: "a product with this handle exists; mode insert leaves it alone".into(),
                });
            }
            (SyncMode::Insert, None) => None,
            (_, Some(id)) => Some(json!({ "id": id })),
            (_, None) => {
                return Ok(not_found(&key, &format!("product with handle {handle:?}")));
            }
        },
    };
    let created = identifier.is_none();
    // productSet takes the metafields to set; the cleared ones are deleted once the product's id is known.
    let (set, cleared) = take_metafields(&mut fields);
    if !set.is_empty() {
        fields.insert("metafields".into(), Value::Array(set));
    }
    let variables = json!({ "input": fields, "identifier": identifier });
    let id = if created {
        // A create: Shopify keeps no idempotency key for it, so a lost answer is settled by looking again.
        let sent =
            create_once(t, PRODUCT_SET, variables, "productSet", || find(t, &handle)).await?;
        match sent {
            Sent::Found(id) => Some(id),
            Sent::Answer { payload, .. } => {
                if let Some(rejected) = rejection(&key, &payload) {
                    return Ok(rejected);
                }
                id_of(&payload, "/product/id")
            }
        }
    } else {
        let payload = call(t, PRODUCT_SET, variables, "productSet").await?;
        if let Some(rejected) = rejection(&key, &payload) {
            return Ok(rejected);
        }
        id_of(&payload, "/product/id")
    };
    if let Some(owner) = &id
        && let Some(rejected) = clear_metafields(t, &key, owner, &cleared).await?
    {
        return Ok(rejected);
    }
    Ok(succeeded(key, id, created))
}

pub(super) async fn delete(
    t: &Transport,
    key: String,
    shopify_id: String,
) -> Result<WriteOutcome, ShopifyError> {
    let payload = call(
        t,
        PRODUCT_DELETE,
        json!({ "input": { "id": shopify_id } }),
        "productDelete",
    )
    .await?;
    if let Some(rejected) = rejection(&key, &payload) {
        return Ok(rejected);
    }
    Ok(succeeded(key, Some(shopify_id), false))
}

/// The id of the product with `handle`, if there is one.
async fn find(t: &Transport, handle: &str) -> Result<Option<String>, ShopifyError> {
    let found = call(
        t,
        PRODUCT_BY_IDENTIFIER,
        json!({ "identifier": { "handle": handle } }),
        "productByIdentifier",
    )
    .await?;
    Ok(id_of(&found, "/id"))
}
