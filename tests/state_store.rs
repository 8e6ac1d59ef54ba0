//! State store round trips on SQLite (temporary file) and PostgreSQL (a schema per test), through the trait.
use std::time::Duration;

use chrono::{TimeZone, Utc};
use futures::TryStreamExt;
use shopsync::core::alerts::{AlertRecord, AlertRule, AlertState};
use shopsync::core::calls::{ApiCall, CallStore};
use shopsync::core::diff::{DiffSettings, Differ};
use shopsync::core::plan::MemorySink;
use shopsync::core::state::SnapshotIndex;
use shopsync::core::state::{
    Baseline, BulkJournal, BulkLine, LedgerEntry, LedgerStatus, Outcome, Ownership, RowHash,
    RunRecord, RunStats, RunStatus, SnapshotChange, SnapshotEntry, StateError, StateStore,
    read_index,
};
use shopsync::state::{PostgresStateStore, SqliteStateStore};

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

fn entry(key: &str, byte: u8, outcome: Outcome) -> SnapshotEntry {
    SnapshotEntry {
        key: key.into(),
        hash: RowHash([byte; 16]),
        shopify_id: (outcome == Outcome::Succeeded).then(|| format!("gid://shopify/Product/{key}")),
        outcome,
        error: (outcome == Outcome::Rejected).then(|| "Title can't be blank".to_owned()),
        source: None,
        // Every ownership round-trips: created when it succeeded, matched otherwise.
        ownership: if outcome == Outcome::Succeeded {
            Ownership::Created
        } else {
            Ownership::Matched
        },
    }
}

async fn snapshot(store: &dyn StateStore, sync: &str) -> Vec<SnapshotEntry> {
    let mut all: Vec<SnapshotEntry> = store.snapshot(sync).try_collect().await.unwrap();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all
}

async fn snapshot_round_trip(store: &dyn StateStore) {
    assert!(!store.has_snapshot("products").await.unwrap());
    let first = vec![
        entry("a", 1, Outcome::Succeeded),
        entry("b", 2, Outcome::Rejected),
        entry("c", 3, Outcome::Unknown),
    ];
    let changes: Vec<_> = first.iter().cloned().map(SnapshotChange::Upsert).collect();
    store.commit_snapshot("products", &changes).await.unwrap();
    assert!(store.has_snapshot("products").await.unwrap());
    assert_eq!(snapshot(store, "products").await, first);
    assert!(
        snapshot(store, "other").await.is_empty(),
        "syncs are isolated"
    );

    let second = [
        SnapshotChange::Upsert(entry("b", 9, Outcome::Succeeded)),
        SnapshotChange::Remove("c".into()),
    ];
    store.commit_snapshot("products", &second).await.unwrap();
    assert_eq!(
        snapshot(store, "products").await,
        [
            entry("a", 1, Outcome::Succeeded),
            entry("b", 9, Outcome::Succeeded)
        ]
    );

    // An empty commit still records the baseline (an empty model synced successfully).
    store.commit_snapshot("empty", &[]).await.unwrap();
    assert!(store.has_snapshot("empty").await.unwrap());

    store.reset_snapshot("products").await.unwrap();
    assert!(!store.has_snapshot("products").await.unwrap());
    assert!(snapshot(store, "products").await.is_empty());
}

