//! Property tests for the diff laws: plan(x, x) is empty; applying plan(a, b) to a gives b; failed keys reappear.
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;
use shopsync::core::diff::{DiffSettings, Differ, plan};
use shopsync::core::plan::{ChangeKind, MemorySink, Plan};
use shopsync::core::record::Record;
use shopsync::core::state::{ObjectEntry, SnapshotIndex};
use shopsync::core::state::{Outcome, Ownership, RowHash, SnapshotChange, SnapshotEntry};

const FINGERPRINT: &str = "mapping-v1";

/// A model: primary key -> one field value. Keys are unique by construction (a map).
fn model() -> impl Strategy<Value = BTreeMap<String, i64>> {
    prop::collection::btree_map("[a-e]{1,2}", 0i64..4, 0..30)
}

fn records(
    model: &BTreeMap<String, i64>,
) -> Vec<Result<Record, shopsync::core::record::RowRejection>> {
    model
        .iter()
        .map(|(k, v)| {
            let serde_json::Value::Object(fields) = json!({"key": k, "value": v}) else {
                unreachable!()
            };
            Ok(Record {
                key: k.clone(),
                fields,
            })
        })
        .collect()
}

/// The snapshot a fully successful run of `model` leaves: key -> (hash, outcome).
fn synced(model: &BTreeMap<String, i64>) -> BTreeMap<String, (RowHash, Outcome)> {
    records(model)
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            (
                r.key.clone(),
                (RowHash::of(FINGERPRINT, &r), Outcome::Succeeded),
            )
        })
        .collect()
}

fn index(snapshot: &BTreeMap<String, (RowHash, Outcome)>) -> SnapshotIndex {
    let mut index = SnapshotIndex::new();
    for (key, (hash, outcome)) in snapshot {
        index.insert_snapshot(&SnapshotEntry {
            key: key.clone(),
            hash: *hash,
            shopify_id: Some(format!("gid://shopify/Customer/{key}")),
            outcome: *outcome,
            error: None,
            source: None,
            ownership: Ownership::Created,
        });
    }
    index
}

/// The index a run of `a` leaves, with digests, except that `stale` keys have none and `failing` keys failed.
fn digest_index(
    a: &BTreeMap<String, i64>,
    stale: &std::collections::BTreeSet<String>,
    failing: &std::collections::BTreeSet<String>,
) -> SnapshotIndex {
    let mut index = SnapshotIndex::new();
    for row in records(a) {
        let record = row.unwrap();
        let outcome = if failing.contains(&record.key) {
            Outcome::Rejected
        } else {
            Outcome::Succeeded
        };
        index.insert_object(ObjectEntry {
            key: &record.key,
            hash: RowHash::of(FINGERPRINT, &record),
            outcome,
            shopify_id: None,
            source: (!stale.contains(&record.key)).then(|| digest(&record)),
            ownership: Ownership::Created,
        });
    }
    index
}

/// Applies a snapshot change list the way a state store does.
fn apply(snapshot: &mut BTreeMap<String, (RowHash, Outcome)>, changes: Vec<SnapshotChange>) {
    for change in changes {
        match change {
            SnapshotChange::Upsert(e) => {
                snapshot.insert(e.key, (e.hash, e.outcome));
            }
            SnapshotChange::Remove(key) => {
                snapshot.remove(&key);
            }
            // Values are for plan's before/after; the diff never reads them. Source digests only let a plan
            // skip decoding: the laws hold without them. The baseline marker is not an entry.
            SnapshotChange::Values { .. }
            | SnapshotChange::Source { .. }
            | SnapshotChange::Baseline(_) => {}
        }
    }
}

/// The digest a warehouse would give a row as read: equal exactly when the row is.
fn digest(record: &Record) -> RowHash {
    RowHash::of("as-read", record)
}

/// Plans `rows` pushing every one with its digest, or, with `skip`, asking `skip_unchanged` first as the engine
/// does and pushing only the rows it does not skip.
fn plan_with_digests(
    settings: DiffSettings,
    index: SnapshotIndex,
    rows: &[Result<Record, shopsync::core::record::RowRejection>],
    skip: bool,
) -> Plan {
    let mut differ = Differ::new(settings, index, MemorySink::default());
    for row in rows {
        let source = row.as_ref().ok().map(digest);
        let key = row.as_ref().map(|r| r.key.clone()).ok();
        if skip && key.is_some_and(|k| differ.skip_unchanged(&k, source)) {
            continue;
        }
        differ.push_with_source(row.clone(), source).unwrap();
    }
    let (summary, sink) = differ.finish().unwrap();
    Plan {
        changes: sink.into_changes(),
        summary,
    }
}

