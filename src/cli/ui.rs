//! `shopsync ui`: the read-only dashboard over a state store (the SQLite file `run` and `quickstart` write, or
//! the controller's PostgreSQL state).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::core::calls::CallStore;
use crate::core::redact::Redactor;
use crate::core::state::StateStore;
use crate::state::{PostgresStateStore, SqliteStateStore};
use crate::ui::Dashboard;

/// Arguments of `shopsync ui`.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// The SQLite state file `run` or `quickstart` wrote.
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".shopsync/state.db",
        env = "SHOPSYNC_STATE"
    )]
    state: PathBuf,
    /// Read a PostgreSQL state store instead (the controller's), e.g. postgres://user@host:5432/shopsync.
    #[arg(long, value_name = "URL", env = "SHOPSYNC_STATE_URL")]
    state_url: Option<String>,
    /// The PostgreSQL schema holding the state tables, when not the default.
    #[arg(long, value_name = "SCHEMA", requires = "state_url")]
    state_schema: Option<String>,
    /// Where the dashboard is served; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Spec files or folders: the syncs' destinations, schedules and mappings are shown with their runs.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Require this file's content as a bearer token (or through the dashboard's sign-in form).
    #[arg(long, value_name = "FILE")]
    ui_token_file: Option<PathBuf>,
}

/// Serves the dashboard until Ctrl-C.
pub async fn run(args: UiArgs, redactor: &Redactor) -> anyhow::Result<ExitCode> {
    let (state, calls) = open(&args, redactor).await?;
    let mut dashboard = Dashboard::new(state, calls, redactor.clone());
    if !args.paths.is_empty() {
        let docs = super::specs::read_valid(&args.paths)?;
        let specs: Vec<_> = super::specs::find(&docs, &[], redactor)?
            .into_iter()
            .map(|f| f.config)
            .collect();
        dashboard = dashboard.with_specs(Arc::new(move || specs.clone()));
    }
    if let Some(path) = &args.ui_token_file {
        dashboard = dashboard.with_token(&crate::ui::read_token_file(path)?);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read the address from this line.
    println!("dashboard: http://{addr}/");
    crate::ui::serve(listener, dashboard.router(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("serving the dashboard")?;
    Ok(ExitCode::SUCCESS)
}

type Stores = (Arc<dyn StateStore>, Arc<dyn CallStore>);

async fn open(args: &UiArgs, redactor: &Redactor) -> anyhow::Result<Stores> {
    if let Some(url) = &args.state_url {
        redactor.add_url(url);
        let store = PostgresStateStore::connect_in_schema(url, args.state_schema.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!("{}", redactor.redact(&e.to_string())))
            .context("opening the PostgreSQL state")?;
        return Ok((Arc::new(store.clone()), Arc::new(store)));
    }
    let path: &Path = &args.state;
    if !path.exists() {
        bail!(
            "no state file at {}: run a sync (or `shopsync quickstart`) first, or point --state (or --state-url) at the state",
            path.display()
        );
    }
    let store = SqliteStateStore::open(path)
        .await
        .with_context(|| format!("opening the state file {}", path.display()))?;
    Ok((Arc::new(store.clone()), Arc::new(store)))
}