/// Source digests round trip, refresh without creating entries, and the store's own `load_index` builds the
/// same index as reading the snapshot entry by entry.
async fn sources_and_index(store: &dyn StateStore) {
    let with_source = |key: &str, byte: u8, outcome: Outcome, source: Option<u8>| SnapshotEntry {
        source: source.map(|b| RowHash([b; 16])),
        ..entry(key, byte, outcome)
    };
    let entries = vec![
        with_source("a", 1, Outcome::Succeeded, Some(11)),
        with_source("b", 2, Outcome::Rejected, Some(12)),
        with_source("c", 3, Outcome::Succeeded, None),
        with_source("d", 4, Outcome::Unknown, None),
    ];
    let changes: Vec<_> = entries
        .iter()
        .cloned()
        .map(SnapshotChange::Upsert)
        .collect();
    store.commit_snapshot("sources", &changes).await.unwrap();
    assert_eq!(snapshot(store, "sources").await, entries);

    let refresh = [
        SnapshotChange::Source {
            key: "c".into(),
            source: RowHash([13; 16]),
        },
        SnapshotChange::Source {
            key: "gone".into(),
            source: RowHash([14; 16]),
        },
    ];
    store.commit_snapshot("sources", &refresh).await.unwrap();
    let after = snapshot(store, "sources").await;
    assert_eq!(
        after.len(),
        4,
        "a refresh never creates an entry: {after:?}"
    );
    assert_eq!(after[2].source, Some(RowHash([13; 16])));
    assert_eq!(after[2].hash, RowHash([3; 16]), "only the digest changes");

    let summarise = |index: SnapshotIndex| {
        let mut differ = Differ::new(DiffSettings::objects("m"), index, MemorySink::default());
        let skipped = [("a", 11), ("b", 12), ("c", 13), ("d", 4)]
            .map(|(k, b)| differ.skip_unchanged(k, Some(RowHash([b; 16]))));
        let (summary, _) = differ.finish().unwrap();
        (skipped, summary)
    };
    let loaded = summarise(store.load_index("sources", false).await.unwrap());
    let streamed = summarise(read_index(store, "sources", false).await.unwrap());
    assert_eq!(loaded, streamed);
    // a and c are unchanged by digest; b failed last time and d's outcome is unknown: both must be looked at.
    assert_eq!(loaded.0, [true, false, true, false]);
    let removed: Vec<_> = loaded.1.removed.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(removed, ["b", "d"]);
}

async fn large_commit(store: &dyn StateStore) {
    let n = 50_000;
    let changes: Vec<_> = (0..n)
        .map(|i| {
            SnapshotChange::Upsert(entry(&format!("k{i}"), (i % 251) as u8, Outcome::Succeeded))
        })
        .collect();
    store.commit_snapshot("big", &changes).await.unwrap();
    let removals: Vec<_> = (0..n)
        .step_by(2)
        .map(|i| SnapshotChange::Remove(format!("k{i}")))
        .collect();
    store.commit_snapshot("big", &removals).await.unwrap();
    let all = snapshot(store, "big").await;
    assert_eq!(all.len(), n / 2);
    assert!(
        all.iter()
            .all(|e| e.key[1..].parse::<usize>().unwrap() % 2 == 1)
    );
}

async fn ledger_round_trip(store: &dyn StateStore) {
    let pending = LedgerEntry {
        key: "evt-1".into(),
        hash: RowHash([5; 16]),
        status: LedgerStatus::Pending,
        idempotency_key: Some("idem-evt-1".into()),
        shopify_id: None,
        error: None,
    };
    store
        .record_ledger("events", std::slice::from_ref(&pending))
        .await
        .unwrap();
    let sent = LedgerEntry {
        status: LedgerStatus::Sent,
        shopify_id: Some("gid://shopify/FulfillmentEvent/1".into()),
        ..pending.clone()
    };
    let other = LedgerEntry {
        key: "evt-2".into(),
        status: LedgerStatus::Rejected,
        error: Some("bad status".into()),
        ..pending
    };
    store
        .record_ledger("events", &[sent.clone(), other.clone()])
        .await
        .unwrap();
    let mut all: Vec<LedgerEntry> = store.ledger("events").try_collect().await.unwrap();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(all, [sent, other]);
}

