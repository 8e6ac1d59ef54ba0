//! The engine: plan a sync (query, map, diff against the state), then apply the plan through
//! [`ShopifyApi`], writing each row's outcome back to the state store as it lands.
//!
//! Planning never writes anything anywhere: `shopsync plan` is [`Engine::plan`] and nothing else. Applying
//! holds the sync's lock for the whole run, commits the snapshot batch by batch (so a crash loses at most the
//! batch in flight), and records events and actions in the ledger before sending them, so that a crash between
//! sending and recording is reported as an unknown outcome instead of a silent resend.
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;

use super::calls::CallLog;
use super::clock::Clock;
use super::config::{OnDuplicateKey, SyncConfig, SyncMode, Target};
use super::diff::{self, DiffSettings, TargetKind};
use super::mapping::{self, MappingError};
use super::plan::{Change, ChangeSink, MemorySink, Plan, PlanSummary, Rebaseline};
use super::progress::Progress;
use super::redact::Redactor;
use super::report::{RejectedRow, RunReport};
use super::source::{FailureClass, StreamRequest, Warehouse, WarehouseError};
use super::spill::{ChangeSpill, MemorySpill, SpillError, SpillReader};
use super::state::{
    Baseline, Lease, LedgerEntry, LedgerStatus, Ownership, RunRecord, RunStatus, SnapshotChange,
    SnapshotIndex, StateError, StateStore,
};
use super::write::{ApiFailure, ShopifyApi, WriteOp, WriteOutcome};

/// Rows per write batch: the state is committed after each.
pub const BATCH: usize = 250;
/// Changes read back from the spill at once, unless [`Engine::with_chunks`] says otherwise.
pub const READ_CHUNK: usize = 1_000;
/// Rows handed to one bulk write at most, unless [`Engine::with_chunks`] says otherwise: what the adapter holds
/// per row (a line of the operation's file, its outcome) stays bounded, while one call still fills most of a
/// bulk operation's file.
pub const BULK_ROWS: u64 = 100_000;
/// Source digests refreshed per state transaction.
const REFRESH_CHUNK: usize = 10_000;

/// How long a run's lock lasts without renewal; renewed after every batch.
pub const LOCK_TTL: Duration = Duration::from_secs(300);

/// Why a run could not plan or finish.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The warehouse query failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The mapping does not fit the query's columns.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The sync fails on duplicate keys and found some.
    #[error("{0}")]
    Duplicates(String),
    /// The plan's changes could not be held (a spill file failed, or more than 4 billion changes).
    #[error("holding the plan: {0}")]
    PlanStorage(String),
    /// Shopify refused the whole run (credentials, shop state).
    #[error("Shopify: {0}")]
    Shopify(#[from] ApiFailure),
    /// The process is shutting down: the run stopped after the batch in flight, whose results were saved.
    #[error("interrupted by shutdown after the batch in flight; the next run picks up the rest")]
    Interrupted,
}

impl EngineError {
    /// Whether trying again later may help.
    pub fn class(&self) -> FailureClass {
        match self {
            EngineError::Warehouse(e) => e.class(),
            EngineError::State(e) => e.class(),
            EngineError::Shopify(f) if !f.fails_run => FailureClass::Retryable,
            EngineError::Interrupted | EngineError::PlanStorage(_) => FailureClass::Retryable,
            EngineError::Mapping(_) | EngineError::Duplicates(_) | EngineError::Shopify(_) => {
                FailureClass::Permanent
            }
        }
    }
}

/// Plans and applies syncs over the ports: warehouse, state, Shopify and the clock.
pub struct Engine<'a> {
    warehouse: &'a dyn Warehouse,
    state: &'a dyn StateStore,
    shopify: &'a dyn ShopifyApi,
    clock: &'a dyn Clock,
    redactor: Redactor,
    holder: String,
    stop: Option<&'a AtomicBool>,
    call_log: Option<&'a dyn CallLog>,
    progress: Option<&'a dyn Progress>,
    spill: &'a dyn ChangeSpill,
    read_chunk: usize,
    bulk_rows: u64,
}

