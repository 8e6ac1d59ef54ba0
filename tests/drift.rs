//! Drift, observe-only and adoption, proven where the user sees them: `shopsync run` and `shopsync plan --live`
//! against `shopsync emulator`, edits made by a "merchant" through the Admin API between runs, the store read
//! back from `/__emulator/state`.
//!
//! - an edit in Shopify is reported as drift with the last applied and the current value (text and JSON);
//! - `overwrite` repairs it in the next run; `adopt` records it without a write (the store unchanged, the state
//!   updated, so the next check is in sync);
//! - an edit on both sides is a conflict; a record deleted in Shopify is missing;
//! - an observe-only sync leaves the store byte for byte as it was while its output says what it would do.
use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};

use crate::cli;

use cli::{Emulator, bin, text};

const TOKEN: &str = "shpat_drift";

struct Fixture {
    dir: tempfile::TempDir,
    emulator: Emulator,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

impl Fixture {
    fn new(seed: Option<Value>) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let emulator = match seed {
            Some(seed) => {
                let file = dir.path().join("seed.json");
                std::fs::write(&file, seed.to_string()).expect("seed");
                Emulator::start_with(TOKEN, &["--seed".as_ref(), file.as_os_str()])
            }
            None => Emulator::start(TOKEN),
        };
        Fixture { dir, emulator }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

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

    /// The warehouse's products: (sku, handle, title, season).
    fn items(&self, rows: &[(&str, &str, &str, &str)]) {
        let values: Vec<String> = rows
            .iter()
            .map(|(s, h, t, season)| format!("('{s}', '{h}', '{t}', '{season}')"))
            .collect();
        self.sql(&format!(
            "DROP TABLE IF EXISTS items; CREATE TABLE items (sku TEXT, handle TEXT, title TEXT, season TEXT); \
             INSERT INTO items VALUES {};",
            values.join(", ")
        ));
    }

    /// The destination and a products sync with `extra` spec lines (indented by two).
    fn specs(&self, extra: &str) {
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
  store: drift
  endpoint: {endpoint}
  credentials: {{accessTokenSecretRef: {{name: token, key: token}}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: products}}
spec:
  destinationRef: {{name: store}}
  schedule: {{manual: true}}
  source: {{url: "sqlite://{db}", query: "SELECT sku, handle, title, season FROM items"}}
  primaryKey: sku
  object: products
  mode: upsert
  mappings:
    - {{from: handle, to: handle}}
    - {{from: title, to: title}}
    - from: season
      metafield: {{namespace: custom, key: season, type: single_line_text_field}}
{extra}
"#,
            endpoint = self.emulator.url,
            db = self.path("wh.db").display(),
        );
        std::fs::write(self.path("specs.yaml"), text).expect("specs");
    }

    fn cmd(&self, verb: &str, extra: &[&str]) -> Output {
        bin()
            // `plan --base` reads the base revision from the repository around the working directory.
            .current_dir(self.dir.path())
            .arg(verb)
            .arg("-f")
            .arg(self.path("specs.yaml"))
            .arg("--state")
            .arg(self.path("state.db"))
            .args(extra)
            .output()
            .expect("shopsync")
    }

    fn run(&self) -> String {
        let o = self.cmd("run", &[]);
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    }

    /// `plan --live --format json`: the products sync's report.
    fn live(&self) -> Value {
        let o = self.cmd("plan", &["--live", "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o));
        let report: Value = serde_json::from_slice(&o.stdout).expect("json");
        report["syncs"][0].clone()
    }

    fn admin(&self, query: &str, variables: Value) -> Value {
        let url = format!("{}/admin/api/2026-07/graphql.json", self.emulator.url);
        let body: Value = runtime().block_on(async {
            reqwest::Client::new()
                .post(url)
                .header("X-Shopify-Access-Token", TOKEN)
                .json(&json!({"query": query, "variables": variables}))
                .send()
                .await
                .expect("admin api")
                .json()
                .await
                .expect("json")
        });
        assert!(body.get("errors").is_none(), "{body}");
        body
    }

    /// A merchant edits a product in the admin: its title, and optionally its season metafield.
    fn merchant_edits(&self, handle: &str, title: &str, season: Option<&str>) {
        let mut product = json!({"title": title});
        if let Some(s) = season {
            product["metafields"] = json!([{"namespace": "custom", "key": "season",
                "type": "single_line_text_field", "value": s}]);
        }
        let body = self.admin(
            "mutation Edit($id: ProductUpdateIdentifiers, $p: ProductUpdateInput) { productUpdate(identifier: $id, product: $p) { product { id } userErrors { field message } } }",
            json!({"id": {"handle": handle}, "p": product}),
        );
        assert_eq!(
            body["data"]["productUpdate"]["userErrors"],
            json!([]),
            "{body}"
        );
    }

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

    /// Product handle -> title as the store holds them.
    fn titles(&self) -> std::collections::BTreeMap<String, String> {
        self.store()["products"]
            .as_object()
            .cloned()
            .unwrap_or_default()
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

fn three(f: &Fixture) {
    f.items(&[
        ("S1", "p-1", "Product 1", "summer"),
        ("S2", "p-2", "Product 2", "summer"),
        ("S3", "p-3", "Product 3", "winter"),
    ]);
}

/// The live record of `key`, if it is not in sync.
fn record<'a>(live: &'a Value, key: &str) -> Option<&'a Value> {
    live["live"]["records"]
        .as_array()?
        .iter()
        .find(|r| r["key"] == key)
}

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == name))
        .unwrap_or_else(|| panic!("no field {name} in {record}"))
}

