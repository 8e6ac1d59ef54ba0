//! HTTP server: routing, authentication, shop status, versions and fault injection.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::clock::{Clock, SystemClock};
use super::config::{EmulatorConfig, Plan};
use super::error::EmulatorError;
use super::seed::Fixture;
use super::store::{Shared, ShopStatus, State};
use crate::core::config::ApiVersion;

/// Entry point: `Emulator::builder()...start_on_loopback().await`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with Standard plan, token `shpat_emulator`, shop `emulator.myshopify.com`.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            config: EmulatorConfig::default(),
            clock: None,
            seed: None,
        }
    }
}

/// Configures an emulator before it starts.
#[derive(Debug)]
pub struct EmulatorBuilder {
    config: EmulatorConfig,
    clock: Option<Arc<dyn Clock>>,
    seed: Option<Fixture>,
}

impl EmulatorBuilder {
    /// Rate-limit plan.
    pub fn plan(mut self, plan: Plan) -> Self {
        self.config.plan = plan;
        self
    }
    /// Access token clients must present.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.token = token.into();
        self
    }
    /// Shop domain (`x.myshopify.com`).
    pub fn shop(mut self, domain: impl Into<String>) -> Self {
        self.config.shop_domain = domain.into();
        self
    }
    /// Turns bucket charging on or off.
    pub fn throttling(mut self, on: bool) -> Self {
        self.config.throttling = on;
        self
    }
    /// Injects a clock (tests use [`super::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Seeds the shop (and the state `reset` returns to).
    pub fn seed(mut self, fixture: Fixture) -> Self {
        self.seed = Some(fixture);
        self
    }

    /// Starts on a random 127.0.0.1 port.
    pub async fn start_on_loopback(self) -> Result<RunningEmulator, EmulatorError> {
        self.start(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts listening on `addr`.
    pub async fn start(self, addr: SocketAddr) -> Result<RunningEmulator, EmulatorError> {
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::default()));
        let mut state = State::new();
        if let Some(f) = &self.seed {
            state = f.build(clock.now())?;
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        state.base_url = format!("http://{local}");
        state.plan_name = self.config.plan.display_name().to_string();
        let shared = Arc::new(Shared::new(self.config, clock, state));
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            serve.await
        });
        Ok(RunningEmulator {
            addr: local,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A started emulator; dropping it stops the server.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The GraphQL endpoint for `version`.
    pub fn graphql_url(&self, version: ApiVersion) -> String {
        format!(
            "{}/admin/api/{}/graphql.json",
            self.base_url(),
            version.as_str()
        )
    }
    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The shop domain.
    pub fn shop_domain(&self) -> &str {
        &self.shared.config.shop_domain
    }
    /// The access token.
    pub fn token(&self) -> &str {
        &self.shared.config.token
    }
    /// Mutations that changed state since start or reset.
    pub fn write_count(&self) -> u64 {
        self.shared.lock().writes
    }
    /// GraphQL points the shop charged since start or the last plan change, answers lost on the way included:
    /// the shop's side of a rate-limit efficiency, which a client's own tally undercounts under faults.
    pub fn points_charged(&self) -> f64 {
        self.shared.lock().bucket.charged()
    }
    /// A JSON dump of the shop's state.
    pub fn dump(&self) -> Value {
        serde_json::to_value(&self.shared.lock().state).unwrap_or(Value::Null)
    }
    /// Shared internals (for in-process controls).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(r) => r?,
                Err(e) => return Err(EmulatorError::Io(std::io::Error::other(e.to_string()))),
            }
        }
        Ok(())
    }
    /// Serves until the process is stopped.
    pub async fn wait(mut self) -> Result<(), EmulatorError> {
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(r) => r?,
                Err(e) => return Err(EmulatorError::Io(std::io::Error::other(e.to_string()))),
            }
        }
        Ok(())
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The full router: Admin API plus `/__emulator/` controls.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/admin/api/{version}/graphql.json", post(graphql))
        .merge(super::rest::router())
        // Only the Admin API (GraphQL and REST) loses answers; the test controls never do.
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            faults_after_apply,
        ))
        .merge(super::controls::router())
        .merge(super::bulk::router())
        .fallback(|| async { json_response(404, json!({"errors": "Not Found"})) })
        .with_state(shared)
}

/// A JSON response with Shopify's usual headers.
pub fn json_response(status: u16, body: Value) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// Resolves the URL version: supported ones as-is, older well-formed ones fall forward to the oldest supported.
pub fn resolve_version(v: &str) -> Option<ApiVersion> {
    if let Some(v) = ApiVersion::parse(v) {
        return Some(v);
    }
    let (y, m) = v.split_once('-')?;
    let (y, m): (u32, u32) = (y.parse().ok()?, m.parse().ok()?);
    if y.to_string().len() != 4 || ![1, 4, 7, 10].contains(&m) {
        return None;
    }
    let oldest = ApiVersion::ALL[0];
    (v < oldest.as_str()).then_some(oldest)
}