proptest! {
    /// Skipping rows by their digest decides exactly what mapping and hashing them decides, stale or missing
    /// digests, failed keys, duplicates and events included.
    #[test]
    fn skipping_by_digest_plans_the_same(
        a in model(),
        b in model(),
        stale in prop::collection::btree_set("[a-e]{1,2}", 0..10),
        failing in prop::collection::btree_set("[a-e]{1,2}", 0..10),
        duplicated in prop::collection::btree_set("[a-e]{1,2}", 0..5),
        insert_only in any::<bool>(),
    ) {
        // `stale`: entries written before digests existed, or whose unmapped columns changed since.
        let mut rows = records(&b);
        rows.extend(records(&b).into_iter().filter(|r| r.as_ref().is_ok_and(|r| duplicated.contains(&r.key))));
        let settings = if insert_only {
            DiffSettings::insert_only(FINGERPRINT)
        } else {
            DiffSettings::objects(FINGERPRINT)
        };
        let full = plan_with_digests(settings.clone(), digest_index(&a, &stale, &failing), &rows, false);
        let skipped = plan_with_digests(settings, digest_index(&a, &stale, &failing), &rows, true);
        prop_assert_eq!(&full, &skipped);
        // Every unchanged object row with a stale digest is refreshed, and only those.
        if !insert_only {
            let mut refreshed: Vec<String> = skipped
                .summary
                .source_refreshes
                .iter()
                .filter_map(|c| c.as_source().map(|(k, _)| k.to_owned()))
                .collect();
            refreshed.sort();
            let expected: Vec<String> = b
                .iter()
                .filter(|(k, v)| stale.contains(*k) && !failing.contains(*k) && a.get(*k) == Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            prop_assert_eq!(refreshed, expected);
        }
    }

    #[test]
    fn plan_of_same_rows_is_empty(a in model()) {
        let snapshot = synced(&a);
        let plan = plan(DiffSettings::objects(FINGERPRINT), index(&snapshot), records(&a)).unwrap();
        prop_assert!(plan.is_empty(), "{plan:?}");
        prop_assert_eq!(plan.summary.stats.unchanged, a.len() as u64);
    }

    #[test]
    fn applying_plan_a_to_b_gives_b(a in model(), b in model()) {
        let mut snapshot = synced(&a);
        let plan = plan(DiffSettings::objects(FINGERPRINT), index(&snapshot), records(&b)).unwrap();
        let mut changes: Vec<SnapshotChange> = plan.changes.iter().map(|c| c.succeeded(None, Ownership::Created)).collect();
        changes.extend(plan.summary.removed.iter().map(|r| r.forget()));
        apply(&mut snapshot, changes);
        prop_assert_eq!(&snapshot, &synced(&b));
        // Only keys that differ are touched.
        let added = b.keys().filter(|k| !a.contains_key(*k)).count() as u64;
        let changed = b.iter().filter(|(k, v)| a.get(*k).is_some_and(|old| old != *v)).count() as u64;
        let removed = a.keys().filter(|k| !b.contains_key(*k)).count() as u64;
        prop_assert_eq!(plan.summary.stats.added, added);
        prop_assert_eq!(plan.summary.stats.changed, changed);
        prop_assert_eq!(plan.summary.stats.removed, removed);
    }

    #[test]
    fn failed_keys_reappear_until_they_succeed(a in model(), failing in prop::collection::btree_set("[a-e]{1,2}", 0..10)) {
        let mut snapshot = synced(&a);
        // Shopify rejected some keys last run: their snapshot says so.
        for key in &failing {
            if let Some(entry) = snapshot.get_mut(key) {
                entry.1 = Outcome::Rejected;
            }
        }
        let expected: Vec<&String> = a.keys().filter(|k| failing.contains(*k)).collect();
        for _run in 0..2 {
            let plan = plan(DiffSettings::objects(FINGERPRINT), index(&snapshot), records(&a)).unwrap();
            let retried: Vec<&String> = plan.of_kind(ChangeKind::Retried).map(|c| &c.key).collect();
            prop_assert_eq!(&retried, &expected);
            prop_assert_eq!(plan.changes.len(), expected.len());
        }
        // Once they succeed they are gone from the next plan.
        let plan1 = plan(DiffSettings::objects(FINGERPRINT), index(&snapshot), records(&a)).unwrap();
        apply(&mut snapshot, plan1.changes.iter().map(|c| c.succeeded(None, Ownership::Created)).collect());
        let plan2 = plan(DiffSettings::objects(FINGERPRINT), index(&snapshot), records(&a)).unwrap();
        prop_assert!(plan2.is_empty());
    }

    #[test]
    fn rebaseline_upserts_everything_and_removes_nothing(a in model(), b in model()) {
        let snapshot = synced(&a);
        let settings = DiffSettings { rebaseline: true, ..DiffSettings::objects(FINGERPRINT) };
        let plan = plan(settings, index(&snapshot), records(&b)).unwrap();
        prop_assert!(plan.summary.rebaseline);
        prop_assert_eq!(plan.changes.len(), b.len());
        prop_assert!(plan.changes.iter().all(|c| c.kind == ChangeKind::Added));
        prop_assert!(plan.summary.removed.is_empty());
    }
}
