//! `shopsync bench soak`: the large fault soak. Fulfillment events, insert-mode customers, products and
//! fulfillment-order holds are synced into the emulator while it answers 5xx, drops connections before the
//! request is applied and loses answers after it was; runs repeat until every row's fate is settled. Then,
//! faults off, the store is counted against the warehouse (lost, duplicated), the state against the store, and
//! one more run must write nothing.
//!
//! Efficiency is as in `shopsync bench sync`: the least time the leaky bucket allows for the points spent
//! (`(spent - bucket size) / restore rate`) over the time the faulted runs took, with the points the shop
//! charged (the emulator's count): a client cannot count what a request whose answer was lost spent.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use futures::TryStreamExt;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::api::{ShopifySync, sync_config};
use crate::core::config::SyncConfig;
use crate::core::redact::Redactor;
use crate::core::state::{LedgerStatus, RunStatus, StateStore};
use crate::emulator::seed::Fixture;
use crate::emulator::{Emulator, Plan};
use crate::runner::{SyncRunner, Target};
use crate::shopify::Store;
use crate::state::SqliteStateStore;
use crate::warehouse::SqlWarehouse;

/// What the soak syncs, and how hard the emulator fails.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Fulfillment events to send.
    pub events: u64,
    /// Customers to create (insert mode).
    pub customers: u64,
    /// Products to upsert.
    pub products: u64,
    /// Fulfillment-order holds to apply.
    pub actions: u64,
    /// Share of requests answered 503.
    pub error_rate: f64,
    /// Share of connections dropped before the request is applied.
    pub drop_rate: f64,
    /// Share of answers lost after the request was applied.
    pub drop_after_apply_rate: f64,
    /// Requests in flight.
    pub concurrency: usize,
}

/// Rounds of runs (every sync once per round) before the soak gives up on settling.
const MAX_ROUNDS: usize = 12;
/// Events per fulfillment (Shopify keeps a fulfillment's events; a few hundred per fulfillment is plenty).
const EVENTS_PER_FULFILLMENT: u64 = 100;
const TOKEN: &str = "shpat_soak";

