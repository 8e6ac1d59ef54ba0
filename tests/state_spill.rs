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

/// A spill file nobody holds (its run was killed: `kill -9`, an OOM kill, a pod restarted with the same
/// `emptyDir`, where the new controller is pid 1 again) is removed by the next spill made in the directory and
/// never collides with it; a file still being read is left alone, and so are other files.
#[test]
fn a_killed_runs_spill_file_is_swept_and_a_live_one_kept() {
    use shopsync::core::spill::ChangeSpill;
    let dir = tempfile::tempdir().unwrap();
    let spills = shopsync::state::SpillDir::new(dir.path());
    let writer = spills.create().unwrap();
    let mut differ = Differ::new(DiffSettings::objects("m"), SnapshotIndex::new(), writer);
    differ.push(Ok(rec("live", 1))).unwrap();
    let (_, writer) = differ.finish().unwrap();
    let live = writer.finish().unwrap();
    // Left by dead runs: the old pid-and-counter name (pid 1, as in a pod) and a random one.
    for dead in [
        "shopsync-changes-1-0.jsonl",
        "shopsync-changes-x1y2z3.jsonl",
    ] {
        std::fs::write(dir.path().join(dead), "{}\n").unwrap();
    }
    std::fs::write(dir.path().join("other.jsonl"), "{}\n").unwrap();
    let names = || {
        let mut n: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names().len(), 4);
    let next = spills.create().unwrap();
    let after = names();
    assert!(
        !after
            .iter()
            .any(|n| n == "shopsync-changes-1-0.jsonl" || n == "shopsync-changes-x1y2z3.jsonl"),
        "{after:?}"
    );
    assert!(after.iter().any(|n| n == "other.jsonl"), "{after:?}");
    assert_eq!(
        after.len(),
        3,
        "the live file, the new one and the other: {after:?}"
    );
    assert_eq!(
        shopsync::state::sweep_spill_files(dir.path()),
        0,
        "both spills are held"
    );
    assert_eq!(live.read(0, 10).unwrap().len(), 1);
    drop(next);
    drop(live);
    assert_eq!(names(), ["other.jsonl"]);
}
