//! The spill sink keeps large plans on disk: changes read back in order, retracted ones skipped, file removed.
use serde_json::json;
use shopsync::core::diff::{DiffSettings, Differ};
use shopsync::core::plan::ChangeKind;
use shopsync::core::record::{Record, RejectionCode};
use shopsync::core::state::SnapshotIndex;
use shopsync::state::SpillSink;

fn rec(key: &str, v: i64) -> Record {
    let serde_json::Value::Object(fields) = json!({ "v": v, "note": "line\nbreak" }) else {
        unreachable!()
    };
    Record {
        key: key.into(),
        fields,
    }
}

#[test]
fn spilled_plan_reads_back_without_retracted_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut differ = Differ::new(
        DiffSettings::objects("m"),
        SnapshotIndex::new(),
        SpillSink::create(dir.path()).unwrap(),
    );
    for i in 0..200 {
        differ.push(Ok(rec(&format!("k{i}"), i))).unwrap();
    }
    // k7 shows up again: both of its rows are rejected and its spilled change is retracted.
    differ.push(Ok(rec("k7", 1000))).unwrap();
    let (summary, sink) = differ.finish().unwrap();
    let spilled = sink.finish().unwrap();
    assert_eq!(spilled.len(), 199);
    let changes: Vec<_> = spilled.iter().unwrap().map(Result::unwrap).collect();
    assert_eq!(changes.len(), 199);
    assert!(
        changes
            .iter()
            .all(|c| c.kind == ChangeKind::Added && c.key != "k7")
    );
    assert_eq!(changes[198].key, "k199");
    assert_eq!(changes[0].fields["note"], json!("line\nbreak"));
    assert_eq!(
        summary.rejections[0].code,
        RejectionCode::DuplicatePrimaryKey
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    drop(spilled);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the spill file is removed"
    );
}

/// The spill port on disk reads a plan back in chunks from any position, retracted changes skipped, sequential
/// reads going on where they stopped, and removes its file when the read-back is dropped.
#[test]
fn spill_dir_reads_chunks_from_any_position() {
    use shopsync::core::spill::ChangeSpill;
    let dir = tempfile::tempdir().unwrap();
    let mut writer = shopsync::state::SpillDir::new(dir.path()).create().unwrap();
    let mut differ = Differ::new(DiffSettings::objects("m"), SnapshotIndex::new(), writer);
    for i in 0..50 {
        differ.push(Ok(rec(&format!("k{i}"), i))).unwrap();
    }
    // k3 again: its change is retracted, so the survivors are k0..k49 without k3.
    differ.push(Ok(rec("k3", 1000))).unwrap();
    (_, writer) = differ.finish().unwrap();
    let spilled = writer.finish().unwrap();
    assert_eq!(spilled.len(), 49);
    let keys = |from: u64, max: usize| -> Vec<String> {
        spilled
            .read(from, max)
            .unwrap()
            .into_iter()
            .map(|c| c.key)
            .collect()
    };
    assert_eq!(keys(0, 4), ["k0", "k1", "k2", "k4"]);
    assert_eq!(keys(4, 2), ["k5", "k6"]);
    assert_eq!(keys(1, 2), ["k1", "k2"], "an earlier position reads again");
    assert_eq!(keys(6, 2), ["k7", "k8"]);
    assert_eq!(keys(40, 100).len(), 9);
    assert_eq!(keys(48, 5), ["k49"]);
    assert!(keys(49, 5).is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    drop(spilled);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