impl<'a> Engine<'a> {
    /// An engine that reads the time and waits through `clock`; `holder` names this process in locks.
    /// Errors in its reports are redacted by a [`Redactor`] that knows no secret values until
    /// [`with_redactor`](Engine::with_redactor) hands it the caller's.
    pub fn new(
        warehouse: &'a dyn Warehouse,
        state: &'a dyn StateStore,
        shopify: &'a dyn ShopifyApi,
        clock: &'a dyn Clock,
        holder: impl Into<String>,
    ) -> Engine<'a> {
        Engine {
            warehouse,
            state,
            shopify,
            clock,
            redactor: Redactor::new(),
            holder: holder.into(),
            stop: None,
            call_log: None,
            progress: None,
            spill: &MemorySpill,
            read_chunk: READ_CHUNK,
            bulk_rows: BULK_ROWS,
        }
    }

    /// Keeps each run's planned changes in `spill` (a file, for runs larger than memory) instead of memory.
    pub fn with_spill(mut self, spill: &'a dyn ChangeSpill) -> Engine<'a> {
        self.spill = spill;
        self
    }

    /// Reads at most `read` changes back from the spill at once and hands at most `bulk_rows` rows to one
    /// bulk write (both at least 1).
    pub fn with_chunks(mut self, read: usize, bulk_rows: u64) -> Engine<'a> {
        self.read_chunk = read.max(1);
        self.bulk_rows = bulk_rows.max(1);
        self
    }

    /// Stops a run between batches once `stop` is set: the batch in flight finishes and is recorded, the rest
    /// is left for the next run (a graceful shutdown).
    pub fn with_stop(mut self, stop: &'a AtomicBool) -> Engine<'a> {
        self.stop = Some(stop);
        self
    }

    /// Tells `log` when each run starts and ends, so the calls the Shopify client records in between are tied
    /// to the run's record; the run waits for its calls to be stored before it finishes.
    pub fn with_call_log(mut self, log: &'a dyn CallLog) -> Engine<'a> {
        self.call_log = Some(log);
        self
    }

    /// Redacts the errors and rejection messages of its reports through `redactor` (the one that knows the
    /// process's Secret values).
    pub fn with_redactor(mut self, redactor: Redactor) -> Engine<'a> {
        self.redactor = redactor;
        self
    }

    /// Reports each run's planned work and every applied batch to `progress` (a terminal bar, a log line).
    pub fn with_progress(mut self, progress: &'a dyn Progress) -> Engine<'a> {
        self.progress = Some(progress);
        self
    }

    /// What a run would do now. Reads the warehouse and the state; writes nothing.
    pub async fn plan(&self, sync: &SyncConfig) -> Result<Plan, EngineError> {
        plan(self.warehouse, self.state, sync).await
    }

    /// Runs the sync once: plan, apply, record. A failure after some batches keeps what they synced.
    pub async fn run(&self, sync: &SyncConfig) -> Result<RunReport, EngineError> {
        let started_at = self.clock.now();
        let lease = self
            .state
            .acquire_lock(&sync.id, &self.holder, LOCK_TTL, started_at)
            .await?;
        let run_id = match self.state.start_run(&sync.id, started_at).await {
            Ok(id) => id,
            Err(e) => {
                let _ = self.state.release_lock(&lease).await;
                return Err(e.into());
            }
        };
        if let Some(log) = self.call_log {
            log.run_started(&sync.id, run_id);
        }
        let mut report = RunReport::started(&sync.id, started_at);
        let result = self.plan_and_apply(sync, run_id, lease, &mut report).await;
        if let Some(p) = self.progress {
            p.finished(&sync.id);
        }
        let lease = match result {
            Ok(lease) => Some(lease),
            Err((e, lease)) => {
                // Driver errors may quote a connection string: nothing secret leaves through the report.
                report.error = Some(self.redactor.redact_owned(e.to_string()));
                report.status = RunStatus::Failed;
                lease
            }
        };
        report.finished_at = self.clock.now();
        if report.status == RunStatus::Running {
            report.status = if let Some(refused) = &report.refused_deletes {
                // Deletes were refused: the store is not what the model says, which needs a person.
                report.error = Some(format!(
                    "delete guard tripped: {refused}; no record was deleted and the rest of the run was applied. \
                     Check the model; to let the deletes happen, raise spec.deleteGuard"
                ));
                RunStatus::Failed
            } else if report.stats.rejected > 0 || !report.unknown.is_empty() {
                RunStatus::PartiallySucceeded
            } else {
                RunStatus::Succeeded
            };
        }
        let record = RunRecord {
            id: run_id,
            sync: sync.id.clone(),
            started_at,
            finished_at: Some(report.finished_at),
            status: report.status,
            stats: report.stats,
            error: report.error.clone(),
        };
        if let Some(log) = self.call_log {
            log.run_finished(&sync.id, run_id).await;
        }
        let finished = self.state.finish_run(&record).await;
        if let Some(lease) = lease {
            let _ = self.state.release_lock(&lease).await;
        }
        finished?;
        Ok(report)
    }

    async fn plan_and_apply(
        &self,
        sync: &SyncConfig,
        run_id: i64,
        mut lease: Lease,
        report: &mut RunReport,
    ) -> Result<Lease, (EngineError, Option<Lease>)> {
        // The changes go to the spill and are read back a chunk at a time: the run never holds the plan.
        let writer = match self.spill.create() {
            Ok(w) => w,
            Err(e) => return Err((spill_error(e), Some(lease))),
        };
        let (mut summary, spilled) = match plan_into(self.warehouse, self.state, sync, writer).await
        {
            Ok((summary, writer)) => match writer.finish() {
                Ok(spilled) => (summary, spilled),
                Err(e) => return Err((spill_error(e), Some(lease))),
            },
            Err(e) => return Err((e, Some(lease))),
        };
        let baseline = Baseline {
            identity: Some(mapping::identity(sync)),
            fingerprint: Some(mapping::fingerprint(sync)),
        };
        if summary.rebaseline_reason == Some(Rebaseline::IdentityChanged) {
            // The old keys mean nothing under the new identity: forget them (deleting nothing) and record the
            // new identity in the same breath, so a crash from here on resumes as an ordinary run.
            let previous = self.state.baseline(&sync.id).await.ok().flatten();
            let marker = [SnapshotChange::Baseline(Baseline {
                identity: baseline.identity.clone(),
                fingerprint: previous.and_then(|b| b.fingerprint),
            })];
            let reset = async {
                self.state.reset_snapshot(&sync.id).await?;
                self.state.commit_snapshot(&sync.id, &marker).await
            };
            if let Err(e) = reset.await {
                return Err((e.into(), Some(lease)));
            }
        }
        let inherited: HashSet<String> = std::mem::take(&mut summary.inherited_created)
            .into_iter()
            .collect();
        let s = &summary;
        report.stats.rows_queried = s.stats.rows;
        report.stats.added = s.stats.added;
        report.stats.changed = s.stats.changed + s.stats.retried;
        report.stats.removed = s.stats.removed;
        report.stats.rejected = s.stats.rejected;
        report.refused_deletes = s.refused_deletes.as_ref().map(|r| r.reason.clone());
        report.unknown = s.unknown_outcome.clone();
        for r in &s.rejections {
            push_rejection(
                report,
                &self.redactor,
                r.key.clone(),
                Some(r.code.to_string()),
                vec![],
                r.message.clone(),
            );
        }
        if let Some(p) = self.progress {
            let deletes = if sync.deletes() { s.removed.len() } else { 0 };
            p.planned(&sync.id, spilled.len() + deletes as u64);
        }
        let insert_only = sync.target.is_insert_only();
        let changes = &*spilled;
        // Which changes may go in bulk, decided once (a bit each) so the passes below agree.
        let mut eligible = Bits::new(changes.len());
        if !insert_only {
            let mut at = 0u64;
            while at < changes.len() {
                let chunk = match changes.read(at, self.read_chunk) {
                    Ok(c) if !c.is_empty() => c,
                    Ok(_) => break,
                    Err(e) => return Err((spill_error(e), Some(lease))),
                };
                for change in &chunk {
                    if self
                        .shopify
                        .bulk_eligible(sync, &op_for(sync, run_id, change))
                    {
                        eligible.set(at);
                    }
                    at += 1;
                }
            }
        }
        // Below the threshold, eligible rows go with the others, batched.
        let bulk = eligible.count() >= sync.bulk_threshold.max(1);
        if bulk {
            lease = self
                .apply_bulk(sync, run_id, changes, &eligible, &inherited, lease, report)
                .await?;
        }
        // The rest, in plan order, BATCH rows a request set; never more than a chunk and a batch held. The read
        // stops at the last of them (a run that went wholly in bulk reads nothing more).
        let mut left = changes.len() - if bulk { eligible.count() } else { 0 };
        let mut batch: Vec<Change> = Vec::with_capacity(BATCH);
        let mut at = 0u64;
        while left > 0 {
            let chunk = match changes.read(at, self.read_chunk) {
                Ok(c) => c,
                Err(e) => return Err((spill_error(e), Some(lease))),
            };
            let done = chunk.is_empty();
            for change in chunk {
                if !(bulk && eligible.get(at)) {
                    batch.push(change);
                    left = left.saturating_sub(1);
                }
                at += 1;
                if batch.len() == BATCH {
                    let sent = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    lease = self
                        .apply_batch(sync, run_id, &sent, &inherited, lease, report)
                        .await?;
                }
            }
            if done {
                break;
            }
        }
        if !batch.is_empty() {
            lease = self
                .apply_batch(sync, run_id, &batch, &inherited, lease, report)
                .await?;
        }
        if let Err(e) = self.apply_removals(sync, &summary, report).await {
            return Err((e, Some(lease)));
        }
        // Unchanged rows whose digest moved (an unmapped column, a new shopsync version): remembered so the
        // next plan skips them undecoded. Nothing was sent for them, so any point of the run would do.
        for chunk in summary.source_refreshes.chunks(REFRESH_CHUNK) {
            if let Err(e) = self.state.commit_snapshot(&sync.id, chunk).await {
                return Err((e.into(), Some(lease)));
            }
        }
        // Every planned row was attempted: the snapshot now stands for this identity and mapping. Objects only:
        // an event or action ledger has no baseline to keep.
        if !insert_only
            && let Err(e) = self
                .state
                .commit_snapshot(&sync.id, &[SnapshotChange::Baseline(baseline)])
                .await
        {
            return Err((e.into(), Some(lease)));
        }
        Ok(lease)
    }

    /// Sends one batch of `chunk` the ordinary way (requests, [`BATCH`] rows at most) and records its outcomes.
    async fn apply_batch(
        &self,
        sync: &SyncConfig,
        run_id: i64,
        chunk: &[Change],
        inherited: &HashSet<String>,
        lease: Lease,
        report: &mut RunReport,
    ) -> Result<Lease, (EngineError, Option<Lease>)> {
        if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err((EngineError::Interrupted, Some(lease)));
        }
        let insert_only = sync.target.is_insert_only();
        if insert_only {
            // Recorded before sending: a crash before the answer is recorded leaves them pending.
            let checked = self.shopify.resolves_unknown(sync);
            let pending: Vec<LedgerEntry> =
                chunk.iter().map(|c| pending(sync, c, checked)).collect();
            if let Err(e) = self.state.record_ledger(&sync.id, &pending).await {
                return Err((e.into(), Some(lease)));
            }
        }
        let intents = if insert_only {
            Vec::new()
        } else {
            intents(sync, chunk)
        };
        if !intents.is_empty()
            && let Err(e) = self.state.commit_snapshot(&sync.id, &intents).await
        {
            return Err((e.into(), Some(lease)));
        }
        let ops = chunk.iter().map(|c| op_for(sync, run_id, c)).collect();
        let (outcomes, failure) = match self.shopify.write(sync, ops).await {
            Ok(o) => (o, None),
            Err(mut f) => (std::mem::take(&mut f.outcomes), Some(f)),
        };
        let mut outcomes = by_key(outcomes);
        if let Some(f) = &failure {
            // Ops without an outcome were not applied: record them so the next run sends them again,
            // rather than leaving events and actions pending (which would read as "unknown outcome").
            let not_applied: Vec<LedgerEntry> = chunk
                .iter()
                .filter(|c| !outcomes.contains_key(c.key.as_str()))
                .map(|c| ledger(c, LedgerStatus::Rejected, None, Some(f.message.clone())))
                .collect();
            if insert_only && let Err(e) = self.state.record_ledger(&sync.id, &not_applied).await {
                return Err((e.into(), Some(lease)));
            }
            // Creates announced by this run that were not sent: forgotten, as if never planned.
            let unsent: Vec<SnapshotChange> = intents
                .iter()
                .filter_map(SnapshotChange::as_upsert)
                .filter(|e| !outcomes.contains_key(e.key.as_str()))
                .map(|e| SnapshotChange::Remove(e.key.clone()))
                .collect();
            if !unsent.is_empty()
                && let Err(e) = self.state.commit_snapshot(&sync.id, &unsent).await
            {
                return Err((e.into(), Some(lease)));
            }
        }
        if let Err(e) = self
            .record(sync, chunk, &mut outcomes, inherited, report)
            .await
        {
            return Err((e, Some(lease)));
        }
        if let Some(p) = self.progress {
            p.advanced(&sync.id, chunk.len() as u64);
        }
        if let Some(f) = failure {
            return Err((f.into(), Some(lease)));
        }
        match self
            .state
            .renew_lock(&lease, LOCK_TTL, self.clock.now())
            .await
        {
            Ok(l) => Ok(l),
            Err(e) => Err((e.into(), None)),
        }
    }

    /// Sends the `eligible` changes as bulk operations, at most `bulk_rows` rows to a
    /// [`ShopifyApi::write_bulk_from`] call, each streamed from the spill as the adapter asks for it; renews the
    /// lock while they run, and records their outcomes [`BATCH`] rows at a time, reading the rows back again.
    #[allow(clippy::too_many_arguments)]
    async fn apply_bulk(
        &self,
        sync: &SyncConfig,
        run_id: i64,
        changes: &dyn SpillReader,
        eligible: &Bits,
        inherited: &HashSet<String>,
        mut lease: Lease,
        report: &mut RunReport,
    ) -> Result<Lease, (EngineError, Option<Lease>)> {
        let mut start = 0u64;
        while let Some(end) = eligible.end_after(start, self.bulk_rows) {
            if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err((EngineError::Interrupted, Some(lease)));
            }
            if let Err(e) = self
                .announce_bulk_creates(sync, changes, eligible, start, end)
                .await
            {
                return Err((e, Some(lease)));
            }
            let unreadable = Mutex::new(None);
            let ops = SpillOps {
                changes,
                eligible,
                sync,
                run_id,
                read_chunk: self.read_chunk,
                at: start,
                end,
                held: Vec::new().into_iter(),
                failed: &unreadable,
            };
            let write = self.shopify.write_bulk_from(sync, Box::new(ops));
            futures::pin_mut!(write);
            // A bulk operation can outlast the lock's lifetime: keep renewing it while waiting.
            let result = loop {
                let tick = self.clock.sleep(LOCK_TTL / 3);
                futures::pin_mut!(tick);
                match futures::future::select(write.as_mut(), tick).await {
                    futures::future::Either::Left((result, _)) => break result,
                    futures::future::Either::Right(((), _)) => {
                        lease = match self
                            .state
                            .renew_lock(&lease, LOCK_TTL, self.clock.now())
                            .await
                        {
                            Ok(l) => l,
                            Err(e) => return Err((e.into(), None)),
                        };
                    }
                }
            };
            let (outcomes, failure) = match result {
                Ok(o) => (o, None),
                Err(mut f) => (std::mem::take(&mut f.outcomes), Some(f)),
            };
            // Whether every row's fate is known: otherwise the journaled operation stays for the next run to take
            // up.
            let settled = failure.is_none()
                && !outcomes
                    .iter()
                    .any(|o| matches!(o, WriteOutcome::Unknown { .. }));
            let mut outcomes = by_key(outcomes);
            // The rows are read again to record their outcomes: the spill, not memory, held them meanwhile.
            let mut batch: Vec<Change> = Vec::with_capacity(BATCH);
            let mut rows = 0u64;
            let mut at = start;
            while at < end {
                let max =
                    usize::try_from(end - at).map_or(self.read_chunk, |n| n.min(self.read_chunk));
                let chunk = match changes.read(at, max) {
                    Ok(c) if !c.is_empty() => c,
                    Ok(_) => break,
                    Err(e) => return Err((spill_error(e), Some(lease))),
                };
                for change in chunk {
                    if eligible.get(at) {
                        batch.push(change);
                    }
                    at += 1;
                    if batch.len() == BATCH {
                        rows += BATCH as u64;
                        if let Err(e) = self
                            .record(sync, &batch, &mut outcomes, inherited, report)
                            .await
                        {
                            return Err((e, Some(lease)));
                        }
                        batch.clear();
                    }
                }
            }
            rows += batch.len() as u64;
            if let Err(e) = self
                .record(sync, &batch, &mut outcomes, inherited, report)
                .await
            {
                return Err((e, Some(lease)));
            }
            // Recorded: a later run must not take the journaled operation up again.
            if settled && let Err(e) = self.state.clear_bulk_journal(&sync.id).await {
                return Err((e.into(), Some(lease)));
            }
            // One step per call: Shopify reports no per-row progress worth polling for.
            if let Some(p) = self.progress {
                p.advanced(&sync.id, rows);
            }
            if let Some(f) = failure {
                return Err((f.into(), Some(lease)));
            }
            let unreadable = unreadable.lock().ok().and_then(|mut e| e.take());
            if let Some(e) = unreadable {
                return Err((spill_error(e), Some(lease)));
            }
            lease = match self
                .state
                .renew_lock(&lease, LOCK_TTL, self.clock.now())
                .await
            {
                Ok(l) => l,
                Err(e) => return Err((e.into(), None)),
            };
            start = end;
        }
        Ok(lease)
    }

    /// Notes in the snapshot, before a bulk call sends them, the creates among the eligible changes in
    /// `start..end` (see [`intents`]), a read chunk at a time, so a run killed meanwhile knows them as its own.
    async fn announce_bulk_creates(
        &self,
        sync: &SyncConfig,
        changes: &dyn SpillReader,
        eligible: &Bits,
        start: u64,
        end: u64,
    ) -> Result<(), EngineError> {
        let mut at = start;
        while at < end {
            let max = usize::try_from(end - at).map_or(self.read_chunk, |n| n.min(self.read_chunk));
            let chunk = changes.read(at, max).map_err(spill_error)?;
            if chunk.is_empty() {
                break;
            }
            let mut bulk = Vec::with_capacity(chunk.len());
            for change in chunk {
                if eligible.get(at) {
                    bulk.push(change);
                }
                at += 1;
            }
            let intents = intents(sync, &bulk);
            if !intents.is_empty() {
                self.state.commit_snapshot(&sync.id, &intents).await?;
            }
        }
        Ok(())
    }

    /// Records the outcomes of `chunk`'s writes (taken out of `outcomes`, by key): each key's snapshot entry
    /// with the ownership its write established (`inherited`: ids the sync created under an earlier identity),
    /// or its ledger entry. A change without an outcome was not applied and is left for the next run.
    async fn record(
        &self,
        sync: &SyncConfig,
        chunk: &[Change],
        outcomes: &mut HashMap<String, WriteOutcome>,
        inherited: &HashSet<String>,
        report: &mut RunReport,
    ) -> Result<(), EngineError> {
        let mut snapshot = Vec::new();
        let mut entries = Vec::new();
        for change in chunk {
            let Some(outcome) = outcomes.remove(change.key.as_str()) else {
                continue;
            };
            match outcome {
                WriteOutcome::Succeeded {
                    shopify_id,
                    created,
                    ..
                } => {
                    report.writes += 1;
                    report.stats.succeeded += 1;
                    report.created += u64::from(created);
                    // A create an earlier run sent and never recorded: the record is the one it created.
                    let inherited_created = change.create_intended()
                        || shopify_id.as_ref().is_some_and(|id| inherited.contains(id));
                    let ownership =
                        change.ownership_after(created || inherited_created, shopify_id.as_deref());
                    snapshot.push(change.succeeded(shopify_id.clone(), ownership));
                    snapshot.push(change.accepted_values());
                    entries.push(ledger(change, LedgerStatus::Sent, shopify_id, None));
                }
                WriteOutcome::Skipped { shopify_id, .. } => {
                    report.skipped += 1;
                    report.stats.succeeded += 1;
                    // The record existed: the sync wrote nothing to it and will never write or delete it, unless
                    // it is one the sync created under its old keys (an insert sync found its own record again).
                    // Its values are not remembered as accepted: Shopify never got them.
                    let own = change.create_intended()
                        || shopify_id.as_ref().is_some_and(|id| inherited.contains(id));
                    let ownership = if own {
                        Ownership::Created
                    } else {
                        Ownership::Skipped
                    };
                    snapshot.push(change.succeeded(shopify_id.clone(), ownership));
                    entries.push(ledger(change, LedgerStatus::Sent, shopify_id, None));
                }
                WriteOutcome::Rejected {
                    key,
                    code,
                    field,
                    message,
                } => {
                    report.writes += 1;
                    report.stats.rejected += 1;
                    snapshot.push(change.rejected(message.clone()));
                    entries.push(ledger(
                        change,
                        LedgerStatus::Rejected,
                        None,
                        Some(message.clone()),
                    ));
                    push_rejection(report, &self.redactor, Some(key), code, field, message);
                }
                WriteOutcome::Unknown { key, message } => {
                    report.writes += 1;
                    report.unknown.push(key);
                    snapshot.push(change.unknown(message));
                    // The ledger keeps the pending entry: the next run reports it instead of resending.
                }
            }
        }
        if sync.target.is_insert_only() {
            self.state.record_ledger(&sync.id, &entries).await?;
        } else {
            self.state.commit_snapshot(&sync.id, &snapshot).await?;
        }
        Ok(())
    }

    async fn apply_removals(
        &self,
        sync: &SyncConfig,
        summary: &PlanSummary,
        report: &mut RunReport,
    ) -> Result<(), EngineError> {
        let removed = &summary.removed;
        if removed.is_empty() {
            return Ok(());
        }
        // Keys whose record the sync may not delete (or that have none) are only forgotten: the record stays.
        let (deletes, forgets): (Vec<_>, Vec<_>) = removed.iter().partition(|r| r.delete);
        let forget: Vec<SnapshotChange> = forgets.iter().map(|r| r.forget()).collect();
        self.state.commit_snapshot(&sync.id, &forget).await?;
        for chunk in deletes.chunks(BATCH) {
            let ops = chunk
                .iter()
                .filter_map(|r| {
                    r.shopify_id.clone().map(|id| WriteOp::Delete {
                        key: r.key.clone(),
                        shopify_id: id,
                    })
                })
                .collect();
            let (outcomes, failure) = match self.shopify.write(sync, ops).await {
                Ok(o) => (o, None),
                Err(mut f) => (std::mem::take(&mut f.outcomes), Some(f)),
            };
            let mut changes = Vec::new();
            for outcome in outcomes {
                match outcome {
                    WriteOutcome::Succeeded { key, .. } | WriteOutcome::Skipped { key, .. } => {
                        report.writes += 1;
                        report.deleted += 1;
                        changes.push(SnapshotChange::Remove(key));
                    }
                    WriteOutcome::Rejected {
                        key,
                        code,
                        field,
                        message,
                    } => {
                        report.writes += 1;
                        report.stats.rejected += 1;
                        push_rejection(report, &self.redactor, Some(key), code, field, message);
                    }
                    WriteOutcome::Unknown { key, .. } => {
                        report.writes += 1;
                        report.unknown.push(key);
                    }
                }
            }
            self.state.commit_snapshot(&sync.id, &changes).await?;
            if let Some(p) = self.progress {
                p.advanced(&sync.id, chunk.len() as u64);
            }
            if let Some(f) = failure {
                return Err(f.into());
            }
        }
        Ok(())
    }
}