/// Fault injection shared by GraphQL and REST: `Some(response)` when the request must fail.
/// `fields`: the request's GraphQL root fields (`None` for REST), for faults aimed at some operations.
pub async fn inject_faults(shared: &Shared, fields: Option<&[String]>) -> Option<Response> {
    let faults = shared.lock().faults.clone();
    if !faults.strike(fields) {
        return None;
    }
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.drop_rate > 0.0 && rand::random::<f64>() < faults.drop_rate {
        return Some(dropped_connection());
    }
    if faults.error_rate > 0.0 && rand::random::<f64>() < faults.error_rate {
        return Some(json_response(503, json!({"errors": "Service Unavailable"})));
    }
    None
}

/// Headers go out, then the body stream fails: the client sees the connection die mid-answer.
fn dropped_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("fault injection: connection dropped"))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp
}

/// Faults that strike once a request was executed (`drop_after_apply_rate`, `timeout_after_apply_ms`): the
/// store has changed, but the answer is lost or comes after the client gave up. Only successful answers are
/// affected, so a refused request (bad token, 5xx, throttled) stays a refusal.
async fn faults_after_apply(
    AxState(shared): AxState<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let faults = shared.lock().faults.clone();
    // Faults aimed at some operations need the GraphQL document: the body is read, then handed on.
    let (request, fields) = if faults.operations.is_empty() {
        (request, None)
    } else if request.uri().path().ends_with("/graphql.json") {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, super::bulk::MAX_FILE).await else {
            return json_response(413, json!({"errors": "Request body too large"}));
        };
        let fields = root_fields(&bytes);
        (
            axum::extract::Request::from_parts(parts, Body::from(bytes)),
            Some(fields),
        )
    } else {
        (request, None)
    };
    let resp = next.run(request).await;
    if !resp.status().is_success() || !faults.strike(fields.as_deref()) {
        return resp;
    }
    if faults.drop_after_apply_rate > 0.0 && rand::random::<f64>() < faults.drop_after_apply_rate {
        return dropped_connection();
    }
    if faults.timeout_after_apply_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.timeout_after_apply_ms)).await;
    }
    resp
}

/// The root field names of a GraphQL request body's operations (JSON, or the bare document); none when it
/// cannot be read.
fn root_fields(body: &[u8]) -> Vec<String> {
    let query = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v.get("query").and_then(Value::as_str).map(str::to_string),
        Err(_) => std::str::from_utf8(body).ok().map(str::to_string),
    };
    let Some(query) = query else {
        return Vec::new();
    };
    let Ok(doc) = apollo_compiler::ast::Document::parse(query, "request.graphql") else {
        return Vec::new();
    };
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            apollo_compiler::ast::Definition::OperationDefinition(op) => Some(op),
            _ => None,
        })
        .flat_map(|op| op.selection_set.iter())
        .filter_map(|s| match s {
            apollo_compiler::ast::Selection::Field(f) => Some(f.name.to_string()),
            _ => None,
        })
        .collect()
}

/// Checks host, token and shop status; `Err(response)` when the request is refused.
pub fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if let Some(host) = headers.get("host").and_then(|h| h.to_str().ok()) {
        let host = host.split(':').next().unwrap_or(host);
        if host.ends_with(".myshopify.com") && host != shared.config.shop_domain {
            return Err(Box::new(json_response(404, json!({"errors": "Not Found"}))));
        }
    }
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|h| h.to_str().ok());
    if token != Some(shared.config.token.as_str()) {
        return Err(Box::new(json_response(
            401,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        )));
    }
    match shared.lock().status {
        ShopStatus::Active => Ok(()),
        ShopStatus::Locked => Err(Box::new(json_response(
            423,
            json!({"errors": "This shop is unavailable"}),
        ))),
        ShopStatus::Frozen => Err(Box::new(json_response(
            402,
            json!({"errors": "Unavailable Shop"}),
        ))),
    }
}

async fn graphql(
    AxState(shared): AxState<Arc<Shared>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(api) = resolve_version(&version) else {
        return json_response(404, json!({"errors": "Not Found"}));
    };
    // Parsed only for faults aimed at some operations.
    let aimed = !shared.lock().faults.operations.is_empty();
    let fields = if aimed {
        root_fields(&body)
    } else {
        Vec::new()
    };
    if let Some(resp) = inject_faults(&shared, Some(&fields)).await {
        return resp;
    }
    if let Err(resp) = gate(&shared, &headers) {
        return *resp;
    }
    let is_graphql_ct = headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/graphql"));
    let answer = if is_graphql_ct {
        let wrapped = json!({"query": String::from_utf8_lossy(&body)}).to_string();
        super::graphql::execute(&shared, api, wrapped.as_bytes())
    } else {
        super::graphql::execute(&shared, api, &body)
    };
    super::bulk::spawn_pending(&shared);
    let mut resp = json_response(answer.status, answer.body);
    if let Ok(v) = HeaderValue::from_str(api.as_str()) {
        resp.headers_mut().insert("x-shopify-api-version", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_fall_forward_or_404() {
        assert_eq!(resolve_version("2026-04"), Some(ApiVersion::V2026_04));
        assert_eq!(resolve_version("2025-01"), Some(ApiVersion::V2026_01));
        assert_eq!(resolve_version("2027-01"), None);
        assert_eq!(resolve_version("foo"), None);
        assert_eq!(resolve_version("2025-02"), None);
    }
}
