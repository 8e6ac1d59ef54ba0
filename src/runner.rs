//! The one wiring of a sync run, shared by every entry point: `shopsync run`, `quickstart`, `bench sync`, the
//! controller and its finalizer cleanup.
//!
//! A run needs the store's shared cost budget, a transport with its retry policy and debugger log, a Shopify
//! client, and an engine that knows the same debugger log (to tie calls to the run), the progress display and
//! the stop signal. Built here once, no entry point can forget a piece: the controller once ran without its
//! debugger log because it had a wiring of its own. The runner also hands the engine its clock and the
//! entry point's [`Redactor`].
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::clock::SystemClock;
use crate::core::calls::CallLog;
use crate::core::clock::Clock;
use crate::core::config::{DriftPolicy, ManagementPolicy, SyncConfig};
use crate::core::drift::DriftSummary;
use crate::core::engine::{Engine, EngineError, LOCK_TTL};
use crate::core::progress::Progress;
use crate::core::redact::Redactor;
use crate::core::report::RunReport;
use crate::core::source::Warehouse;
use crate::core::spill::ChangeSpill;
use crate::core::state::{RunRecord, RunStats, RunStatus, StateStore};
use crate::live::{self, LiveError};
use crate::shopify::{CostBudget, RetryPolicy, ShopifyClient, ShopifyError, Store, Transport};
use crate::state::SpillDir;
use crate::warehouse::SqlWarehouse;

