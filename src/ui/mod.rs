//! The dashboard: a read-only web UI over a state store (`shopsync ui`, and the controller's `--ui-listen`).
//!
//! Pages, each linked from the one above it: the overview of every sync, a sync's run history, a run (counts,
//! rejected rows by reason, its calls), one call (as the debugger log holds it), every call about one primary
//! key, and a run's export. Everything it serves is embedded in the binary. Every text that comes from the
//! state passes through the redactor before it is shown, so nothing secret reaches a page.
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::core::calls::CallStore;
use crate::core::config::SyncConfig;
use crate::core::redact::Redactor;
use crate::core::state::{StateError, StateStore};

mod pages;
pub mod view;

/// The cookie the login form sets when the dashboard asks for a token.
const TOKEN_COOKIE: &str = "shopsync_ui_token";

/// The syncs' specs as the dashboard shows them (destination, target, schedule, mappings). The state store
/// only knows syncs by name; a dashboard without specs shows what the state holds.
pub type SpecSource = Arc<dyn Fn() -> Vec<SyncConfig> + Send + Sync>;

/// What the dashboard reads from, and how it guards itself.
#[derive(Clone)]
pub struct Dashboard {
    state: Arc<dyn StateStore>,
    calls: Arc<dyn CallStore>,
    specs: SpecSource,
    token: Option<Arc<[u8; 32]>>,
    redactor: Redactor,
    history: u32,
}

impl Dashboard {
    /// A dashboard over `state` and its debugger log `calls` (usually the same store), redacting with
    /// `redactor`, without specs or a token.
    pub fn new(
        state: Arc<dyn StateStore>,
        calls: Arc<dyn CallStore>,
        redactor: Redactor,
    ) -> Dashboard {
        Dashboard {
            state,
            calls,
            specs: Arc::new(Vec::new),
            token: None,
            redactor,
            history: crate::core::alerts::DEFAULT_RUN_HISTORY,
        }
    }

    /// Shows the specs `specs` returns (called on every page view).
    pub fn with_specs(mut self, specs: SpecSource) -> Dashboard {
        self.specs = specs;
        self
    }

    /// Requires `token` as a bearer token (or through the login form's cookie). The token is redacted from
    /// everything the dashboard shows.
    pub fn with_token(mut self, token: &str) -> Dashboard {
        self.redactor.add(token);
        self.token = Some(Arc::new(digest(token)));
        self
    }

    /// How many runs the sync page charts (default: the run history the runners keep).
    pub fn with_history(mut self, runs: u32) -> Dashboard {
        self.history = runs.max(1);
        self
    }

    /// The routes, assets included.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(pages::overview))
            .route("/sync", get(pages::sync))
            .route("/run", get(pages::run))
            .route("/call", get(pages::call))
            .route("/key", get(pages::key))
            .route("/export", get(pages::export))
            .route("/api/run", get(pages::run_progress))
            .route("/assets/app.css", get(pages::css))
            .route("/assets/app.js", get(pages::js))
            .route("/login", get(pages::login_form).post(pages::login))
            .route("/logout", post(pages::logout))
            .layer(middleware::from_fn_with_state(self.clone(), error_pages))
            .layer(middleware::from_fn_with_state(self.clone(), guard))
            .with_state(self)
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Reads a bearer token from a file (surrounding whitespace dropped).
pub fn read_token_file(path: &std::path::Path) -> Result<String, UiError> {
    let text = std::fs::read_to_string(path).map_err(|e| UiError::TokenFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let token = text.trim();
    if token.len() < crate::core::redact::MIN_SECRET_LEN {
        return Err(UiError::TokenFile {
            path: path.display().to_string(),
            message: format!(
                "the token must be at least {} characters",
                crate::core::redact::MIN_SECRET_LEN
            ),
        });
    }
    Ok(token.to_owned())
}

/// What a page request can fail with.
#[derive(Debug, Error)]
pub enum UiError {
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The page names something the state does not hold (any more).
    #[error("{0}")]
    NotFound(String),
    /// The token file is unusable.
    #[error("token file {path}: {message}")]
    TokenFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Digests compare in constant time whatever the length of the token offered.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Renders the error a page failed with through the dashboard's redactor.
async fn error_pages(State(d): State<Dashboard>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    match response.extensions_mut().remove::<pages::ErrorPage>() {
        Some(page) => page.render(response.status(), &d.redactor),
        None => response,
    }
}

/// The token check: an `Authorization: Bearer` header or the login cookie. Assets and the login form are open.
async fn guard(State(d): State<Dashboard>, request: Request, next: Next) -> Response {
    let Some(expected) = &d.token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path.starts_with("/assets/") || path == "/login" {
        return next.run(request).await;
    }
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
        .next();
    if bearer
        .or(cookie)
        .is_some_and(|t| same(&digest(t), expected))
    {
        return next.run(request).await;
    }
    if headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
    {
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/login")],
            "a token is required",
        )
            .into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required (--ui-token-file)",
    )
        .into_response()
}
