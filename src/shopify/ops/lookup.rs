//! Which new rows of an upsert have no record in Shopify yet, asked before they are written.
//!
//! `productSet` and `customerSet` upsert by identifier (handle, email, phone) and do not say whether they
//! created the record or updated one that existed. Ownership needs to know: only a record the sync created is
//! its own to delete. So the keys an upsert sees for the first time are looked up first, 25 to a query, and
//! only a key Shopify answered "no such record" for counts as created once written. Everything else (a lookup
//! that failed, an answer that cannot be read) counts as matched: the safe reading, since a matched record is
//! never deleted without the sync's `deleteMatched` opt-in.
//!
//! A record created by someone else between the lookup and the write would count as the sync's own; the window
//! is one request long.
use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::documents::{self, SetMutation};
use crate::core::config::{MatchKey, ObjectKind, SyncConfig, SyncMode, Target};
use crate::core::write::{WriteOp, WriteOutcome};
use crate::shopify::context::RequestContext;
use crate::shopify::transport::Transport;

/// Lookups per query: about a point each, far under the single-query ceiling.
pub const LOOKUP_BATCH: usize = 25;

/// The lookup of one op: which record kind, and the identifier to look it up by.
fn identifier(sync: &SyncConfig, op: &WriteOp) -> Option<(SetMutation, Value)> {
    let WriteOp::Upsert {
        fields,
        known_id: None,
        ..
    } = op
    else {
        return None;
    };
    if sync.mode != SyncMode::Upsert {
        // Insert and update modes look their record up themselves and know what they did.
        return None;
    }
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    match sync.target {
        Target::Object(ObjectKind::Products) => Some((
            SetMutation::ProductSet,
            json!({ "handle": text("handle")? }),
        )),
        Target::Object(ObjectKind::Customers) => match sync.match_key.unwrap_or(MatchKey::Email) {
            MatchKey::Email => Some((
                SetMutation::CustomerSet,
                json!({ "emailAddress": text("email")? }),
            )),
            MatchKey::Phone => Some((
                SetMutation::CustomerSet,
                json!({ "phoneNumber": text("phone")? }),
            )),
            // An upsert by id never creates: there is nothing to ask.
            _ => None,
        },
        _ => None,
    }
}

/// The keys of `ops` whose record Shopify says does not exist yet (see the module docs). Never fails: a lookup
/// that goes wrong leaves its keys out.
pub(crate) async fn absent_keys(
    t: &Transport,
    sync: &SyncConfig,
    ops: &[WriteOp],
) -> HashSet<String> {
    let mut absent = HashSet::new();
    for kind in SetMutation::ALL {
        let asks: Vec<(&str, Value)> = ops
            .iter()
            .filter_map(|op| match identifier(sync, op) {
                Some((k, id)) if k == kind => Some((op.key(), id)),
                _ => None,
            })
            .collect();
        for chunk in asks.chunks(LOOKUP_BATCH) {
            let mut variables = Map::new();
            for (i, (_, id)) in chunk.iter().enumerate() {
                variables.insert(format!("identifier{i}"), id.clone());
            }
            let keys = chunk.iter().map(|(k, _)| k.to_string()).collect();
            let context = RequestContext::new(sync.id.as_str().into(), keys);
            let document = documents::batched_lookup(kind, chunk.len());
            let response = match context
                .scope(t.execute(&document, Value::Object(variables)))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(%e, rows = chunk.len(), "lookup before upsert failed; counting the rows as matched");
                    continue;
                }
            };
            for (i, (key, _)) in chunk.iter().enumerate() {
                let alias = documents::alias(i);
                // A null with an error about this alias is no answer; a null without one is "no such record".
                let errored = response.errors.iter().any(|e| {
                    e.get("path")
                        .and_then(Value::as_array)
                        .and_then(|p| p.first())
                        .and_then(Value::as_str)
                        == Some(alias.as_str())
                });
                if !errored && response.data.get(&alias).is_some_and(Value::is_null) {
                    absent.insert((*key).to_string());
                }
            }
        }
    }
    absent
}

/// Marks the successful writes of `absent` keys as creations: they wrote a record that did not exist.
pub(crate) fn mark_created(outcomes: &mut [WriteOutcome], absent: &HashSet<String>) {
    for outcome in outcomes {
        if let WriteOutcome::Succeeded { key, created, .. } = outcome
            && absent.contains(key.as_str())
        {
            *created = true;
        }
    }
}

/// What [`find_ids`] read.
#[derive(Debug, Clone, Default)]
pub struct Finds {
    /// The record id each identifier found, in the order asked (`None`: Shopify has no such record).
    pub ids: Vec<Option<String>>,
    /// Requests sent.
    pub requests: u64,
    /// Query cost points Shopify charged.
    pub cost_points: f64,
}

/// Looks up `identifiers` (each a `ProductIdentifierInput` or `CustomerIdentifierInput` as `kind` says),
/// [`LOOKUP_BATCH`] to a query, through the transport's cost budget. Unlike [`absent_keys`] it fails on any
/// error: a report must not call a record absent that could not be looked up.
pub(crate) async fn find_ids(
    t: &Transport,
    kind: SetMutation,
    identifiers: &[Value],
) -> Result<Finds, crate::shopify::ShopifyError> {
    use crate::shopify::ShopifyError;
    let mut out = Finds::default();
    for chunk in identifiers.chunks(LOOKUP_BATCH) {
        let mut variables = Map::new();
        for (i, id) in chunk.iter().enumerate() {
            variables.insert(format!("identifier{i}"), id.clone());
        }
        let document = documents::batched_lookup(kind, chunk.len());
        // About a point per lookup: the first guess the budget reserves for a document it has not seen.
        let response = t
            .execute_costing(
                &document,
                Value::Object(variables),
                Some(chunk.len() as f64),
            )
            .await?;
        out.requests += 1;
        if let Some(c) = &response.cost {
            out.cost_points += c.actual.unwrap_or(c.requested);
        }
        if let Some(e) = response.errors.first() {
            return Err(ShopifyError::GraphQl(format!(
                "looking records up: {}",
                e.get("message").and_then(Value::as_str).unwrap_or("error")
            )));
        }
        for i in 0..chunk.len() {
            let found = response.data.get(documents::alias(i));
            match found {
                Some(Value::Null) => out.ids.push(None),
                Some(v) => match v.get("id").and_then(Value::as_str) {
                    Some(id) => out.ids.push(Some(id.to_string())),
                    None => {
                        return Err(ShopifyError::Decode(format!(
                            "a lookup answered without an id: {v}"
                        )));
                    }
                },
                None => {
                    return Err(ShopifyError::Decode(
                        "a lookup's answer is missing from the response".into(),
                    ));
                }
            }
        }
    }
    Ok(out)
}
