//! The diff's rules, case by case: duplicates, NULL keys, mapping changes, the delete guard, insert-only ledgers.
use serde_json::json;
use shopsync::core::diff::{DeleteGuard, DiffError, DiffSettings, Differ, plan};
use shopsync::core::plan::{ChangeKind, MemorySink};
use shopsync::core::record::{Record, RejectionCode, RowRejection};
use shopsync::core::state::SnapshotIndex;
use shopsync::core::state::{
    LedgerEntry, LedgerStatus, Outcome, Ownership, RowHash, SnapshotEntry,
};

fn rec(key: &str, value: serde_json::Value) -> Result<Record, RowRejection> {
    let serde_json::Value::Object(fields) = json!({ "v": value }) else {
        unreachable!()
    };
    Ok(Record {
        key: key.into(),
        fields,
    })
}

fn entry(
    fingerprint: &str,
    key: &str,
    value: serde_json::Value,
    outcome: Outcome,
) -> SnapshotEntry {
    let record = rec(key, value).unwrap();
    SnapshotEntry {
        key: key.into(),
        hash: RowHash::of(fingerprint, &record),
        shopify_id: Some(format!("gid://shopify/Customer/{key}")),
        outcome,
        error: None,
        source: None,
        ownership: Ownership::Created,
    }
}

fn index_of(entries: &[SnapshotEntry]) -> SnapshotIndex {
    let mut index = SnapshotIndex::new();
    entries.iter().for_each(|e| index.insert_snapshot(e));
    index
}

#[test]
fn changed_rows_carry_previous_hash_and_shopify_id() {
    let old = entry("m", "1", json!("a"), Outcome::Succeeded);
    let plan = plan(
        DiffSettings::objects("m"),
        index_of(std::slice::from_ref(&old)),
        [rec("1", json!("b"))],
    )
    .unwrap();
    assert_eq!(plan.changes.len(), 1);
    let change = &plan.changes[0];
    assert_eq!(change.kind, ChangeKind::Changed);
    assert_eq!(change.previous_hash, Some(old.hash));
    assert_eq!(
        change.shopify_id.as_deref(),
        Some("gid://shopify/Customer/1")
    );
    assert_eq!(change.fields["v"], json!("b"));
}

#[test]
fn mapping_change_makes_rows_changed() {
    let snapshot = [
        entry("m1", "1", json!("a"), Outcome::Succeeded),
        entry("m1", "2", json!("b"), Outcome::Succeeded),
    ];
    let same = plan(
        DiffSettings::objects("m1"),
        index_of(&snapshot),
        [rec("1", json!("a")), rec("2", json!("b"))],
    );
    assert!(same.unwrap().is_empty());
    let remapped = plan(
        DiffSettings::objects("m2"),
        index_of(&snapshot),
        [rec("1", json!("a")), rec("2", json!("b"))],
    )
    .unwrap();
    assert_eq!(remapped.summary.stats.changed, 2);
}

#[test]
fn duplicate_keys_reject_every_row_with_the_key() {
    let snapshot = [entry("m", "old", json!(1), Outcome::Succeeded)];
    let rows = [
        rec("new", json!(1)),
        rec("old", json!(2)),
        rec("new", json!(3)),
        rec("old", json!(4)),
        rec("x", json!(5)),
        rec("new", json!(6)),
    ];
    let plan = plan(DiffSettings::objects("m"), index_of(&snapshot), rows).unwrap();
    let keys: Vec<&str> = plan.changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["x"]);
    let dups: Vec<(&str, RejectionCode)> = plan
        .summary
        .rejections
        .iter()
        .map(|r| (r.key.as_deref().unwrap(), r.code))
        .collect();
    assert_eq!(
        dups,
        [
            ("new", RejectionCode::DuplicatePrimaryKey),
            ("old", RejectionCode::DuplicatePrimaryKey)
        ]
    );
    assert!(plan.summary.rejections[0].message.starts_with("3 rows"));
    assert_eq!(plan.summary.stats.rejected, 5);
    assert_eq!(
        (plan.summary.stats.added, plan.summary.stats.changed),
        (1, 0)
    );
    // A duplicated key is still present in the model: it must not be removed.
    assert!(plan.summary.removed.is_empty());
}

#[test]
fn duplicate_keys_fail_the_run_when_asked() {
    let settings = DiffSettings {
        fail_on_duplicate_keys: true,
        ..DiffSettings::objects("m")
    };
    let err = plan(
        settings,
        SnapshotIndex::new(),
        [rec("a", json!(1)), rec("a", json!(1))],
    )
    .unwrap_err();
    assert!(
        matches!(err, DiffError::DuplicateKeys { count: 1, ref first } if first == "a"),
        "{err}"
    );
}