/// Why a run could not be made or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The Shopify client could not be built (the HTTP client refused its settings).
    #[error("the Shopify client cannot be built: {0}")]
    Client(#[from] ShopifyError),
    /// The warehouse URL cannot be used.
    #[error(transparent)]
    Warehouse(#[from] crate::core::source::WarehouseError),
    /// The engine failed the run.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Where a run writes: the store, and the key its cost budget is shared under (every sync of one store draws on
/// one budget, as Shopify's bucket is per store and app).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The store's endpoint, API version and token.
    pub store: &'a Store,
    /// The budget's key, e.g. `base URL|store`.
    pub store_key: &'a str,
}

/// Runs syncs against one state store; see the module docs.
pub struct SyncRunner {
    state: Arc<dyn StateStore>,
    holder: String,
    redactor: Redactor,
    clock: Arc<dyn Clock>,
    call_log: Option<Arc<dyn CallLog>>,
    progress: Option<Arc<dyn Progress>>,
    stop: Option<Arc<AtomicBool>>,
    retry: RetryPolicy,
    concurrency: usize,
    batch_size: Option<usize>,
    budgets: Mutex<HashMap<String, Arc<CostBudget>>>,
    /// Where runs keep their planned changes while applying them.
    spill: Arc<dyn ChangeSpill>,
}

impl SyncRunner {
    /// A runner over `state`, taking locks as `holder`, redacting reports through `redactor` (the entry point's,
    /// which knows its Secret values), on the system clock, with the default retry policy and 8 requests in
    /// flight.
    pub fn new(
        state: Arc<dyn StateStore>,
        holder: impl Into<String>,
        redactor: Redactor,
    ) -> SyncRunner {
        SyncRunner {
            state,
            holder: holder.into(),
            redactor,
            clock: Arc::new(SystemClock),
            call_log: None,
            progress: None,
            stop: None,
            retry: RetryPolicy::default(),
            concurrency: 8,
            batch_size: None,
            budgets: Mutex::new(HashMap::new()),
            spill: Arc::new(SpillDir::default()),
        }
    }

    /// Keeps each run's planned changes in `spill` (by default a file in the system's temporary directory, so
    /// a run of any size holds one chunk of its changes at a time).
    pub fn with_spill(mut self, spill: Arc<dyn ChangeSpill>) -> SyncRunner {
        self.spill = spill;
        self
    }

    /// Records every Shopify call of each run in `log` (the debugger log), tied to its run.
    pub fn with_call_log(mut self, log: Option<Arc<dyn CallLog>>) -> SyncRunner {
        self.call_log = log;
        self
    }

    /// Reports each run's progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> SyncRunner {
        self.progress = Some(progress);
        self
    }

    /// Stops runs after the batch in flight once `stop` is set.
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> SyncRunner {
        self.stop = Some(stop);
        self
    }

    /// Reads the time and waits through `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> SyncRunner {
        self.clock = clock;
        self
    }

    /// Retries Shopify calls under `retry`.
    pub fn with_retry(mut self, retry: RetryPolicy) -> SyncRunner {
        self.retry = retry;
        self
    }

    /// Keeps up to `n` requests in flight per run.
    pub fn with_concurrency(mut self, n: usize) -> SyncRunner {
        self.concurrency = n.max(1);
        self
    }

    /// Sends up to `n` identified upserts per request (the client's default otherwise).
    pub fn with_batch_size(mut self, n: usize) -> SyncRunner {
        self.batch_size = Some(n);
        self
    }

    /// The redactor reports go through.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The state store runs record into.
    pub fn state(&self) -> &dyn StateStore {
        self.state.as_ref()
    }

    /// The cost budget of the store under `store_key`, shared by every run against it.
    pub fn budget(&self, store_key: &str) -> Arc<CostBudget> {
        match self.budgets.lock() {
            Ok(mut b) => b
                .entry(store_key.to_string())
                .or_insert_with(|| Arc::new(CostBudget::new()))
                .clone(),
            // A poisoned map only means a panic elsewhere; a fresh budget is safe (it learns from the store).
            Err(_) => Arc::new(CostBudget::new()),
        }
    }

    /// The Shopify client of `target`, with its budget, retry policy and debugger log.
    pub fn client(&self, target: Target<'_>) -> Result<ShopifyClient, ShopifyError> {
        let mut transport = Transport::new(
            target.store.clone(),
            self.budget(target.store_key),
            self.retry,
        )?;
        if let Some(log) = &self.call_log {
            transport = transport.with_call_log(log.clone());
        }
        let client =
            ShopifyClient::new(transport, self.concurrency).with_bulk_journal(self.state.clone());
        Ok(match self.batch_size {
            Some(n) => client.with_batch_size(n),
            None => client,
        })
    }

    /// Runs `config` once from `warehouse` into `target`.
    pub async fn run(
        &self,
        config: &SyncConfig,
        target: Target<'_>,
        warehouse: &dyn Warehouse,
    ) -> Result<RunReport, RunError> {
        let client = self.client(target)?;
        if config.management == ManagementPolicy::Observe {
            return Ok(self.observe(config, &client, warehouse).await?);
        }
        let drift = if self.drift_due(config).await {
            Some(self.check_drift(config, &client, warehouse).await)
        } else {
            None
        };
        let mut engine = Engine::new(
            warehouse,
            self.state.as_ref(),
            &client,
            self.clock.as_ref(),
            self.holder.clone(),
        )
        .with_redactor(self.redactor.clone())
        .with_spill(self.spill.as_ref());
        if let Some(log) = &self.call_log {
            engine = engine.with_call_log(log.as_ref());
        }
        if let Some(p) = &self.progress {
            engine = engine.with_progress(p.as_ref());
        }
        if let Some(stop) = &self.stop {
            engine = engine.with_stop(stop);
        }
        let mut report = engine.run(config).await?;
        report.drift = drift;
        Ok(report)
    }

    /// Whether `config`'s drift is to be checked in this run (and if so, records in the state that it was, so
    /// that `spec.drift.every` holds across runs, restarts and processes sharing the state).
    async fn drift_due(&self, config: &SyncConfig) -> bool {
        if !config.drift.enabled {
            return false;
        }
        let now = self.clock.now();
        let due_from = config
            .drift
            .every
            .and_then(|every| chrono::Duration::from_std(every).ok())
            .and_then(|every| now.checked_sub_signed(every))
            .unwrap_or(now);
        match self
            .state
            .claim_drift_check(&config.id, now, due_from)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                // Checking once too often costs query points; never checking would hide drift.
                tracing::warn!(sync = %config.id, error = %e, "reading the last drift check failed; checking now");
                true
            }
        }
    }

    /// Checks `config`'s drift and carries out its policy in the state (under the sync's lock): overwrite
    /// marks the drifted records for sending in the run that follows, adopt records Shopify's values as the
    /// last applied ones. A check that cannot be made is reported as skipped; the run goes on.
    async fn check_drift(
        &self,
        config: &SyncConfig,
        client: &ShopifyClient,
        warehouse: &dyn Warehouse,
    ) -> DriftSummary {
        let policy = config.drift.policy;
        let check = match live::check(warehouse, self.state.as_ref(), client.transport(), config)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return DriftSummary::skipped(policy, self.redactor.redact_owned(e.to_string()));
            }
        };
        let changes = check.policy_changes(policy);
        if !changes.is_empty() {
            let committed = async {
                let lease = self
                    .state
                    .acquire_lock(&config.id, &self.holder, LOCK_TTL, self.clock.now())
                    .await?;
                let result = self.state.commit_snapshot(&config.id, &changes).await;
                let _ = self.state.release_lock(&lease).await;
                result
            };
            if let Err(e) = committed.await {
                let mut summary = check.summary(DriftPolicy::Report);
                summary.skipped = Some(format!("the {policy} policy could not be recorded: {e}"));
                return summary;
            }
        }
        check.summary(policy)
    }

    /// An observe-only run (`spec.managementPolicy: Observe`): the plan with live values where the object can
    /// be read back, recorded in the run history with the counts a run would have; nothing is written to
    /// Shopify nor to the sync's snapshot.
    async fn observe(
        &self,
        config: &SyncConfig,
        client: &ShopifyClient,
        warehouse: &dyn Warehouse,
    ) -> Result<RunReport, EngineError> {
        let started_at = self.clock.now();
        let run_id = self.state.start_run(&config.id, started_at).await?;
        if let Some(log) = &self.call_log {
            log.run_started(&config.id, run_id);
        }
        let state = self.state.as_ref();
        let checked = match live::check(warehouse, state, client.transport(), config).await {
            Ok(c) => {
                let summary = c.summary(DriftPolicy::Report);
                Ok((c.plan, Some(summary)))
            }
            Err(LiveError::Unsupported(why)) => crate::core::engine::plan(warehouse, state, config)
                .await
                .map(|p| (p, Some(DriftSummary::skipped(DriftPolicy::Report, why))))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut report = RunReport::failed(&config.id, started_at, started_at, String::new());
        report.observed = true;
        match checked {
            Ok((plan, drift)) => {
                let s = &plan.summary.stats;
                report.stats = RunStats {
                    rows_queried: s.rows,
                    added: s.added,
                    changed: s.changed + s.retried,
                    removed: s.removed,
                    succeeded: 0,
                    rejected: s.rejected,
                };
                report.refused_deletes = plan
                    .summary
                    .refused_deletes
                    .as_ref()
                    .map(|r| r.reason.clone());
                report.drift = drift;
                report.status = RunStatus::Succeeded;
                report.error = None;
            }
            Err(e) => report.error = Some(self.redactor.redact_owned(e)),
        }
        report.finished_at = self.clock.now();
        if let Some(log) = &self.call_log {
            log.run_finished(&config.id, run_id).await;
        }
        self.state
            .finish_run(&RunRecord {
                id: run_id,
                sync: config.id.clone(),
                started_at,
                finished_at: Some(report.finished_at),
                status: report.status,
                stats: report.stats,
                error: report.error.clone(),
            })
            .await?;
        Ok(report)
    }

    /// [`run`](SyncRunner::run) from the warehouse at `warehouse_url`, with every failure folded into a failed
    /// report (its error redacted): what the CLI prints and records.
    pub async fn run_url(
        &self,
        config: &SyncConfig,
        target: Target<'_>,
        warehouse_url: &str,
    ) -> RunReport {
        let started = self.clock.now();
        let result = match SqlWarehouse::from_url(&config.id, warehouse_url) {
            Ok(warehouse) => self.run(config, target, &warehouse).await,
            Err(e) => Err(e.into()),
        };
        result.unwrap_or_else(|e| {
            RunReport::failed(
                &config.id,
                started,
                self.clock.now(),
                self.redactor.redact_owned(e.to_string()),
            )
        })
    }
}