/// Plans `sync`: streams the query, maps each row and diffs it against the state. Writes nothing.
pub async fn plan(
    warehouse: &dyn Warehouse,
    state: &dyn StateStore,
    sync: &SyncConfig,
) -> Result<Plan, EngineError> {
    let (summary, sink) = plan_into(warehouse, state, sync, MemorySink::default()).await?;
    Ok(Plan {
        changes: sink.into_changes(),
        summary,
    })
}

/// [`plan`] with the changes going to `sink` (a spill file for very large plans); returns the summary and the
/// sink. Rows whose digest as read matches the snapshot are counted unchanged without being decoded or mapped.
pub async fn plan_into<S>(
    warehouse: &dyn Warehouse,
    state: &dyn StateStore,
    sync: &SyncConfig,
    sink: S,
) -> Result<(PlanSummary, S), EngineError>
where
    S: ChangeSink,
    S::Error: std::fmt::Display,
{
    let insert_only = sync.target.is_insert_only();
    let baseline = state.baseline(&sync.id).await?;
    let identity = mapping::identity(sync);
    // Events and actions have no baseline to lose: their ledger is the record of what was sent.
    let rebaseline_reason = match &baseline {
        _ if insert_only => None,
        None => Some(Rebaseline::NoState),
        // A baseline stored before identities were kept is taken as the same identity.
        Some(b)
            if b.identity
                .as_ref()
                .is_some_and(|stored| *stored != identity) =>
        {
            Some(Rebaseline::IdentityChanged)
        }
        Some(_) => None,
    };
    let rebaseline = rebaseline_reason.is_some();
    let fingerprint = mapping::fingerprint(sync);
    let required: Vec<String> = sync
        .required_columns()
        .into_iter()
        .map(str::to_string)
        .collect();
    let request = StreamRequest::new(sync.id.clone(), sync.query.clone())
        .with_timeout(sync.query_timeout)
        .with_required_columns(required)
        .with_digest_seed(fingerprint.clone())
        .with_decode_all(rebaseline);
    // The query starts while the index loads: the warehouse plans and begins sending meanwhile.
    let mut inherited_created = Vec::new();
    let (index, rowset) = if rebaseline_reason == Some(Rebaseline::IdentityChanged) {
        // Only the ids of what the sync created carry over: matched again under new keys, they stay its own.
        let (index, rowset) = futures::join!(
            state.load_index(&sync.id, insert_only),
            warehouse.stream(&request)
        );
        inherited_created = index?.created_ids();
        (SnapshotIndex::new(), rowset?)
    } else if rebaseline {
        (SnapshotIndex::new(), warehouse.stream(&request).await?)
    } else {
        let (index, rowset) = futures::join!(
            state.load_index(&sync.id, insert_only),
            warehouse.stream(&request)
        );
        (index?, rowset?)
    };
    let settings = DiffSettings {
        target: if insert_only {
            TargetKind::InsertOnly
        } else {
            TargetKind::Objects
        },
        fingerprint,
        // The guard counts deletes only: keys that are merely forgotten never trip it.
        delete_guard: sync.delete_guard,
        fail_on_duplicate_keys: sync.on_duplicate_key == OnDuplicateKey::FailRun,
        rebaseline,
        insert_mode: !insert_only && sync.mode == super::config::SyncMode::Insert,
        deletes: sync.deletes(),
        delete_matched: sync.delete_matched,
    };
    let compiled = mapping::compile(sync, &rowset.columns)?;
    let match_field = match (sync.target, sync.match_key, &sync.match_column) {
        (Target::Object(_), Some(k), Some(_)) => Some(k.as_str()),
        _ => None,
    };
    let mut differ = diff::Differ::new(settings, index, sink);
    let mut rows = rowset.rows;
    while let Some(row) = rows.next().await {
        let row = row?;
        let source = row.digest();
        if (source.is_some() || insert_only)
            && let Some(key) = compiled.key_of(&row)?
            && differ.skip_unchanged(&key, source)
        {
            continue;
        }
        let mapped = compiled.apply(&row.into_values()?, match_field);
        differ
            .push_with_source(mapped, source)
            .map_err(diff_error)?;
    }
    let (mut summary, sink) = differ.finish().map_err(diff_error)?;
    summary.rebaseline_reason = rebaseline_reason;
    summary.inherited_created = inherited_created;
    Ok((summary, sink))
}