async fn run_history(store: &dyn StateStore) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
    let first = store.start_run("customers", t0).await.unwrap();
    let second = store
        .start_run("customers", t0 + chrono::Duration::minutes(5))
        .await
        .unwrap();
    let stats = RunStats {
        rows_queried: 10,
        added: 2,
        changed: 3,
        removed: 1,
        succeeded: 5,
        rejected: 1,
    };
    let finished = RunRecord {
        id: first,
        sync: "customers".into(),
        started_at: t0,
        finished_at: Some(t0 + chrono::Duration::seconds(42)),
        status: RunStatus::PartiallySucceeded,
        stats,
        error: None,
    };
    store.finish_run(&finished).await.unwrap();
    let runs = store.runs("customers", 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, second, "newest first");
    assert_eq!(runs[0].status, RunStatus::Running);
    assert_eq!(runs[1], finished);
    assert_eq!(store.runs("customers", 1).await.unwrap().len(), 1);
}

/// Alert states round-trip per sync and rule; the last successful run is found; pruning keeps the newest runs,
/// the last successful one and the runs the debugger log still holds calls of.
async fn alerts_and_history<S: StateStore + CallStore>(store: &S) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
    assert!(store.alert_states("customers").await.unwrap().is_empty());
    let firing = AlertRecord {
        rule: AlertRule::RunFailed,
        state: AlertState::Firing,
        since: t0,
        message: "the warehouse is down".into(),
    };
    let late = AlertRecord {
        rule: AlertRule::Late,
        state: AlertState::Ok,
        since: t0,
        message: "resolved after 1h".into(),
    };
    store
        .save_alert_states("customers", &[firing.clone(), late.clone()])
        .await
        .unwrap();
    let resolved = AlertRecord {
        state: AlertState::Ok,
        since: t0 + chrono::Duration::minutes(5),
        message: "resolved after 5m".into(),
        ..firing.clone()
    };
    store
        .save_alert_states("customers", std::slice::from_ref(&resolved))
        .await
        .unwrap();
    let mut states = store.alert_states("customers").await.unwrap();
    states.sort_by_key(|r| r.rule);
    assert_eq!(states, [resolved, late]);
    assert!(
        store.alert_states("products").await.unwrap().is_empty(),
        "syncs are isolated"
    );

    assert_eq!(store.last_success("hist").await.unwrap(), None);
    let mut ids = Vec::new();
    for i in 0..8i64 {
        let started = t0 + chrono::Duration::minutes(i);
        let id = store.start_run("hist", started).await.unwrap();
        // Runs 0 and 1 succeed, the rest fail.
        let status = if i < 2 {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        store
            .finish_run(&RunRecord {
                id,
                sync: "hist".into(),
                started_at: started,
                finished_at: Some(started),
                status,
                stats: RunStats::default(),
                error: None,
            })
            .await
            .unwrap();
        ids.push(id);
    }
    assert_eq!(
        store.last_success("hist").await.unwrap(),
        Some(t0 + chrono::Duration::minutes(1))
    );
    // The debugger log still holds a call of run 0.
    let call = ApiCall {
        run_id: Some(ids[0]),
        sync: "hist".into(),
        started_at: t0,
        duration_us: 1,
        method: "POST".into(),
        url: "http://127.0.0.1/graphql.json".into(),
        operation: None,
        document: None,
        variables: None,
        status: Some(200),
        response: None,
        error: None,
        cost_requested: None,
        cost_actual: None,
        keys: vec![],
        attempt: 1,
    };
    store.append_calls(&[call]).await.unwrap();
    let gone = store.prune_runs("hist", 3).await.unwrap();
    let kept: Vec<i64> = store
        .runs("hist", 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(kept, [ids[7], ids[6], ids[5], ids[1], ids[0]]);
    assert_eq!(gone, 3);
    assert_eq!(store.prune_runs("hist", 3).await.unwrap(), 0);
    assert_eq!(
        store.last_success("hist").await.unwrap(),
        Some(t0 + chrono::Duration::minutes(1)),
        "the last success survives pruning"
    );
}

async fn lock_expiry(store: &dyn StateStore) {
    let ttl = Duration::from_secs(30);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
    let lease = store
        .acquire_lock("customers", "pod-a", ttl, t0)
        .await
        .unwrap();
    assert_eq!(lease.expires_at, t0 + chrono::Duration::seconds(30));

    let held = store
        .acquire_lock(
            "customers",
            "pod-b",
            ttl,
            t0 + chrono::Duration::seconds(10),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&held, StateError::LockHeld { holder, .. } if holder == "pod-a"),
        "{held}"
    );
    // Another sync is independent.
    store
        .acquire_lock("products", "pod-b", ttl, t0)
        .await
        .unwrap();

    // Renewal keeps it; the same holder may re-acquire.
    let lease = store
        .renew_lock(&lease, ttl, t0 + chrono::Duration::seconds(20))
        .await
        .unwrap();
    assert!(
        store
            .acquire_lock(
                "customers",
                "pod-b",
                ttl,
                t0 + chrono::Duration::seconds(40)
            )
            .await
            .is_err()
    );
    store
        .acquire_lock(
            "customers",
            "pod-a",
            ttl,
            t0 + chrono::Duration::seconds(41),
        )
        .await
        .unwrap();

    // pod-a dies: once its lease has expired, pod-b takes over and pod-a has lost it.
    let late = t0 + chrono::Duration::seconds(72);
    let taken = store
        .acquire_lock("customers", "pod-b", ttl, late)
        .await
        .unwrap();
    assert_eq!(taken.holder, "pod-b");
    let lost = store.renew_lock(&lease, ttl, late).await.unwrap_err();
    assert!(matches!(lost, StateError::LockLost { .. }), "{lost}");
    // Releasing a lost lease does not free the new holder's lock.
    store.release_lock(&lease).await.unwrap();
    assert!(
        store
            .acquire_lock("customers", "pod-a", ttl, late)
            .await
            .is_err()
    );
    store.release_lock(&taken).await.unwrap();
    store
        .acquire_lock("customers", "pod-a", ttl, late)
        .await
        .unwrap();
}

