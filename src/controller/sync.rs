//! ShopifySync reconcile, the act layer: observe the sync, let [`decide::sync`](super::decide::sync) decide,
//! carry the decision out (status, Events, runs through the [`SyncRunner`](crate::runner::SyncRunner),
//! requeue), look up what the decision asks for, and nothing else.
//!
//! A run happens inside the reconcile: the controller's per-object queue then guarantees one run per sync at a
//! time in this process, and the state store's lock guarantees it across processes.
use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::Error;
use super::context::{Context, MANAGER};
use super::decide::sync::{
    self as decide, Alerting, Blocked, CleanupFacts, CleanupStep, Decision, Facts, Finalizing,
    Ledger, Need, Observed, Run,
};
use super::decide::{Outcome, Requeue};
use super::status::{RECENT_RUNS, chrono_of};
use crate::alerts::{SyncAlerts, merged_settings, resolve_channels, secret_refs};
use crate::api::{
    AlertSpec, RUN_NOW_ANNOTATION, ShopifyDestination, ShopifySync, ShopifySyncStatus,
    destination_config,
};
use crate::core::config::{Schedule, SyncConfig};
use crate::core::engine::EngineError;
use crate::core::report::RunReport;
use crate::core::source::{NoRows, Warehouse};
use crate::core::state::{RunRecord, StateError};
use crate::runner::{RunError, Target};
use crate::shopify::Store;
use crate::warehouse::SqlWarehouse;

pub use super::decide::sync::next_due;

/// Finalizer held by syncs with `deletionPolicy: Delete` until what they created is deleted.
pub const FINALIZER: &str = "shopsync.dev/cleanup";
/// The kind, for metrics and logs.
pub const KIND: &str = "ShopifySync";

/// Reconciles one ShopifySync.
pub async fn reconcile(sync: Arc<ShopifySync>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled(KIND);
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let key = format!("{KIND}/{ns}/{}", sync.name_any());
    let api: Api<ShopifySync> = Api::namespaced(ctx.client.clone(), &ns);
    let has = sync.finalizers().iter().any(|f| f == FINALIZER);
    let deleting = sync.metadata.deletion_timestamp.is_some();
    let action = match decide::finalizing(&sync.spec, has, deleting) {
        Finalizing::Release => {
            let rest: Vec<&String> = sync
                .finalizers()
                .iter()
                .filter(|f| *f != FINALIZER)
                .collect();
            let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": sync.resource_version()}});
            api.patch(
                &sync.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
            return Ok(Action::await_change());
        }
        Finalizing::Guarded => {
            let c = ctx.clone();
            finalizer(&api, FINALIZER, sync, |event| async move {
                match event {
                    Finalizer::Apply(s) => apply(&s, &c).await,
                    Finalizer::Cleanup(s) => cleanup(&s, &c).await,
                }
            })
            .await
            .map_err(|e| Error::Finalizer(Box::new(e)))?
        }
        Finalizing::Plain => apply(&sync, &ctx).await?,
    };
    ctx.succeeded(&key);
    Ok(action)
}

/// Everything a run needs that comes from outside the sync's own spec.
#[derive(Clone)]
struct Resolved {
    store: Store,
    store_key: String,
    warehouse_url: String,
    /// The destination's alert defaults.
    dest_alerts: Option<AlertSpec>,
}

/// The observation of `sync` that decisions are made on.
fn observe<'a>(
    ctx: &Context,
    sync: &'a ShopifySync,
    id: &'a str,
    status: &'a ShopifySyncStatus,
    destination_alerts: Option<&'a AlertSpec>,
    now: DateTime<Utc>,
) -> Observed<'a> {
    Observed {
        id,
        spec: &sync.spec,
        status,
        generation: sync.metadata.generation,
        trigger: sync
            .annotations()
            .get(RUN_NOW_ANNOTATION)
            .map(String::as_str),
        now,
        retry_after: ctx.settings.retry_after,
        alerting: ctx.notifier.is_some(),
        destination_alerts,
    }
}