fn diff_error<E: std::fmt::Display>(e: diff::DiffError<E>) -> EngineError {
    match e {
        diff::DiffError::DuplicateKeys { .. } => EngineError::Duplicates(e.to_string()),
        diff::DiffError::TooManyChanges | diff::DiffError::Sink(_) => {
            EngineError::PlanStorage(e.to_string())
        }
    }
}

/// The intent entries (see [`Change::intent`]) of the changes of `chunk` whose write may create a record: keys
/// the snapshot does not know, in a mode that creates.
fn intents(sync: &SyncConfig, chunk: &[Change]) -> Vec<SnapshotChange> {
    if sync.mode == SyncMode::Update {
        return Vec::new();
    }
    chunk
        .iter()
        .filter(|c| c.shopify_id.is_none() && c.ownership.is_none())
        .map(Change::intent)
        .collect()
}

fn spill_error(e: SpillError) -> EngineError {
    EngineError::PlanStorage(e.0)
}

fn by_key(outcomes: Vec<WriteOutcome>) -> HashMap<String, WriteOutcome> {
    outcomes
        .into_iter()
        .map(|o| (o.key().to_string(), o))
        .collect()
}

/// One bit per planned change, by its position in the plan.
struct Bits {
    words: Vec<u64>,
    len: u64,
}

