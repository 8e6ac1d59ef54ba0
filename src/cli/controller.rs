//! `shopsync controller`: the operator, in a cluster (or against any kubeconfig).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::controller::{self, Health, LeaseConfig, Metrics, Options, Settings};
use crate::core::calls::CallStore;
use crate::core::redact::Redactor;
use crate::core::state::StateStore;
use crate::state::{PostgresStateStore, SqliteStateStore};

/// Arguments of `shopsync controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// The state store: a `postgres://` URL (recommended in a cluster), or a SQLite file path.
    #[arg(
        long,
        value_name = "URL|FILE",
        env = "SHOPSYNC_STATE_URL",
        default_value = "/var/lib/shopsync/state.db"
    )]
    state_url: String,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "0.0.0.0:8080", env = "SHOPSYNC_METRICS_ADDR")]
    metrics_addr: SocketAddr,
    /// Watch only this namespace, so that namespaced Roles (manifests/namespaced) suffice and no Secret outside
    /// it is ever read. Default: every namespace, which needs the cluster-wide ClusterRole of manifests/base.
    #[arg(long, alias = "namespace", env = "SHOPSYNC_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Apply the CRDs at start (needs RBAC on customresourcedefinitions).
    #[arg(long)]
    install_crds: bool,
    /// Take part in leader election (turn off only for a single replica outside a Deployment).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// The Lease's namespace.
    #[arg(long, env = "POD_NAMESPACE", default_value = "shopsync-system")]
    lease_namespace: String,
    /// The Lease's name.
    #[arg(long, default_value = "shopsync-controller")]
    lease_name: String,
    /// This replica's identity in the Lease and in state-store locks (default: the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How long a Lease lasts without renewal, e.g. 15s.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    /// Syncs run at the same time.
    #[arg(long, default_value_t = 4)]
    max_concurrent_runs: u16,
    /// Requests in flight per sync run.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// How often a Ready destination is checked again, e.g. 10m.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    destination_recheck: Duration,
    /// Runs kept per sync in the state store's run history.
    #[arg(long, value_name = "N", default_value_t = crate::core::alerts::DEFAULT_RUN_HISTORY, value_parser = clap::value_parser!(u32).range(1..))]
    run_history: u32,
    /// A host (`host`, `host:port` or `*.domain`) a ShopifyDestination's `endpoint` may name besides
    /// `https://*.myshopify.com`, e.g. a proxy; repeat or separate with commas. Others are refused (SSRF).
    #[arg(
        long,
        value_name = "HOST",
        env = "SHOPSYNC_ALLOW_ENDPOINTS",
        value_delimiter = ','
    )]
    allow_endpoint: Vec<String>,
    /// A host (`host`, `host:port` or `*.domain`) alert webhooks, SMTP servers and Slack or SMS URLs may name
    /// besides hooks.slack.com and api.twilio.com; repeat or separate with commas. Others are refused (SSRF).
    #[arg(
        long,
        value_name = "HOST",
        env = "SHOPSYNC_ALLOW_ALERT_HOSTS",
        value_delimiter = ','
    )]
    allow_alert_host: Vec<String>,
    #[command(flatten)]
    debugger: super::debugger::DebuggerLogArgs,
    /// Serve the read-only dashboard (`shopsync ui`) on this address, e.g. 0.0.0.0:8090 (off by default).
    #[arg(long, value_name = "ADDR", env = "SHOPSYNC_UI_LISTEN")]
    ui_listen: Option<SocketAddr>,
    /// Require this file's content as the dashboard's bearer token (e.g. a mounted Secret).
    #[arg(long, value_name = "FILE", requires = "ui_listen")]
    ui_token_file: Option<PathBuf>,
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(args: ControllerArgs, redactor: &Redactor) -> anyhow::Result<ExitCode> {
    let identity = args.identity.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "shopsync".into()),
            std::process::id()
        )
    });
    let (state, calls) = open_state(&args.state_url, redactor).await?;
    let dashboard = match args.ui_listen {
        Some(addr) => {
            Some(open_dashboard(&args, addr, state.clone(), calls.clone(), redactor).await?)
        }
        None => None,
    };
    let recorder = args.debugger.recorder(calls, redactor);
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (in-cluster config or KUBECONFIG)")?;
    let metrics = Arc::new(Metrics::new());
    let health = Health::default();
    let listener = controller::metrics::bind(args.metrics_addr)
        .await
        .with_context(|| format!("binding the metrics address {}", args.metrics_addr))?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut rx = rx.clone();
        tokio::spawn(controller::metrics::serve(
            listener,
            metrics.clone(),
            health.clone(),
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        ))
    };
    let options = Options {
        namespace: args.watch_namespace.clone(),
        install_crds: args.install_crds,
        lease: args.leader_election.then(|| LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            identity: identity.clone(),
            duration: args.lease_duration,
            renew_every: args.lease_duration / 3,
        }),
        max_concurrent_runs: args.max_concurrent_runs.max(1),
        settings: Settings {
            concurrency: args.concurrency.max(1),
            destination_recheck: args.destination_recheck,
            holder: identity,
            run_history: args.run_history,
            egress: controller::egress::EgressPolicy {
                endpoints: args.allow_endpoint.clone(),
                alert_hosts: args.allow_alert_host.clone(),
            },
            ..Settings::default()
        },
        redactor: redactor.clone(),
    };
    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing the batches in flight");
    };
    let dashboard = dashboard.map(|(listener, router)| {
        let mut rx = rx.clone();
        tokio::spawn(crate::ui::serve(listener, router, async move {
            let _ = rx.wait_for(|s| *s).await;
        }))
    });
    let call_log = recorder.map(|r| Arc::new(r) as Arc<dyn crate::core::calls::CallLog>);
    let result = controller::run(client, state, call_log, metrics, health, options, shutdown).await;
    let _ = tx.send(true);
    let _ = server.await;
    if let Some(d) = dashboard {
        let _ = d.await;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The dashboard's listener and routes, bound before the controller starts so a bad address fails at once.
async fn open_dashboard(
    args: &ControllerArgs,
    addr: SocketAddr,
    state: Arc<dyn StateStore>,
    calls: Arc<dyn CallStore>,
    redactor: &Redactor,
) -> anyhow::Result<(tokio::net::TcpListener, axum::Router)> {
    let mut dashboard =
        crate::ui::Dashboard::new(state, calls, redactor.clone()).with_history(args.run_history);
    if let Some(path) = &args.ui_token_file {
        dashboard = dashboard.with_token(&crate::ui::read_token_file(path)?);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the dashboard address {addr} (--ui-listen)"))?;
    Ok((listener, dashboard.router()))
}

type Stores = (Arc<dyn StateStore>, Arc<dyn CallStore>);

/// The state store, and the same store as the debugger log's storage.
async fn open_state(url: &str, redactor: &Redactor) -> anyhow::Result<Stores> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        redactor.add_url(url);
        let store = PostgresStateStore::connect(url)
            .await
            .context("connecting to the PostgreSQL state store (--state-url)")?;
        return Ok((Arc::new(store.clone()), Arc::new(store)));
    }
    let path = PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = SqliteStateStore::open(&path)
        .await
        .with_context(|| format!("opening the state file {}", path.display()))?;
    Ok((Arc::new(store.clone()), Arc::new(store)))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
