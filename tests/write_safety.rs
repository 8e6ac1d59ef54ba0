//! What shopsync will and will not change in a store, proven where the user sees it: `shopsync run` against
//! `shopsync emulator`, the store's state read back from `/__emulator/state` after every run.
//!
//! - insert mode never writes nor deletes a product it found existing;
//! - deletes reach only products the sync created, unless `deleteMatched` opts in;
//! - the delete guard keeps its defaults when given partly, and a tripped guard fails the run, deletes nothing
//!   and applies the rest;
//! - a primary key change re-baselines and deletes nothing;
//! - an inventory quantity that returns to an earlier value (25 -> 30 -> 25) ends at that value.
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::cli;

use cli::{Emulator, bin, text};

const TOKEN: &str = "shpat_write_safety";

/// A folder with a SQLite warehouse, a spec file and the state, and the emulator the specs point at.
struct Fixture {
    dir: tempfile::TempDir,
    emulator: Emulator,
}

impl Fixture {
    /// An emulator seeded with `seed` (a fixture as `shopsync emulator --seed` takes it).
    fn new(seed: &Value) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let seed_file = dir.path().join("seed.json");
        std::fs::write(&seed_file, seed.to_string()).expect("seed");
        let emulator = Emulator::start_with(TOKEN, &["--seed".as_ref(), seed_file.as_os_str()]);
        Fixture { dir, emulator }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs SQL against the warehouse.
    fn sql(&self, sql: &str) {
        let db = self.path("wh.db");
        runtime().block_on(async {
            use sqlx::Connection;
            let mut c =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
                    .await
                    .expect("warehouse");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .expect("sql");
        });
    }

    /// Writes the destination and `sync` (the body of a ShopifySync spec, YAML lines indented by two).
    fn specs(&self, name: &str, sync: &str) {
        let text = format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: token}}
