//! Property tests for the diff laws: plan(x, x) is empty; applying plan(a, b) to a gives b; failed keys reappear.
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;
use shopsync::core::diff::{ChangeKind, DiffSettings, SnapshotIndex, plan};
use shopsync::core::record::Record;
use shopsync::core::state::{Outcome, RowHash, SnapshotChange, SnapshotEntry};

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
            // Values are for plan's before/after; the diff never reads them.
            SnapshotChange::Values { .. } => {}
        }
    }
}

proptest! {
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
        let mut changes: Vec<SnapshotChange> = plan.changes.iter().map(|c| c.succeeded(None)).collect();
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
        apply(&mut snapshot, plan1.changes.iter().map(|c| c.succeeded(None)).collect());
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
