//! Request batching and bulk operations end to end: a SQLite warehouse, the engine, the Shopify client and the
//! in-process emulator. Batched requests map each alias's user errors to its row and fall back to one request
//! per row when refused as a whole; change sets at the sync's bulkThreshold go through a bulk operation, whose
//! rejected lines are rejected rows, and a failed operation loses and duplicates nothing. A run that dies while
//! its operation runs leaves it to the next run, which takes it up rather than starting another.
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::calls::{ApiCall, CallLog};
use shopsync::core::config::{ApiVersion, SyncConfig};
use shopsync::core::engine::Engine;
use shopsync::core::report::RunReport;
use shopsync::emulator::{Emulator, Plan, RunningEmulator};
use shopsync::shopify::{BulkSettings, CostBudget, RetryPolicy, ShopifyClient, Store, Transport};
use shopsync::state::SqliteStateStore;
use shopsync::warehouse::SqlWarehouse;
use sqlx::Connection;

/// Every call the client makes, as the debugger log would see it.
#[derive(Default)]
struct Calls(Mutex<Vec<ApiCall>>);

impl CallLog for Calls {
    fn record(&self, call: ApiCall) {
        self.0.lock().unwrap().push(call);
    }
}

impl Calls {
    /// The writes recorded since the last take: the lookups an upsert makes of its new keys (to know which
    /// records it creates) are left out and counted apart, by [`Calls::take_split`].
    fn take(&self) -> Vec<ApiCall> {
        self.take_split().0
    }

    /// The calls since the last take: the writes, then the lookups before upserts.
    fn take_split(&self) -> (Vec<ApiCall>, Vec<ApiCall>) {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .partition(|c| {
                !c.operation
                    .as_deref()
                    .is_some_and(|o| o.ends_with("ByIdentifier"))
            })
    }
}

struct World {
    _dir: tempfile::TempDir,
    db: PathBuf,
    state: SqliteStateStore,
    emulator: RunningEmulator,
    calls: Arc<Calls>,
}

impl World {
    async fn new(table: &str, columns: &str, rows: &[Vec<&str>]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("warehouse.db");
        let state = SqliteStateStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        let emulator = Emulator::builder()
            .plan(Plan::Plus)
            .token("shpat_test")
            .start_on_loopback()
            .await
            .unwrap();
        let world = World {
            _dir: dir,
            db,
            state,
            emulator,
            calls: Arc::new(Calls::default()),
        };
        world
            .sql(&format!("CREATE TABLE {table} ({columns})"))
            .await;
        for row in rows {
            let values: Vec<String> = row
                .iter()
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect();
            world
                .sql(&format!(
                    "INSERT INTO {table} VALUES ({})",
                    values.join(", ")
                ))
                .await;
        }
        world
    }

