//! [`ShopifyClient`]: the Admin API as the engine sees it, the core's [`ShopifyApi`] port.
//!
//! It receives a batch of [`WriteOp`]s for one sync and answers one [`WriteOutcome`] per op. Ops run
//! concurrently; the store's shared cost budget, not a fixed rate, decides how fast they go. Identified upserts
//! of products and customers go several to a request ([`ops::batch`]); above the sync's bulk threshold the
//! engine sends them as bulk operations ([`bulk`]). How each object is written is in [`ops`].
use std::collections::HashSet;

use futures::StreamExt;

use super::bulk::{self, BulkFile, BulkSettings};
use super::context::RequestContext;
use super::error::ShopifyError;
use super::ops;
use super::transport::Transport;
use crate::core::config::{SyncConfig, Target};
use crate::core::state::StateStore;
use crate::core::write::{ApiFailure, BoxFuture, OpStream, ShopifyApi, WriteOp, WriteOutcome};

/// Rows per batched request unless told otherwise: 250 points, a quarter of the single-query ceiling.
pub const DEFAULT_BATCH_SIZE: usize = 25;

/// The Admin API, as the engine sees it.
#[derive(Debug, Clone)]
pub struct ShopifyClient {
    transport: Transport,
    concurrency: usize,
    batch_size: usize,
    bulk: BulkSettings,
    journal: Option<bulk::Journal>,
}

impl ShopifyClient {
    /// A client over `transport`, running up to `concurrency` requests at once, batching
    /// [`DEFAULT_BATCH_SIZE`] upserts per request.
    pub fn new(transport: Transport, concurrency: usize) -> ShopifyClient {
        ShopifyClient {
            transport,
            concurrency: concurrency.max(1),
            batch_size: DEFAULT_BATCH_SIZE,
            bulk: BulkSettings::default(),
            journal: None,
        }
    }

    /// Sends up to `size` identified upserts per request (1 turns batching off). Capped so a batch stays
    /// under Shopify's 1000-point single-query ceiling.
    pub fn with_batch_size(mut self, size: usize) -> ShopifyClient {
        self.batch_size = size.max(1);
        self
    }

    /// How bulk operations are polled and how long a busy shop is waited for.
    pub fn with_bulk_settings(mut self, settings: BulkSettings) -> ShopifyClient {
        self.bulk = settings;
        self
    }

    /// Journals bulk operations in `state`, so that a run taking over after one that died resumes its
    /// operation instead of starting another (see [`bulk`]).
    pub fn with_bulk_journal(mut self, state: std::sync::Arc<dyn StateStore>) -> ShopifyClient {
        self.journal = Some(bulk::Journal(state));
        self
    }

    /// The bulk settings.
    pub fn bulk_settings(&self) -> &BulkSettings {
        &self.bulk
    }

    /// The transport (and through it the store and its budget).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
}

