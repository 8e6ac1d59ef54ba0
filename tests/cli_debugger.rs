//! `shopsync debugger` as a user drives it after `shopsync run`, and the promise that no token or warehouse
//! password reaches the debugger log, the process output or the run report of a full example run.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::cli;

use cli::{Emulator, bin, text};

use serde_json::Value;
use sqlx::Connection;

const PG: &str = "postgres://postgres@127.0.0.1:5432";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn emulator(token: &str, seed: Option<&Path>) -> Emulator {
    let mut args: Vec<&OsStr> = vec![OsStr::new("--shop"), OsStr::new("demo.myshopify.com")];
    if let Some(seed) = seed {
        args.extend([OsStr::new("--seed"), seed.as_os_str()]);
    }
    Emulator::start_with(token, &args)
}

fn seed_sqlite(db: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE people (id INTEGER, email TEXT, name TEXT);
             INSERT INTO people VALUES (1, 'a@example.com', 'A'), (2, 'b@example.com', 'B'), (3, 'not-an-email', 'C');",
        )
        .execute(&mut c)
        .await
        .unwrap();
    });
}

#[test]
fn run_then_list_runs_calls_keys_and_export() {
    let emu = emulator("shpat_cli_debugger", None);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    seed_sqlite(&db);
    let specs = dir.path().join("specs.yaml");
    std::fs::write(
        &specs,
        format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: token}}