#[test]
fn rejected_rows_are_reported_and_not_removed() {
    let snapshot = [
        entry("m", "1", json!("a"), Outcome::Succeeded),
        entry("m", "2", json!("b"), Outcome::Succeeded),
    ];
    let rows = [
        Err(RowRejection::new(
            None,
            RejectionCode::NullPrimaryKey,
            "primary key column `id` is NULL",
        )),
        Err(RowRejection::new(
            Some("1".into()),
            RejectionCode::Mapping,
            "column `email`: not an email",
        )),
    ];
    let plan = plan(DiffSettings::objects("m"), index_of(&snapshot), rows).unwrap();
    assert_eq!(plan.summary.rejections.len(), 2);
    let removed: Vec<&str> = plan
        .summary
        .removed
        .iter()
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(removed, ["2"]);
    assert_eq!(
        plan.summary.removed[0].shopify_id.as_deref(),
        Some("gid://shopify/Customer/2")
    );
}

#[test]
fn delete_guard_refuses_and_says_why() {
    let snapshot: Vec<_> = (0..10)
        .map(|i| entry("m", &i.to_string(), json!(i), Outcome::Succeeded))
        .collect();
    let keep = |n: usize| {
        (0..n)
            .map(|i| rec(&i.to_string(), json!(i)))
            .collect::<Vec<_>>()
    };

    let by_count = DiffSettings {
        delete_guard: DeleteGuard {
            max_count: Some(3),
            max_percent: None,
        },
        deletes: true,
        ..DiffSettings::objects("m")
    };
    let refused = plan(by_count.clone(), index_of(&snapshot), keep(6)).unwrap();
    assert!(refused.summary.removed.is_empty());
    let why = refused.summary.refused_deletes.expect("refused");
    assert_eq!(why.count, 4);
    assert!(why.reason.contains("maximum of 3"), "{}", why.reason);
    assert_eq!(
        plan(by_count, index_of(&snapshot), keep(7))
            .unwrap()
            .summary
            .removed
            .len(),
        3
    );

    let by_percent = DiffSettings {
        delete_guard: DeleteGuard {
            max_count: None,
            max_percent: Some(25.0),
        },
        deletes: true,
        ..DiffSettings::objects("m")
    };
    let refused = plan(by_percent, index_of(&snapshot), keep(7)).unwrap();
    assert!(
        refused
            .summary
            .refused_deletes
            .expect("refused")
            .reason
            .contains("30.00%")
    );
}

#[test]
fn empty_result_against_a_snapshot_is_guarded_like_any_removal() {
    let snapshot: Vec<_> = (0..3)
        .map(|i| entry("m", &i.to_string(), json!(i), Outcome::Succeeded))
        .collect();
    let settings = DiffSettings {
        delete_guard: DeleteGuard {
            max_count: None,
            max_percent: Some(50.0),
        },
        deletes: true,
        ..DiffSettings::objects("m")
    };
    let plan = plan(settings, index_of(&snapshot), []).unwrap();
    assert_eq!(plan.summary.refused_deletes.expect("refused").count, 3);
}

/// An entry of `ownership` for key `i`.
fn owned(i: usize, ownership: Ownership) -> SnapshotEntry {
    SnapshotEntry {
        ownership,
        ..entry("m", &i.to_string(), json!(i), Outcome::Succeeded)
    }
}

