//! Benchmark (not a test): 1,000 suspended ShopifySyncs on the real apiserver; the controller's peak RSS, the
//! time until every sync's status is settled, and the status writes after that (target: none).
//!
//! `cargo bench --bench controller_settle` (needs etcd and the cached apiext shim, as the test tier does).
//! Options through the environment: `SYNCS` (default 1000).
#[path = "../tests/support/apiserver.rs"]
mod apiserver;
#[path = "../tests/support/core_shim.rs"]
mod core_shim;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use shopsync::api::{ShopifyDestination, ShopifySync};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn status_writes(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("shopsync_status_writes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("SYNCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let server = tokio::task::spawn_blocking(|| {
        let s = apiserver::ApiServer::start();
        s.install_shim_crds();
        apiserver::assert_success(&s.apply_yaml(core_shim::CRD), "secret stand-in");
        s.wait_established("secrets.core-shim.shopsync.dev");
        s
    })
    .await
    .expect("apiserver");
    let shim = core_shim::CoreShim::start(server.url(), server.ca_file(), server.dir()).await;
    let client = shim.client().await;
    shopsync::controller::install_crds(&client)
        .await
        .expect("CRDs");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let mut token = Secret::default();
    token.metadata.name = Some("token".into());
    token.data = Some([("token".to_string(), ByteString(b"shpat_x".to_vec()))].into());
    secrets
        .create(&PostParams::default(), &token)
        .await
        .expect("secret");
    let dests: Api<ShopifyDestination> = Api::namespaced(client.clone(), "default");
    let dest: ShopifyDestination = serde_json::from_value(json!({
        "apiVersion": "shopsync.dev/v1alpha1", "kind": "ShopifyDestination",
        "metadata": {"name": "store"},
        "spec": {"store": "bench", "endpoint": "http://127.0.0.1:9", "credentials": {"accessTokenSecretRef": {"name": "token", "key": "token"}}}
    }))
    .expect("destination");
    dests
        .create(&PostParams::default(), &dest)
        .await
        .expect("destination");
    let syncs: Api<ShopifySync> = Api::namespaced(client.clone(), "default");
    let created = Instant::now();
    let mut tasks = futures::stream::iter(0..count)
        .map(|i| {
            let syncs = syncs.clone();
            async move {
                let s: ShopifySync = serde_json::from_value(json!({
                    "apiVersion": "shopsync.dev/v1alpha1", "kind": "ShopifySync",
                    "metadata": {"name": format!("sync-{i:04}")},
                    "spec": {
                        "destinationRef": {"name": "store"},
                        "source": {"url": "postgres://bench@127.0.0.1:9/none", "query": "SELECT id, email FROM customers"},
                        "primaryKey": "id", "object": "customers", "mode": "upsert", "match": {"key": "email"},
                        "mappings": [{"from": "email", "to": "email"}],
                        "schedule": {"interval": "15m"}, "suspend": true
                    }
                }))
                .expect("sync");
                syncs.create(&PostParams::default(), &s).await.map(|_| ())
            }
        })
        .buffer_unordered(16);
    while let Some(r) = tasks.next().await {
        r.expect("creating a sync");
    }
    println!(
        "created {count} suspended syncs in {:.1}s",
        created.elapsed().as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let state = server.dir().join("state.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shopsync"))
        .args(["controller", "--leader-election", "false"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .arg("--state-url")
        .arg(&state)
        .env("KUBECONFIG", shim.kubeconfig())
        .env("SHOPSYNC_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("controller");
    let pid = child.id();
    let started = Instant::now();
    let mut peak = 0u64;
    let settled = loop {
        peak = peak.max(rss_kib(pid));
        let list = syncs.list(&ListParams::default()).await.expect("list");
        let done = list
            .items
            .iter()
            .filter(|s| {
                s.status.as_ref().is_some_and(|st| {
                    st.observed_generation == s.metadata.generation
                        && st
                            .conditions
                            .iter()
                            .any(|c| c.type_ == "Reconciling" && c.reason == "Suspended")
                })
            })
            .count();
        if done == count {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not settled after 10 minutes ({done}/{count})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let metrics = || async {
        reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    };
    let writes_settled = status_writes(&metrics().await);
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(30) {
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let writes_after = status_writes(&metrics().await);
    let rss_now = rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    println!("syncs:                         {count}");
    println!(
        "time to settle:                {:.2}s",
        settled.as_secs_f64()
    );
    println!("status writes to settle:       {writes_settled}");
    println!(
        "status writes in the next 30s: {}",
        writes_after - writes_settled
    );
    println!(
        "controller peak RSS:           {:.1} MiB",
        peak as f64 / 1024.0
    );
    println!(
        "controller RSS after settling: {:.1} MiB",
        rss_now as f64 / 1024.0
    );
}
