//! Customers: `customerSet` with identifiers is Shopify's native upsert; metafields go through `metafieldsSet`.
use serde_json::{Map, Value, json};

use super::batch::SetCall;
use super::documents::{CUSTOMER_BY_IDENTIFIER, CUSTOMER_SET, METAFIELDS_SET, SetMutation};
use super::{
    Sent, call, clear_metafields, create_once, id_of, metafields_for, not_found, rejection,
    require, succeeded, take_metafields,
};
use crate::core::config::{MatchKey, SyncConfig, SyncMode};
use crate::core::write::WriteOutcome;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

/// The row's `customerSet` when one request does it all: no lookup first (its id is known, or mode upsert
/// matches by the key) and no metafields to set after; `Some(Err)` for a row refused before sending.
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
            reason: "mode insert never updates an existing customer".into(),
        }));
    }
    let has_metafields = fields
        .get("metafields")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty());
    if has_metafields || (known_id.is_none() && sync.mode != SyncMode::Upsert) {
        return None;
    }
    let match_key = sync.match_key.unwrap_or(MatchKey::Email);
    let match_field = match_key.as_str();
    let mut input = fields.clone();
    input.remove("metafields");
    if match_key == MatchKey::Id {
        input.remove("id");
    }
    let identifier = match known_id {
        Some(id) => json!({ "id": id }),
        None => match require(key, fields, match_field) {
            Ok(v) => json!({ match_field: v }),
            Err(rejected) => return Some(Err(rejected)),
        },
    };
    Some(Ok(SetCall {
        key: key.to_string(),
        kind: SetMutation::CustomerSet,
        input,
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
    let (metafields, cleared) = take_metafields(&mut fields);
    let match_key = sync.match_key.unwrap_or(MatchKey::Email);
    let match_field = match_key.as_str();
    let match_value = match require(&key, &fields, match_field) {
        Ok(v) => v,
        Err(rejected) if known_id.is_none() => return Ok(rejected),
        Err(_) => String::new(),
    };
    // `id` identifies through the identifier argument only; customerSet refuses it in the input as well.
    if match_key == MatchKey::Id {
        fields.remove("id");
    }
    let (identifier, created_if_new) = match (known_id, sync.mode) {
        (Some(id), _) => (Some(json!({ "id": id })), false),
        (None, SyncMode::Upsert) => (Some(json!({ match_field: match_value })), true),
        (None, mode) => {
            let existing = find(t, match_key, &match_value).await?;
            match (mode, existing) {
                (SyncMode::Insert, Some(id)) => {
                    return Ok(WriteOutcome::Skipped {
                        key,
                        shopify_id: Some(id),
                        reason: format!(
                            "a customer with this {match_field} exists; mode insert leaves it alone"
                        ),
                    });
                }
                (SyncMode::Insert, None) => (None, true),
                (_, Some(id)) => (Some(json!({ "id": id })), false),
                (_, None) => {
                    return Ok(not_found(
                        &key,
                        &format!("customer with {match_field} {match_value:?}"),
                    ));
                }
            }
        }
    };
    let variables = json!({ "input": fields, "identifier": identifier });
    let id = if identifier.is_none() {
        // A create: Shopify keeps no idempotency key for it, so a lost answer is settled by looking again.
        let value = match_value.as_str();
        let sent = create_once(t, CUSTOMER_SET, variables, "customerSet", || {
            find(t, match_key, value)
        })
        .await?;
        match sent {
            Sent::Found(id) => Some(id),
            Sent::Answer { payload, .. } => {
                if let Some(rejected) = rejection(&key, &payload) {
                    return Ok(rejected);
                }
                id_of(&payload, "/customer/id")
            }
        }
    } else {
        let payload = call(t, CUSTOMER_SET, variables, "customerSet").await?;
        if let Some(rejected) = rejection(&key, &payload) {
            return Ok(rejected);
        }
        id_of(&payload, "/customer/id")
    };
    if let Some(owner) = &id {
        let input = metafields_for(owner, &Value::Array(metafields));
        if !input.is_empty() {
            let set = call(
                t,
                METAFIELDS_SET,
                json!({ "metafields": input }),
                "metafieldsSet",
            )
            .await?;
            if let Some(rejected) = rejection(&key, &set) {
                return Ok(rejected);
            }
        }
        if let Some(rejected) = clear_metafields(t, &key, owner, &cleared).await? {
            return Ok(rejected);
        }
    }
    // customerSet does not say whether it created; identifier-less calls and upserts of new keys do.
    Ok(succeeded(key, id, created_if_new && identifier.is_none()))
}

/// The id of the customer whose `match_key` is `value`, if there is one.
async fn find(
    t: &Transport,
    match_key: MatchKey,
    value: &str,
) -> Result<Option<String>, ShopifyError> {
    let lookup = match match_key {
        MatchKey::Email => json!({ "emailAddress": value }),
        MatchKey::Phone => json!({ "phoneNumber": value }),
        _ => json!({ "id": value }),
    };
    let found = call(
        t,
        CUSTOMER_BY_IDENTIFIER,
        json!({ "identifier": lookup }),
        "customerByIdentifier",
    )
    .await?;
    Ok(id_of(&found, "/id"))
}