/// Runs the soak and prints its figures; fails when a row was lost or duplicated or the state disagrees.
pub async fn run(options: Options, plan: &str, redactor: &Redactor) -> anyhow::Result<()> {
    let plan: Plan = plan.parse()?;
    let o = options;
    let dir = tempfile::tempdir()?;
    let wh = dir.path().join("warehouse.db");
    let wh_url = format!("sqlite://{}", wh.display());
    seed_warehouse(&wh_url, &o).await?;

    let fulfillments = o.events.div_ceil(EVENTS_PER_FULFILLMENT).max(1);
    let fixture: Fixture = serde_json::from_value(json!({
        "shop": {"name": "Soak"},
        "locations": [{"id": 1001, "name": "Main warehouse"}],
        "orders": [{
            "id": 3001, "name": "#1001",
            "line_items": [{"title": "Tee", "quantity": 1, "sku": "TEE"}],
            "fulfillments": (0..fulfillments).map(|f| json!({"id": 4001 + f})).collect::<Vec<_>>(),
            "fulfillment_orders": (0..o.actions).map(|k| json!({"id": 500_001 + k, "location_id": 1001})).collect::<Vec<_>>(),
        }],
    }))
    .context("the soak's seed")?;
    let emulator = Emulator::builder()
        .plan(plan)
        .token(TOKEN)
        .seed(fixture)
        .start_on_loopback()
        .await?;
    let http = reqwest::Client::new();
    let faults = |body: Value| {
        let http = http.clone();
        let url = format!("{}/__emulator/faults", emulator.base_url());
        async move {
            let status = http.post(url).json(&body).send().await?.status();
            ensure!(
                status.is_success(),
                "setting the emulator's faults: {status}"
            );
            anyhow::Ok(())
        }
    };

    let store = Store {
        base_url: emulator.base_url(),
        version: crate::core::config::ApiVersion::DEFAULT,
        token: TOKEN.into(),
    };
    let store_key = store.base_url.clone();
    let state = SqliteStateStore::open(&dir.path().join("state.db")).await?;
    let runner = SyncRunner::new(Arc::new(state.clone()), "soak", redactor.clone())
        .with_concurrency(o.concurrency);
    let budget = runner.budget(&store_key);
    let syncs = syncs(&wh_url)?;
    let warehouse: Vec<SqlWarehouse> = syncs
        .iter()
        .map(|c| SqlWarehouse::from_url(&c.id, &wh_url))
        .collect::<Result<_, _>>()?;
    let target = Target {
        store: &store,
        store_key: &store_key,
    };

    println!(
        "events: {}, customers (insert): {}, products: {}, holds: {}; plan {plan:?} (bucket {}, restore {}/s), concurrency {}",
        o.events,
        o.customers,
        o.products,
        o.actions,
        plan.bucket_size(),
        plan.restore_rate(),
        o.concurrency
    );
    println!(
        "faults: {:.0}% 5xx, {:.0}% dropped before apply, {:.0}% answers lost after apply",
        o.error_rate * 100.0,
        o.drop_rate * 100.0,
        o.drop_after_apply_rate * 100.0
    );
    faults(json!({
        "error_rate": o.error_rate,
        "drop_rate": o.drop_rate,
        "drop_after_apply_rate": o.drop_after_apply_rate,
    }))
    .await?;
    let started = Instant::now();
    let mut rounds = 0;
    // Per sync: seconds and points of its first run, the one carrying the bulk of its rows.
    let mut first: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    loop {
        rounds += 1;
        let mut settled = true;
        for (config, warehouse) in syncs.iter().zip(&warehouse) {
            let (t0, p0) = (Instant::now(), emulator.points_charged());
            let report = runner.run(config, target, warehouse).await?;
            first
                .entry(config.id.clone())
                .or_insert((t0.elapsed().as_secs_f64(), emulator.points_charged() - p0));
            settled &= report.status == RunStatus::Succeeded;
            println!(
                "round {rounds} {}: {:?}, {} writes, {} unknown{}",
                config.id,
                report.status,
                report.writes,
                report.unknown.len(),
                report
                    .error
                    .as_deref()
                    .map(|e| format!(", error: {e}"))
                    .unwrap_or_default()
            );
        }
        if settled {
            break;
        }
        ensure!(
            rounds < MAX_ROUNDS,
            "not settled after {rounds} rounds of runs"
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The shop's count, not the client's: a request applied and its answer lost spent points the client never
    // hears of, and the rate limit is what the shop charged.
    let spent = emulator.points_charged();
    let client_spent = budget.spent();

    // Faults off: a quiet round must write nothing (the state agrees with the store).
    faults(json!({})).await?;
    let writes = emulator.write_count();
    for (config, warehouse) in syncs.iter().zip(&warehouse) {
        let report = runner.run(config, target, warehouse).await?;
        ensure!(
            report.status == RunStatus::Succeeded,
            "the quiet run of {} failed: {:?}",
            config.id,
            report.error
        );
    }
    let quiet_writes = emulator.write_count() - writes;

    let dump = emulator.dump();
    let count = Count::of(&dump, &o);
    let disagreements = disagreements(&state, &dump).await?;
    let floor = ((spent - plan.bucket_size() as f64).max(0.0)) / plan.restore_rate() as f64;
    println!(
        "settled after {rounds} rounds; time (faulted rounds): {elapsed:.1} s; points charged by the shop: {spent:.0} (the client counted {client_spent:.0}); THROTTLED answers: {}",
        budget.throttles()
    );
    for (what, lost, duplicated) in &count.rows {
        println!("{what}: lost {lost}, duplicated {duplicated}");
    }
    println!(
        "state equals store: {} ({disagreements} disagreements); writes of the quiet round: {quiet_writes}",
        if disagreements == 0 && quiet_writes == 0 {
            "yes"
        } else {
            "NO"
        }
    );
    println!(
        "rate-limit floor: {floor:.1} s; efficiency: {:.3}",
        if elapsed > 0.0 { floor / elapsed } else { 0.0 }
    );
    if let Some((secs, points)) = first.get("bench/products") {
        let floor = ((points - plan.bucket_size() as f64).max(0.0)) / plan.restore_rate() as f64;
        println!(
            "products' first run: {secs:.1} s, {points:.0} points, floor {floor:.1} s, efficiency {:.3}",
            if *secs > 0.0 { floor / secs } else { 0.0 }
        );
    }
    emulator.shutdown().await?;
    let bad = count.rows.iter().any(|(_, l, d)| *l + *d > 0);
    ensure!(
        !bad && disagreements == 0 && quiet_writes == 0,
        "the soak lost or duplicated rows, or the state disagrees with the store"
    );
    Ok(())
}

async fn seed_warehouse(url: &str, o: &Options) -> anyhow::Result<()> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await?;
    let script = format!(
        "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, email TEXT NOT NULL, first_name TEXT);
         CREATE TABLE products (handle TEXT PRIMARY KEY, title TEXT NOT NULL, vendor TEXT);
         CREATE TABLE events (event_id TEXT PRIMARY KEY, order_id TEXT, fulfillment_id TEXT, status TEXT, happened_at TEXT);
         CREATE TABLE holds (action_id TEXT PRIMARY KEY, fulfillment_order_id TEXT, reason TEXT, reason_notes TEXT);
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {c})
           INSERT INTO customers SELECT 'c-' || i, 'buyer' || i || '@example.com', 'Buyer ' || i FROM n WHERE {c} > 0;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {p})
           INSERT INTO products SELECT 'soak-' || i, 'Soak product ' || i, 'Soak' FROM n WHERE {p} > 0;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {e})
           INSERT INTO events SELECT 'ev-' || i, 'gid://shopify/Order/3001', 'gid://shopify/Fulfillment/' || (4001 + i / {per}),
             'IN_TRANSIT', strftime('%Y-%m-%dT%H:%M:%SZ', '2026-11-10T00:00:00Z', '+' || i || ' seconds') FROM n WHERE {e} > 0;
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {a})
           INSERT INTO holds SELECT 'hold-' || i, 'gid://shopify/FulfillmentOrder/' || (500001 + i), 'HIGH_RISK_OF_FRAUD', 'risk model' FROM n WHERE {a} > 0;",
        c = o.customers,
        p = o.products,
        e = o.events,
        a = o.actions,
        per = EVENTS_PER_FULFILLMENT,
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&mut conn)
        .await
        .context("seeding the soak's warehouse")?;
    Ok(())
}

