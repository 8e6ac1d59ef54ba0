//! Request batching: several identified upserts in one document, each under its own alias, each alias's
//! payload mapped back to its row.
//!
//! A batch that fails as a whole for a reason of its own (a validation or cost error) falls back to one
//! request per row, so that one bad row cannot sink the others. A batch whose answer was lost is reported as
//! unknown for every row, as a single request would be: the next run sends those rows again, which is safe
//! because every batched mutation names its record (by id, handle, email or phone) and sets absolute values.
use serde_json::{Map, Value, json};

use super::documents::{self, SetMutation};
use super::{call, id_of, rejection, succeeded, unexpected};
use crate::core::write::WriteOutcome;
use crate::shopify::context::RequestContext;
use crate::shopify::error::ShopifyError;
use crate::shopify::transport::Transport;

/// Shopify's single-query cost ceiling: a batch must request less.
pub const MAX_QUERY_COST: u64 = 1000;

/// One row's identified upsert, ready to send alone, in a batch, or as a line of a bulk operation.
#[derive(Debug, Clone, PartialEq)]
pub struct SetCall {
    /// The row's primary key.
    pub key: String,
    /// The mutation.
    pub kind: SetMutation,
    /// The mutation's `input`.
    pub input: Map<String, Value>,
    /// The mutation's `identifier`.
    pub identifier: Value,
}

impl SetCall {
    /// The variables of the one-row document (and of a bulk operation's JSONL line).
    pub fn variables(&self) -> Value {
        json!({ "input": self.input, "identifier": self.identifier })
    }

    /// The row's outcome from its mutation's payload. The record is named by an identifier, so Shopify does
    /// not say whether it created it: such writes count as updates, as they do when sent one by one.
    pub fn outcome(&self, payload: &Value) -> WriteOutcome {
        outcome(&self.key, self.kind, payload)
    }

    /// Sends this row alone.
    pub async fn send(&self, t: &Transport) -> Result<WriteOutcome, ShopifyError> {
        let payload = call(t, self.kind.single(), self.variables(), self.kind.root()).await?;
        Ok(self.outcome(&payload))
    }
}

/// The outcome of row `key`'s `kind` mutation from its payload. The record is named by an identifier, so Shopify
/// does not say whether it created it: such writes count as updates, as they do when sent one by one.
pub fn outcome(key: &str, kind: SetMutation, payload: &Value) -> WriteOutcome {
    if let Some(rejected) = rejection(key, payload) {
        return rejected;
    }
    match id_of(payload, kind.id_path()) {
        Some(id) => succeeded(key.to_string(), Some(id), false),
        // Shopify answers a set with its record or with user errors: anything else is no success.
        None => unexpected(key, kind.root(), payload),
    }
}

/// The largest batch of `kind` that stays under the single-query cost ceiling.
pub fn max_batch(kind: SetMutation) -> usize {
    usize::try_from(MAX_QUERY_COST / kind.unit_cost().max(1)).unwrap_or(1)
}

/// The outcome of each row of a batch, by key; `Err` where the row's request failed.
pub type RowResults = Vec<(String, Result<WriteOutcome, ShopifyError>)>;

/// Sends `calls` (all of one kind) as one document, falling back to one request per row where the batch or
/// an alias failed as a whole.
pub async fn send(t: &Transport, calls: Vec<SetCall>) -> RowResults {
    let Some(kind) = calls.first().map(|c| c.kind) else {
        return Vec::new();
    };
    if calls.len() == 1 || calls.iter().any(|c| c.kind != kind) {
        return one_by_one(t, calls).await;
    }
    let document = documents::batched(kind, calls.len());
    let mut variables = Map::new();
    for (i, c) in calls.iter().enumerate() {
        variables.insert(format!("input{i}"), Value::Object(c.input.clone()));
        variables.insert(format!("identifier{i}"), c.identifier.clone());
    }
    let expected = (kind.unit_cost() * calls.len() as u64) as f64;
    match t
        .execute_costing(&document, Value::Object(variables), Some(expected))
        .await
    {
        Ok(response) => {
            let mut results = Vec::with_capacity(calls.len());
            let mut again = Vec::new();
            for (i, c) in calls.into_iter().enumerate() {
                match response.data.get(documents::alias(i)) {
                    Some(payload) if !payload.is_null() => {
                        results.push((c.key.clone(), Ok(c.outcome(payload))))
                    }
                    // A null payload comes with a top-level error about that alias alone: the mutation did not
                    // run, so the row alone gets the error Shopify gives it.
                    _ => again.push(c),
                }
            }
            results.extend(one_by_one(t, again).await);
            results
        }
        // The store or the connection failed: a single request would have failed the same way.
        Err(e) if e.fails_run() || unknown_effect(&e) => {
            calls.into_iter().map(|c| (c.key, Err(e.clone()))).collect()
        }
        Err(e) => {
            tracing::debug!(%e, rows = calls.len(), "batch refused as a whole; sending its rows one by one");
            one_by_one(t, calls).await
        }
    }
}

/// Whether the request may have reached Shopify and been applied without an answer.
pub fn unknown_effect(e: &ShopifyError) -> bool {
    matches!(
        e,
        ShopifyError::Network { .. } | ShopifyError::Exhausted { .. }
    )
}

async fn one_by_one(t: &Transport, calls: Vec<SetCall>) -> RowResults {
    let mut results = Vec::with_capacity(calls.len());
    let sync = RequestContext::current()
        .map(|c| c.sync)
        .unwrap_or_default();
    for c in calls {
        let context = RequestContext::new(sync.clone(), vec![c.key.clone()]);
        let result = context.scope(c.send(t)).await;
        results.push((c.key, result));
    }
    results
}