stringData: {{token: shpat_cli_debugger}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifyDestination
metadata: {{name: store}}
spec:
  store: cli
  endpoint: {}
  credentials: {{accessTokenSecretRef: {{name: token, key: token}}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: customers}}
spec:
  destinationRef: {{name: store}}
  source: {{url: "sqlite://{}", query: "SELECT id, email, name FROM people"}}
  primaryKey: id
  object: customers
  mode: upsert
  mappings:
    - {{from: email, to: email}}
    - {{from: name, to: firstName}}
  schedule: {{interval: 1h}}
"#,
            emu.url,
            db.display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state.db");
    let run = bin()
        .arg("run")
        .arg("-f")
        .arg(&specs)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let out = ok(run);
    assert!(out.contains("default/customers"), "{out}");
    let debugger = |args: &[&str]| {
        let mut c = bin();
        c.arg("debugger").args(args).arg("--state").arg(&state);
        c.output().unwrap()
    };

    // runs: the run with its statistics and call totals.
    let runs = ok(debugger(&["runs", "--sync", "customers"]));
    let line = runs
        .lines()
        .find(|l| l.contains("default/customers"))
        .unwrap_or_else(|| panic!("no run listed:\n{runs}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    let run_id = cols[0];
    assert!(line.contains("partially_succeeded"), "{line}");
    // 3 rows queried, 2 synced, 1 rejected (Shopify refuses the malformed email), 2 calls: one lookup of the
    // three new emails (so the run knows which customers it creates), then the three upserts in one batched
    // request.
    assert_eq!(
        &cols[cols.len() - 7..cols.len() - 1],
        ["3", "2", "1", "2", "0", "0"],
        "{runs}"
    );

    // calls: one line per request, naming the operation, status and every key it carried.
    let calls = ok(debugger(&["calls", run_id]));
    assert_eq!(calls.lines().count(), 2, "{calls}");
    assert!(calls.lines().all(|l| l.contains(" 200 ")), "{calls}");
    assert!(
        calls
            .lines()
            .next()
            .is_some_and(|l| l.contains("customerByIdentifier")),
        "the lookup of the new emails comes first:\n{calls}"
    );
    assert!(
        calls
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("customerSet")),
        "{calls}"
    );
    assert!(calls.contains("keys 1,2,3"), "{calls}");
    assert!(
        !calls.contains("mutation"),
        "documents only with --full:\n{calls}"
    );
    let full = ok(debugger(&["calls", run_id, "--full"]));
    assert!(
        full.contains("mutation") && full.contains("variables: {"),
        "{full}"
    );
    assert!(
        full.contains("not-an-email") && full.contains("userErrors"),
        "{full}"
    );
    assert!(!full.contains("shpat_cli_debugger"), "{full}");

    // key: every call about one primary key, whichever way the sync is named.
    for sync in ["customers", "default/customers"] {
        let about = ok(debugger(&["key", "3", "--sync", sync, "--full"]));
        assert_eq!(
            about.lines().filter(|l| l.starts_with('#')).count(),
            2,
            "the lookup and the write: {about}"
        );
        assert!(about.contains("not-an-email"), "{about}");
    }
    // key also says how the sync knows the key's record: key 1's customer was created by the run.
    let first = ok(debugger(&["key", "1", "--sync", "customers"]));
    assert!(
        first
            .lines()
            .next()
            .is_some_and(|l| l.contains("created record gid://shopify/Customer/")),
        "{first}"
    );
    let none = ok(debugger(&["key", "99", "--sync", "customers"]));
    assert!(none.contains("no calls"), "{none}");

    // export: JSON and CSV, to a file and to stdout.
    let json_file = dir.path().join("run.json");
    ok(debugger(&[
        "export",
        run_id,
        "--format",
        "json",
        "-o",
        json_file.to_str().unwrap(),
    ]));
    let exported: Value = serde_json::from_slice(&std::fs::read(&json_file).unwrap()).unwrap();
    let calls = exported["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "the lookup and the write");
    for c in calls {
        assert_eq!(c["method"], "POST");
        assert_eq!(c["status"], 200);
        assert_eq!(c["runId"].to_string(), run_id);
        assert!(c["costActual"].as_f64().is_some(), "{c}");
        assert_eq!(c["keys"].as_array().unwrap().len(), 3);
    }
    assert!(
        calls[0]["document"]
            .as_str()
            .unwrap()
            .contains("customerByIdentifier")
    );
    assert!(
        calls[1]["document"]
            .as_str()
            .unwrap()
            .contains("customerSet")
    );
    let csv = ok(debugger(&["export", run_id, "--format", "csv"]));
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,run_id,sync,started_at")
    );
    let rows = csv
        .matches(&format!(",{run_id},default/customers,"))
        .count();
    assert_eq!(rows, 2, "{csv}");

    // A second run writes nothing new but the rejected row: its calls are a run of their own.
    ok(bin()
        .arg("run")
        .arg("-f")
        .arg(&specs)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap());
    let runs = ok(debugger(&["runs"]));
    assert_eq!(
        runs.lines()
            .filter(|l| l.contains("default/customers"))
            .count(),
        2,
        "{runs}"
    );
    let about = ok(debugger(&["key", "3", "--sync", "customers"]));
    assert!(
        about
            .lines()
            .next()
            .is_some_and(|l| l.contains("no record in Shopify yet, last attempt rejected")),
        "{about}"
    );
    assert_eq!(
        about.lines().filter(|l| l.starts_with('#')).count(),
        4,
        "a lookup and a write per run about the rejected (so still new) row:\n{about}"
    );

    // With the log off, the run is recorded but no calls are.
    ok(bin()
        .arg("run")
        .arg("-f")
        .arg(&specs)
        .arg("--state")
        .arg(&state)
        .args(["--debugger-log", "off"])
        .output()
        .unwrap());
    let runs = ok(debugger(&["runs", "--limit", "1"]));
    let line = runs.lines().nth(1).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 4], "0", "no calls recorded:\n{runs}");

    // A missing state file is an error that says what to do.
    let o = bin()
        .args(["debugger", "runs", "--state"])
        .arg(dir.path().join("nope.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no state file"), "{}", text(&o));
}

/// A PostgreSQL role with a password, owning a database seeded with the example warehouse.
async fn warehouse_with_password(password: &str) -> (String, String) {
    let mut admin = sqlx::PgConnection::connect(&format!("{PG}/test"))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (start it as .ci/run does)");
    let role = format!("shopsync_scan_{}", std::process::id());
    let db = format!("shopsync_scan_{}", std::process::id());
    // One statement each: DROP/CREATE DATABASE refuse to run inside the implicit transaction of a batch.
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
        format!("CREATE DATABASE {db} OWNER {role}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let url = format!("postgres://{role}:{password}@127.0.0.1:5432/{db}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let seed =
        std::fs::read_to_string(root().join("examples/warehouse/seed.postgres.sql")).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed))
        .execute(&mut conn)
        .await
        .unwrap();
    (url, role)
}