impl Bits {
    fn new(len: u64) -> Bits {
        Bits {
            words: vec![0; usize::try_from(len.div_ceil(64)).unwrap_or(0)],
            len,
        }
    }

    fn set(&mut self, at: u64) {
        if let Some(w) = self.words.get_mut((at / 64) as usize) {
            *w |= 1 << (at % 64);
        }
    }

    fn get(&self, at: u64) -> bool {
        self.words
            .get((at / 64) as usize)
            .is_some_and(|w| w & (1 << (at % 64)) != 0)
    }

    fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The position just past the `n`-th set bit from `start` on (or the end, when fewer are set); `None` when
    /// none is set from `start` on.
    fn end_after(&self, start: u64, n: u64) -> Option<u64> {
        let mut seen = 0u64;
        let mut at = start;
        while at < self.len {
            if self.get(at) {
                seen += 1;
                if seen == n {
                    return Some(at + 1);
                }
            }
            at += 1;
        }
        (seen > 0).then_some(self.len)
    }
}

/// The bulk ops of the changes in `at..end` marked `eligible`, read from the spill a chunk at a time as the
/// adapter pulls them. A read failure ends the ops early and is left in `failed` for the engine to report.
struct SpillOps<'s> {
    changes: &'s dyn SpillReader,
    eligible: &'s Bits,
    sync: &'s SyncConfig,
    run_id: i64,
    read_chunk: usize,
    at: u64,
    end: u64,
    held: std::vec::IntoIter<Change>,
    failed: &'s Mutex<Option<SpillError>>,
}

