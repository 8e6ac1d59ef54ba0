//! The operator against real Kubernetes code: etcd + the apiextensions-apiserver (with Secrets through the
//! core shim), the emulator as the store, a PostgreSQL warehouse and a PostgreSQL state store, and
//! `shopsync controller` as a child process, driven by kubectl and kube like a user would.
use crate::apiserver;
use crate::core_shim;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apiserver::{ApiServer, assert_success};
use core_shim::CoreShim;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use shopsync::api::{ShopifyDestination, ShopifySync};
use shopsync::emulator::seed::Fixture;
use shopsync::emulator::{Emulator, Plan, RunningEmulator};
use sqlx::Connection;

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const TOKEN: &str = "shpat_emulator_demo_token";
/// The warehouse password the secret scan looks for.
const WAREHOUSE_PASSWORD: &str = "wh-Pa55-k7Qz";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh database; seeded from the example warehouse when `seed` is set. PostgreSQL must be running.
async fn database(name: &str, seed: bool) -> String {
    let mut admin = sqlx::PgConnection::connect(&format!("{PG}/test"))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (start it as .ci/run does)");
    let db = format!("shopsync_ctl_{name}_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        format!("CREATE DATABASE {db}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
            .execute(&mut admin)
            .await
            .expect("creating a test database");
    }
    let url = format!("{PG}/{db}");
    if seed {
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        let sql = std::fs::read_to_string(root().join("examples/warehouse/seed.postgres.sql"))
            .expect("seed file");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
            .execute(&mut conn)
            .await
            .expect("seeding");
    }
    url
}

