//! `spec.dependsOn`: `validate` rejects unknown names and cycles; `shopsync run` runs a sync after the syncs it
//! depends on and skips it, saying why, when one of them failed.
use std::path::Path;

use crate::cli;

use cli::{Emulator, bin, text};
use shopsync::api::manifest::load;
use shopsync::api::validate::validate;

const TOKEN: &str = "shpat_order_test";

/// Specs for two syncs in a folder: `customers` (listed first) depends on `products`, whose query is `query`.
fn write_specs(dir: &Path, endpoint: &str, products_query: &str) {
    let db = dir.join("wh.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(
            "DROP TABLE IF EXISTS people; DROP TABLE IF EXISTS items; \
             CREATE TABLE people (id INTEGER, email TEXT); INSERT INTO people VALUES (1, 'order@example.com'); \
             CREATE TABLE items (handle TEXT, title TEXT); INSERT INTO items VALUES ('order-tee', 'Order Tee');",
        )
        .execute(&mut c)
        .await
        .unwrap();
    });
    std::fs::write(
        dir.join("specs.yaml"),
        format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: token}}
stringData: {{token: {TOKEN}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifyDestination
metadata: {{name: store}}
spec:
  store: order
  endpoint: {endpoint}
  credentials: {{accessTokenSecretRef: {{name: token, key: token}}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: customers}}
spec:
  destinationRef: {{name: store}}
  source: {{url: "sqlite://{db}", query: "SELECT id, email FROM people"}}
  primaryKey: id
  object: customers
  mode: upsert
  mappings: [{{from: email, to: email}}]
  schedule: {{manual: true}}
  dependsOn: [{{name: products}}]
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: products}}
spec:
  destinationRef: {{name: store}}
  source: {{url: "sqlite://{db}", query: "{products_query}"}}
  primaryKey: handle
  object: products
  mode: upsert
  mappings: [{{from: handle, to: handle}}, {{from: title, to: title}}]
  schedule: {{manual: true}}
"#,
            db = db.display()
        ),
    )
    .unwrap();
}

/// The emulator's `/__emulator/state`.
fn store_state(url: &str) -> serde_json::Value {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(format!("{url}/__emulator/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn run_orders_syncs_and_skips_dependants_of_a_failed_sync() {
    let emu = Emulator::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("specs.yaml");
    let state = dir.path().join("state.db");
    let run = || {
        bin()
            .args(["run", "--once", "-f"])
            .arg(&specs)
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap()
    };

    // products fails (its table does not exist): customers is skipped, with the reason, and nothing is written.
    write_specs(
        dir.path(),
        &emu.url,
        "SELECT handle, title FROM missing_table",
    );
    let o = run();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("default/customers: skipped, waiting for dependencies: default/products failed its latest run"),
        "{out}"
    );
    let store = store_state(&emu.url);
    assert_eq!(
        store["customers"].as_object().map(|m| m.len()),
        Some(0),
        "customers must not run"
    );

    // Fixed: products runs first (customers is listed first), then customers.
    write_specs(dir.path(), &emu.url, "SELECT handle, title FROM items");
    let o = run();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let (p, c) = (
        out.find("default/products").unwrap(),
        out.find("default/customers").unwrap(),
    );
    assert!(p < c, "products runs before customers:\n{out}");
    let store = store_state(&emu.url);
    assert_eq!(
        store["customers"].as_object().map(|m| m.len()),
        Some(1),
        "{out}"
    );
}

fn sync_doc(name: &str, depends_on: &[&str]) -> String {
    let deps: Vec<String> = depends_on
        .iter()
        .map(|d| format!("{{name: {d}}}"))
        .collect();
    format!(
        r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: {name}}}
spec:
  destinationRef: {{name: store}}
  source: {{url: "sqlite://wh.db", query: "SELECT handle FROM items"}}
  primaryKey: handle
  object: products
  mode: upsert
  mappings: [{{from: handle, to: handle}}]
  schedule: {{manual: true}}
  dependsOn: [{}]
"#,
        deps.join(", ")
    )
}

fn dependency_errors(docs: &[String]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syncs.yaml");
    std::fs::write(&path, docs.join("---\n")).unwrap();
    let report = validate(&load(&[path]).unwrap());
    report
        .findings
        .iter()
        .map(|f| f.to_string())
        .filter(|f| f.contains("spec.dependsOn"))
        .collect()
}

#[test]
fn validate_rejects_unknown_names_and_cycles() {
    let ok = dependency_errors(&[sync_doc("a", &[]), sync_doc("b", &["a"])]);
    assert!(ok.is_empty(), "{ok:?}");

    let unknown = dependency_errors(&[sync_doc("a", &["nope"])]);
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].contains("ShopifySync/a: spec.dependsOn") && unknown[0].contains("\"nope\""),
        "{unknown:?}"
    );

    let cycle = dependency_errors(&[
        sync_doc("a", &["c"]),
        sync_doc("b", &["a"]),
        sync_doc("c", &["b"]),
    ]);
    assert_eq!(cycle.len(), 1, "{cycle:?}");
    assert!(
        cycle[0].contains("dependency cycle: a -> c -> b -> a"),
        "{cycle:?}"
    );

    let itself = dependency_errors(&[sync_doc("a", &["a"])]);
    assert!(itself[0].contains("dependency cycle: a -> a"), "{itself:?}");
}