impl Iterator for SpillOps<'_> {
    type Item = WriteOp;

    fn next(&mut self) -> Option<WriteOp> {
        loop {
            // `at` counts the changes handed out of `held` so far.
            if let Some(change) = self.held.next() {
                let at = self.at;
                self.at += 1;
                if self.eligible.get(at) {
                    return Some(op_from(self.sync, self.run_id, change));
                }
                continue;
            }
            if self.at >= self.end {
                return None;
            }
            let max = usize::try_from(self.end - self.at)
                .map_or(self.read_chunk, |n| n.min(self.read_chunk));
            match self.changes.read(self.at, max) {
                Ok(chunk) if !chunk.is_empty() => self.held = chunk.into_iter(),
                Ok(_) => return None,
                Err(e) => {
                    if let Ok(mut failed) = self.failed.lock() {
                        failed.get_or_insert(e);
                    }
                    self.at = self.end;
                    return None;
                }
            }
        }
    }
}

/// [`op_for`], taking the change's fields instead of copying them.
fn op_from(sync: &SyncConfig, run_id: i64, change: Change) -> WriteOp {
    let mut op = op_for_key(sync, run_id, &change);
    match &mut op {
        WriteOp::Upsert { fields, .. } | WriteOp::Send { fields, .. } => *fields = change.fields,
        WriteOp::Delete { .. } => {}
    }
    op
}