/// Values Shopify accepted are kept per key for plan's before/after: replaced on a new commit, gone with the key
/// and with a reset, never mixed between syncs.
async fn values_round_trip(store: &dyn StateStore) {
    let fields = |title: &str| -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_value(
            serde_json::json!({"title": title, "tags": ["a", "b"], "price": 1.5}),
        )
        .unwrap()
    };
    let values = |key: &str, title: &str| SnapshotChange::Values {
        key: key.into(),
        fields: fields(title),
    };
    store
        .commit_snapshot(
            "products",
            &[
                SnapshotChange::Upsert(entry("a", 1, Outcome::Succeeded)),
                values("a", "Anvil"),
                SnapshotChange::Upsert(entry("b", 2, Outcome::Succeeded)),
                values("b", "Bucket"),
            ],
        )
        .await
        .unwrap();
    store
        .commit_snapshot("other", &[values("a", "Elsewhere")])
        .await
        .unwrap();
    store
        .commit_snapshot("products", &[values("a", "Anvil II")])
        .await
        .unwrap();
    let keys = ["a".to_string(), "b".to_string(), "zz".to_string()];
    let mut got = store.values("products", &keys).await.unwrap();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        [
            ("a".to_string(), fields("Anvil II")),
            ("b".to_string(), fields("Bucket"))
        ]
    );
    store
        .commit_snapshot("products", &[SnapshotChange::Remove("b".into())])
        .await
        .unwrap();
    let got = store.values("products", &keys).await.unwrap();
    assert_eq!(got, [("a".to_string(), fields("Anvil II"))]);
    store.reset_snapshot("products").await.unwrap();
    assert!(store.values("products", &keys).await.unwrap().is_empty());
    assert_eq!(
        store.values("other", &keys).await.unwrap(),
        [("a".to_string(), fields("Elsewhere"))]
    );
}

