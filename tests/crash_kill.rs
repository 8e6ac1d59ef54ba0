//! `kill -9` of `shopsync run` at pseudo-random points, then a clean run: every row is in the store exactly
//! once and the state agrees with the store. And a small fault soak: the same syncs and fulfillment-order holds
//! under 5xx answers and connections dropped before and after Shopify applied the request.
//!
//! Ten trials against one `shopsync emulator` and one SQLite warehouse and state: each trial adds insert-mode
//! customers, fulfillment events and products and renames every product (an upsert large enough for a bulk
//! operation), starts `shopsync run`, and SIGKILLs it at a point drawn from a fixed seed: after a number of
//! writes the store has applied (with every answer held back a little, so that a kill often falls between a
//! write and its record) or while the trial's bulk operation runs. A clean run follows. After each trial the
//! store holds each customer, product and event once, each trial made exactly one bulk operation, and the
//! state names each row's record and records what the sync created as created.
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use shopsync::core::calls::CallStore;
use shopsync::core::state::{LedgerStatus, Ownership, StateStore};
use shopsync::state::SqliteStateStore;

use crate::cli::{Emulator, bin, text};

const TOKEN: &str = "shpat_crash_trials";
const TRIALS: u64 = 10;
const SEED: u64 = 0x5eed_0016;
/// Products before the first round: with the new ones, every round renames more than the bulk threshold.
const FIRST_PRODUCTS: u64 = 10;
/// Fulfillment orders of the seeded order, for the holds.
const FULFILLMENT_ORDERS: u64 = 40;

/// The rows one round adds to the warehouse (every round also renames every product).
#[derive(Debug, Clone, Copy)]
struct Rows {
    customers: u64,
    events: u64,
    products: u64,
    holds: u64,
}

const TRIAL: Rows = Rows {
    customers: 3,
    events: 3,
    products: 2,
    holds: 0,
};

const SOAK: Rows = Rows {
    customers: 20,
    events: 20,
    products: 20,
    holds: 20,
};

/// xorshift64*: a fixed seed gives the same kill points on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

struct World {
    dir: tempfile::TempDir,
    emulator: Emulator,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// What the warehouse holds: rows added so far, and the latest round.
    total: Rows,
    round: u64,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        // One order with one fulfillment, for the events, and open fulfillment orders, for the holds.
        let fulfillment_orders: Vec<Value> = (0..FULFILLMENT_ORDERS)
            .map(|k| json!({"id": 5000 + k, "location_id": 1001}))
            .collect();
        let seed = json!({
            "shop": {"name": "Crash"},
            "locations": [{"id": 1001, "name": "Main warehouse"}],
            "orders": [{"id": 3001, "name": "#1001", "line_items": [{"title": "Tee", "quantity": 1, "sku": "TEE"}], "fulfillments": [{"id": 4001}], "fulfillment_orders": fulfillment_orders}],
        });
        let seed_file = dir.path().join("seed.json");
        std::fs::write(&seed_file, seed.to_string()).unwrap();
        let emulator = Emulator::start_with(TOKEN, &["--seed".as_ref(), seed_file.as_os_str()]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let world = World {
            dir,
            emulator,
            rt,
            http: reqwest::Client::new(),
            total: Rows {
                customers: 0,
                events: 0,
                products: FIRST_PRODUCTS,
                holds: 0,
            },
            round: 0,
        };
        world.sql(
            "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, email TEXT NOT NULL, first_name TEXT);
             CREATE TABLE products (handle TEXT PRIMARY KEY, title TEXT NOT NULL);
             CREATE TABLE events (event_id TEXT PRIMARY KEY, order_id TEXT, fulfillment_id TEXT, status TEXT, happened_at TEXT);
             CREATE TABLE holds (action_id TEXT PRIMARY KEY, fulfillment_order_id TEXT, reason TEXT, reason_notes TEXT);",
        );
        for p in 0..FIRST_PRODUCTS {
            world.sql(&format!(
                "INSERT INTO products VALUES ('first-{p}', 'First {p}')"
            ));
        }
        world.specs();
        world
    }