async fn demo_store() -> RunningEmulator {
    let seed = std::fs::read(root().join("examples/emulator/demo-store.json")).expect("seed");
    Emulator::builder()
        .plan(Plan::Plus)
        .token(TOKEN)
        .shop("demo.myshopify.com")
        .seed(Fixture::parse(&seed, "demo-store.json").expect("fixture"))
        .start_on_loopback()
        .await
        .expect("emulator")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Env {
    server: ApiServer,
    shim: CoreShim,
    client: kube::Client,
    emulator: RunningEmulator,
    warehouse: String,
    state: String,
}

async fn env(name: &str) -> Env {
    let server = tokio::task::spawn_blocking(|| {
        let s = ApiServer::start();
        s.install_shim_crds();
        let out = s.apply_yaml(core_shim::CRD);
        assert_success(&out, "applying the Secret stand-in CRD");
        s.wait_established("secrets.core-shim.shopsync.dev");
        s
    })
    .await
    .expect("apiserver start");
    let shim = CoreShim::start(server.url(), server.ca_file(), server.dir()).await;
    let client = shim.client().await;
    let emulator = demo_store().await;
    let warehouse = database(&format!("{name}_wh"), true).await;
    let state = database(&format!("{name}_state"), false).await;
    Env {
        server,
        shim,
        client,
        emulator,
        warehouse,
        state,
    }
}

struct Controller {
    child: Child,
    metrics: u16,
    log: PathBuf,
}

impl Controller {
    fn start(env: &Env, identity: &str) -> Controller {
        Controller::start_with(env, identity, &[])
    }

    /// Started with `extra` flags besides the usual ones.
    fn start_with(env: &Env, identity: &str, extra: &[&str]) -> Controller {
        let metrics = free_port();
        let log = env
            .server
            .dir()
            .join(format!("controller-{identity}-{metrics}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shopsync"))
            .args([
                "controller",
                "--install-crds",
                "--lease-namespace",
                "default",
            ])
            .args(["--identity", identity, "--lease-duration", "3s"])
            .args(["--state-url", &env.state])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .args(["--destination-recheck", "1h"])
            // The emulator and the alert receivers listen on loopback.
            .args([
                "--allow-endpoint",
                "127.0.0.1",
                "--allow-alert-host",
                "127.0.0.1",
            ])
            .args(extra)
            .env("KUBECONFIG", env.shim.kubeconfig())
            .env("SHOPSYNC_LOG", "info,shopsync=debug,kube=warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting shopsync controller");
        Controller {
            child,
            metrics,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics))
            .await
            .expect("metrics endpoint")
            .text()
            .await
            .expect("metrics body")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn secret(client: &kube::Client, name: &str, data: &[(&str, &str)]) {
    let api: Api<Secret> = Api::namespaced(client.clone(), "default");
    let s = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    };
    match api.get_opt(name).await.expect("reading the Secret") {
        None => {
            api.create(&PostParams::default(), &s)
                .await
                .expect("creating the Secret");
        }
        Some(old) => {
            let mut s = s;
            s.metadata.resource_version = old.metadata.resource_version;
            api.replace(name, &PostParams::default(), &s)
                .await
                .expect("replacing the Secret");
        }
    }
}

fn example(path: &str, env: &Env) -> String {
    std::fs::read_to_string(root().join(path))
        .expect("example")
        .replace("http://127.0.0.1:8787", &env.emulator.base_url())
}

fn apply(env: &Env, yaml: &str) {
    let out = env.server.apply_yaml(yaml);
    assert_success(&out, "kubectl apply");
}

async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, ctl: &Controller, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n--- controller log (tail) ---\n{}",
                tail(&ctl.log(), 60)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many products in the store have a handle starting with `prefix`.
fn products_with_prefix(env: &Env, prefix: &str) -> usize {
    env.emulator.dump()["products"]
        .as_object()
        .map(|m| {
            m.values()
                .filter(|p| p["handle"].as_str().is_some_and(|h| h.starts_with(prefix)))
                .count()
        })
        .unwrap_or(0)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

async fn sync_status(api: &Api<ShopifySync>, name: &str) -> Value {
    let s = api.get(name).await.expect("reading a ShopifySync");
    serde_json::to_value(&s).expect("json")["status"].clone()
}

fn names_in(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
        .expect("examples dir")
        .filter_map(|e| e.ok())
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".yaml")
                .to_string()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_sync_on_the_apiserver_and_report_on_their_resources() {
    let env = env("examples").await;
    secret(&env.client, "demo-store-token", &[("token", TOKEN)]).await;
    // Trust auth ignores the password; it is in the URL so the scan below can look for it.
    let warehouse = env.warehouse.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{WAREHOUSE_PASSWORD}@"),
        1,
    );
    secret(&env.client, "warehouse", &[("url", &warehouse)]).await;
    // The customers example alerts to Slack and a webhook; nothing there fails, so nothing is sent.
    secret(
        &env.client,
        "alert-channels",
        &[
            ("slack-webhook-url", "http://127.0.0.1:9/slack"),
            ("webhook-hmac-key", "k"),
        ],
    )
    .await;
    let ctl = Controller::start(&env, "ctl-a");
    // The controller applies its own CRDs.
    let start = Instant::now();
    while !String::from_utf8_lossy(&env.server.kubectl(["get", "crd", "-o", "name"]).stdout)
        .contains("shopifysyncs.shopsync.dev")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the controller did not apply its CRDs:\n{}",
            tail(&ctl.log(), 40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.server.wait_established("shopifysyncs.shopsync.dev");
    env.server
        .wait_established("shopifydestinations.shopsync.dev");
    apply(&env, &example("examples/destination.yaml", &env));
    let mut all = Vec::new();
    for dir in ["examples/syncs", "examples/actions"] {
        for file in names_in(dir) {
            let yaml = example(&format!("{dir}/{file}.yaml"), &env);
            apply(&env, &yaml);
            let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("example YAML");
            let name = doc["metadata"]["name"].as_str().expect("metadata.name");
            all.push(name.to_string());
        }
    }
    let syncs: Api<ShopifySync> = Api::namespaced(env.client.clone(), "default");
    let dests: Api<ShopifyDestination> = Api::namespaced(env.client.clone(), "default");

    // Every sync runs and reports.
    for name in &all {
        let status = wait_for(
            &format!("{name} to finish a run"),
            Duration::from_secs(120),
            &ctl,
            || {
                let syncs = syncs.clone();
                let name = name.clone();
                async move {
                    let st = sync_status(&syncs, &name).await;
                    let running =
                        condition(&st, "Reconciling").is_some_and(|c| c["status"] == "True");
                    (st["lastRun"].is_object() && !running).then_some(st)
                }
            },
        )
        .await;
        let last = &status["lastRun"];
        let ready = condition(&status, "Ready").expect("Ready condition");
        assert_eq!(status["observedGeneration"], 1, "{name}: {status}");
        if name == "close-fulfillment-orders" {
            // Rejected on purpose (a merchant-managed location cannot be marked incomplete): still Ready,
            // with the rejection in the reason and message.
            assert_eq!(last["outcome"], "PartiallySucceeded", "{name}: {status}");
            assert_eq!(ready["reason"], "RowsRejected");
            assert_eq!(last["rowsRejected"], 1);
            // Above the destination's default threshold (5% of the rows queried): the alert fires.
            assert_eq!(
                status["alerts"][0]["rule"],
                "rejected_rows",
                "{status}\n{}",
                tail(&ctl.log(), 60)
            );
        } else {
            assert!(status.get("alerts").is_none(), "{name}: {status}");
            assert_eq!(last["outcome"], "Succeeded", "{name}: {status}");
            assert_eq!(ready["status"], "True", "{name}: {status}");
            assert_eq!(last["rowsRejected"], 0);
            assert_eq!(
                last["rowsSucceeded"],
                last["rowsQueried"],
                "{name}: {status}\n{}",
                ctl.log()
                    .lines()
                    .filter(|l| l.contains("WARN")
                        || l.contains("ERROR")
                        || l.contains(name.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert!(
            status["nextRunAt"].is_string(),
            "{name}: scheduled syncs say when they run next"
        );
    }

    // The controller keeps the debugger log: its runs and their calls are in the state store.
    let out = Command::new(env!("CARGO_BIN_EXE_shopsync"))
        .args([
            "debugger",
            "runs",
            "--sync",
            "default/products",
            "--state-url",
        ])
        .arg(&env.state)
        .output()
        .expect("shopsync debugger runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls: Vec<u64> = text
        .lines()
        .filter(|l| l.contains("default/products"))
        .filter_map(|l| l.split_whitespace().nth(9)?.parse().ok())
        .collect();
    assert!(
        calls.iter().any(|&c| c > 0),
        "the controller's runs have their Shopify calls in the debugger log:\n{text}"
    );

    // lastRun matches the store: every warehouse product handle exists in the emulator.
    let mut wh = sqlx::PgConnection::connect(&env.warehouse)
        .await
        .expect("warehouse");
    let handles: Vec<(String,)> = sqlx::query_as("SELECT handle FROM products")
        .fetch_all(&mut wh)
        .await
        .expect("handles");
    let products = sync_status(&syncs, "products").await;
    assert_eq!(products["lastRun"]["rowsSucceeded"], handles.len() as i64);
    let dump = env.emulator.dump();
    let store_handles: Vec<String> = dump["products"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|p| p["handle"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for (h,) in &handles {
        assert!(
            store_handles.contains(h),
            "product {h} missing in the store"
        );
    }

    // The destination is checked: token and scopes.
    let dest = wait_for(
        "the destination to be Ready",
        Duration::from_secs(30),
        &ctl,
        || {
            let dests = dests.clone();
            async move {
                let d = dests.get("demo-store").await.ok()?;
                let st = serde_json::to_value(&d).ok()?["status"].clone();
                (condition(&st, "Ready")?["status"] == "True").then_some(st)
            }
        },
    )
    .await;
    assert_eq!(
        condition(&dest, "Ready").expect("Ready")["reason"],
        "Connected"
    );
    assert!(
        dest["grantedScopes"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s == "write_products")),
        "{dest}"
    );

    // Events and metrics.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), "default");
    let listed = events.list(&Default::default()).await.expect("events");
    assert!(
        listed
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("RunSucceeded")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("customers")),
        "no RunSucceeded event for customers"
    );
    assert!(
        listed
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("RowsRejected")),
        "no RowsRejected event for the close action"
    );
    assert!(
        listed
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("AlertFiring")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                    == Some("close-fulfillment-orders")),
        "no AlertFiring event for the close action"
    );
    let metrics = ctl.metrics().await;
    assert!(
        metrics.contains("shopsync_runs_total{sync=\"default/customers\",outcome=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("shopsync_api_cost_points_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("shopsync_run_duration_seconds_bucket"),
        "{metrics}"
    );

    // Settled: nothing is written while nothing changes.
    let writes = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("shopsync_status_writes_total{kind=\"ShopifySync\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = writes(&metrics);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        writes(&ctl.metrics().await),
        before,
        "status writes while settled"
    );

    // A spec change re-runs with the new generation observed.
    let first_start = sync_status(&syncs, "customers").await["lastRun"]["startedAt"].clone();
    let patch = json!({"spec": {"source": {"query": "SELECT customer_id, email, first_name, last_name, phone, note, loyalty_tier FROM customers WHERE deleted_at IS NULL ORDER BY customer_id"}}});
    syncs
        .patch("customers", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patching the spec");
    let st = wait_for(
        "customers to observe generation 2",
        Duration::from_secs(60),
        &ctl,
        || {
            let syncs = syncs.clone();
            let first = first_start.clone();
            async move {
                let st = sync_status(&syncs, "customers").await;
                let done = st["observedGeneration"] == 2
                    && st["lastRun"]["startedAt"] != first
                    && condition(&st, "Reconciling").is_some_and(|c| c["status"] == "False");
                done.then_some(st)
            }
        },
    )
    .await;
    assert_eq!(
        condition(&st, "Ready").expect("Ready")["observedGeneration"],
        2
    );
    // The re-run succeeded: observing the generation alone would pass on a failed run too.
    assert_eq!(st["lastRun"]["outcome"], "Succeeded", "{st}");
    assert_eq!(
        condition(&st, "Ready").expect("Ready")["status"],
        "True",
        "{st}"
    );

    // A manual trigger runs now and is remembered.
    let before = sync_status(&syncs, "inventory-items").await["lastRun"]["startedAt"].clone();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let annotate = json!({"metadata": {"annotations": {"shopsync.dev/run-now": "try-1"}}});
    syncs
        .patch(
            "inventory-items",
            &PatchParams::default(),
            &Patch::Merge(&annotate),
        )
        .await
        .expect("annotating");
    wait_for("the triggered run", Duration::from_secs(60), &ctl, || {
        let syncs = syncs.clone();
        let before = before.clone();
        async move {
            let st = sync_status(&syncs, "inventory-items").await;
            (st["lastRunRequest"] == "try-1" && st["lastRun"]["startedAt"] != before).then_some(())
        }
    })
    .await;

    // Suspend stops runs, triggers included.
    let suspend = json!({"spec": {"suspend": true}});
    syncs
        .patch(
            "discount-codes",
            &PatchParams::default(),
            &Patch::Merge(&suspend),
        )
        .await
        .expect("suspending");
    wait_for(
        "discounts to show Suspended",
        Duration::from_secs(30),
        &ctl,
        || {
            let syncs = syncs.clone();
            async move {
                let st = sync_status(&syncs, "discount-codes").await;
                (condition(&st, "Reconciling")?["reason"] == "Suspended").then_some(())
            }
        },
    )
    .await;
    let suspended_last = sync_status(&syncs, "discount-codes").await["lastRun"].clone();
    let annotate =
        json!({"metadata": {"annotations": {"shopsync.dev/run-now": "while-suspended"}}});
    syncs
        .patch(
            "discount-codes",
            &PatchParams::default(),
            &Patch::Merge(&annotate),
        )
        .await
        .expect("annotating");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st = sync_status(&syncs, "discount-codes").await;
    assert_eq!(st["lastRun"], suspended_last, "a suspended sync ran");
    assert!(st.get("nextRunAt").is_none() || st["nextRunAt"].is_null());

    // A wrong token: Ready=False with the reason; a rotated Secret is picked up without a restart.
    secret(&env.client, "other-token", &[("token", "shpat_wrong")]).await;
    let other = example("examples/destination.yaml", &env)
        .replace("name: demo-store-token", "name: other-token")
        .replace("name: demo-store\n", "name: other-store\n");
    apply(&env, &other);
    let st = wait_for(
        "other-store to be refused",
        Duration::from_secs(30),
        &ctl,
        || {
            let dests = dests.clone();
            async move {
                let d = dests.get("other-store").await.ok()?;
                let st = serde_json::to_value(&d).ok()?["status"].clone();
                (condition(&st, "Ready")?["status"] == "False").then_some(st)
            }
        },
    )
    .await;
    assert_eq!(
        condition(&st, "Ready").expect("Ready")["reason"],
        "InvalidToken",
        "{st}"
    );
    secret(&env.client, "other-token", &[("token", TOKEN)]).await;
    wait_for(
        "other-store to accept the rotated token",
        Duration::from_secs(30),
        &ctl,
        || {
            let dests = dests.clone();
            async move {
                let d = dests.get("other-store").await.ok()?;
                let st = serde_json::to_value(&d).ok()?["status"].clone();
                (condition(&st, "Ready")?["status"] == "True").then_some(())
            }
        },
    )
    .await;

    // A warehouse that cannot be reached, with the same password in its URL: the run fails, and says why.
    secret(
        &env.client,
        "unreachable-warehouse",
        &[(
            "url",
            &format!("postgres://postgres:{WAREHOUSE_PASSWORD}@127.0.0.1:1/nowhere"),
        )],
    )
    .await;
    let unreachable = example("examples/syncs/customers.yaml", &env)
        .replace("name: customers\n", "name: unreachable\n")
        .replace(
            "{name: warehouse, key: url}",
            "{name: unreachable-warehouse, key: url}",
        );
    apply(&env, &unreachable);
    wait_for(
        "the unreachable warehouse to fail its run",
        Duration::from_secs(60),
        &ctl,
        || {
            let syncs = syncs.clone();
            async move {
                let st = sync_status(&syncs, "unreachable").await;
                (st["lastRun"]["outcome"] == "Failed").then_some(())
            }
        },
    )
    .await;

    // No token and no warehouse password anywhere a user or a log collector can see: Events, the status of
    // every resource, the controller's log.
    // The status is written before the run's Events are published, so the Event may trail the status.
    let events = wait_for(
        "the failed run's RunFailed Event",
        Duration::from_secs(30),
        &ctl,
        || {
            let events = events.clone();
            async move {
                let all = serde_json::to_string(&events.list(&Default::default()).await.ok()?)
                    .expect("events as JSON");
                all.contains("RunFailed").then_some(all)
            }
        },
    )
    .await;
    let resources = format!(
        "{}{}",
        serde_json::to_string(&syncs.list(&Default::default()).await.expect("syncs"))
            .expect("JSON"),
        serde_json::to_string(&dests.list(&Default::default()).await.expect("destinations"))
            .expect("JSON")
    );
    let log = ctl.log();
    for (what, text) in [
        ("Events", &events),
        ("status", &resources),
        ("the controller log", &log),
    ] {
        for secret in [TOKEN, "shpat_wrong", WAREHOUSE_PASSWORD] {
            assert!(
                !text.contains(secret),
                "{what} contain the secret {secret:?}"
            );
        }
    }

    // deletionPolicy Delete: deleting the resource deletes the products it created, then the resource.
    let doomed = example("examples/syncs/products.yaml", &env)
        .replace("name: products\n", "name: doomed\n")
        .replace(
            "SELECT handle, title,",
            "SELECT 'doomed-' || handle AS handle, title,",
        )
        .replace("deletionPolicy: Orphan", "deletionPolicy: Delete")
        .replace("maxCount: 20", "maxCount: 1000")
        .replace("maxPercent: 5", "maxPercent: 100");
    apply(&env, &doomed);
    let doomed_handles = || products_with_prefix(&env, "doomed-");
    wait_for("doomed to sync", Duration::from_secs(60), &ctl, || {
        let syncs = syncs.clone();
        async move {
            let st = sync_status(&syncs, "doomed").await;
            (st["lastRun"]["outcome"] == "Succeeded").then_some(())
        }
    })
    .await;
    assert_eq!(doomed_handles(), handles.len());
    let obj = syncs.get("doomed").await.expect("doomed");
    assert!(
        obj.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"shopsync.dev/cleanup".to_string())
    );
    syncs
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("deleting");
    wait_for("doomed to be gone", Duration::from_secs(60), &ctl, || {
        let syncs = syncs.clone();
        async move { syncs.get_opt("doomed").await.ok()?.is_none().then_some(()) }
    })
    .await;
    assert_eq!(
        doomed_handles(),
        0,
        "products the sync created survived its deletion"
    );
    // The other syncs' products are untouched.
    let dump = env.emulator.dump();
    let left = dump["products"].as_object().map(|m| m.len()).unwrap_or(0);
    assert!(left >= handles.len());

    // A model that suddenly returns nothing: the guard (at most 5%) refuses the deletes, and the resource says so.
    let guarded = example("examples/syncs/products.yaml", &env)
        .replace(
            "name: products
",
            "name: guarded
",
        )
        .replace(
            "SELECT handle, title,",
            "SELECT 'guarded-' || handle AS handle, title,",
        );
    apply(&env, &guarded);
    let guarded_handles = || products_with_prefix(&env, "guarded-");
    wait_for("guarded to sync", Duration::from_secs(60), &ctl, || {
        let syncs = syncs.clone();
        async move {
            let st = sync_status(&syncs, "guarded").await;
            (st["lastRun"]["outcome"] == "Succeeded").then_some(())
        }
    })
    .await;
    assert_eq!(guarded_handles(), handles.len());
    apply(
        &env,
        &guarded.replace("FROM products", "FROM products WHERE false"),
    );
    let status = wait_for(
        "the guard to trip on guarded",
        Duration::from_secs(60),
        &ctl,
        || {
            let syncs = syncs.clone();
            async move {
                let st = sync_status(&syncs, "guarded").await;
                let ready = condition(&st, "Ready")?;
                (ready["reason"] == "DeleteGuardTripped").then_some(st)
            }
        },
    )
    .await;
    let ready = condition(&status, "Ready").expect("Ready");
    assert_eq!(ready["status"], "False", "{status}");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("{n} of {n} records", n = handles.len())),
        "the counts are in the message: {message}"
    );
    assert_eq!(status["lastRun"]["outcome"], "Failed", "{status}");
    assert_eq!(
        guarded_handles(),
        handles.len(),
        "a tripped guard deletes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_mid_run_loses_nothing_and_duplicates_no_event() {
    let env = env("kill").await;
    // 400 more events, written slowly by the store so that the run is surely in flight when killed.
    let mut wh = sqlx::PgConnection::connect(&env.warehouse)
        .await
        .expect("warehouse");
    sqlx::raw_sql(
        "INSERT INTO fulfillment_events (event_id, order_id, fulfillment_id, status, message, happened_at, city, country) \
         SELECT 'bulk-' || g, 'gid://shopify/Order/3001', 'gid://shopify/Fulfillment/4001', 'IN_TRANSIT', 'bulk-' || g, now(), 'Leipzig', 'DE' \
         FROM generate_series(1, 400) g",
    )
    .execute(&mut wh)
    .await
    .expect("more events");
    let faults = reqwest::Client::new()
        .post(format!("{}/__emulator/faults", env.emulator.base_url()))
        .json(&json!({"latency_ms": 250}))
        .send()
        .await
        .expect("faults");
    assert!(faults.status().is_success());
    secret(&env.client, "demo-store-token", &[("token", TOKEN)]).await;
    secret(&env.client, "warehouse", &[("url", &env.warehouse)]).await;
    let mut ctl = Controller::start(&env, "ctl-k");
    let start = Instant::now();
    while !String::from_utf8_lossy(&env.server.kubectl(["get", "crd", "-o", "name"]).stdout)
        .contains("shopifysyncs.shopsync.dev")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            tail(&ctl.log(), 40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.server.wait_established("shopifysyncs.shopsync.dev");
    env.server
        .wait_established("shopifydestinations.shopsync.dev");
    apply(&env, &example("examples/destination.yaml", &env));
    apply(
        &env,
        &example("examples/syncs/fulfillment-events.yaml", &env),
    );
    let sent = |emulator: &RunningEmulator| -> Vec<String> {
        emulator.dump()["fulfillment_events"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|e| e["fields"]["message"].as_str().map(str::to_string))
                    .filter(|m| m.starts_with("bulk-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_for(
        "the run to be under way",
        Duration::from_secs(60),
        &ctl,
        || {
            let n = sent(&env.emulator).len();
            async move { (n >= 60).then_some(()) }
        },
    )
    .await;
    ctl.kill();
    let at_kill = sent(&env.emulator).len();
    assert!(
        at_kill < 402,
        "the run finished before the kill; slow the store down"
    );
    // The same pod restarting: it takes its own lock back at once.
    let ctl = Controller::start(&env, "ctl-k");
    let syncs: Api<ShopifySync> = Api::namespaced(env.client.clone(), "default");
    let status = wait_for(
        "the restarted controller to finish",
        Duration::from_secs(120),
        &ctl,
        || {
            let syncs = syncs.clone();
            async move {
                let st = sync_status(&syncs, "fulfillment-events").await;
                let running = condition(&st, "Reconciling").is_some_and(|c| c["status"] == "True");
                let last_ok = matches!(
                    st["lastRun"]["outcome"].as_str(),
                    Some("Succeeded" | "PartiallySucceeded")
                );
                (last_ok && !running).then_some(st)
            }
        },
    )
    .await;
    let messages = sent(&env.emulator);
    let mut unique = messages.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), messages.len(), "an event was sent twice");
    // Every row is either in the store or reported as an unknown outcome (sent before the kill, answer lost);
    // none is silently dropped.
    let message = status["lastRun"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let unknown: usize = message
        .split("; ")
        .find_map(|p| p.strip_suffix(" sent with an unknown outcome (not resent)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        messages.len() == 400 || messages.len() + unknown >= 400,
        "{} events in the store and {unknown} unknown out of 400: {status}",
        messages.len()
    );
}

/// A product edited in the Shopify admin between two runs shows on the resource: `status.driftedRecords`,
/// `lastDriftCheck` with the drifted field, and a `Drifted` condition that is True (and False before the edit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_shows_on_the_sync_resource() {
    let env = env("drift").await;
    secret(&env.client, "demo-store-token", &[("token", TOKEN)]).await;
    secret(&env.client, "warehouse", &[("url", &env.warehouse)]).await;
    let ctl = Controller::start(&env, "ctl-d");
    let start = Instant::now();
    while !String::from_utf8_lossy(&env.server.kubectl(["get", "crd", "-o", "name"]).stdout)
        .contains("shopifysyncs.shopsync.dev")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            tail(&ctl.log(), 40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.server.wait_established("shopifysyncs.shopsync.dev");
    env.server
        .wait_established("shopifydestinations.shopsync.dev");
    apply(&env, &example("examples/destination.yaml", &env));
    // The catalogue example, triggered by hand and checking drift on every run.
    let sync = |request: &str| {
        example("examples/syncs/products.yaml", &env)
            .replace(
                "name: products\n",
                &format!(
                    "name: products\n  annotations: {{\"shopsync.dev/run-now\": \"{request}\"}}\n"
                ),
            )
            .replace(
                "  schedule:\n    cron: \"0 * * * *\"",
                "  schedule: {manual: true}\n  drift: {policy: report}",
            )
    };
    let syncs: Api<ShopifySync> = Api::namespaced(env.client.clone(), "default");
    let answered = |request: &'static str| {
        let syncs = syncs.clone();
        move || {
            let syncs = syncs.clone();
            async move {
                let st = sync_status(&syncs, "products").await;
                (st["lastRunRequest"] == request && st["lastDriftCheck"].is_object()).then_some(st)
            }
        }
    };
    apply(&env, &sync("1"));
    let st = wait_for(
        "the first run",
        Duration::from_secs(120),
        &ctl,
        answered("1"),
    )
    .await;
    assert_eq!(st["driftedRecords"], 0, "{st}");
    let drifted = condition(&st, "Drifted").expect("Drifted condition");
    assert_eq!(
        (&drifted["status"], &drifted["reason"]),
        (&json!("False"), &json!("InSync")),
        "{st}"
    );

    // The merchant retitles one of the sync's products in the admin.
    let mut wh = sqlx::PgConnection::connect(&env.warehouse)
        .await
        .expect("warehouse");
    let (handle,): (String,) =
        sqlx::query_as("SELECT handle FROM products ORDER BY handle LIMIT 1")
            .fetch_one(&mut wh)
            .await
            .expect("a warehouse product");
    let body: Value = reqwest::Client::new()
        .post(format!("{}/admin/api/2026-07/graphql.json", env.emulator.base_url()))
        .header("X-Shopify-Access-Token", TOKEN)
        .json(&json!({
            "query": "mutation Edit($id: ProductUpdateIdentifiers, $p: ProductUpdateInput) { productUpdate(identifier: $id, product: $p) { product { id } userErrors { field message } } }",
            "variables": {"id": {"handle": handle}, "p": {"title": "Edited in the admin"}},
        }))
        .send()
        .await
        .expect("admin api")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["data"]["productUpdate"]["userErrors"],
        json!([]),
        "{body}"
    );

    apply(&env, &sync("2"));
    let st = wait_for(
        "the second run",
        Duration::from_secs(120),
        &ctl,
        answered("2"),
    )
    .await;
    assert_eq!(st["driftedRecords"], 1, "{st}");
    assert_eq!(st["lastDriftCheck"]["drifted"], 1, "{st}");
    assert!(
        st["lastDriftCheck"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("{handle} (drift: title)"))),
        "{st}"
    );
    let drifted = condition(&st, "Drifted").expect("Drifted condition");
    assert_eq!(
        (&drifted["status"], &drifted["reason"]),
        (&json!("True"), &json!("DriftDetected")),
        "{st}"
    );
}

/// xorshift64*: a fixed seed gives the same kill points on every machine.
struct Rng(u64);

/// Bulk mutation operations the emulator has run or is running.
fn bulk_mutations(env: &Env) -> usize {
    env.emulator.dump()["bulk_operations"]
        .as_object()
        .map_or(0, |ops| {
            ops.values().filter(|o| o["type"] == "MUTATION").count()
        })
}

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// `kill -9` of the controller at pseudo-random points of a run, then a restart: each trial adds a products sync
/// whose first run is killed once the store holds a drawn number of its products (answers are held back after
/// the write is applied, so a kill often falls between a write and its record; every third trial goes through a
/// bulk operation, killed while Shopify runs it). The restarted controller takes its lock back and finishes:
/// every product once in the store, the state naming each product's record as created by the sync, the sync
/// Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_controller_at_random_points_then_a_restart_leaves_every_row_once() {
    use futures::TryStreamExt;
    use shopsync::core::state::{Ownership, StateStore};

    const TRIALS: u64 = 10;
    const ROWS: u64 = 600;
    // One request at a time (25 products each, answered in ~120 ms): a run lasts a few seconds.
    const FLAGS: &[&str] = &["--concurrency", "1"];
    let env = env("kills").await;
    let mut wh = sqlx::PgConnection::connect(&env.warehouse)
        .await
        .expect("warehouse");
    sqlx::raw_sql("CREATE TABLE kill_products (handle TEXT PRIMARY KEY, title TEXT NOT NULL)")
        .execute(&mut wh)
        .await
        .expect("products table");
    let faults = reqwest::Client::new()
        .post(format!("{}/__emulator/faults", env.emulator.base_url()))
        // Bulk lines 5 ms apart: an operation of the trial's rows runs for about three seconds.
        .json(&json!({"latency_ms": 60, "timeout_after_apply_ms": 60, "bulk_line_delay_ms": 5}))
        .send()
        .await
        .expect("faults");
    assert!(faults.status().is_success());
    secret(&env.client, "demo-store-token", &[("token", TOKEN)]).await;
    secret(&env.client, "warehouse", &[("url", &env.warehouse)]).await;
    let mut ctl = Controller::start_with(&env, "ctl-t", FLAGS);
    let start = Instant::now();
    while !String::from_utf8_lossy(&env.server.kubectl(["get", "crd", "-o", "name"]).stdout)
        .contains("shopifysyncs.shopsync.dev")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            tail(&ctl.log(), 40)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.server.wait_established("shopifysyncs.shopsync.dev");
    env.server
        .wait_established("shopifydestinations.shopsync.dev");
    apply(&env, &example("examples/destination.yaml", &env));
    let state = shopsync::state::PostgresStateStore::connect(&env.state)
        .await
        .expect("state store");
    let syncs: Api<ShopifySync> = Api::namespaced(env.client.clone(), "default");
    let mut rng = Rng(0x5eed_c0de);
    let mut killed = 0;
    for trial in 0..TRIALS {
        let prefix = format!("kill{trial}-");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO kill_products SELECT '{prefix}' || g, 'Kill trial {trial} ' || g FROM generate_series(1, {ROWS}) g"
        )))
        .execute(&mut wh)
        .await
        .expect("trial rows");
        let name = format!("kill-{trial}");
        let bulk = if trial % 3 == 2 {
            "  bulkThreshold: 100\n"
        } else {
            ""
        };
        apply(
            &env,
            &format!(
                "apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  destinationRef: {{name: demo-store}}\n  source:\n    urlSecretRef: {{name: warehouse, key: url}}\n    query: \"SELECT handle, title FROM kill_products WHERE handle LIKE '{prefix}%'\"\n  primaryKey: handle\n  object: products\n  mode: upsert\n  mappings:\n    - {{from: handle, to: handle}}\n    - {{from: title, to: title}}\n  schedule: {{interval: 1h}}\n{bulk}"
            ),
        );
        let mutations = bulk_mutations(&env);
        let at = 1 + rng.below(ROWS - 50) as usize;
        let started = Instant::now();
        let reached = loop {
            let n = products_with_prefix(&env, &prefix);
            if n >= at {
                break n;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "trial {trial}: the run never got under way\n{}",
                tail(&ctl.log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        ctl.kill();
        let at_kill = products_with_prefix(&env, &prefix);
        killed += u64::from(at_kill < ROWS as usize);
        // The same pod restarting: it takes its own lock back at once.
        ctl = Controller::start_with(&env, "ctl-t", FLAGS);
        let status = wait_for(
            "the restarted controller to finish the trial",
            Duration::from_secs(60),
            &ctl,
            || {
                let syncs = syncs.clone();
                let name = name.clone();
                async move {
                    let st = sync_status(&syncs, &name).await;
                    let ready = condition(&st, "Ready").is_some_and(|c| c["status"] == "True");
                    let running =
                        condition(&st, "Reconciling").is_some_and(|c| c["status"] == "True");
                    let ok = st["lastRun"]["outcome"].as_str() == Some("Succeeded");
                    (ok && ready && !running).then_some(st)
                }
            },
        )
        .await;
        let why = format!(
            "trial {trial}{} (killed with {reached}..{at_kill} products in)",
            if bulk.is_empty() { "" } else { ", bulk" }
        );
        // Every product once in the store ...
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in env.emulator.dump()["products"]
            .as_object()
            .unwrap()
            .values()
        {
            let handle = p["handle"].as_str().unwrap_or_default();
            if handle.starts_with(&prefix) {
                held.entry(handle.to_string()).or_default().push(
                    p["id"]
                        .as_str()
                        .map_or_else(|| p["id"].to_string(), str::to_string),
                );
            }
        }
        assert_eq!(held.len() as u64, ROWS, "{why}: {status}");
        assert!(
            held.values().all(|ids| ids.len() == 1),
            "{why}: duplicated products {:?}",
            held.iter()
                .filter(|(_, ids)| ids.len() > 1)
                .collect::<Vec<_>>()
        );
        // ... and the state naming it, created by the sync.
        let entries: Vec<_> = state
            .snapshot(&format!("default/{name}"))
            .try_collect()
            .await
            .expect("snapshot");
        let tail_of = |id: &str| id.rsplit('/').next().unwrap_or_default().to_string();
        let recorded: BTreeMap<String, String> = entries
            .iter()
            .map(|e| {
                (
                    e.key.clone(),
                    e.shopify_id.as_deref().map(tail_of).unwrap_or_default(),
                )
            })
            .collect();
        let store: BTreeMap<String, String> = held
            .iter()
            .map(|(h, ids)| (h.clone(), tail_of(&ids[0])))
            .collect();
        assert_eq!(recorded, store, "{why}: the state's ids are the store's");
        assert!(
            entries.iter().all(|e| e.ownership == Ownership::Created),
            "{why}: {entries:?}"
        );
        // A bulk trial's restart takes up the operation the killed run started, not a second one.
        assert_eq!(
            bulk_mutations(&env) - mutations,
            usize::from(!bulk.is_empty()),
            "{why}: bulk operations"
        );
    }
    assert!(
        killed >= TRIALS - 1,
        "only {killed} of {TRIALS} runs were killed mid-run"
    );
}