#[test]
fn removals_delete_only_what_the_sync_created_unless_matched_ones_are_opted_in() {
    let snapshot = vec![
        owned(0, Ownership::Created),
        owned(1, Ownership::Matched),
        owned(2, Ownership::Skipped),
    ];
    let deleting = DiffSettings {
        delete_guard: DeleteGuard {
            max_count: None,
            max_percent: Some(100.0),
        },
        deletes: true,
        ..DiffSettings::objects("m")
    };
    let deleted = |settings: DiffSettings| {
        let plan = plan(settings, index_of(&snapshot), []).unwrap();
        assert_eq!(
            plan.summary.removed.len(),
            3,
            "every key leaves the snapshot"
        );
        plan.summary
            .removed
            .iter()
            .filter(|r| r.delete)
            .map(|r| r.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(deleted(deleting.clone()), ["0"]);
    let matched_too = DiffSettings {
        delete_matched: true,
        ..deleting.clone()
    };
    let mut both = deleted(matched_too);
    both.sort();
    assert_eq!(both, ["0", "1"], "a skipped record is never deleted");
    let not_deleting = DiffSettings {
        deletes: false,
        ..deleting
    };
    assert!(deleted(not_deleting).is_empty());
}

#[test]
fn only_deletes_count_against_the_guard() {
    // Ten matched records leave a sync that deletes: none may be deleted, so nothing trips; all are forgotten.
    let snapshot: Vec<_> = (0..10).map(|i| owned(i, Ownership::Matched)).collect();
    let settings = DiffSettings {
        deletes: true,
        delete_guard: DeleteGuard::DEFAULT,
        ..DiffSettings::objects("m")
    };
    let plan = plan(settings, index_of(&snapshot), []).unwrap();
    assert!(plan.summary.refused_deletes.is_none());
    assert_eq!(plan.summary.removed.len(), 10);
    assert!(plan.summary.removed.iter().all(|r| !r.delete));
}

#[test]
fn a_tripped_guard_keeps_the_records_it_refused_and_forgets_the_rest() {
    let mut snapshot: Vec<_> = (0..5).map(|i| owned(i, Ownership::Created)).collect();
    snapshot.push(owned(5, Ownership::Matched));
    let settings = DiffSettings {
        deletes: true,
        delete_guard: DeleteGuard::DEFAULT,
        ..DiffSettings::objects("m")
    };
    let plan = plan(settings, index_of(&snapshot), []).unwrap();
    let refused = plan.summary.refused_deletes.expect("5 of 6 is over 10%");
    assert_eq!((refused.count, refused.known), (5, 6));
    let forgotten: Vec<&str> = plan
        .summary
        .removed
        .iter()
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(
        forgotten,
        ["5"],
        "only the matched key is forgotten; the refused ones stay known"
    );
}

#[test]
fn insert_mode_never_sends_a_known_record_again() {
    let snapshot = vec![owned(0, Ownership::Created), owned(1, Ownership::Skipped)];
    let settings = DiffSettings {
        insert_mode: true,
        ..DiffSettings::objects("m")
    };
    let rows = vec![
        rec("0", json!("changed")),
        rec("1", json!("changed")),
        rec("2", json!(2)),
    ];
    let plan = plan(settings, index_of(&snapshot), rows).unwrap();
    let keys: Vec<&str> = plan.changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["2"], "only the new key is sent");
    assert_eq!(plan.summary.stats.kept, 2);
}

fn ledger(
    key: &str,
    value: serde_json::Value,
    status: LedgerStatus,
    idem: Option<&str>,
) -> LedgerEntry {
    LedgerEntry {
        key: key.into(),
        hash: RowHash::of("m", &rec(key, value).unwrap()),
        status,
        idempotency_key: idem.map(str::to_owned),
        shopify_id: None,
        error: None,
    }
}

#[test]
fn insert_only_sends_each_key_once_and_reports_unknown_outcomes() {
    let mut index = SnapshotIndex::new();
    for e in [
        ledger("sent", json!(1), LedgerStatus::Sent, None),
        ledger("confirmed", json!(1), LedgerStatus::Confirmed, None),
        ledger("rejected", json!(1), LedgerStatus::Rejected, None),
        ledger(
            "pending-idem",
            json!(1),
            LedgerStatus::Pending,
            Some("idem-123"),
        ),
        ledger("pending", json!(1), LedgerStatus::Pending, None),
        ledger("gone", json!(1), LedgerStatus::Sent, None),
    ] {
        index.insert_ledger(&e);
    }
    let rows = [
        "sent",
        "confirmed",
        "rejected",
        "pending-idem",
        "pending",
        "new",
    ]
    .map(|k| rec(k, json!(2)));
    let plan = plan(DiffSettings::insert_only("m"), index, rows).unwrap();
    let sent: Vec<(&str, ChangeKind, Option<&str>)> = plan
        .changes
        .iter()
        .map(|c| (c.key.as_str(), c.kind, c.idempotency_key.as_deref()))
        .collect();
    assert_eq!(
        sent,
        [
            ("rejected", ChangeKind::Retried, None),
            ("pending-idem", ChangeKind::Retried, Some("idem-123")),
            ("new", ChangeKind::Added, None),
        ]
    );
    assert_eq!(plan.summary.unknown_outcome, ["pending"]);
    assert!(plan.summary.removed.is_empty(), "events are never removed");
    assert_eq!(plan.summary.stats.unchanged, 2);
}

#[test]
fn differ_streams_into_any_sink() {
    let mut differ = Differ::new(
        DiffSettings::objects("m"),
        SnapshotIndex::new(),
        MemorySink::default(),
    );
    for i in 0..1000 {
        differ.push(rec(&i.to_string(), json!(i))).unwrap();
    }
    let (summary, sink) = differ.finish().unwrap();
    assert_eq!(summary.stats.added, 1000);
    assert_eq!(sink.into_changes().len(), 1000);
}