#[test]
fn an_edit_in_shopify_is_reported_as_drift_and_overwrite_repairs_it() {
    let f = Fixture::new(None);
    three(&f);
    f.specs("  drift: {policy: report}");
    f.run();
    let live = f.live();
    assert_eq!(live["live"]["status"], "compared", "{live}");
    assert_eq!(live["live"]["counts"]["checked"], 3, "{live}");
    assert_eq!(live["live"]["counts"]["inSync"], 3, "{live}");

    f.merchant_edits("p-2", "Edited in the admin", Some("autumn"));
    let live = f.live();
    assert_eq!(live["live"]["counts"]["drift"], 1, "{live}");
    assert_eq!(live["live"]["counts"]["inSync"], 2, "{live}");
    let r = record(&live, "S2").expect("S2 drifted");
    assert_eq!(r["state"], "drift");
    let title = field(r, "title");
    assert_eq!(title["state"], "drift");
    assert_eq!(title["lastApplied"], "Product 2");
    assert_eq!(title["shopify"], "Edited in the admin");
    assert_eq!(title["warehouse"], "Product 2");
    let season = field(r, "metafields.custom.season");
    assert_eq!(season["lastApplied"], "summer");
    assert_eq!(season["shopify"], "autumn");
    // The ordinary plan knows nothing of it: the warehouse did not change.
    assert_eq!(live["plan"]["changes"], json!([]), "{live}");

    // The text form says the same, and --check counts drift as pending.
    let o = f.cmd("plan", &["--live", "--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("1 drifted"), "{out}");
    assert!(
        out.contains(r#"title: last applied "Product 2", Shopify "Edited in the admin""#),
        "{out}"
    );

    // report: the run says so and writes nothing to the drifted product.
    let out = f.run();
    assert!(out.contains("drift (report): 1 drifted"), "{out}");
    assert_eq!(f.titles()["p-2"], "Edited in the admin");

    // overwrite: the next run sends the warehouse's values again.
    f.specs("  drift: {policy: overwrite}");
    let out = f.run();
    assert!(out.contains("1 overwritten"), "{out}");
    assert_eq!(f.titles()["p-2"], "Product 2", "{out}");
    let live = f.live();
    assert_eq!(live["live"]["counts"]["inSync"], 3, "{live}");
    assert_eq!(live["live"]["counts"]["drift"], 0, "{live}");
    // Repaired for good: the next run has nothing to send.
    let out = f.run();
    assert!(out.contains("0 drifted"), "{out}");
    assert!(out.contains("synced     0"), "{out}");
}

#[test]
fn adopt_accepts_shopify_values_without_writing() {
    let f = Fixture::new(None);
    three(&f);
    f.specs("  drift: {policy: adopt}");
    f.run();
    f.merchant_edits("p-1", "Merchant's title", None);
    let before = f.store();
    let out = f.run();
    assert!(out.contains("1 adopted"), "{out}");
    assert_eq!(f.store(), before, "adopt must not write to the store");
    // The state took Shopify's value as the last applied one: the next comparison is in sync.
    let live = f.live();
    assert_eq!(live["live"]["counts"]["inSync"], 3, "{live}");
    let o = f.cmd("plan", &["--live", "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let values = state_values(&f, "S1");
    assert_eq!(values["title"], "Merchant's title", "{values}");
    // A later change in the warehouse is an ordinary update, written as always.
    f.items(&[
        ("S1", "p-1", "Warehouse title", "summer"),
        ("S2", "p-2", "Product 2", "summer"),
        ("S3", "p-3", "Product 3", "winter"),
    ]);
    let live = f.live();
    assert_eq!(
        record(&live, "S1").expect("S1")["state"],
        "update",
        "{live}"
    );
    f.run();
    assert_eq!(f.titles()["p-1"], "Warehouse title");
}

/// The last applied values the SQLite state keeps for `key`.
fn state_values(f: &Fixture, key: &str) -> Value {
    let db = f.path("state.db");
    runtime().block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("state");
        let (fields,): (String,) =
            sqlx::query_as("SELECT fields FROM shopsync_values WHERE key = ?")
                .bind(key)
                .fetch_one(&mut c)
                .await
                .expect("values");
        serde_json::from_str(&fields).expect("json")
    })
}

#[test]
fn an_edit_on_both_sides_is_a_conflict_and_a_deleted_record_is_missing() {
    let f = Fixture::new(None);
    three(&f);
    f.specs("  drift: {policy: report}");
    f.run();
    f.merchant_edits("p-1", "Merchant's title", None);
    f.items(&[
        ("S1", "p-1", "Warehouse title", "summer"),
        ("S2", "p-2", "Product 2", "summer"),
        ("S3", "p-3", "Product 3", "winter"),
    ]);
    let id = f.admin(
        "query Find($h: String!) { productByIdentifier(identifier: {handle: $h}) { id } }",
        json!({"h": "p-3"}),
    )["data"]["productByIdentifier"]["id"]
        .clone();
    f.admin(
        "mutation Del($id: ID!) { productDelete(input: {id: $id}, synchronous: true) { deletedProductId userErrors { field message } } }",
        json!({"id": id}),
    );
    let live = f.live();
    let c = &live["live"]["counts"];
    assert_eq!(
        (
            c["conflict"].clone(),
            c["missing"].clone(),
            c["inSync"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{live}"
    );
    let r = record(&live, "S1").expect("S1");
    assert_eq!(r["state"], "conflict");
    let title = field(r, "title");
    assert_eq!(
        (
            &title["warehouse"],
            &title["lastApplied"],
            &title["shopify"]
        ),
        (
            &json!("Warehouse title"),
            &json!("Product 1"),
            &json!("Merchant's title")
        )
    );
    assert_eq!(record(&live, "S3").expect("S3")["state"], "missing");
    let out = text(&f.cmd("plan", &["--live", "--format", "markdown"]));
    assert!(
        out.contains("| `S1` | conflict | `title` | `\"Product 1\"` | `\"Merchant's title\"` | `\"Warehouse title\"` |"),
        "{out}"
    );
    // The run reports the conflict; the warehouse changed, so its value is written as always.
    let out = f.run();
    assert!(out.contains("1 in conflict, 1 missing"), "{out}");
    assert!(out.contains("conflict S1"), "{out}");
    assert_eq!(f.titles()["p-1"], "Warehouse title");
}

#[test]
fn an_observe_only_sync_leaves_the_store_untouched_and_says_what_it_would_do() {
    // The merchant's store before shopsync: two products, one of them also in the warehouse.
    let f = Fixture::new(Some(json!({"products": [
        {"title": "Merchant tee", "handle": "p-1", "variants": [{"sku": "M-TEE", "price": "10.00"}]},
        {"title": "Merchant cap", "handle": "merchant-cap", "variants": [{"sku": "M-CAP", "price": "12.00"}]},
    ]})));
    three(&f);
    f.specs("  managementPolicy: Observe");
    let before = serde_json::to_vec(&f.store()).expect("bytes");
    let out = f.run();
    assert!(out.contains("observe only"), "{out}");
    assert!(out.contains("added     3"), "{out}");
    assert!(out.contains("synced     0"), "{out}");
    let out = f.run();
    assert!(
        out.contains("added     3"),
        "nothing was recorded as synced: {out}"
    );
    assert_eq!(
        serde_json::to_vec(&f.store()).expect("bytes"),
        before,
        "an observe-only sync wrote to the store"
    );
    // The run history has the observations with what they would have done.
    let o = bin()
        .args(["debugger", "runs", "--sync", "products", "--state"])
        .arg(f.path("state.db"))
        .output()
        .expect("debugger");
    assert!(o.status.success(), "{}", text(&o));

    // Managed, then observed again: the observation reports drift and still writes nothing.
    f.specs("");
    f.run();
    assert_eq!(f.titles()["p-1"], "Product 1");
    f.merchant_edits("p-1", "Edited again", None);
    f.specs("  managementPolicy: Observe");
    let before = serde_json::to_vec(&f.store()).expect("bytes");
    let out = f.run();
    assert!(out.contains("1 drifted"), "{out}");
    assert_eq!(serde_json::to_vec(&f.store()).expect("bytes"), before);
}

#[test]
fn switching_observe_to_manage_is_reviewed_as_a_risk_with_the_writes_it_makes() {
    let f = Fixture::new(None);
    three(&f);
    f.specs("  managementPolicy: Observe");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(f.dir.path())
            .output()
            .expect("git");
        assert!(o.status.success(), "{}", text(&o));
    };
    git(&["init", "-q"]);
    git(&["add", "specs.yaml"]);
    git(&["commit", "-q", "-m", "observe"]);
    f.run();
    f.specs("  managementPolicy: Manage");
    let o = f.cmd("plan", &["--base", "HEAD", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("json");
    let risk = report["risks"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["kind"] == "observe_to_manage"))
        .unwrap_or_else(|| panic!("no observe_to_manage risk: {report}"));
    let message = risk["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("writes 3 record(s) to the store (3 to add, 0 to change"),
        "{message}"
    );
}

#[test]
fn the_adoption_example_is_valid() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/adopt-products.yaml");
    let o = bin()
        .arg("validate")
        .arg("-f")
        .arg(&example)
        .output()
        .expect("validate");
    assert!(o.status.success(), "{}", text(&o));
}