/// The baseline (identity and mapping fingerprint) is what the last commit that carried one recorded: a later
/// commit without one keeps it, the newest of several in one commit wins, and a reset forgets it.
async fn baseline_round_trip(store: &dyn StateStore) {
    assert_eq!(store.baseline("products").await.unwrap(), None);
    let first = Baseline {
        identity: Some("pk=sku".into()),
        fingerprint: Some("f1".into()),
    };
    store
        .commit_snapshot("products", &[SnapshotChange::Baseline(first.clone())])
        .await
        .unwrap();
    assert_eq!(
        store.baseline("products").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.baseline("other").await.unwrap(), None);

    store
        .commit_snapshot(
            "products",
            &[SnapshotChange::Upsert(entry("a", 1, Outcome::Succeeded))],
        )
        .await
        .unwrap();
    assert_eq!(store.baseline("products").await.unwrap(), Some(first));

    let newest = Baseline {
        identity: Some("pk=handle".into()),
        fingerprint: None,
    };
    store
        .commit_snapshot(
            "products",
            &[
                SnapshotChange::Baseline(Baseline {
                    identity: Some("stale".into()),
                    fingerprint: Some("stale".into()),
                }),
                SnapshotChange::Baseline(newest.clone()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.baseline("products").await.unwrap(), Some(newest));

    // A sync committed before baselines were kept reads as one with neither part.
    store.commit_snapshot("bare", &[]).await.unwrap();
    assert_eq!(
        store.baseline("bare").await.unwrap(),
        Some(Baseline::default())
    );

    store.reset_snapshot("products").await.unwrap();
    assert_eq!(store.baseline("products").await.unwrap(), None);
}

/// A sync's journaled bulk operation: absent, saved, replaced (once Shopify names it), kept apart from other
/// syncs', and cleared.
async fn bulk_journal_round_trip(store: &dyn StateStore) {
    assert_eq!(store.bulk_journal("products").await.unwrap(), None);
    let mut journal = BulkJournal {
        mutation: "mutation { productSet }".into(),
        lines: vec![
            BulkLine {
                key: "p-1".into(),
                digest: "00ff".into(),
            },
            BulkLine {
                key: "p-2".into(),
                digest: "0f0f".into(),
            },
        ],
        created: vec!["p-2".into()],
        before: Some("gid://shopify/BulkOperation/7".into()),
        operation: None,
    };
    store.save_bulk_journal("products", &journal).await.unwrap();
    assert_eq!(
        store.bulk_journal("products").await.unwrap().as_ref(),
        Some(&journal)
    );
    journal.operation = Some("gid://shopify/BulkOperation/9".into());
    store.save_bulk_journal("products", &journal).await.unwrap();
    assert_eq!(
        store.bulk_journal("products").await.unwrap().as_ref(),
        Some(&journal)
    );
    assert_eq!(store.bulk_journal("customers").await.unwrap(), None);
    store.clear_bulk_journal("products").await.unwrap();
    assert_eq!(store.bulk_journal("products").await.unwrap(), None);
}

async fn sqlite() -> (tempfile::TempDir, SqliteStateStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    (dir, store)
}

async fn postgres() -> PostgresStateStore {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("state_{}_{nanos}", std::process::id());
    PostgresStateStore::connect_in_schema(PG, Some(&schema))
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432")
}

#[tokio::test]
async fn sqlite_snapshot_round_trip() {
    let (_dir, store) = sqlite().await;
    snapshot_round_trip(&store).await;
}

#[tokio::test]
async fn sqlite_sources_and_index() {
    let (_dir, store) = sqlite().await;
    sources_and_index(&store).await;
}

#[tokio::test]
async fn postgres_sources_and_index() {
    sources_and_index(&postgres().await).await;
}

#[tokio::test]
async fn sqlite_values_round_trip() {
    let (_dir, store) = sqlite().await;
    values_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_values_round_trip() {
    values_round_trip(&postgres().await).await;
}

#[tokio::test]
async fn sqlite_large_commit() {
    let (_dir, store) = sqlite().await;
    large_commit(&store).await;
}

#[tokio::test]
async fn sqlite_ledger_runs_and_locks() {
    let (_dir, store) = sqlite().await;
    ledger_round_trip(&store).await;
    run_history(&store).await;
    lock_expiry(&store).await;
}

#[tokio::test]
async fn sqlite_alerts_and_run_history() {
    let (_dir, store) = sqlite().await;
    alerts_and_history(&store).await;
}

#[tokio::test]
async fn sqlite_reopen_keeps_state_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStateStore::open(&path).await.unwrap();
    store
        .commit_snapshot(
            "s",
            &[SnapshotChange::Upsert(entry("a", 1, Outcome::Succeeded))],
        )
        .await
        .unwrap();
    drop(store);
    let store = SqliteStateStore::open(&path).await.unwrap();
    assert_eq!(
        snapshot(&store, "s").await,
        [entry("a", 1, Outcome::Succeeded)]
    );
}

#[tokio::test]
async fn postgres_snapshot_round_trip() {
    snapshot_round_trip(&postgres().await).await;
}

#[tokio::test]
async fn postgres_large_commit() {
    large_commit(&postgres().await).await;
}

#[tokio::test]
async fn postgres_ledger_runs_and_locks() {
    let store = postgres().await;
    ledger_round_trip(&store).await;
    run_history(&store).await;
    lock_expiry(&store).await;
}

#[tokio::test]
async fn postgres_alerts_and_run_history() {
    alerts_and_history(&postgres().await).await;
}

#[tokio::test]
async fn sqlite_baseline_round_trip() {
    let (_dir, store) = sqlite().await;
    baseline_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_baseline_round_trip() {
    baseline_round_trip(&postgres().await).await;
}

#[tokio::test]
async fn sqlite_bulk_journal_round_trip() {
    let (_dir, store) = sqlite().await;
    bulk_journal_round_trip(&store).await;
}

#[tokio::test]
async fn postgres_bulk_journal_round_trip() {
    bulk_journal_round_trip(&postgres().await).await;
}

/// A drift check is claimed once per interval: the first claim and one at or after the interval succeed and
/// record their time; one inside the interval fails and records nothing; syncs are isolated.
async fn drift_checks(store: &dyn StateStore) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
    let hour = chrono::Duration::hours(1);
    assert_eq!(store.last_drift_check("products").await.unwrap(), None);
    assert!(
        store
            .claim_drift_check("products", t0, t0 - hour)
            .await
            .unwrap()
    );
    assert_eq!(store.last_drift_check("products").await.unwrap(), Some(t0));
    let t1 = t0 + chrono::Duration::minutes(59);
    assert!(
        !store
            .claim_drift_check("products", t1, t1 - hour)
            .await
            .unwrap()
    );
    assert_eq!(store.last_drift_check("products").await.unwrap(), Some(t0));
    assert!(
        store
            .claim_drift_check("customers", t1, t1 - hour)
            .await
            .unwrap(),
        "syncs are isolated"
    );
    let t2 = t0 + hour;
    assert!(
        store
            .claim_drift_check("products", t2, t2 - hour)
            .await
            .unwrap()
    );
    assert_eq!(store.last_drift_check("products").await.unwrap(), Some(t2));
    // Without an interval every run checks (`due_from` is now).
    assert!(store.claim_drift_check("products", t2, t2).await.unwrap());
}

#[tokio::test]
async fn sqlite_drift_checks() {
    let (_dir, store) = sqlite().await;
    drift_checks(&store).await;
}

#[tokio::test]
async fn postgres_drift_checks() {
    drift_checks(&postgres().await).await;
}
