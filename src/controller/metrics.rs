//! Prometheus metrics, and the HTTP server for `/metrics`, `/healthz` and `/readyz`.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::core::report::RunReport;
use crate::core::state::RunStatus;

/// Labels of per-sync counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SyncOutcome {
    /// `namespace/name`.
    pub sync: String,
    /// How the run or the row ended.
    pub outcome: String,
}

/// Labels of per-store counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StoreLabel {
    /// The store's domain.
    pub store: String,
}

/// Labels of reconcile counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindReason {
    /// `ShopifySync` or `ShopifyDestination`.
    pub kind: String,
    /// Why it failed (a fixed set of words, never a message).
    pub reason: String,
}

/// Labels of histograms by what a sync feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TargetLabel {
    /// The object, event or action.
    pub target: String,
}

/// Labels of alert delivery counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AlertLabel {
    /// The channel kind: slack, pagerDuty, webhook, email or sms.
    pub channel: String,
    /// `delivered` or `failed`.
    pub result: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
    runs: Family<SyncOutcome, Counter>,
    rows: Family<SyncOutcome, Counter>,
    cost: Family<StoreLabel, Counter<f64>>,
    throttles: Family<StoreLabel, Counter>,
    duration: Family<TargetLabel, Histogram>,
    reconciles: Family<KindReason, Counter>,
    reconcile_errors: Family<KindReason, Counter>,
    status_writes: Family<KindReason, Counter>,
    alert_deliveries: Family<AlertLabel, Counter>,
    /// What each store's budget had spent when last read, so concurrent runs add each point once.
    seen: Mutex<HashMap<String, (f64, u64)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric registered under the `shopsync` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("shopsync");
        let runs = Family::<SyncOutcome, Counter>::default();
        registry.register("runs", "Sync runs by outcome", runs.clone());
        let rows = Family::<SyncOutcome, Counter>::default();
        registry.register(
            "rows",
            "Rows by outcome (succeeded, rejected)",
            rows.clone(),
        );
        let cost = Family::<StoreLabel, Counter<f64>>::default();
        registry.register(
            "api_cost_points",
            "Shopify API cost points spent",
            cost.clone(),
        );
        let throttles = Family::<StoreLabel, Counter>::default();
        registry.register(
            "throttle_waits",
            "Times a request waited for the store's rate limit",
            throttles.clone(),
        );
        let duration = Family::<TargetLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0])
        });
        registry.register(
            "run_duration_seconds",
            "Duration of sync runs",
            duration.clone(),
        );
        let reconciles = Family::<KindReason, Counter>::default();
        registry.register("reconciles", "Reconciles by kind", reconciles.clone());
        let reconcile_errors = Family::<KindReason, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconcile errors by kind and reason",
            reconcile_errors.clone(),
        );
        let status_writes = Family::<KindReason, Counter>::default();
        registry.register(
            "status_writes",
            "Status patches sent, by kind (zero once everything is settled)",
            status_writes.clone(),
        );
        let alert_deliveries = Family::<AlertLabel, Counter>::default();
        registry.register(
            "alert_deliveries",
            "Alert notifications sent, by channel and result (failed: after every retry)",
            alert_deliveries.clone(),
        );
        Metrics {
            registry,
            runs,
            rows,
            cost,
            throttles,
            duration,
            reconciles,
            reconcile_errors,
            status_writes,
            alert_deliveries,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a finished run.
    pub fn run_finished(&self, report: &RunReport, target: &str) {
        let outcome = match report.status {
            RunStatus::Succeeded => "succeeded",
            RunStatus::PartiallySucceeded => "partially_succeeded",
            RunStatus::Failed | RunStatus::Running => "failed",
        };
        let label = |outcome: &str| SyncOutcome {
            sync: report.sync.clone(),
            outcome: outcome.to_string(),
        };
        self.runs.get_or_create(&label(outcome)).inc();
        self.rows
            .get_or_create(&label("succeeded"))
            .inc_by(report.stats.succeeded);
        self.rows
            .get_or_create(&label("rejected"))
            .inc_by(report.stats.rejected);
        self.duration
            .get_or_create(&TargetLabel {
                target: target.to_string(),
            })
            .observe(report.duration().as_secs_f64());
    }

    /// Adds what a store's budget spent since the last call (`spent` points and `throttles` waits in total).
    pub fn store_spent(&self, store: &str, spent: f64, throttles: u64) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        let before = seen.entry(store.to_string()).or_insert((0.0, 0));
        let label = StoreLabel {
            store: store.to_string(),
        };
        if spent > before.0 {
            self.cost.get_or_create(&label).inc_by(spent - before.0);
        }
        if throttles > before.1 {
            self.throttles
                .get_or_create(&label)
                .inc_by(throttles - before.1);
        }
        *before = (spent.max(before.0), throttles.max(before.1));
    }

    /// Counts a reconcile.
    pub fn reconciled(&self, kind: &str) {
        self.reconciles
            .get_or_create(&KindReason {
                kind: kind.to_string(),
                reason: String::new(),
            })
            .inc();
    }

    /// Counts a reconcile error.
    pub fn reconcile_failed(&self, kind: &str, reason: &str) {
        self.reconcile_errors
            .get_or_create(&KindReason {
                kind: kind.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts an alert delivery on `channel`.
    pub fn alert_delivered(&self, channel: &str, ok: bool) {
        self.alert_deliveries
            .get_or_create(&AlertLabel {
                channel: channel.to_string(),
                result: if ok { "delivered" } else { "failed" }.to_string(),
            })
            .inc();
    }

    /// Counts a status write.
    pub fn status_written(&self, kind: &str) {
        self.status_writes
            .get_or_create(&KindReason {
                kind: kind.to_string(),
                reason: String::new(),
            })
            .inc();
    }

    /// Status writes of `kind` so far.
    pub fn status_writes(&self, kind: &str) -> u64 {
        self.status_writes
            .get_or_create(&KindReason {
                kind: kind.to_string(),
                reason: String::new(),
            })
            .get()
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// What `/readyz` reports.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Marks the controller ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the controller is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    health: Health,
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Served { metrics, health });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn metrics_page(State(s): State<Served>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn readyz(State(s): State<Served>) -> impl IntoResponse {
    if s.health.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_spending_is_counted_once_across_reads() {
        let m = Metrics::new();
        m.store_spent("a.myshopify.com", 100.0, 1);
        m.store_spent("a.myshopify.com", 150.0, 1);
        m.store_spent("a.myshopify.com", 150.0, 3);
        let text = m.encode();
        assert!(
            text.contains("shopsync_api_cost_points_total{store=\"a.myshopify.com\"} 150"),
            "{text}"
        );
        assert!(
            text.contains("shopsync_throttle_waits_total{store=\"a.myshopify.com\"} 3"),
            "{text}"
        );
    }
}
