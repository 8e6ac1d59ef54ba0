//! What every reconcile shares: the client, the state store, one cost budget per store, metrics, events.
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::events::{Event, Recorder, Reporter};
use kube::runtime::reflector::Store as Cache;
use kube::{Api, Client, Resource};

use super::metrics::Metrics;
use crate::api::{SecretKeyRef, ShopifyDestination, ShopifySync};
use crate::core::redact::Redactor;
use crate::core::state::StateStore;
use crate::runner::SyncRunner;
use crate::shopify::{CostBudget, RetryPolicy};

/// The controller's field manager (server-side apply) and event reporter.
pub const MANAGER: &str = "shopsync-controller";

/// Settings of the reconcilers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests in flight per sync run.
    pub concurrency: usize,
    /// Retries of Shopify calls during runs.
    pub retry: RetryPolicy,
    /// How often a Ready destination's token and scopes are checked again.
    pub destination_recheck: Duration,
    /// How soon something waiting on the outside (a Secret, the store) is looked at again, watches aside.
    pub retry_after: Duration,
    /// The name this process takes the state store's per-sync locks under.
    pub holder: String,
    /// Runs kept per sync in the state store's run history.
    pub run_history: u32,
    /// The hosts beyond Shopify and the alert services that specs may make the controller call.
    pub egress: super::egress::EgressPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 8,
            retry: RetryPolicy::default(),
            destination_recheck: Duration::from_secs(600),
            retry_after: Duration::from_secs(60),
            holder: format!("shopsync-controller-{}", std::process::id()),
            run_history: crate::core::alerts::DEFAULT_RUN_HISTORY,
            egress: super::egress::EgressPolicy::default(),
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Where snapshots, ledgers and run history live.
    pub state: Arc<dyn StateStore>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Set on shutdown: runs stop after the batch in flight.
    pub stopping: Arc<AtomicBool>,
    /// Settings.
    pub settings: Settings,
    /// Syncs as the sync controller's watch sees them (for mapping destinations and Secrets to syncs).
    pub syncs: Option<Cache<ShopifySync>>,
    /// Destinations as the destination controller's watch sees them.
    pub destinations: Option<Cache<ShopifyDestination>>,
    /// Runs syncs: the one wiring of budget, transport, debugger log and engine (see [`SyncRunner`]).
    pub runner: SyncRunner,
    /// Delivers alert notifications (`None` only if its HTTP client could not be built: alerts are then off).
    pub notifier: Option<crate::alerts::Notifier>,
    /// The process's redactor: every Secret value read is added to it, and errors pass through it.
    pub redactor: Redactor,
    recorder: Recorder,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context; the caches are filled in once the controllers exist. `redactor` is the process's (the log
    /// writer's): the Secret values the controller reads are added to it.
    pub fn new(
        client: Client,
        state: Arc<dyn StateStore>,
        metrics: Arc<Metrics>,
        settings: Settings,
        redactor: Redactor,
    ) -> Context {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: MANAGER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        let stopping = Arc::new(AtomicBool::new(false));
        let runner = SyncRunner::new(state.clone(), settings.holder.clone(), redactor.clone())
            .with_retry(settings.retry)
            .with_concurrency(settings.concurrency)
            .with_stop(stopping.clone());
        Context {
            client,
            state,
            metrics,
            stopping,
            settings,
            syncs: None,
            destinations: None,
            runner,
            notifier: crate::alerts::Notifier::new()
                .inspect_err(|e| tracing::error!(error = %e, "alerts are off"))
                .ok()
                .map(|n| n.with_redactor(redactor.clone())),
            redactor,
            recorder,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets the failures of `key` (`Kind/namespace/name`) after a successful reconcile.
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }

    /// Counts a failed reconcile of `key`; returns how many in a row (for per-object exponential backoff).
    pub fn failed(&self, key: &str) -> u32 {
        match self.failures.lock() {
            Ok(mut f) => {
                let n = f.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        }
    }

    /// The cost budget of a store, shared by every sync writing to it.
    pub fn budget(&self, store_key: &str) -> Arc<CostBudget> {
        self.runner.budget(store_key)
    }

    /// Records the Shopify calls of every run in `log` (the debugger log), tied to their runs.
    pub fn with_call_log(mut self, log: Option<Arc<dyn crate::core::calls::CallLog>>) -> Context {
        self.runner = self.runner.with_call_log(log);
        self
    }

    /// Publishes an Event about `obj`; a failure is logged, never fatal (Events are best effort).
    pub async fn event<K>(&self, obj: &K, event: Event)
    where
        K: Resource<DynamicType = ()>,
    {
        let reference = obj.object_ref(&());
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, reason = %event.reason, "cannot publish an event");
        }
    }

    /// A value from a Secret in `namespace`.
    pub async fn secret_value(
        &self,
        namespace: &str,
        reference: &SecretKeyRef,
    ) -> Result<String, SecretProblem> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api
            .get_opt(&reference.name)
            .await
            .map_err(|e| {
                SecretProblem::Unreadable(format!("Secret {namespace}/{}: {e}", reference.name))
            })?
            .ok_or_else(|| {
                SecretProblem::NotFound(format!("Secret {namespace}/{} not found", reference.name))
            })?;
        let value = self.secret_bytes(&secret, namespace, reference)?;
        // Secret values never reach logs, errors, the debugger log or status.
        self.redactor.add(&value);
        Ok(value)
    }

    fn secret_bytes(
        &self,
        secret: &Secret,
        namespace: &str,
        reference: &SecretKeyRef,
    ) -> Result<String, SecretProblem> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&reference.key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&reference.key))
                    .map(|s| s.clone().into_bytes())
            })
            .ok_or_else(|| {
                SecretProblem::KeyMissing(format!(
                    "Secret {namespace}/{} has no key {:?}",
                    reference.name, reference.key
                ))
            })?;
        String::from_utf8(bytes).map_err(|_| {
            SecretProblem::KeyMissing(format!(
                "Secret {namespace}/{} key {:?} is not UTF-8 text",
                reference.name, reference.key
            ))
        })
    }
}

/// Why a Secret value could not be read. Messages name the Secret and key, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretProblem {
    /// No such Secret.
    #[error("{0}")]
    NotFound(String),
    /// The Secret lacks the key.
    #[error("{0}")]
    KeyMissing(String),
    /// The API call failed.
    #[error("{0}")]
    Unreadable(String),
}

impl SecretProblem {
    /// The condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SecretProblem::NotFound(_) => "SecretNotFound",
            SecretProblem::KeyMissing(_) => "SecretKeyMissing",
            SecretProblem::Unreadable(_) => "SecretUnreadable",
        }
    }
}