    async fn sql(&self, statement: &str) {
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", self.db.display()))
                .await
                .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    fn config(&self, body: &str) -> SyncConfig {
        let yaml = format!(
            "apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: t}}\nspec:\n  destinationRef: {{name: t}}\n  source: {{url: \"sqlite://{}\", query: \"{}\"}}\n{body}\n  schedule: {{manual: true}}\n",
            self.db.display(),
            if body.contains("object: customers") {
                "SELECT * FROM customers"
            } else {
                "SELECT * FROM products"
            }
        );
        let spec: ShopifySync = serde_yaml::from_str(&yaml).unwrap();
        sync_config("test/t", &spec.spec).unwrap()
    }

    fn client(&self, batch: usize) -> ShopifyClient {
        let store = Store {
            base_url: self.emulator.base_url(),
            version: ApiVersion::DEFAULT,
            token: "shpat_test".into(),
        };
        let transport = Transport::new(store, Arc::new(CostBudget::new()), RetryPolicy::default())
            .unwrap()
            .with_call_log(self.calls.clone());
        ShopifyClient::new(transport, 4)
            .with_bulk_journal(Arc::new(self.state.clone()))
            .with_batch_size(batch)
            .with_bulk_settings(BulkSettings {
                first_poll: std::time::Duration::from_millis(20),
                ..BulkSettings::default()
            })
    }

    async fn run(&self, config: &SyncConfig, batch: usize) -> RunReport {
        self.run_with(config, &self.client(batch)).await
    }

    async fn run_with(&self, config: &SyncConfig, client: &ShopifyClient) -> RunReport {
        let warehouse =
            SqlWarehouse::from_url(&config.id, &format!("sqlite://{}", self.db.display())).unwrap();
        Engine::new(
            &warehouse,
            &self.state,
            client,
            &shopsync::clock::SystemClock,
            "test",
        )
        .run(config)
        .await
        .unwrap()
    }

    fn count(&self, what: &str) -> usize {
        self.emulator.dump()[what]
            .as_object()
            .map_or(0, serde_json::Map::len)
    }

    fn bulk_statuses(&self) -> Vec<String> {
        self.emulator.dump()["bulk_operations"]
            .as_object()
            .map(|ops| {
                ops.values()
                    .map(|o| o["status"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn faults(&self, faults: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/__emulator/faults", self.emulator.base_url()))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

const PRODUCTS: &str = "  primaryKey: handle\n  object: products\n  mode: upsert\n  mappings:\n    - {from: handle, to: handle}\n    - {from: title, to: title}\n    - {from: status, to: status}";

fn products(n: usize, blank_titles: &[usize]) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| {
            let title = if blank_titles.contains(&i) {
                String::new()
            } else {
                format!("Product {i}")
            };
            vec![format!("p-{i}"), title, "ACTIVE".to_string()]
        })
        .collect()
}

fn refs(rows: &[Vec<String>]) -> Vec<Vec<&str>> {
    rows.iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect()
}

fn rejected_keys(report: &RunReport) -> BTreeSet<String> {
    report
        .rejections
        .iter()
        .filter_map(|r| r.key.clone())
        .collect()
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|k| k.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn batched_requests_map_each_alias_to_its_row() {
    let rows = products(60, &[7, 42]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    let config = world.config(PRODUCTS);
    let report = world.run(&config, 25).await;
    assert_eq!(report.stats.succeeded, 58, "{report:?}");
    assert_eq!(rejected_keys(&report), keys(&["p-7", "p-42"]));
    assert!(
        report
            .rejections
            .iter()
            .all(|r| r.message.contains("Title can't be blank")),
        "{:?}",
        report.rejections
    );
    assert_eq!(world.count("products"), 58);
    // 60 rows in three requests of at most 25, each naming every row it carried; the 60 new handles were looked
    // up first, 25 to a query, so that the products the run creates are known as its own.
    let (calls, lookups) = world.calls.take_split();
    let mut looked_up: Vec<usize> = lookups.iter().map(|c| c.keys.len()).collect();
    looked_up.sort_unstable();
    assert_eq!(looked_up, vec![10, 25, 25], "{lookups:#?}");
    assert_eq!(calls.len(), 3, "{calls:#?}");
    let mut sizes: Vec<usize> = calls.iter().map(|c| c.keys.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![10, 25, 25]);
    let carried: BTreeSet<String> = calls.iter().flat_map(|c| c.keys.clone()).collect();
    assert_eq!(carried.len(), 60);
    assert!(
        calls
            .iter()
            .all(|c| c.cost_requested == Some(c.keys.len() as f64 * 10.0))
    );
    assert!(world.bulk_statuses().is_empty(), "below the threshold");

    // The fixed rows are sent again, and only they; then nothing is left to write.
    world
        .sql("UPDATE products SET title = 'Fixed' WHERE handle IN ('p-7', 'p-42')")
        .await;
    let second = world.run(&config, 25).await;
    assert_eq!(
        (second.writes, second.stats.succeeded),
        (2, 2),
        "{second:?}"
    );
    assert_eq!(world.calls.take().len(), 1, "two rows, one request");
    let third = world.run(&config, 25).await;
    assert_eq!(third.writes, 0, "{third:?}");
    assert!(world.calls.take().is_empty());
    assert_eq!(world.count("products"), 60);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_refused_as_a_whole_falls_back_to_one_request_per_row() {
    let mut rows = products(10, &[]);
    // Not a ProductStatus: Shopify refuses the whole document's variables, so no alias runs.
    rows[3][2] = "NOPE".into();
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    let report = world.run(&world.config(PRODUCTS), 25).await;
    assert_eq!(report.stats.succeeded, 9, "{report:?}");
    assert_eq!(rejected_keys(&report), keys(&["p-3"]));
    assert!(
        report.rejections[0].message.contains("INVALID_VARIABLE"),
        "{:?}",
        report.rejections
    );
    assert_eq!(world.count("products"), 9);
    let calls = world.calls.take();
    assert_eq!(calls.len(), 11, "the batch, then each row alone");
    assert_eq!(calls[0].keys.len(), 10);
    assert!(calls[1..].iter().all(|c| c.keys.len() == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn batching_off_sends_one_request_per_row() {
    let rows = products(5, &[]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    let report = world.run(&world.config(PRODUCTS), 1).await;
    assert_eq!(report.stats.succeeded, 5);
    assert_eq!(world.calls.take().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn change_sets_at_the_threshold_go_through_one_bulk_operation() {
    let rows = products(30, &[4, 17]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    let config = world.config(&format!("{PRODUCTS}\n  bulkThreshold: 30"));
    assert_eq!(config.bulk_threshold, 30);
    let report = world.run(&config, 25).await;
    assert_eq!(report.stats.succeeded, 28, "{report:?}");
    assert_eq!(rejected_keys(&report), keys(&["p-4", "p-17"]));
    assert!(
        report
            .rejections
            .iter()
            .all(|r| r.message.contains("Title can't be blank")
                && r.code.as_deref() == Some("BLANK")),
        "{:?}",
        report.rejections
    );
    assert_eq!(world.count("products"), 28);
    assert_eq!(world.bulk_statuses(), vec!["COMPLETED"]);
    let calls = world.calls.take();
    let ops: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.operation.as_deref())
        .collect();
    assert!(
        !ops.iter()
            .any(|o| o.contains("productSet") || o.contains("ProductSet")),
        "no row was written outside the bulk operation: {ops:?}"
    );
    let upload = calls
        .iter()
        .find(|c| c.url.contains("staged-uploads"))
        .expect("a multipart upload");
    assert_eq!(upload.status, Some(201));
    assert_eq!(
        upload.keys.len(),
        30,
        "the upload names every row of its file"
    );

    // Two fixed rows are below the threshold: they go in a batched request, not a bulk operation.
    world
        .sql("UPDATE products SET title = 'Fixed' WHERE handle IN ('p-4', 'p-17')")
        .await;
    let second = world.run(&config, 25).await;
    assert_eq!(
        (second.writes, second.stats.succeeded),
        (2, 2),
        "{second:?}"
    );
    assert_eq!(world.bulk_statuses().len(), 1);
    let third = world.run(&config, 25).await;
    assert_eq!(third.writes, 0, "{third:?}");
    assert_eq!(world.count("products"), 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_row_under_the_threshold_means_no_bulk_operation() {
    let rows = products(9, &[]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    let report = world
        .run(
            &world.config(&format!("{PRODUCTS}\n  bulkThreshold: 10")),
            25,
        )
        .await;
    assert_eq!(report.stats.succeeded, 9);
    assert!(world.bulk_statuses().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_bulk_operation_loses_nothing_and_duplicates_nothing() {
    let rows = products(40, &[]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    world.faults(json!({"bulk_fail_after_lines": 12})).await;
    let config = world.config(&format!("{PRODUCTS}\n  bulkThreshold: 20"));
    let report = world.run(&config, 25).await;
    assert_eq!(world.bulk_statuses(), vec!["FAILED"]);
    assert_eq!(report.stats.succeeded, 40, "{report:?}");
    assert_eq!(report.stats.rejected, 0);
    assert!(report.unknown.is_empty());
    // The 12 lines of partial data count as done; the other 28 rows went in two batched requests.
    let batched: Vec<ApiCall> = world
        .calls
        .take()
        .into_iter()
        .filter(|c| {
            c.document
                .as_deref()
                .is_some_and(|d| d.contains("ProductSetBatch"))
        })
        .collect();
    assert_eq!(
        batched.iter().map(|c| c.keys.len()).sum::<usize>(),
        28,
        "{batched:#?}"
    );
    assert_eq!(world.count("products"), 40, "no duplicates");
    world.faults(json!({})).await;
    let second = world.run(&config, 25).await;
    assert_eq!(second.writes, 0, "{second:?}");
    assert_eq!(world.count("products"), 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_go_through_bulk_operations_too() {
    let rows: Vec<Vec<String>> = (0..12)
        .map(|i| {
            let email = if i == 5 {
                "not-an-email".to_string()
            } else {
                format!("c{i}@example.com")
            };
            vec![format!("c-{i}"), email, format!("Name{i}")]
        })
        .collect();
    let world = World::new(
        "customers",
        "id TEXT PRIMARY KEY, email TEXT, first_name TEXT",
        &refs(&rows),
    )
    .await;
    let config = world.config("  primaryKey: id\n  object: customers\n  mode: upsert\n  match: {key: email}\n  mappings:\n    - {from: email, to: email}\n    - {from: first_name, to: firstName}\n  bulkThreshold: 10");
    let report = world.run(&config, 25).await;
    assert_eq!(world.bulk_statuses(), vec!["COMPLETED"]);
    assert_eq!(report.stats.succeeded, 11, "{report:?}");
    assert_eq!(rejected_keys(&report), keys(&["c-5"]));
    assert_eq!(world.count("customers"), 11);
    let again = world.run(&config, 25).await;
    assert_eq!(again.stats.succeeded, 0);
    assert_eq!(
        again.stats.rejected, 1,
        "the bad row is retried and refused again"
    );
    assert_eq!(world.count("customers"), 11);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shop_running_its_maximum_of_bulk_mutations_is_waited_for() {
    use shopsync::shopify::ops::documents::{
        BULK_OPERATION_RUN_MUTATION, PRODUCT_SET, STAGED_UPLOADS_CREATE,
    };
    let rows = products(12, &[]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    // Five operations of two slow lines each: the shop's limit from 2026-01, all running.
    world.faults(json!({"bulk_line_delay_ms": 400})).await;
    let client = world.client(25);
    let t = client.transport();
    for i in 0..5 {
        let staged = t
            .execute(
                STAGED_UPLOADS_CREATE,
                json!({"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "v.jsonl", "mimeType": "text/jsonl", "httpMethod": "POST"}]}),
            )
            .await
            .unwrap();
        let target = &staged.data["stagedUploadsCreate"]["stagedTargets"][0];
        let fields: Vec<(String, String)> = target["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let key = fields.iter().find(|(n, _)| n == "key").unwrap().1.clone();
        let file = format!(
            "{}\n{}\n",
            json!({"input": {"title": format!("Other {i}a"), "handle": format!("other-{i}a")}, "identifier": {"handle": format!("other-{i}a")}}),
            json!({"input": {"title": format!("Other {i}b"), "handle": format!("other-{i}b")}, "identifier": {"handle": format!("other-{i}b")}}),
        );
        t.upload_form(
            target["url"].as_str().unwrap(),
            &fields,
            "v.jsonl",
            file.as_bytes(),
        )
        .await
        .unwrap();
        let started = t
            .execute(
                BULK_OPERATION_RUN_MUTATION,
                json!({"mutation": PRODUCT_SET, "path": key}),
            )
            .await
            .unwrap();
        assert!(
            started.data["bulkOperationRunMutation"]["bulkOperation"]["id"].is_string(),
            "{:?}",
            started.data
        );
    }
    world.calls.take();
    let config = world.config(&format!("{PRODUCTS}\n  bulkThreshold: 10"));
    let report = world.run(&config, 25).await;
    assert_eq!(report.stats.succeeded, 12, "{report:?}");
    let refused = world
        .calls
        .take()
        .into_iter()
        .filter(|c| {
            c.response
                .as_deref()
                .is_some_and(|r| r.contains("OPERATION_IN_PROGRESS"))
        })
        .count();
    assert!(refused >= 1, "the sync's operation had to wait for a slot");
    let statuses = world.bulk_statuses();
    assert_eq!(statuses.len(), 6, "{statuses:?}");
    assert!(statuses.iter().all(|s| s == "COMPLETED"), "{statuses:?}");
    assert_eq!(world.count("products"), 22);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_dies_during_its_bulk_operation_leaves_it_to_the_next_run() {
    use futures::StreamExt;
    use shopsync::core::state::{Ownership, StateStore};
    let rows = products(24, &[]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    // Slow lines keep the operation running long after it was accepted.
    world.faults(json!({"bulk_line_delay_ms": 40})).await;
    let config = world.config(&format!("{PRODUCTS}\n  bulkThreshold: 10"));
    let client = world.client(25);
    {
        // The run stops where it stands once its operation runs, as a killed process does: nothing after.
        let run = world.run_with(&config, &client);
        let running = async {
            while !world
                .bulk_statuses()
                .iter()
                .any(|s| s == "RUNNING" || s == "CREATED")
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            _ = run => panic!("the run ended before its operation was seen running"),
            () = running => {}
        }
    }
    assert_eq!(world.bulk_statuses().len(), 1);
    assert!(
        world
            .state
            .bulk_journal(&config.id)
            .await
            .unwrap()
            .is_some(),
        "the operation is journaled"
    );
    world.calls.take();
    let report = world.run_with(&config, &client).await;
    assert_eq!(report.stats.succeeded, 24, "{report:?}");
    assert_eq!(
        world.bulk_statuses(),
        vec!["COMPLETED"],
        "one operation: the second run took the first one up"
    );
    let calls = world.calls.take();
    assert!(
        !calls
            .iter()
            .any(|c| c.operation.as_deref().is_some_and(|o| {
                let o = o.to_lowercase();
                o.contains("bulkoperationrunmutation") || o.contains("productset")
            })),
        "nothing submitted nor written again: {:?}",
        calls
            .iter()
            .map(|c| c.operation.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        world
            .state
            .bulk_journal(&config.id)
            .await
            .unwrap()
            .is_none()
    );
    // Every row once in the store, the state naming the store's record, created by the sync.
    let dump = world.emulator.dump();
    let store: std::collections::BTreeMap<String, String> = dump["products"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            (
                p["handle"].as_str().unwrap().to_string(),
                format!("gid://shopify/Product/{}", p["id"]),
            )
        })
        .collect();
    assert_eq!(store.len(), 24);
    let snapshot: Vec<_> = world
        .state
        .snapshot(&config.id)
        .map(|e| e.unwrap())
        .collect()
        .await;
    let state: std::collections::BTreeMap<String, String> = snapshot
        .iter()
        .map(|e| (e.key.clone(), e.shopify_id.clone().unwrap_or_default()))
        .collect();
    assert_eq!(state, store);
    assert!(
        snapshot.iter().all(|e| e.ownership == Ownership::Created),
        "{snapshot:?}"
    );
    let again = world.run_with(&config, &client).await;
    assert_eq!(again.writes, 0, "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_bulk_operation_run_mutation_is_settled_by_the_current_operation() {
    let rows = products(15, &[]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    // Shopify starts the operation, and the answer naming it never arrives.
    world
        .faults(json!({"drop_after_apply_rate": 1.0, "operations": ["bulkOperationRunMutation"]}))
        .await;
    let config = world.config(&format!("{PRODUCTS}\n  bulkThreshold: 10"));
    let report = world.run(&config, 25).await;
    assert_eq!(report.stats.succeeded, 15, "{report:?}");
    assert!(report.unknown.is_empty(), "{report:?}");
    assert_eq!(
        world.bulk_statuses(),
        vec!["COMPLETED"],
        "the operation was found, not started again"
    );
    let calls = world.calls.take();
    let sent = |name: &str| {
        calls
            .iter()
            .filter(|c| c.operation.as_deref() == Some(name))
            .count()
    };
    assert_eq!(sent("bulkOperationRunMutation"), 1, "{calls:#?}");
    assert!(sent("currentBulkOperation") >= 2, "looked before and after");
    assert_eq!(world.count("products"), 15);
    world.faults(json!({})).await;
    assert_eq!(world.run(&config, 25).await.writes, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_operation_run_mutation_dropped_before_it_applies_is_sent_again_and_starts_one() {
    let rows = products(15, &[]);
    let world = World::new(
        "products",
        "handle TEXT PRIMARY KEY, title TEXT, status TEXT",
        &refs(&rows),
    )
    .await;
    // Half the starts are dropped before Shopify applies them: each is looked for, then sent again.
    world
        .faults(json!({"drop_rate": 0.5, "operations": ["bulkOperationRunMutation"]}))
        .await;
    let config = world.config(&format!("{PRODUCTS}\n  bulkThreshold: 10"));
    let report = world.run(&config, 25).await;
    assert_eq!(report.stats.succeeded, 15, "{report:?}");
    let statuses = world.bulk_statuses();
    assert!(
        statuses.len() <= 1,
        "never two operations for the same rows: {statuses:?}"
    );
    assert_eq!(world.count("products"), 15);
}