fn syncs(wh: &str) -> anyhow::Result<Vec<SyncConfig>> {
    let sync = |name: &str, body: &str| -> anyhow::Result<SyncConfig> {
        let spec: ShopifySync = serde_yaml::from_str(&format!(
            "apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySync\nmetadata: {{name: {name}}}\nspec:\n  destinationRef: {{name: soak}}\n  schedule: {{manual: true}}\n{body}"
        ))?;
        sync_config(&format!("bench/{name}"), &spec.spec).map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    Ok(vec![
        sync(
            "customers",
            &format!(
                "  source: {{url: \"{wh}\", query: \"SELECT customer_id, email, first_name FROM customers\"}}\n  primaryKey: customer_id\n  object: customers\n  mode: insert\n  mappings:\n    - {{from: email, to: email}}\n    - {{from: first_name, to: firstName}}\n"
            ),
        )?,
        // By request, not by bulk operation: the rate limit is what the efficiency is measured against.
        sync(
            "products",
            &format!(
                "  source: {{url: \"{wh}\", query: \"SELECT handle, title, vendor FROM products\"}}\n  primaryKey: handle\n  object: products\n  mode: upsert\n  bulkThreshold: 100000000\n  mappings:\n    - {{from: handle, to: handle}}\n    - {{from: title, to: title}}\n    - {{from: vendor, to: vendor}}\n"
            ),
        )?,
        sync(
            "events",
            &format!(
                "  source: {{url: \"{wh}\", query: \"SELECT event_id, order_id, fulfillment_id, status, happened_at FROM events\"}}\n  primaryKey: event_id\n  event: fulfillmentEvents\n  mappings:\n    - {{from: order_id, to: orderId}}\n    - {{from: fulfillment_id, to: fulfillmentId}}\n    - {{from: status, to: status}}\n    - {{from: happened_at, to: happenedAt}}\n"
            ),
        )?,
        sync(
            "holds",
            &format!(
                "  source: {{url: \"{wh}\", query: \"SELECT action_id, fulfillment_order_id, reason, reason_notes FROM holds\"}}\n  primaryKey: action_id\n  action: holdFulfillmentOrder\n  mappings:\n    - {{from: fulfillment_order_id, to: fulfillmentOrderId}}\n    - {{from: reason, to: reason}}\n    - {{from: reason_notes, to: reasonNotes}}\n"
            ),
        )?,
    ])
}

/// Lost and duplicated rows per kind, the store counted against the warehouse.
struct Count {
    rows: Vec<(&'static str, u64, u64)>,
}

impl Count {
    fn of(dump: &Value, o: &Options) -> Count {
        let tally = |kind: &str, field: &dyn Fn(&Value) -> Option<String>| {
            let mut out: HashMap<String, u64> = HashMap::new();
            if let Some(records) = dump[kind].as_object() {
                for r in records.values() {
                    if let Some(v) = field(r) {
                        *out.entry(v).or_default() += 1;
                    }
                }
            }
            out
        };
        let lost_dup = |held: &HashMap<String, u64>, expected: Vec<String>| {
            let lost = expected.iter().filter(|k| !held.contains_key(*k)).count() as u64;
            let dup = held.values().map(|n| n.saturating_sub(1)).sum::<u64>();
            (lost, dup)
        };
        let text = |v: &Value| v.as_str().map(str::to_string);
        let customers = tally("customers", &|r| text(&r["email"]));
        let products = tally("products", &|r| text(&r["handle"]));
        let events = tally("fulfillment_events", &|r| text(&r["fields"]["happenedAt"]));
        let (c_lost, c_dup) = lost_dup(
            &customers,
            (0..o.customers)
                .map(|i| format!("buyer{i}@example.com"))
                .collect(),
        );
        let (p_lost, p_dup) = lost_dup(
            &products,
            (0..o.products).map(|i| format!("soak-{i}")).collect(),
        );
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-10T00:00:00Z")
            .map(|t| t.to_utc())
            .unwrap_or_default();
        let (e_lost, e_dup) = lost_dup(
            &events,
            (0..o.events)
                .map(|i| {
                    (start + chrono::Duration::seconds(i as i64))
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                })
                .collect(),
        );
        let (mut h_lost, mut h_dup) = (0, 0);
        for k in 0..o.actions {
            let holds = dump["fulfillment_orders"][(500_001 + k).to_string()]["holds"]
                .as_array()
                .map_or(0, Vec::len) as u64;
            h_lost += u64::from(holds == 0);
            h_dup += holds.saturating_sub(1);
        }
        Count {
            rows: vec![
                ("customers", c_lost, c_dup),
                ("products", p_lost, p_dup),
                ("events", e_lost, e_dup),
                ("holds", h_lost, h_dup),
            ],
        }
    }
}

/// State entries that do not name the store's record: product ids unlike the store's, customers and events
/// whose ledger names no such record, ledger rows not sent.
async fn disagreements(state: &SqliteStateStore, dump: &Value) -> anyhow::Result<u64> {
    let tail = |s: &str| s.rsplit('/').next().unwrap_or_default().to_string();
    let ids = |kind: &str, field: &dyn Fn(&Value) -> Option<String>| -> HashMap<String, String> {
        dump[kind]
            .as_object()
            .map(|records| {
                records
                    .values()
                    .filter_map(|r| Some((field(r)?, tail(&r["id"].to_string().replace('"', "")))))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut bad = 0;
    let products = ids("products", &|r| r["handle"].as_str().map(str::to_string));
    let snapshot: Vec<_> = state.snapshot("bench/products").try_collect().await?;
    bad += products.len().abs_diff(snapshot.len()) as u64;
    for e in &snapshot {
        bad += u64::from(e.shopify_id.as_deref().map(tail) != products.get(&e.key).cloned());
    }
    let customers = ids("customers", &|r| r["email"].as_str().map(str::to_string));
    let snapshot: Vec<_> = state.snapshot("bench/customers").try_collect().await?;
    bad += customers.len().abs_diff(snapshot.len()) as u64;
    for e in &snapshot {
        let email = format!("buyer{}@example.com", e.key.trim_start_matches("c-"));
        bad += u64::from(e.shopify_id.as_deref().map(tail) != customers.get(&email).cloned());
    }
    let events: HashSet<String> = ids("fulfillment_events", &|r| {
        r["fields"]["happenedAt"].as_str().map(str::to_string)
    })
    .into_values()
    .collect();
    for (sync, known) in [("bench/events", Some(&events)), ("bench/holds", None)] {
        let ledger: Vec<_> = state.ledger(sync).try_collect().await?;
        for e in &ledger {
            let sent = matches!(e.status, LedgerStatus::Sent | LedgerStatus::Confirmed);
            // An event's id is recorded when its answer came back; one settled by reading the fulfillment's
            // events may carry none.
            let named = match (known, &e.shopify_id) {
                (Some(ids), Some(id)) => ids.contains(&tail(id)),
                _ => true,
            };
            bad += u64::from(!sent || !named);
        }
    }
    Ok(bad)
}
