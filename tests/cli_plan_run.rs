//! `shopsync plan` and `shopsync run` as a user drives them: files in a folder, the emulator as a child process.
use std::path::Path;

use crate::cli;

use cli::{Emulator, bin, text};

fn emulator() -> Emulator {
    Emulator::start("shpat_cli_test")
}

fn write_specs(dir: &Path, endpoint: &str) {
    let db = dir.join("wh.db");
    seed_warehouse(&db);
    std::fs::write(
        dir.join("specs.yaml"),
        format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: token}}
stringData: {{token: shpat_cli_test}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifyDestination
metadata: {{name: store}}
spec:
  store: cli
  endpoint: {endpoint}
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
            db.display()
        ),
    )
    .unwrap();
}

/// A two-row SQLite warehouse.
fn seed_warehouse(db: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap();
        sqlx::raw_sql("CREATE TABLE people (id INTEGER, email TEXT, name TEXT); INSERT INTO people VALUES (1, 'a@example.com', 'A'), (2, 'b@example.com', 'B');")
            .execute(&mut c)
            .await
            .unwrap();
    });
}

#[test]
fn plan_check_run_then_plan_check_again() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    write_specs(dir.path(), &emu.url);
    let specs = dir.path().join("specs.yaml");
    let state = dir.path().join("state/state.db");
    let args = |cmd: &str| {
        let mut c = bin();
        c.arg(cmd).arg("-f").arg(&specs).arg("--state").arg(&state);
        c
    };

    // Pending changes: exit 1, and plan leaves no state file behind.
    let o = args("plan").arg("--check").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("2 to add"), "{}", text(&o));
    assert!(!state.exists(), "plan must not create the state file");

    let o = args("plan").args(["--format", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        json["syncs"][0]["plan"]["changes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let o = args("plan")
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    assert!(
        text(&o).contains("| `default/customers` | customers | 2 | 2 |"),
        "{}",
        text(&o)
    );

    let o = args("run").arg("--once").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("synced     2"), "{}", text(&o));

    // Nothing left to do: exit 0.
    let o = args("plan").arg("--check").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_wrong_token_fails_the_run_with_advice() {
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    write_specs(dir.path(), &emu.url);
    let specs = dir.path().join("specs.yaml");
    let wrong = std::fs::read_to_string(&specs).unwrap().replace(
        "stringData: {token: shpat_cli_test}",
        "stringData: {token: shpat_wrong}",
    );
    std::fs::write(&specs, wrong).unwrap();
    let o = bin()
        .arg("run")
        .arg("-f")
        .arg(&specs)
        .arg("--state")
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("FAILED") && out.contains("access token"),
        "{out}"
    );
    assert!(
        !out.contains("shpat_wrong"),
        "the token must never be printed: {out}"
    );
}

#[test]
fn missing_credentials_name_the_secret_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    write_specs(dir.path(), "http://127.0.0.1:9");
    let specs = dir.path().join("specs.yaml");
    let text_without_secret = std::fs::read_to_string(&specs)
        .unwrap()
        .split_once("---\n")
        .unwrap()
        .1
        .to_string();
    std::fs::write(&specs, text_without_secret).unwrap();
    // Planning never talks to the store: it needs no token.
    let o = bin()
        .arg("plan")
        .arg("-f")
        .arg(&specs)
        .arg("--state")
        .arg(dir.path().join("none.db"))
        .env_remove("SHOPSYNC_SECRET_TOKEN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("2 to add"), "{}", text(&o));
    let o = bin()
        .arg("run")
        .arg("-f")
        .arg(&specs)
        .arg("--state")
        .arg(dir.path().join("s.db"))
        .env_remove("SHOPSYNC_SECRET_TOKEN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("$SHOPSYNC_SECRET_TOKEN_TOKEN"),
        "{}",
        text(&o)
    );
}
