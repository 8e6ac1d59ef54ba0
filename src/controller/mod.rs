//! The Kubernetes operator: kube-rs Controllers for ShopifySync (runs on schedule, status, events, the
//! `deletionPolicy` finalizer) and ShopifyDestination (token and scope checks), leader election on a Lease,
//! Prometheus metrics and health endpoints, graceful shutdown.
//!
//! The sync engine is the same one `shopsync run` drives ([`crate::core::engine`]); this module only decides
//! when to run it and reports what it did on the resources.
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store as Cache};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Client, ResourceExt};

use crate::api::{ShopifyDestination, ShopifySync, crds};
use crate::core::engine::EngineError;
use crate::core::state::StateStore;

pub mod context;
pub mod decide;
pub mod destination;
pub mod egress;
pub mod leader;
pub mod metrics;
pub mod order;
pub mod status;
pub mod sync;

pub use context::{Context, MANAGER, Settings};
pub use leader::LeaseConfig;
pub use metrics::{Health, Metrics};

/// Why a reconcile failed (the controller retries with per-object exponential backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a call.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Adding or removing the finalizer failed, or the cleanup behind it did.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// A run could not start or finish.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The Shopify client could not be built.
    #[error("Shopify client: {0}")]
    Shopify(String),
    /// `deletionPolicy: Delete` cannot delete yet; the status says why.
    #[error("cleanup blocked: {0}")]
    CleanupBlocked(String),
    /// The object has no namespace (both kinds are namespaced; the apiserver never sends one without).
    #[error("the object has no namespace")]
    NotNamespaced,
}

impl Error {
    /// A fixed word for the `reason` label of the reconcile error metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "Conflict",
            Error::Kube(_) => "KubeApi",
            Error::Finalizer(f) => match f.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => "Finalizer",
            },
            Error::Engine(_) => "Engine",
            Error::Shopify(_) => "Shopify",
            Error::CleanupBlocked(_) => "CleanupBlocked",
            Error::NotNamespaced => "NotNamespaced",
        }
    }
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Watch only this namespace (all namespaces when `None`).
    pub namespace: Option<String>,
    /// Apply the CRDs at start (server-side apply) and wait until they are established.
    pub install_crds: bool,
    /// Take this Lease before reconciling anything (`None`: no leader election, for a single replica).
    pub lease: Option<LeaseConfig>,
    /// Syncs reconciled (and so run) at the same time.
    pub max_concurrent_runs: u16,
    /// Reconciler settings.
    pub settings: Settings,
    /// The process's redactor (shared with the log writer): Secret values read are added to it.
    pub redactor: crate::core::redact::Redactor,
}

/// Applies both CRDs with server-side apply and waits until the apiserver serves them.
pub async fn install_crds(client: &Client) -> Result<(), kube::Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await?;
        let established = kube::runtime::wait::await_condition(
            api.clone(),
            &name,
            kube::runtime::wait::conditions::is_crd_established(),
        );
        match tokio::time::timeout(Duration::from_secs(60), established).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(crd = %name, error = %e, "cannot watch the CRD's condition")
            }
            Err(_) => tracing::warn!(crd = %name, "the CRD is not established after 60s"),
        }
    }
    Ok(())
}

