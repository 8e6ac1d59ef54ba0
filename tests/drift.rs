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

    /// The destination and a customers sync of the warehouse's `people` (id, email, phone, first_name), matched
    /// by email, with `extra` spec lines (indented by two).
    fn customer_specs(&self, extra: &str) {
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
metadata: {{name: customers}}
spec:
  destinationRef: {{name: store}}
  schedule: {{manual: true}}
  source: {{url: "sqlite://{db}", query: "SELECT id, email, phone, first_name FROM people"}}
  primaryKey: id
  object: customers
  mode: upsert
  match: {{key: email}}
  mappings:
    - {{from: email, to: email}}
    - {{from: phone, to: phone}}
    - {{from: first_name, to: firstName}}
{extra}
"#,
            endpoint = self.emulator.url,
            db = self.path("wh.db").display(),
        );
        std::fs::write(self.path("specs.yaml"), text).expect("specs");
    }

    /// The warehouse's customers: (id, email, phone, first name); an empty phone is NULL.
    fn people(&self, rows: &[(&str, &str, &str, &str)]) {
        let values: Vec<String> = rows
            .iter()
            .map(|(id, e, p, n)| {
                let phone = if p.is_empty() {
                    "NULL".to_string()
                } else {
                    format!("'{p}'")
                };
                format!("('{id}', '{e}', {phone}, '{n}')")
            })
            .collect();
        self.sql(&format!(
            "DROP TABLE IF EXISTS people; CREATE TABLE people (id TEXT, email TEXT, phone TEXT, first_name TEXT); \
             INSERT INTO people VALUES {};",
            values.join(", ")
        ));
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

/// The adoption row of `key` in a `plan --live` JSON report.
fn adoption_row<'a>(sync: &'a Value, key: &str) -> &'a Value {
    sync["adoption"]["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["key"] == key))
        .unwrap_or_else(|| panic!("no adoption row {key}: {sync}"))
}

fn conflict<'a>(row: &'a Value, kind: &str) -> &'a Value {
    row["conflicts"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} conflict: {row}"))
}