stringData: {{token: {TOKEN}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifyDestination
metadata: {{name: store}}
spec:
  store: safety
  endpoint: {endpoint}
  credentials: {{accessTokenSecretRef: {{name: token, key: token}}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: {name}}}
spec:
  destinationRef: {{name: store}}
  schedule: {{manual: true}}
{sync}
"#,
            endpoint = self.emulator.url,
        );
        std::fs::write(self.path("specs.yaml"), text).expect("specs");
    }

    fn cmd(&self, verb: &str) -> std::process::Command {
        let mut c = bin();
        c.arg(verb)
            .arg("-f")
            .arg(self.path("specs.yaml"))
            .arg("--state")
            .arg(self.path("state.db"));
        c
    }

    fn run(&self) -> Output {
        self.cmd("run").output().expect("shopsync run")
    }

    fn plan(&self) -> Output {
        self.cmd("plan").output().expect("shopsync plan")
    }

    /// The store as the emulator holds it.
    fn store(&self) -> Value {
        let url = format!("{}/__emulator/state", self.emulator.url);
        runtime().block_on(async {
            reqwest::get(url)
                .await
                .expect("state")
                .json::<Value>()
                .await
                .expect("json")
        })
    }

    /// Product handle -> title, as the store holds them.
    fn products(&self) -> std::collections::BTreeMap<String, String> {
        let state = self.store();
        let products = state["products"].as_object().cloned().unwrap_or_default();
        products
            .values()
            .map(|p| {
                (
                    p["handle"].as_str().unwrap_or_default().to_string(),
                    p["title"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

/// A store with two products of the merchant's own.
fn merchant_store() -> Value {
    json!({"products": [
        {"title": "Merchant tee", "handle": "merchant-tee", "variants": [{"sku": "M-TEE", "price": "10.00"}]},
        {"title": "Merchant cap", "handle": "merchant-cap", "variants": [{"sku": "M-CAP", "price": "12.00"}]},
    ]})
}

fn products_sync(mode: &str, extra: &str) -> String {
    let db = "__DB__";
    format!(
        r#"  source: {{url: "sqlite://{db}", query: "SELECT sku, handle, title FROM items"}}
  primaryKey: sku
  object: products
  mode: {mode}
  mappings:
    - {{from: handle, to: handle}}
    - {{from: title, to: title}}
{extra}"#
    )
}

fn specs(f: &Fixture, mode: &str, extra: &str) {
    let sync = products_sync(mode, extra).replace("__DB__", &f.path("wh.db").display().to_string());
    f.specs("products", &sync);
}

fn write_items<S: AsRef<str>>(f: &Fixture, rows: &[(S, S, S)]) {
    let values: Vec<String> = rows
        .iter()
        .map(|(sku, handle, title)| {
            format!(
                "('{}', '{}', '{}')",
                sku.as_ref(),
                handle.as_ref(),
                title.as_ref()
            )
        })
        .collect();
    let mut sql =
        "DROP TABLE IF EXISTS items; CREATE TABLE items (sku TEXT, handle TEXT, title TEXT);"
            .to_string();
    if !values.is_empty() {
        sql.push_str(&format!("INSERT INTO items VALUES {};", values.join(", ")));
    }
    f.sql(&sql);
}

fn ten_products() -> Vec<(String, String, String)> {
    (0..10)
        .map(|i| (format!("S{i}"), format!("p-{i}"), format!("Product {i}")))
        .collect()
}

#[test]
fn insert_mode_never_writes_nor_deletes_what_it_found() {
    let f = Fixture::new(&merchant_store());
    specs(
        &f,
        "insert",
        "  deleteBehavior: delete\n  deleteGuard: {maxPercent: 100}",
    );
    write_items(
        &f,
        &[
            ("S1", "merchant-tee", "Warehouse tee"),
            ("S2", "new-hat", "New hat"),
        ],
    );
    ok(&f.run());
    let p = f.products();
    assert_eq!(
        p["merchant-tee"], "Merchant tee",
        "insert must leave it alone"
    );
    assert_eq!(p["new-hat"], "New hat");

    // The row of the existing product changes: insert never updates.
    write_items(
        &f,
        &[
            ("S1", "merchant-tee", "Warehouse tee v2"),
            ("S2", "new-hat", "New hat v2"),
        ],
    );
    let o = f.plan();
    assert!(
        text(&o).contains("insert mode never updates"),
        "{}",
        text(&o)
    );
    ok(&f.run());
    let p = f.products();
    assert_eq!(p["merchant-tee"], "Merchant tee");
    assert_eq!(p["new-hat"], "New hat", "insert creates, it never updates");

    // Both rows leave: the product the sync created goes, the merchant's stays.
    write_items::<&str>(&f, &[]);
    let o = f.plan();
    let out = text(&o);
    assert!(out.contains("skipped; kept in Shopify"), "{out}");
    ok(&f.run());
    let p = f.products();
    assert!(p.contains_key("merchant-tee"), "{p:?}");
    assert!(p.contains_key("merchant-cap"), "{p:?}");
    assert!(
        !p.contains_key("new-hat"),
        "the sync's own product is deleted: {p:?}"
    );
}

#[test]
fn deletes_reach_matched_products_only_with_delete_matched() {
    let f = Fixture::new(&merchant_store());
    specs(
        &f,
        "upsert",
        "  deleteBehavior: delete\n  deleteGuard: {maxPercent: 100}",
    );
    write_items(
        &f,
        &[
            ("S1", "merchant-tee", "Warehouse tee"),
            ("S2", "new-hat", "New hat"),
        ],
    );
    ok(&f.run());
    let p = f.products();
    assert_eq!(
        p["merchant-tee"], "Warehouse tee",
        "upsert updates what it matched"
    );
    assert_eq!(p["new-hat"], "New hat");

    write_items::<&str>(&f, &[]);
    let out = text(&f.plan());
    assert!(out.contains("1 to delete, 1 left the model"), "{out}");
    assert!(out.contains("matched; kept in Shopify"), "{out}");
    ok(&f.run());
    let p = f.products();
    assert!(
        p.contains_key("merchant-tee"),
        "a matched product is never deleted by default: {p:?}"
    );
    assert!(!p.contains_key("new-hat"), "{p:?}");

    // Opting in deletes what the sync matched too.
    write_items(&f, &[("S3", "merchant-cap", "Warehouse cap")]);
    specs(
        &f,
        "upsert",
        "  deleteBehavior: delete\n  deleteMatched: true\n  deleteGuard: {maxPercent: 100}",
    );
    ok(&f.run());
    write_items::<&str>(&f, &[]);
    ok(&f.run());
    let p = f.products();
    assert!(
        !p.contains_key("merchant-cap"),
        "deleteMatched deletes it: {p:?}"
    );
}

#[test]
fn a_partial_guard_keeps_its_defaults_and_a_tripped_guard_fails_the_run() {
    let f = Fixture::new(&json!({}));
    // Only maxCount given: the 10% default still holds.
    specs(
        &f,
        "upsert",
        "  deleteBehavior: delete\n  deleteGuard: {maxCount: 100}",
    );
    let rows = ten_products();
    write_items(&f, &rows);
    ok(&f.run());
    assert_eq!(f.products().len(), 10);

    // Five rows leave, one title changes: the guard refuses the deletes, the change is applied, the run fails.
    let mut kept = rows[..5].to_vec();
    kept[0].2 = "Product 0 renamed".into();
    write_items(&f, &kept);
    let o = f.run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("delete guard"), "{out}");
    assert!(out.contains("10%"), "{out}");
    let p = f.products();
    assert_eq!(p.len(), 10, "nothing deleted: {p:?}");
    assert_eq!(
        p["p-0"], "Product 0 renamed",
        "the rest of the run is applied"
    );

    // An empty guard is the default guard, not no guard.
    specs(&f, "upsert", "  deleteBehavior: delete\n  deleteGuard: {}");
    let o = f.run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(f.products().len(), 10);

    // Turning the limit off takes an explicit value.
    specs(
        &f,
        "upsert",
        "  deleteBehavior: delete\n  deleteGuard: {maxPercent: 100}",
    );
    ok(&f.run());
    assert_eq!(f.products().len(), 5);
}

#[test]
fn a_primary_key_change_rebaselines_and_deletes_nothing() {
    let f = Fixture::new(&json!({}));
    specs(
        &f,
        "upsert",
        "  deleteBehavior: delete\n  deleteGuard: {maxPercent: 100}",
    );
    let rows = ten_products();
    write_items(&f, &rows);
    ok(&f.run());
    assert_eq!(f.products().len(), 10);

    // The primary key becomes the handle: every old key looks removed, yet nothing may be deleted.
    let sync = products_sync(
        "upsert",
        "  deleteBehavior: delete\n  deleteGuard: {maxPercent: 100}",
    )
    .replace("primaryKey: sku", "primaryKey: handle")
    .replace("__DB__", &f.path("wh.db").display().to_string());
    f.specs("products", &sync);
    let out = text(&f.plan());
    assert!(out.contains("re-baseline"), "{out}");
    assert!(out.contains("nothing will be deleted in this run"), "{out}");
    assert!(out.contains("0 to delete"), "{out}");
    ok(&f.run());
    assert_eq!(f.products().len(), 10, "a key change deletes nothing");

    // The products stay the sync's own under the new keys: a row that leaves now deletes its product.
    write_items(&f, &rows[1..]);
    ok(&f.run());
    let p = f.products();
    assert_eq!(p.len(), 9, "{p:?}");
    assert!(!p.contains_key("p-0"));
}

/// The demo store's item 7001 at location 1001, as the store holds it.
fn available(f: &Fixture) -> Option<i64> {
    let state = f.store();
    let text = state.to_string();
    // The level's shape is the emulator's; find the 7001@1001 level's available quantity wherever it is kept.
    fn find(v: &Value) -> Option<i64> {
        match v {
            Value::Object(m) => {
                let item = m
                    .get("inventory_item_id")
                    .or_else(|| m.get("item_id"))
                    .and_then(Value::as_u64);
                let location = m.get("location_id").and_then(Value::as_u64);
                if item == Some(7001) && location == Some(1001) {
                    return m
                        .get("quantities")
                        .and_then(|q| q.get("available"))
                        .or_else(|| m.get("available"))
                        .and_then(Value::as_i64);
                }
                m.values().find_map(find)
            }
            Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    let found = find(&state);
    assert!(
        found.is_some(),
        "no level 7001@1001 in {}",
        &text[..text.len().min(2000)]
    );
    found
}

#[test]
fn a_quantity_that_returns_to_an_earlier_value_is_written() {
    let seed: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/emulator/demo-store.json"),
        )
        .expect("demo store"),
    )
    .expect("json");
    let f = Fixture::new(&seed);
    let sync = format!(
        r#"  source: {{url: "sqlite://{}", query: "SELECT level_key, item, location, available FROM levels"}}
  primaryKey: level_key
  object: inventoryLevels
  mode: upsert
  match: {{key: inventoryItemId}}
  mappings:
    - {{from: item, to: inventoryItemId}}
    - {{from: location, to: locationId}}
    - {{from: available, to: quantity}}
    - {{value: available, to: name}}
    - {{value: correction, to: reason}}"#,
        f.path("wh.db").display()
    );
    f.specs("levels", &sync);
    for quantity in [25, 30, 25] {
        f.sql(&format!(
            "DROP TABLE IF EXISTS levels; CREATE TABLE levels (level_key TEXT, item TEXT, location TEXT, available INTEGER); \
             INSERT INTO levels VALUES ('7001@1001', 'gid://shopify/InventoryItem/7001', 'gid://shopify/Location/1001', {quantity});"
        ));
        ok(&f.run());
        assert_eq!(
            available(&f),
            Some(quantity),
            "after the run that set {quantity}"
        );
    }
}

/// The metafields of the product with `handle`, as `namespace.key` -> value.
fn metafields(f: &Fixture, handle: &str) -> std::collections::BTreeMap<String, Value> {
    let state = f.store();
    let products = state["products"].as_object().cloned().unwrap_or_default();
    let product = products
        .values()
        .find(|p| p["handle"] == handle)
        .cloned()
        .unwrap_or(Value::Null);
    product["metafields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                format!(
                    "{}.{}",
                    m["namespace"].as_str().unwrap_or_default(),
                    m["key"].as_str().unwrap_or_default()
                ),
                m["value"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_null_clears_a_metafield_unless_the_mapping_keeps_it() {
    let f = Fixture::new(&json!({}));
    let sync = format!(
        r#"  source: {{url: "sqlite://{}", query: "SELECT sku, handle, title, material, origin FROM items"}}
  primaryKey: sku
  object: products
  mode: upsert
  mappings:
    - {{from: handle, to: handle}}
    - {{from: title, to: title}}
    - from: material
      metafield: {{namespace: custom, key: material, type: single_line_text_field}}
    - from: origin
      onNull: keep
      metafield: {{namespace: custom, key: origin, type: single_line_text_field}}"#,
        f.path("wh.db").display()
    );
    f.specs("products", &sync);
    f.sql(
        "CREATE TABLE items (sku TEXT, handle TEXT, title TEXT, material TEXT, origin TEXT); \
           INSERT INTO items VALUES ('S1', 'tote', 'Tote', 'Canvas', 'VN');",
    );
    ok(&f.run());
    let m = metafields(&f, "tote");
    assert_eq!(m["custom.material"], "Canvas", "{m:?}");
    assert_eq!(m["custom.origin"], "VN", "{m:?}");

    f.sql("UPDATE items SET material = NULL, origin = NULL;");
    let out = text(&f.plan());
    assert!(
        out.contains("metafield custom.material: \"Canvas\" -> (cleared)"),
        "{out}"
    );
    ok(&f.run());
    let m = metafields(&f, "tote");
    assert!(!m.contains_key("custom.material"), "NULL clears it: {m:?}");
    assert_eq!(m["custom.origin"], "VN", "onNull: keep leaves it: {m:?}");
}