/// Runs both controllers until `shutdown` resolves (then finishes the batches in flight, saves state, gives
/// the Lease up) or the Lease is lost (then stops and returns an error, so that the pod restarts as standby).
pub async fn run(
    client: Client,
    state: Arc<dyn StateStore>,
    call_log: Option<Arc<dyn crate::core::calls::CallLog>>,
    metrics: Arc<Metrics>,
    health: Health,
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    if options.install_crds {
        install_crds(&client).await.map_err(RunError::Crds)?;
    }
    let lease_api = options.lease.as_ref().map(|l| {
        (
            Api::<Lease>::namespaced(client.clone(), &l.namespace),
            l.clone(),
        )
    });
    // Ready as soon as the process can serve: a standby replica is ready too (it is doing its job: waiting).
    health.set_ready(true);
    if let Some((api, cfg)) = &lease_api {
        let mut stop = stop_rx.clone();
        tokio::select! {
            r = leader::acquire(api, cfg) => r.map_err(RunError::Lease)?,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
    let (syncs, dests, secrets) = match &options.namespace {
        Some(ns) => (
            Api::<ShopifySync>::namespaced(client.clone(), ns),
            Api::<ShopifyDestination>::namespaced(client.clone(), ns),
            Api::<PartialObjectMeta<Secret>>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::<ShopifySync>::all(client.clone()),
            Api::<ShopifyDestination>::all(client.clone()),
            Api::<PartialObjectMeta<Secret>>::all(client.clone()),
        ),
    };
    let wc = watcher::Config::default();
    let sync_ctl = Controller::new(syncs.clone(), wc.clone())
        .with_config(ControllerConfig::default().concurrency(options.max_concurrent_runs));
    let dest_ctl = Controller::new(dests.clone(), wc.clone())
        .with_config(ControllerConfig::default().concurrency(4));
    let sync_cache = sync_ctl.store();
    let dest_cache = dest_ctl.store();
    let mut ctx = Context::new(
        client.clone(),
        state,
        metrics,
        options.settings.clone(),
        options.redactor.clone(),
    )
    .with_call_log(call_log);
    ctx.syncs = Some(sync_cache.clone());
    ctx.destinations = Some(dest_cache.clone());
    let ctx = Arc::new(ctx);

    // A destination's spec change re-runs the syncs that write to it.
    let by_destination = {
        let cache = sync_cache.clone();
        move |d: ShopifyDestination| syncs_writing_to(&cache, &d)
    };
    // A Secret change (token rotation, a new warehouse URL) reaches whoever refers to it. Only metadata is
    // watched: the controller never holds every Secret of the cluster in memory.
    let secret_for_syncs = {
        let (syncs, dests) = (sync_cache.clone(), dest_cache.clone());
        move |s: PartialObjectMeta<Secret>| syncs_using_secret(&syncs, &dests, &s)
    };
    let secret_for_dests = {
        let dests = dest_cache.clone();
        move |s: PartialObjectMeta<Secret>| destinations_using_secret(&dests, &s)
    };
    let secret_stream = || {
        watcher(secrets.clone(), wc.clone())
            .touched_objects()
            .predicate_filter(predicates::resource_version, Default::default())
    };
    let generations = |api: Api<ShopifySync>| {
        watcher(api, wc.clone())
            .touched_objects()
            .predicate_filter(predicates::generation, Default::default())
    };
    let stop_signal = |rx: tokio::sync::watch::Receiver<bool>| async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    };

    let sync_run = sync_ctl
        .watches_stream(
            watcher(dests.clone(), wc.clone())
                .touched_objects()
                .predicate_filter(predicates::generation, Default::default()),
            by_destination,
        )
        .watches_stream(secret_stream(), secret_for_syncs)
        .graceful_shutdown_on(stop_signal(stop_rx.clone()))
        .run(sync::reconcile, error_policy(sync::KIND), ctx.clone())
        .for_each(|r| async move { log_result(sync::KIND, r) });
    let dest_run = dest_ctl
        // A sync's spec change can change the scopes its destination needs.
        .watches_stream(generations(syncs.clone()), |s: ShopifySync| {
            s.namespace()
                .map(|ns| ObjectRef::new(&s.spec.destination_ref.name).within(&ns))
        })
        .watches_stream(secret_stream(), secret_for_dests)
        .graceful_shutdown_on(stop_signal(stop_rx.clone()))
        .run(
            destination::reconcile,
            error_policy(destination::KIND),
            ctx.clone(),
        )
        .for_each(|r| async move { log_result(destination::KIND, r) });

    // Runs stop between batches as soon as shutdown starts; the controllers then wait for the reconciles in
    // flight, which record what their last batch did.
    let stopping = ctx.stopping.clone();
    let mut stop = stop_rx.clone();
    tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        stopping.store(true, Ordering::Relaxed);
    });
    let controllers = async {
        tokio::join!(sync_run, dest_run);
    };
    let lost = async {
        match &lease_api {
            Some((api, cfg)) => Some(leader::hold(api, cfg).await),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = controllers => {}
        reason = lost => {
            ctx.stopping.store(true, Ordering::Relaxed);
            return Err(RunError::LostLease(reason.unwrap_or_default()));
        }
    }
    if let Some((api, cfg)) = &lease_api
        && let Err(e) = leader::release(api, cfg).await
    {
        tracing::warn!(error = %e, "cannot give the lease up; a standby takes over when it expires");
    }
    Ok(())
}

/// Why the controller stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The CRDs could not be applied.
    #[error("applying the CRDs: {0}")]
    Crds(#[source] kube::Error),
    /// The Lease could not be read or taken.
    #[error("leader election: {0}")]
    Lease(#[source] kube::Error),
    /// Another replica took the Lease, or it could not be renewed.
    #[error("lost leadership: {0}")]
    LostLease(String),
}

fn error_policy<K>(kind: &'static str) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action
where
    K: kube::Resource,
{
    move |obj, error, ctx| {
        ctx.metrics.reconcile_failed(kind, error.reason());
        let key = format!(
            "{kind}/{}/{}",
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default()
        );
        let failures = ctx.failed(&key);
        // 5s, 10s, 20s ... up to 5 minutes: a broken object never spins, a flaky API recovers fast.
        let delay = Duration::from_secs(5)
            .saturating_mul(1 << failures.saturating_sub(1).min(6))
            .min(Duration::from_secs(300));
        tracing::warn!(%key, error = %error, retry_in = ?delay, "reconcile failed");
        Action::requeue(delay)
    }
}

fn log_result<K, E>(kind: &str, result: Result<(ObjectRef<K>, Action), E>)
where
    K: kube::Resource,
    E: std::fmt::Display,
{
    match result {
        Ok((obj, action)) => tracing::debug!(kind, object = %obj, ?action, "reconciled"),
        Err(e) => tracing::debug!(kind, error = %e, "controller"),
    }
}

fn syncs_writing_to(
    cache: &Cache<ShopifySync>,
    d: &ShopifyDestination,
) -> Vec<ObjectRef<ShopifySync>> {
    let ns = d.namespace();
    let name = d.name_any();
    cache
        .state()
        .iter()
        .filter(|s| s.namespace() == ns && s.spec.destination_ref.name == name)
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn syncs_using_secret(
    syncs: &Cache<ShopifySync>,
    dests: &Cache<ShopifyDestination>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<ShopifySync>> {
    let ns = secret.namespace();
    let name = secret.name_any();
    let token_of: Vec<String> = dests
        .state()
        .iter()
        .filter(|d| d.namespace() == ns && d.spec.credentials.access_token_secret_ref.name == name)
        .map(|d| d.name_any())
        .collect();
    syncs
        .state()
        .iter()
        .filter(|s| {
            s.namespace() == ns
                && (s
                    .spec
                    .source
                    .url_secret_ref
                    .as_ref()
                    .is_some_and(|r| r.name == name)
                    || token_of.contains(&s.spec.destination_ref.name))
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn destinations_using_secret(
    dests: &Cache<ShopifyDestination>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<ShopifyDestination>> {
    let ns = secret.namespace();
    let name = secret.name_any();
    dests
        .state()
        .iter()
        .filter(|d| d.namespace() == ns && d.spec.credentials.access_token_secret_ref.name == name)
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}