    /// Adds round `round`'s rows and renames every product after it.
    fn add_rows(&mut self, round: u64, rows: Rows) {
        let mut sql = String::new();
        for c in 0..rows.customers {
            sql.push_str(&format!(
                "INSERT INTO customers VALUES ('c{round}-{c}', 'buyer{round}-{c}@example.com', 'Buyer {round} {c}');"
            ));
        }
        for e in 0..rows.events {
            sql.push_str(&format!(
                "INSERT INTO events VALUES ('ev{round}-{e}', 'gid://shopify/Order/3001', 'gid://shopify/Fulfillment/4001', 'IN_TRANSIT', '2026-11-{:02}T08:{:02}:00Z');",
                10 + round,
                e
            ));
        }
        for p in 0..rows.products {
            sql.push_str(&format!(
                "INSERT INTO products VALUES ('new-{round}-{p}', 'New');"
            ));
        }
        for h in 0..rows.holds {
            let fo = 5000 + self.total.holds + h;
            assert!(fo < 5000 + FULFILLMENT_ORDERS);
            sql.push_str(&format!(
                "INSERT INTO holds VALUES ('hold-{round}-{h}', 'gid://shopify/FulfillmentOrder/{fo}', 'HIGH_RISK_OF_FRAUD', 'risk model');"
            ));
        }
        sql.push_str(&format!(
            "UPDATE products SET title = 'Round {round} ' || handle;"
        ));
        self.sql(&sql);
        self.round = round;
        self.total.customers += rows.customers;
        self.total.events += rows.events;
        self.total.products += rows.products;
        self.total.holds += rows.holds;
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sql(&self, sql: &str) {
        let db = self.path("wh.db");
        self.rt.block_on(async {
            use sqlx::Connection;
            let mut c =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
                    .await
                    .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        });
    }

    fn specs(&self) {
        let wh = self.path("wh.db").display().to_string();
        let sync = |name: &str, body: &str| {
            format!(
                "---\napiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: {name}}}\nspec:\n  destinationRef: {{name: store}}\n  schedule: {{manual: true}}\n{body}"
            )
        };
        let text = [
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\nstringData: {{token: {TOKEN}}}\n---\napiVersion: shopsync.dev/v1alpha1\nkind: ShopifyDestination\nmetadata: {{name: store}}\nspec:\n  store: crash\n  endpoint: {}\n  credentials: {{accessTokenSecretRef: {{name: token, key: token}}}}\n",
                self.emulator.url
            ),
            sync(
                "customers",
                &format!(
                    "  source: {{url: \"sqlite://{wh}\", query: \"SELECT customer_id, email, first_name FROM customers\"}}\n  primaryKey: customer_id\n  object: customers\n  mode: insert\n  mappings:\n    - {{from: email, to: email}}\n    - {{from: first_name, to: firstName}}\n"
                ),
            ),
            sync(
                "products",
                &format!(
                    "  source: {{url: \"sqlite://{wh}\", query: \"SELECT handle, title FROM products\"}}\n  primaryKey: handle\n  object: products\n  mode: upsert\n  bulkThreshold: 10\n  mappings:\n    - {{from: handle, to: handle}}\n    - {{from: title, to: title}}\n"
                ),
            ),
            sync(
                "events",
                &format!(
                    "  source: {{url: \"sqlite://{wh}\", query: \"SELECT event_id, order_id, fulfillment_id, status, happened_at FROM events\"}}\n  primaryKey: event_id\n  event: fulfillmentEvents\n  mappings:\n    - {{from: order_id, to: orderId}}\n    - {{from: fulfillment_id, to: fulfillmentId}}\n    - {{from: status, to: status}}\n    - {{from: happened_at, to: happenedAt}}\n"
                ),
            ),
            sync(
                "holds",
                &format!(
                    "  source: {{url: \"sqlite://{wh}\", query: \"SELECT action_id, fulfillment_order_id, reason, reason_notes FROM holds\"}}\n  primaryKey: action_id\n  action: holdFulfillmentOrder\n  mappings:\n    - {{from: fulfillment_order_id, to: fulfillmentOrderId}}\n    - {{from: reason, to: reason}}\n    - {{from: reason_notes, to: reasonNotes}}\n"
                ),
            ),
        ]
        .join("");
        std::fs::write(self.path("specs.yaml"), text).unwrap();
    }