/// Copies examples/ with the destination pointed at `endpoint`, `token` as the access token, and
/// `warehouse` as the warehouse URL; adds a sync whose warehouse cannot be reached (with the same password).
fn examples_copy(to: &Path, endpoint: &str, token: &str, warehouse: &str, unreachable: &str) {
    for entry in walk(&root().join("examples")) {
        let rel = entry.strip_prefix(root().join("examples")).unwrap();
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        if entry.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&entry)
                .unwrap()
                .replace("http://127.0.0.1:8787", endpoint)
                .replace("shpat_emulator_demo_token", token)
                .replace(
                    "url: sqlite://.shopsync/quickstart/warehouse.db?mode=ro",
                    &format!("url: \"{warehouse}\""),
                );
            std::fs::write(&target, text).unwrap();
        } else {
            std::fs::copy(&entry, &target).unwrap();
        }
    }
    std::fs::write(
        to.join("unreachable.yaml"),
        format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: unreachable-warehouse}}
stringData: {{url: "{unreachable}"}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: unreachable}}
spec:
  destinationRef: {{name: demo-store}}
  source:
    urlSecretRef: {{name: unreachable-warehouse, key: url}}
    query: SELECT customer_id, email FROM customers
    timeout: 5s
  primaryKey: customer_id
  object: customers
  mode: upsert
  mappings:
    - {{from: email, to: email}}
  schedule: {{manual: true}}
"#
        ),
    )
    .unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_token_or_password_in_the_log_the_output_or_the_report() {
    let token = format!("tok-scan-{}-zq7", std::process::id());
    let password = format!("pw-scan-{}-x9k", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (warehouse, role) = rt.block_on(warehouse_with_password(&password));
    let emu = emulator(
        &token,
        Some(&root().join("examples/emulator/demo-store.json")),
    );
    let dir = tempfile::tempdir().unwrap();
    let examples = dir.path().join("examples");
    let unreachable = format!("postgres://{role}:{password}@127.0.0.1:1/nowhere");
    examples_copy(&examples, &emu.url, &token, &warehouse, &unreachable);
    let state = dir.path().join("state.db");

    let o = bin()
        .arg("run")
        .arg("-f")
        .arg(&examples)
        .arg("--state")
        .arg(&state)
        .env("SHOPSYNC_LOG", "debug")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    // Every example ran; the unreachable warehouse failed its sync (so the exit code is 1).
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("17 run(s)"), "{stdout}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.contains("FAILED")).collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(failed[0].starts_with("default/unreachable "), "{stdout}");
    assert!(
        stderr.lines().count() > 10,
        "debug logging was on:\n{stderr}"
    );

    // The debugger log holds the calls of every run...
    let runs = ok(bin()
        .args(["debugger", "runs", "--limit", "100", "--state"])
        .arg(&state)
        .output()
        .unwrap());
    let ids: Vec<String> = runs
        .lines()
        .skip(1)
        .filter(|l| !l.trim_start().starts_with("error:"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 17, "{runs}");
    let mut exported = String::new();
    for id in &ids {
        exported.push_str(&ok(bin()
            .args(["debugger", "export", id, "--format", "json", "--state"])
            .arg(&state)
            .output()
            .unwrap()));
    }
    let calls = exported.matches("\"method\": \"POST\"").count();
    assert!(calls >= 20, "the example runs made {calls} calls");

    // ... and none of it, nor the output, nor the stored state (run records included), holds a secret.
    let mut stored = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = state.clone().into_os_string();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p) {
            stored.extend(bytes);
        }
    }
    assert!(stored.len() > 100_000, "the state holds the calls");
    for (what, secret) in [("token", &token), ("password", &password)] {
        assert!(
            !stdout.contains(secret.as_str()),
            "{what} in stdout:\n{stdout}"
        );
        assert!(!stderr.contains(secret.as_str()), "{what} in the logs");
        assert!(
            !exported.contains(secret.as_str()),
            "{what} in the debugger log"
        );
        assert!(!contains(&stored, secret), "{what} in the state file");
    }
    // The secrets were really in play: the inputs carry them, and the run used them.
    let inputs = std::fs::read_to_string(examples.join("secrets.yaml")).unwrap();
    assert!(inputs.contains(&token) && inputs.contains(&password));
    assert!(
        !stdout.contains("the store rejected the access token"),
        "{stdout}"
    );
}