/// Observes, decides, looks up what the decision asks for and decides again, until it settles (carried out
/// here) or runs.
async fn apply(sync: &ShopifySync, ctx: &Context) -> Result<Action, Error> {
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let name = sync.name_any();
    let id = format!("{ns}/{name}");
    let mut object = Cow::Borrowed(sync);
    let mut now = Utc::now();
    let mut facts: Facts<Resolved> = Facts::default();
    loop {
        let sync = object.as_ref();
        let prev = sync.status.clone().unwrap_or_default();
        let dest_alerts = cached_destination_alerts(ctx, sync, &ns);
        let obs = observe(ctx, sync, &id, &prev, dest_alerts.as_ref(), now);
        match decide::decide(&obs, &facts) {
            Decision::Observe(Need::Fresh) => {
                let api: Api<ShopifySync> = Api::namespaced(ctx.client.clone(), &ns);
                let fresh = api.get(&name).await?;
                facts.confirmed = true;
                if fresh.resource_version() != sync.resource_version() {
                    // Another object: decided on afresh.
                    object = Cow::Owned(fresh);
                    now = Utc::now();
                    facts = Facts {
                        confirmed: true,
                        ..Facts::default()
                    };
                }
            }
            Decision::Observe(Need::Dependencies) => {
                facts.dependencies = Some(super::order::gate(ctx, sync, &ns).await?);
            }
            Decision::Observe(Need::Ledger) => {
                facts.ledger = Some(match ctx.state.runs(&id, 1).await {
                    Ok(runs) if runs.is_empty() => Ledger::Lost,
                    Ok(_) => Ledger::Kept,
                    Err(_) => Ledger::Unreadable,
                });
            }
            Decision::Observe(Need::Destination) => {
                facts.destination = Some(resolve(sync, &ns, ctx).await);
            }
            Decision::Observe(Need::LateAlerts { schedule }) => {
                let late =
                    late_alerts(ctx, sync, &ns, &id, &schedule, dest_alerts.as_ref(), now).await;
                facts.late = Some(late);
            }
            Decision::Settle(outcome) => {
                return Ok(carry_out(ctx, sync, *outcome).await?.action(now));
            }
            Decision::Run(run) => return run_and_report(ctx, sync, &ns, &obs, *run).await,
        }
    }
}

/// Publishes what alerting did, writes the status, publishes the Events about it; returns the requeue.
async fn carry_out(
    ctx: &Context,
    sync: &ShopifySync,
    outcome: Outcome<ShopifySyncStatus>,
) -> Result<Requeue, Error> {
    for note in &outcome.alert_notes {
        ctx.event(sync, note.event()).await;
    }
    if let Some(status) = &outcome.status {
        patch_status(ctx, sync, status).await?;
    }
    for note in &outcome.notes {
        ctx.event(sync, note.event()).await;
    }
    Ok(outcome.requeue)
}

/// Says the run is in progress, runs it, records and alerts on it, then reports it as [`decide::finished`]
/// says.
async fn run_and_report(
    ctx: &Context,
    sync: &ShopifySync,
    ns: &str,
    obs: &Observed<'_>,
    start: Run<Resolved>,
) -> Result<Action, Error> {
    let Run {
        config,
        running,
        write,
        destination: resolved,
    } = start;
    let id = obs.id;
    if write {
        patch_status(ctx, sync, &running).await?;
    }
    let report = match run(ctx, &config, &resolved).await {
        Ok(r) => r,
        Err(Error::Engine(EngineError::State(StateError::LockHeld { holder, .. }))) => {
            tracing::info!(sync = %id, %holder, "another holder is running this sync; retrying later");
            return Ok(decide::lock_held(obs).action(obs.now));
        }
        Err(e) => {
            let report = RunReport::failed(
                id,
                obs.now,
                Utc::now(),
                ctx.redactor.redact_owned(e.to_string()),
            );
            record_failed_run(ctx, &report).await;
            report
        }
    };
    ctx.metrics.run_finished(&report, config.target.name());
    crate::alerts::prune_history(ctx.state.as_ref(), id, ctx.settings.run_history).await;
    let alerts = sync_alerts(
        sync,
        ns,
        id,
        &config.schedule,
        resolved.dest_alerts.as_ref(),
        ctx,
    )
    .await;
    let alerting = match (alerts, &ctx.notifier) {
        (Ok(Some(a)), Some(notifier)) => {
            Alerting::Evaluated(notifier.after_run(ctx.state.as_ref(), &a, &report).await)
        }
        (Ok(_), _) => Alerting::Off,
        (Err(message), _) => Alerting::Unavailable(message),
    };
    count_deliveries(ctx, &alerting);
    let budget = ctx.budget(&resolved.store_key);
    ctx.metrics
        .store_spent(&resolved.store_key, budget.spent(), budget.throttles());
    let history = match ctx
        .state
        .runs(id, u32::try_from(RECENT_RUNS + 1).unwrap_or(u32::MAX))
        .await
    {
        Ok(history) => Some(history),
        Err(e) => {
            tracing::warn!(sync = %id, error = %e, "cannot read the run history; status keeps its own");
            None
        }
    };
    let outcome = decide::finished(
        obs,
        &config,
        &running,
        &report,
        history.as_deref(),
        &alerting,
    );
    let requeue = carry_out(ctx, sync, outcome).await?;
    Ok(requeue.action(Utc::now()))
}