#[test]
fn a_first_run_is_preceded_by_an_adoption_report_and_the_report_writes_nothing() {
    // The merchant's store before shopsync: four customers.
    let f = Fixture::new(Some(json!({"customers": [
        {"id": 101, "email": "ann@example.com", "phone": "+14155550101", "first_name": "Ann"},
        {"id": 102, "email": "bob@example.com", "first_name": "Bob"},
        {"id": 103, "email": "cy@example.com", "phone": "+14155550103", "first_name": "Cy"},
        {"id": 104, "email": "dee@example.com", "phone": "+14155550104", "first_name": "Dee"},
    ]})));
    f.people(&[
        // Ann's email as the warehouse spells it: matches customer 101 once normalised.
        ("P1", "Ann@Example.COM", "", "Ann"),
        ("P2", "new@example.com", "", "New"),
        // Two rows → one record: the emails differ only in case.
        ("P3", "dup@example.com", "", "Dup"),
        ("P4", "DUP@example.com", "", "Dup again"),
        // One row → two candidates: the email is Bob's (102), the phone Cy's (103) once in E.164.
        ("P5", "bob@example.com", "(415) 555-0103", "Bob"),
        // No customer has this email, but Dee (104) has the phone: a create would be refused.
        ("P6", "eve@example.com", "415-555-0104", "Eve"),
    ]);
    f.customer_specs("");
    let before = serde_json::to_vec(&f.store()).expect("bytes");

    let sync = f.live();
    let adoption = &sync["adoption"];
    assert_eq!(adoption["status"], "reported", "{sync}");
    assert_eq!(adoption["matching"]["by"], "email", "{sync}");
    assert_eq!(
        adoption["counts"],
        json!({"rows": 6, "matched": 1, "created": 1, "conflicts": 4, "noKey": 0}),
        "{sync}"
    );
    let p1 = adoption_row(&sync, "P1");
    assert_eq!(
        (&p1["state"], &p1["by"], &p1["value"], &p1["shopifyId"]),
        (
            &json!("match"),
            &json!("email"),
            &json!("ann@example.com"),
            &json!("gid://shopify/Customer/101")
        ),
        "{p1}"
    );
    let p2 = adoption_row(&sync, "P2");
    assert_eq!(p2["state"], "create", "{p2}");
    assert!(p2.get("shopifyId").is_none(), "{p2}");
    for key in ["P3", "P4"] {
        let row = adoption_row(&sync, key);
        assert_eq!(row["state"], "conflict");
        let shared = conflict(row, "shared_record");
        assert_eq!(shared["by"], "email");
        assert_eq!(shared["value"], "dup@example.com");
        assert_eq!(shared["keys"], json!(["P3", "P4"]));
    }
    let two = conflict(adoption_row(&sync, "P5"), "two_candidates");
    let mut ids: Vec<(String, String, String)> = two["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| {
            (
                c["by"].as_str().unwrap_or_default().to_string(),
                c["value"].as_str().unwrap_or_default().to_string(),
                c["shopifyId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            (
                "email".to_string(),
                "bob@example.com".to_string(),
                "gid://shopify/Customer/102".to_string()
            ),
            (
                "phone".to_string(),
                "+14155550103".to_string(),
                "gid://shopify/Customer/103".to_string()
            ),
        ]
    );
    let taken = conflict(adoption_row(&sync, "P6"), "taken");
    assert_eq!(
        taken["candidate"],
        json!({"by": "phone", "value": "+14155550104", "shopifyId": "gid://shopify/Customer/104"})
    );
    assert!(
        adoption["costPoints"].as_f64().unwrap_or_default() > 0.0,
        "{sync}"
    );

    // Text and Markdown say the same; conflicts make --check report pending work.
    let o = f.cmd("plan", &["--live", "--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(
            "adoption: 6 new row(s) matched by email: 1 match an existing record, 1 create one, 4 in conflict"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            r#"match    P1  email "ann@example.com" is gid://shopify/Customer/101: adopted"#
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"rows P3, P4 share email "dup@example.com""#),
        "{out}"
    );
    let md = text(&f.cmd("plan", &["--live", "--format", "markdown"]));
    assert!(md.contains("#### Adoption of existing records"), "{md}");
    assert!(
        md.contains("| `default/customers` | 6 | email | 1 | 1 | 4 | 0 |"),
        "{md}"
    );

    // Nothing was written: the store is byte for byte what it was.
    assert_eq!(
        serde_json::to_vec(&f.store()).expect("bytes"),
        before,
        "the adoption report wrote to the store"
    );
}

#[test]
fn a_customer_edited_in_the_admin_is_drift_and_overwrite_repairs_it() {
    let f = Fixture::new(None);
    f.people(&[
        ("C1", "ann@example.com", "+14155550101", "Ann"),
        ("C2", "bob@example.com", "", "Bob"),
    ]);
    f.customer_specs("  drift: {policy: report}");
    f.run();
    let live = f.live();
    assert_eq!(live["live"]["counts"]["inSync"], 2, "{live}");

    // The merchant renames Ann in the admin.
    let id = f.admin(
        "query Find($e: String!) { customerByIdentifier(identifier: {emailAddress: $e}) { id } }",
        json!({"e": "ann@example.com"}),
    )["data"]["customerByIdentifier"]["id"]
        .clone();
    let body = f.admin(
        "mutation Edit($input: CustomerInput!) { customerUpdate(input: $input) { customer { id } userErrors { field message } } }",
        json!({"input": {"id": id, "firstName": "Annie"}}),
    );
    assert_eq!(body["data"]["customerUpdate"]["userErrors"], json!([]));

    let live = f.live();
    assert_eq!(live["live"]["counts"]["drift"], 1, "{live}");
    let r = record(&live, "C1").expect("C1 drifted");
    assert_eq!(r["shopifyId"], id);
    let name = field(r, "firstName");
    assert_eq!(
        (&name["state"], &name["lastApplied"], &name["shopify"]),
        (&json!("drift"), &json!("Ann"), &json!("Annie")),
        "{r}"
    );
    assert_eq!(r["fields"].as_array().map(Vec::len), Some(1), "{r}");
    let first_name = |f: &Fixture| {
        let gid = id.as_str().unwrap_or_default();
        let num = gid.rsplit('/').next().unwrap_or_default();
        f.store()["customers"][num]["first_name"].clone()
    };
    assert_eq!(first_name(&f), "Annie");

    f.customer_specs("  drift: {policy: overwrite}");
    let out = f.run();
    assert!(out.contains("1 overwritten"), "{out}");
    assert_eq!(first_name(&f), "Ann", "{out}");
    let live = f.live();
    assert_eq!(live["live"]["counts"]["inSync"], 2, "{live}");
}

#[test]
fn drift_every_holds_across_processes() {
    let f = Fixture::new(None);
    three(&f);
    f.specs("  drift: {policy: report, every: 1h}");
    let out = f.run();
    assert!(out.contains("drift (report): 0 drifted"), "{out}");
    f.merchant_edits("p-2", "Edited in the admin", None);
    // A new process an instant later: the state says the last check was under an hour ago.
    let out = f.run();
    assert!(
        !out.contains("drift ("),
        "checked again within drift.every: {out}"
    );
    // plan --live is a look on demand, whatever the schedule.
    assert_eq!(f.live()["live"]["counts"]["drift"], 1);
    // An hour passes (the recorded check moved back by one): the next process checks and finds the edit, and
    // records its own check, so the one after waits again.
    let checked_at = |f: &Fixture, shift_ms: i64| -> i64 {
        let db = f.path("state.db");
        runtime().block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .expect("state");
            sqlx::query(
                "UPDATE shopsync_drift_checks SET checked_at = checked_at - ? WHERE sync = ?",
            )
            .bind(shift_ms)
            .bind("default/products")
            .execute(&mut c)
            .await
            .expect("update");
            let (at,): (i64,) =
                sqlx::query_as("SELECT checked_at FROM shopsync_drift_checks WHERE sync = ?")
                    .bind("default/products")
                    .fetch_one(&mut c)
                    .await
                    .expect("the last drift check is in the state");
            at
        })
    };
    let first = checked_at(&f, 3_600_000);
    let out = f.run();
    assert!(out.contains("drift (report): 1 drifted"), "{out}");
    assert!(
        checked_at(&f, 0) > first + 3_000_000,
        "the new check was recorded"
    );
    let out = f.run();
    assert!(!out.contains("drift ("), "{out}");
}