/// [`op_for`] without the fields (left empty).
fn op_for_key(sync: &SyncConfig, run_id: i64, change: &Change) -> WriteOp {
    if sync.target.is_insert_only() {
        WriteOp::Send {
            key: change.key.clone(),
            fields: serde_json::Map::new(),
            idempotency_key: change
                .idempotency_key
                .clone()
                .unwrap_or_else(|| idempotency_key(sync, change)),
            // The diff carries a key over only from an attempt whose fate is unknown or that failed.
            resend: change.idempotency_key.is_some(),
        }
    } else {
        WriteOp::Upsert {
            key: change.key.clone(),
            fields: serde_json::Map::new(),
            known_id: change.shopify_id.clone(),
            idempotency_key: write_key(sync, run_id, change),
        }
    }
}

fn op_for(sync: &SyncConfig, run_id: i64, change: &Change) -> WriteOp {
    let mut op = op_for_key(sync, run_id, change);
    match &mut op {
        WriteOp::Upsert { fields, .. } | WriteOp::Send { fields, .. } => {
            fields.clone_from(&change.fields)
        }
        WriteOp::Delete { .. } => {}
    }
    op
}

/// The idempotency key of one intended write of an object: this run, this key, these values. The retries of the
/// write within the run share it (Shopify then applies it once); any later run's write of the same key has
/// another, so a value that returns to an earlier one (25 → 30 → 25) is written, never answered from the first
/// write's replay.
/// Sync and key go in as a digest: keys are unbounded, idempotency keys are not.
pub fn write_key(sync: &SyncConfig, run_id: i64, change: &Change) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for part in [sync.id.as_bytes(), change.key.as_bytes(), &change.hash.0] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    format!(
        "shopsync-{run_id}-{}",
        hex::encode(&digest.finalize()[..12])
    )
}

