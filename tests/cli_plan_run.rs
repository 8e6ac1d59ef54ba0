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

#[test]
fn plan_samples_rows_with_exact_counts_unless_every_row_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    // Planning reads the warehouse and the state only: the store is never called.
    write_specs(dir.path(), "http://127.0.0.1:9");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let db = dir.path().join("wh.db");
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        // Ten more rows, and key 3 twice: both of its rows are rejected, its first change retracted.
        let mut sql = String::from("INSERT INTO people VALUES (3, 'dup@example.com', 'Dup')");
        for i in 3..=12 {
            sql.push_str(&format!(", ({i}, 'p{i}@example.com', 'P{i}')"));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
    });
    let specs = dir.path().join("specs.yaml");
    let state = dir.path().join("state.db");
    let plan = |extra: &[&str]| {
        let o = bin()
            .arg("plan")
            .arg("-f")
            .arg(&specs)
            .arg("--state")
            .arg(&state)
            .args(["--samples", "3"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        o
    };
    let keys = |json: &serde_json::Value| -> Vec<String> {
        json["syncs"][0]["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap().to_string())
            .collect()
    };

    let json: serde_json::Value =
        serde_json::from_slice(&plan(&["--format", "json"]).stdout).unwrap();
    assert_eq!(
        keys(&json),
        ["1", "2", "4"],
        "the first three surviving adds"
    );
    assert_eq!(json["syncs"][0]["plan"]["stats"]["added"], 11);
    assert_eq!(json["syncs"][0]["plan"]["stats"]["rejected"], 2);
    assert_eq!(
        json["syncs"][0]["omitted"],
        serde_json::json!({"changes": 8, "removed": 0, "rejections": 0, "unknown_outcome": 0})
    );
    let o = plan(&[]);
    let out = text(&o);
    assert!(out.contains("13 rows; 11 to add"), "{out}");
    assert_eq!(out.matches("  add  ").count(), 3, "{out}");
    assert!(out.contains("… 8 more row(s) not shown"), "{out}");
    let md = text(&plan(&["--format", "markdown"]));
    assert!(md.contains("_… 8 more row(s) not shown"), "{md}");

    // Every row: all eleven changes, in row order, and nothing said to be left out.
    let json: serde_json::Value =
        serde_json::from_slice(&plan(&["--format", "json", "--all-rows"]).stdout).unwrap();
    let all = keys(&json);
    assert_eq!(all.len(), 11, "{all:?}");
    assert_eq!(all[..3], ["1", "2", "4"]);
    assert!(json["syncs"][0].get("omitted").is_none());
    let out = text(&plan(&["--all-rows"]));
    assert_eq!(out.matches("  add  ").count(), 11, "{out}");
    assert!(!out.contains("not shown"), "{out}");
    assert!(!state.exists(), "plan must not create the state file");
}