async fn resolve(sync: &ShopifySync, ns: &str, ctx: &Context) -> Result<Resolved, Blocked> {
    let dest_name = &sync.spec.destination_ref.name;
    let dests: Api<ShopifyDestination> = Api::namespaced(ctx.client.clone(), ns);
    let dest = match dests.get_opt(dest_name).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(Blocked {
                reason: "DestinationNotFound",
                message: format!("ShopifyDestination {ns}/{dest_name} not found"),
            });
        }
        Err(e) => {
            return Err(Blocked {
                reason: "DestinationUnreadable",
                message: format!("ShopifyDestination {ns}/{dest_name}: {e}"),
            });
        }
    };
    let version = destination_config(&dest.spec).map_err(|e| Blocked {
        reason: "DestinationInvalid",
        message: format!("ShopifyDestination {ns}/{dest_name}: {e}"),
    })?;
    if let Some(endpoint) = &dest.spec.endpoint {
        ctx.settings
            .egress
            .check_endpoint(endpoint)
            .map_err(|m| Blocked {
                reason: "EndpointNotAllowed",
                message: format!("ShopifyDestination {ns}/{dest_name}: {m}"),
            })?;
    }
    let token = ctx
        .secret_value(ns, &dest.spec.credentials.access_token_secret_ref)
        .await
        .map_err(|p| Blocked {
            reason: p.reason(),
            message: format!("destination {dest_name}: {p}"),
        })?;
    let warehouse_url = match (&sync.spec.source.url, &sync.spec.source.url_secret_ref) {
        (Some(url), _) => url.clone(),
        (None, Some(r)) => {
            let url = ctx.secret_value(ns, r).await.map_err(|p| Blocked {
                reason: p.reason(),
                message: format!("source: {p}"),
            })?;
            ctx.redactor.add_url(&url);
            url
        }
        (None, None) => {
            return Err(Blocked {
                reason: "InvalidSpec",
                message: "source has neither url nor urlSecretRef".into(),
            });
        }
    };
    let base_url = dest
        .spec
        .endpoint
        .clone()
        .unwrap_or_else(|| Store::default_base_url(&dest.spec.store));
    let store_key = format!("{base_url}|{}", dest.spec.store);
    Ok(Resolved {
        store: Store {
            base_url,
            version,
            token,
        },
        store_key,
        warehouse_url,
        dest_alerts: dest.spec.alerts.clone(),
    })
}

/// Records in the run history a run that failed before the engine could start it (so the history, and the
/// status built from it, show every run); best effort.
async fn record_failed_run(ctx: &Context, report: &RunReport) {
    let record = async {
        let id = ctx.state.start_run(&report.sync, report.started_at).await?;
        ctx.state
            .finish_run(&RunRecord {
                id,
                sync: report.sync.clone(),
                started_at: report.started_at,
                finished_at: Some(report.finished_at),
                status: report.status,
                stats: report.stats,
                error: report.error.clone(),
            })
            .await
    };
    if let Err(e) = record.await {
        tracing::warn!(sync = %report.sync, error = %e, "cannot record the failed run in the run history");
    }
}

/// The alerting of a sync: its `alerts` over its destination's (`dest_alerts`), channel Secrets resolved.
/// `Ok(None)`: neither sets alerts.
async fn sync_alerts(
    sync: &ShopifySync,
    ns: &str,
    id: &str,
    schedule: &Schedule,
    dest_alerts: Option<&AlertSpec>,
    ctx: &Context,
) -> Result<Option<SyncAlerts>, String> {
    let Some(settings) = merged_settings(dest_alerts, sync.spec.alerts.as_ref())? else {
        return Ok(None);
    };
    let mut values = std::collections::BTreeMap::new();
    for r in secret_refs(settings.channels()) {
        let v = ctx
            .secret_value(ns, &r)
            .await
            .map_err(|p| format!("alerts: {p}"))?;
        values.insert((r.name.clone(), r.key.clone()), v);
    }
    let channels = resolve_channels(settings.channels(), &values)?;
    ctx.settings.egress.check_alerts(&channels)?;
    Ok(Some(SyncAlerts {
        sync: id.to_string(),
        policy: settings.policy(),
        channels,
        schedule: schedule.clone(),
        // A sync that never succeeded is late measured from its creation.
        since: sync
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or_else(Utc::now, chrono_of),
    }))
}

