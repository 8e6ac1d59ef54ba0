//! The boundary between the engine and Shopify: the writes a plan turns into and what became of each.
//!
//! The engine hands a batch of [`WriteOp`]s for one sync to a [`ShopifyApi`]; the adapter decides how to
//! batch, match and send them, and answers with one [`WriteOutcome`] per op, in any order, keyed by primary
//! key. A run-level failure (bad token, locked shop) is an error of the whole call instead.
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::SyncConfig;

/// One write for one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum WriteOp {
    /// Create or update the row's record, as the sync's mode allows.
    Upsert {
        /// The row's primary key.
        key: String,
        /// The mapped values.
        fields: Map<String, Value>,
        /// The record's Shopify id when an earlier run synced it (skips the lookup).
        known_id: Option<String>,
        /// Names this one intended write (the run, the key, the values): the same across the write's retries
        /// within a run, different for any other write. Sent where Shopify takes one (inventory).
        idempotency_key: String,
    },
    /// Delete a record this sync created (or matched, under `deleteMatched`).
    Delete {
        /// The row's primary key.
        key: String,
        /// The record's Shopify id.
        shopify_id: String,
    },
    /// Send an event or perform an action, once.
    Send {
        /// The row's primary key.
        key: String,
        /// The mapped values.
        fields: Map<String, Value>,
        /// Stable across retries and restarts, so Shopify can drop duplicates where it supports that.
        idempotency_key: String,
        /// An earlier attempt may have been applied without its answer arriving: the adapter must find out
        /// whether it took effect before sending again ([`ShopifyApi::resolves_unknown`]).
        #[serde(default)]
        resend: bool,
    },
}

impl WriteOp {
    /// The primary key the op is for.
    pub fn key(&self) -> &str {
        match self {
            WriteOp::Upsert { key, .. }
            | WriteOp::Delete { key, .. }
            | WriteOp::Send { key, .. } => key,
        }
    }
}

/// What became of one op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum WriteOutcome {
    /// Shopify accepted it.
    Succeeded {
        /// The row's primary key.
        key: String,
        /// The record's Shopify id (absent for deletes and some actions).
        shopify_id: Option<String>,
        /// Whether a record was created (rather than updated, matched or acted on).
        created: bool,
    },
    /// Insert mode matched an existing record and left it alone.
    Skipped {
        /// The row's primary key.
        key: String,
        /// The existing record.
        shopify_id: Option<String>,
        /// Why it was not written.
        reason: String,
    },
    /// Shopify (or shopsync, before sending) refused this row; it is retried on later runs.
    Rejected {
        /// The row's primary key.
        key: String,
        /// Shopify's user error code, when it gave one.
        code: Option<String>,
        /// The input field Shopify blamed, as a path.
        field: Vec<String>,
        /// Shopify's message.
        message: String,
    },
    /// It was sent, but whether Shopify applied it is unknown (the answer was lost).
    Unknown {
        /// The row's primary key.
        key: String,
        /// What happened.
        message: String,
    },
}

impl WriteOutcome {
    /// The primary key the outcome is for.
    pub fn key(&self) -> &str {
        match self {
            WriteOutcome::Succeeded { key, .. }
            | WriteOutcome::Skipped { key, .. }
            | WriteOutcome::Rejected { key, .. }
            | WriteOutcome::Unknown { key, .. } => key,
        }
    }
}

/// A failure of a whole batch. Ops with an outcome in `outcomes` finished before it; every other op of the batch
/// was not applied (run-level failures such as a rejected token happen before Shopify changes anything).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    /// What went wrong, with what the user must fix when it is permanent.
    pub message: String,
    /// Whether the run must stop (credentials, shop state) rather than move on.
    pub fails_run: bool,
    /// When set, the batch may be retried after this long.
    pub retry_after: Option<Duration>,
    /// Outcomes of the ops that finished before the failure.
    pub outcomes: Vec<WriteOutcome>,
}

/// A boxed future, so the traits stay object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Ops handed over one at a time, read from the run's spill as the adapter pulls them (see
/// [`ShopifyApi::write_bulk_from`]).
pub type OpStream<'a> = Box<dyn Iterator<Item = WriteOp> + Send + 'a>;

/// Writes to one Shopify store.
pub trait ShopifyApi: Send + Sync {
    /// Applies `ops` for `sync`, returning one outcome per op.
    fn write<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>>;

    /// Whether, for `sync`, the adapter finds out if an earlier attempt of an op took effect before sending it
    /// again (see `WriteOp::Send::resend`). When it does, a send whose answer was lost is retried by the next
    /// run instead of being reported as an unknown outcome for good.
    fn resolves_unknown(&self, _sync: &SyncConfig) -> bool {
        false
    }

    /// Whether `op` may go through a bulk operation for `sync`: an upsert that Shopify can apply from one
    /// line of variables and that is safe to send again (it names its record). Adapters without bulk
    /// operations say no, and the engine then never calls [`ShopifyApi::write_bulk`].
    fn bulk_eligible(&self, _sync: &SyncConfig, _op: &WriteOp) -> bool {
        false
    }

    /// Applies `ops`, all [`ShopifyApi::bulk_eligible`], as bulk operations; one outcome per op, as
    /// [`ShopifyApi::write`]. An op whose fate cannot be known (the operation's state was lost) is
    /// [`WriteOutcome::Unknown`]: the next run sends it again, which eligible ops allow.
    fn write_bulk<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        self.write(sync, ops)
    }

    /// [`ShopifyApi::write_bulk`] over ops pulled one at a time, so that an adapter that turns each into a line
    /// of the operation's file as it comes never holds them all. The default collects them and calls
    /// [`ShopifyApi::write_bulk`].
    fn write_bulk_from<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: OpStream<'a>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        let ops: Vec<WriteOp> = ops.collect();
        self.write_bulk(sync, ops)
    }
}