/// What the client sends in one go: one op, or a batch of identified upserts.
enum Unit {
    One(WriteOp),
    Batch(Vec<ops::batch::SetCall>),
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
        let mut sets: Vec<ops::batch::SetCall> = Vec::new();
        for op in ops {
            match (self.batch_size > 1)
                .then(|| ops::set_call(sync, &op))
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
        sets: Vec<ops::batch::SetCall>,
        others: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, ApiFailure> {
        let sync_id: std::sync::Arc<str> = sync.id.as_str().into();
        let mut outcomes = Vec::with_capacity(sets.len() + others.len());
        let mut units: Vec<Unit> = others.into_iter().map(Unit::One).collect();
        let size = sets.first().map_or(1, |s| {
            self.batch_size.min(ops::batch::max_batch(s.kind)).max(1)
        });
        let mut sets = sets.into_iter().peekable();
        while sets.peek().is_some() {
            units.push(Unit::Batch(sets.by_ref().take(size).collect()));
        }
        let results: Vec<ops::batch::RowResults> = futures::stream::iter(units)
            .map(|unit| {
                let sync_id = sync_id.clone();
                async move {
                    match unit {
                        Unit::One(op) => {
                            // The row's key travels with its requests to the debugger log.
                            let key = op.key().to_string();
                            let context = RequestContext::new(sync_id, vec![key.clone()]);
                            vec![(
                                key,
                                context.scope(ops::one(&self.transport, sync, op)).await,
                            )]
                        }
                        Unit::Batch(sets) => {
                            // A batched request's log entry names every row it carries.
                            let keys = sets.iter().map(|s| s.key.clone()).collect();
                            let context = RequestContext::new(sync_id, keys);
                            context.scope(ops::batch::send(&self.transport, sets)).await
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
                Err(e) if ops::batch::unknown_effect(&e) => outcomes.push(WriteOutcome::Unknown {
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

impl ShopifyClient {
    /// Applies `ops` through bulk operations, turning each into a line of the current operation's file as it is
    /// pulled (after the lookup that tells which are new) and running each file once it is full; rows that are
    /// not eligible, or that an operation did not apply, go the ordinary way.
    async fn write_bulk_stream(
        &self,
        sync: &SyncConfig,
        mut ops: OpStream<'_>,
    ) -> Result<Vec<WriteOutcome>, ApiFailure> {
        let mut outcomes = Vec::new();
        let mut absent = HashSet::new();
        let mut unapplied = Vec::new();
        let mut others = Vec::new();
        let mut file = BulkFile::default();
        // The first file of the call takes up an operation a run that died left journaled.
        let mut first = true;
        let failed = 'pull: loop {
            // A few lookups' worth at a time: the rows are held only until they are lines.
            let pulled: Vec<WriteOp> = ops.by_ref().take(PULL).collect();
            if pulled.is_empty() {
                break None;
            }
            absent.extend(ops::lookup::absent_keys(&self.transport, sync, &pulled).await);
            for op in pulled {
                match ops::set_call(sync, &op) {
                    Some(Ok(set)) => {
                        if file.push(&set, self.bulk.max_file) {
                            continue;
                        }
                        let full = std::mem::take(&mut file);
                        match self.send_file(sync, full, &absent, &mut first).await {
                            Ok(done) => {
                                outcomes.extend(done.outcomes);
                                unapplied.extend(done.unapplied);
                            }
                            Err(f) => break 'pull Some(f),
                        }
                        // An empty file takes any row.
                        file.push(&set, self.bulk.max_file);
                    }
                    Some(Err(refused)) => outcomes.push(refused),
                    None => others.push(op),
                }
            }
        };
        let failed = match failed {
            None if !file.is_empty() => {
                match self.send_file(sync, file, &absent, &mut first).await {
                    Ok(done) => {
                        outcomes.extend(done.outcomes);
                        unapplied.extend(done.unapplied);
                        None
                    }
                    Err(f) => Some(f),
                }
            }
            failed => failed,
        };
        let result = match failed {
            // Rows not pulled yet have no outcome: they were not applied, and the next run sends them.
            Some(mut f) => {
                outcomes.append(&mut f.outcomes);
                f.outcomes = outcomes;
                Err(f)
            }
            None => match self.write_sets(sync, unapplied, others).await {
                Ok(o) => {
                    outcomes.extend(o);
                    Ok(outcomes)
                }
                Err(mut f) => {
                    outcomes.append(&mut f.outcomes);
                    f.outcomes = outcomes;
                    Err(f)
                }
            },
        };
        marking_created(result, &absent)
    }
}

impl ShopifyClient {
    /// Sends one bulk file; the call's first file first takes up the operation an earlier run journaled and
    /// never recorded (see [`bulk`]), so its rows are not submitted again.
    async fn send_file(
        &self,
        sync: &SyncConfig,
        file: BulkFile,
        absent: &HashSet<String>,
        first: &mut bool,
    ) -> Result<bulk::Finished, ApiFailure> {
        let mut outcomes = Vec::new();
        let file = match (std::mem::take(first), self.journal.as_ref()) {
            (true, Some(journal)) => {
                let (taken, rest) =
                    bulk::take_up(&self.transport, &self.bulk, sync, journal, file).await?;
                outcomes = taken;
                rest
            }
            _ => file,
        };
        let mut done = match bulk::write_file(
            &self.transport,
            &self.bulk,
            sync,
            file,
            self.journal.as_ref(),
            absent,
        )
        .await
        {
            Ok(done) => done,
            Err(mut f) => {
                outcomes.append(&mut f.outcomes);
                f.outcomes = outcomes;
                return Err(f);
            }
        };
        outcomes.append(&mut done.outcomes);
        done.outcomes = outcomes;
        Ok(done)
    }
}

/// Ops pulled from a bulk write's stream at a time: ten lookup queries' worth.
const PULL: usize = ops::lookup::LOOKUP_BATCH * 10;

impl ShopifyApi for ShopifyClient {
    fn write<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            let absent = ops::lookup::absent_keys(&self.transport, sync, &ops).await;
            marking_created(self.write_ops(sync, ops).await, &absent)
        })
    }

    fn resolves_unknown(&self, sync: &SyncConfig) -> bool {
        // Events and actions read the fulfillment (order) before sending again.
        matches!(sync.target, Target::Event(_) | Target::Action(_))
    }

    fn bulk_eligible(&self, sync: &SyncConfig, op: &WriteOp) -> bool {
        matches!(ops::set_call(sync, op), Some(Ok(_)))
    }

    fn write_bulk<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        self.write_bulk_from(sync, Box::new(ops.into_iter()))
    }

    fn write_bulk_from<'a>(
        &'a self,
        sync: &'a SyncConfig,
        ops: OpStream<'a>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(self.write_bulk_stream(sync, ops))
    }
}

/// The writes of keys that had no record before count as creations (see [`ops::lookup`]).
fn marking_created(
    result: Result<Vec<WriteOutcome>, ApiFailure>,
    absent: &HashSet<String>,
) -> Result<Vec<WriteOutcome>, ApiFailure> {
    match result {
        Ok(mut outcomes) => {
            ops::lookup::mark_created(&mut outcomes, absent);
            Ok(outcomes)
        }
        Err(mut failure) => {
            ops::lookup::mark_created(&mut failure.outcomes, absent);
            Err(failure)
        }
    }
}