    fn run_cmd(&self) -> std::process::Command {
        // The runs' own temporary directory: the spill files a killed run leaves are looked for there.
        let tmp = self.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let mut c = bin();
        c.env("TMPDIR", tmp)
            .arg("run")
            .arg("-f")
            .arg(self.path("specs.yaml"))
            .arg("--state")
            .arg(self.path("state.db"));
        c
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.emulator.url);
        self.rt.block_on(async {
            self.http
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    }

    fn faults(&self, faults: Value) {
        let url = format!("{}/__emulator/faults", self.emulator.url);
        let status = self.rt.block_on(async {
            self.http
                .post(url)
                .json(&faults)
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, 200);
    }

    fn writes(&self) -> u64 {
        self.get("/__emulator/writes")["writes"].as_u64().unwrap()
    }

    fn bulk_operations(store: &Value) -> Vec<String> {
        store["bulk_operations"]
            .as_object()
            .map(|ops| {
                ops.values()
                    .map(|o| o["status"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Where a trial's run is killed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once the store has applied this many writes of the run.
    Writes(u64),
    /// Once the trial's bulk operation is running.
    Bulk,
}

fn numeric_id(gid: &str) -> String {
    gid.rsplit('/').next().unwrap_or_default().to_string()
}

#[test]
fn kill_9_at_random_points_then_a_clean_run_leaves_every_row_once() {
    let mut w = World::new();
    let mut rng = Rng(SEED);
    // Every answer is held back a little after the write is applied, and bulk lines take time: a kill often
    // falls between a write and its record, or during the operation.
    w.faults(json!({"timeout_after_apply_ms": 15, "bulk_line_delay_ms": 20}));
    let mut killed = 0;
    let mut killed_in_bulk = 0;
    for trial in 0..TRIALS {
        w.add_rows(trial, TRIAL);
        let writes_in_trial = TRIAL.customers + TRIAL.events + w.total.products;
        let at = if trial % 3 == 1 {
            KillAt::Bulk
        } else {
            KillAt::Writes(1 + rng.below(writes_in_trial - 1))
        };
        let ops_before = World::bulk_operations(&w.get("/__emulator/state")).len();
        let writes_before = w.writes();

        let mut child = w
            .run_cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut was_killed = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "trial {trial}: the run hangs");
            let due = match at {
                KillAt::Writes(n) => w.writes() >= writes_before + n,
                KillAt::Bulk => {
                    let ops = World::bulk_operations(&w.get("/__emulator/state"));
                    ops.len() > ops_before
                        && ops.last().is_some_and(|s| s == "RUNNING" || s == "CREATED")
                }
            };
            if due {
                // Std's kill is SIGKILL on Unix: no handler runs, nothing is flushed.
                child.kill().unwrap();
                was_killed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.wait();
        if was_killed {
            killed += 1;
            killed_in_bulk += usize::from(matches!(at, KillAt::Bulk));
        }

        let clean = w.run_cmd().output().unwrap();
        assert!(
            clean.status.success(),
            "trial {trial} (killed at {at:?}): the clean run failed\n{}",
            text(&clean)
        );
        // The killed run's spill files went with the clean run, which removed its own.
        let left: Vec<_> = std::fs::read_dir(w.path("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().starts_with("shopsync-changes-"))
            .collect();
        assert!(left.is_empty(), "trial {trial}: spill files left {left:?}");
        let store = w.get("/__emulator/state");
        let ops = World::bulk_operations(&store);
        assert_eq!(
            ops.len(),
            ops_before + 1,
            "trial {trial} (killed at {at:?}): one bulk operation per trial: {ops:?}"
        );
        assert_consistent(&w, &store, &format!("trial {trial} (killed at {at:?})"));
    }
    assert!(killed >= 8, "only {killed} of {TRIALS} runs were killed");
    assert!(
        killed_in_bulk >= 2,
        "{killed_in_bulk} kills during a bulk operation"
    );
}

/// Every row once in the store, and the state naming each row's record with the right ownership.
fn assert_consistent(w: &World, store: &Value, why: &str) {
    let round = w.round;
    let state =
        w.rt.block_on(SqliteStateStore::open(&w.path("state.db")))
            .unwrap();
    let snapshot = |sync: &str| {
        w.rt.block_on(async {
            state
                .snapshot(sync)
                .map(|e| e.unwrap())
                .collect::<Vec<_>>()
                .await
        })
    };
    let by = |kind: &str, field: &str| -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for r in store[kind].as_object().unwrap().values() {
            let value = match field.split_once('.') {
                Some((a, b)) => r[a][b].as_str().unwrap_or_default().to_string(),
                None => r[field].as_str().unwrap_or_default().to_string(),
            };
            out.entry(value).or_default().push(r["id"].to_string());
        }
        out
    };

    // Customers: each once, the state naming it, created by the sync.
    let customers = by("customers", "email");
    let expected = w.total.customers;
    assert_eq!(
        customers.len() as u64,
        expected,
        "{why}: customers {customers:?}"
    );
    assert!(
        customers.values().all(|ids| ids.len() == 1),
        "{why}: duplicated customers {customers:?}"
    );
    let entries = snapshot("default/customers");
    assert_eq!(
        entries.len() as u64,
        expected,
        "{why}: customer state {entries:?}"
    );
    for e in &entries {
        let (t, c) = e.key.trim_start_matches('c').split_once('-').unwrap();
        let email = format!("buyer{t}-{c}@example.com");
        assert_eq!(
            e.shopify_id.as_deref().map(numeric_id),
            Some(customers[&email][0].clone()),
            "{why}: {e:?}"
        );
        assert_eq!(e.ownership, Ownership::Created, "{why}: {e:?}");
    }

    // Products: each once, with the trial's title, the state naming it, created by the sync.
    let products = by("products", "handle");
    let expected = w.total.products;
    assert_eq!(
        products.len() as u64,
        expected,
        "{why}: products {products:?}"
    );
    assert!(
        products.values().all(|ids| ids.len() == 1),
        "{why}: duplicated products {products:?}"
    );
    for p in store["products"].as_object().unwrap().values() {
        let handle = p["handle"].as_str().unwrap();
        assert_eq!(p["title"], format!("Round {round} {handle}"), "{why}: {p}");
    }
    let entries = snapshot("default/products");
    let recorded: BTreeMap<String, String> = entries
        .iter()
        .map(|e| {
            (
                e.key.clone(),
                e.shopify_id.as_deref().map(numeric_id).unwrap_or_default(),
            )
        })
        .collect();
    let held: BTreeMap<String, String> = products
        .iter()
        .map(|(h, ids)| (h.clone(), ids[0].clone()))
        .collect();
    assert_eq!(
        recorded, held,
        "{why}: the state's product ids are the store's"
    );
    let not_created: Vec<_> = entries
        .iter()
        .filter(|e| e.ownership != Ownership::Created)
        .collect();
    assert!(not_created.is_empty(), "{why}: {not_created:?}");

    // Events: each once (by time), the ledger naming it as sent.
    let events = by("fulfillment_events", "fields.happenedAt");
    let expected = w.total.events;
    assert_eq!(events.len() as u64, expected, "{why}: events {events:?}");
    assert!(
        events.values().all(|ids| ids.len() == 1),
        "{why}: duplicated events {events:?}"
    );
    let ledger: Vec<_> = w.rt.block_on(async {
        state
            .ledger("default/events")
            .map(|e| e.unwrap())
            .collect::<Vec<_>>()
            .await
    });
    assert_eq!(ledger.len() as u64, expected, "{why}: ledger {ledger:?}");
    let event_ids: std::collections::HashSet<&String> = events.values().flatten().collect();
    for e in &ledger {
        assert!(
            matches!(e.status, LedgerStatus::Sent | LedgerStatus::Confirmed),
            "{why}: {e:?}"
        );
        if let Some(id) = &e.shopify_id {
            assert!(
                event_ids.contains(&numeric_id(id)),
                "{why}: {e:?} names no event of the store"
            );
        }
    }

    // Holds: each fulfillment order held once, the ledger naming every hold as sent.
    let fos = store["fulfillment_orders"].as_object().unwrap();
    for k in 0..w.total.holds {
        let fo = &fos[&(5000 + k).to_string()];
        assert_eq!(fo["status"], "ON_HOLD", "{why}: {fo}");
        assert_eq!(fo["holds"].as_array().unwrap().len(), 1, "{why}: {fo}");
    }
    for k in w.total.holds..FULFILLMENT_ORDERS {
        assert_eq!(fos[&(5000 + k).to_string()]["status"], "OPEN", "{why}");
    }
    let ledger: Vec<_> = w.rt.block_on(async {
        state
            .ledger("default/holds")
            .map(|e| e.unwrap())
            .collect::<Vec<_>>()
            .await
    });
    assert_eq!(
        ledger.len() as u64,
        w.total.holds,
        "{why}: ledger {ledger:?}"
    );
    assert!(
        ledger
            .iter()
            .all(|e| matches!(e.status, LedgerStatus::Sent | LedgerStatus::Confirmed)),
        "{why}: {ledger:?}"
    );
    w.rt.block_on(async { drop(state) });
}

#[test]
fn a_fault_soak_loses_nothing_and_duplicates_nothing() {
    let mut w = World::new();
    w.add_rows(0, SOAK);
    // 10% of answers are 503s, 5% of connections drop before the request is applied, 10% after.
    w.faults(json!({"error_rate": 0.1, "drop_rate": 0.05, "drop_after_apply_rate": 0.1}));
    let mut runs = 0;
    loop {
        runs += 1;
        let out = w.run_cmd().output().unwrap();
        let printed = text(&out);
        // A run with rows whose fate is unknown is partial; the next run settles them.
        if out.status.success() && !printed.contains(" partial ") {
            break;
        }
        assert!(runs < 8, "still not settled after {runs} runs:\n{printed}");
    }
    w.faults(json!({}));
    let writes = w.writes();
    let quiet = w.run_cmd().output().unwrap();
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert_eq!(
        w.writes(),
        writes,
        "the state agrees with the store: nothing is left to write\n{}",
        text(&quiet)
    );
    let store = w.get("/__emulator/state");
    assert_consistent(&w, &store, &format!("soak ({runs} runs)"));

    // The faults struck: the debugger log holds 503 answers and connections lost mid-answer.
    let state =
        w.rt.block_on(SqliteStateStore::open(&w.path("state.db")))
            .unwrap();
    let (mut unavailable, mut lost) = (0, 0);
    for sync in ["customers", "products", "events", "holds"] {
        let runs =
            w.rt.block_on(state.runs(&format!("default/{sync}"), 20))
                .unwrap();
        for run in runs {
            for c in w.rt.block_on(state.calls_of_run(run.id)).unwrap() {
                unavailable += usize::from(c.call.status == Some(503));
                lost += usize::from(c.call.status.is_none() && c.call.error.is_some());
            }
        }
    }
    assert!(
        unavailable > 0 && lost > 0,
        "503s: {unavailable}, lost answers: {lost}"
    );
}