/// A key that names this sync, row and payload: stable across restarts, different for a changed payload.
fn idempotency_key(sync: &SyncConfig, change: &Change) -> String {
    format!("shopsync:{}:{}:{}", sync.id, change.key, change.hash)
}

/// The ledger entry recorded before `change` is sent. It keeps the attempt's key only when the adapter checks
/// whether an earlier attempt took effect (`checked`): a pending entry found later then leads to a checked
/// resend; without the key it reads as "unknown outcome", never resent blindly.
fn pending(sync: &SyncConfig, change: &Change, checked: bool) -> LedgerEntry {
    let mut entry = ledger(change, LedgerStatus::Pending, None, None);
    if checked {
        entry
            .idempotency_key
            .get_or_insert_with(|| idempotency_key(sync, change));
    }
    entry
}

/// A ledger entry for `change`. Its idempotency key is only ever the one the diff carried over: events and
/// actions have no Shopify idempotency key, so a pending entry found later must read as "unknown outcome"
/// unless [`pending`] kept one.
fn ledger(
    change: &Change,
    status: LedgerStatus,
    shopify_id: Option<String>,
    error: Option<String>,
) -> LedgerEntry {
    LedgerEntry {
        key: change.key.clone(),
        hash: change.hash,
        status,
        idempotency_key: change.idempotency_key.clone(),
        shopify_id,
        error,
    }
}

fn push_rejection(
    report: &mut RunReport,
    redactor: &Redactor,
    key: Option<String>,
    code: Option<String>,
    field: Vec<String>,
    message: String,
) {
    if report.rejections.len() < RunReport::MAX_REJECTIONS {
        report.rejections.push(RejectedRow {
            key,
            code,
            field,
            message: redactor.redact_owned(message),
        });
    }
}