/// The destination's alert defaults, from the watch cache: reading them costs no API call on every requeue.
fn cached_destination_alerts(ctx: &Context, sync: &ShopifySync, ns: &str) -> Option<AlertSpec> {
    let cache = ctx.destinations.as_ref()?;
    let key = kube::runtime::reflector::ObjectRef::new(&sync.spec.destination_ref.name).within(ns);
    cache.get(&key).and_then(|d| d.spec.alerts.clone())
}

/// Evaluates the late rule between runs (delivering what it notifies).
async fn late_alerts(
    ctx: &Context,
    sync: &ShopifySync,
    ns: &str,
    id: &str,
    schedule: &Schedule,
    dest_alerts: Option<&AlertSpec>,
    now: DateTime<Utc>,
) -> Alerting {
    let Some(notifier) = &ctx.notifier else {
        return Alerting::Off;
    };
    let alerting = match sync_alerts(sync, ns, id, schedule, dest_alerts, ctx).await {
        Ok(Some(a)) => Alerting::Evaluated(notifier.check_late(ctx.state.as_ref(), &a, now).await),
        Ok(None) => Alerting::Off,
        Err(message) => Alerting::Unavailable(message),
    };
    count_deliveries(ctx, &alerting);
    alerting
}

/// Metrics of the deliveries an alert evaluation made.
fn count_deliveries(ctx: &Context, alerting: &Alerting) {
    if let Alerting::Evaluated(outcome) = alerting {
        for d in &outcome.deliveries {
            ctx.metrics.alert_delivered(d.channel, d.error.is_none());
        }
    }
}

async fn run(ctx: &Context, config: &SyncConfig, resolved: &Resolved) -> Result<RunReport, Error> {
    let warehouse = SqlWarehouse::from_url(&config.id, &resolved.warehouse_url)
        .map_err(|e| Error::Engine(EngineError::Warehouse(e)))?;
    execute(ctx, config, resolved, &warehouse).await
}

async fn execute(
    ctx: &Context,
    config: &SyncConfig,
    resolved: &Resolved,
    warehouse: &dyn Warehouse,
) -> Result<RunReport, Error> {
    let target = Target {
        store: &resolved.store,
        store_key: &resolved.store_key,
    };
    match ctx.runner.run(config, target, warehouse).await {
        Ok(report) => Ok(report),
        Err(RunError::Engine(e)) => Err(Error::Engine(e)),
        Err(e) => Err(Error::Shopify(e.to_string())),
    }
}

/// `deletionPolicy: Delete`: runs the cleanup [`decide::cleanup`] decides (what the sync created deleted under
/// the delete guard); the finalizer stays (the reconcile fails) while it is blocked.
async fn cleanup(sync: &ShopifySync, ctx: &Context) -> Result<Action, Error> {
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let id = format!("{ns}/{}", sync.name_any());
    let prev = sync.status.clone().unwrap_or_default();
    let obs = observe(ctx, sync, &id, &prev, None, Utc::now());
    let mut facts: CleanupFacts<Resolved> = CleanupFacts::default();
    loop {
        match decide::cleanup(&obs, &facts) {
            CleanupStep::Resolve => facts.destination = Some(resolve(sync, &ns, ctx).await),
            CleanupStep::Run(config, resolved) => {
                let ran = execute(ctx, &config, &resolved, &NoRows).await;
                facts.ran = Some(ran.map_err(|e| e.to_string()));
            }
            CleanupStep::Done(done) => {
                if let Some(status) = &done.status {
                    patch_status(ctx, sync, status).await?;
                }
                for note in &done.notes {
                    ctx.event(sync, note.event()).await;
                }
                return match done.blocked {
                    Some(message) => Err(Error::CleanupBlocked(message)),
                    None => Ok(Action::await_change()),
                };
            }
        }
    }
}

/// Writes `status` through the status subresource with server-side apply.
async fn patch_status(
    ctx: &Context,
    sync: &ShopifySync,
    status: &ShopifySyncStatus,
) -> Result<(), Error> {
    let ns = sync.namespace().ok_or(Error::NotNamespaced)?;
    let api: Api<ShopifySync> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": KIND,
        "status": status,
    });
    api.patch_status(
        &sync.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics.status_written(KIND);
    Ok(())
}
