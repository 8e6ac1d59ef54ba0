//! The README's main job: `shopsync quickstart` syncs every example into the emulator, and a second run
//! writes nothing to the store.
use std::process::Command;

fn quickstart(dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shopsync"))
        .args(["quickstart", "--dir"])
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "quickstart failed:\n{text}");
    text
}

fn store_writes(text: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("the store received"))
        .expect("a store write count");
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn quickstart_syncs_every_example_then_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = quickstart(dir.path());
    assert!(first.contains("16 run(s)"), "{first}");
    assert!(!first.contains("FAILED"), "{first}");
    for sync in [
        "customers",
        "products",
        "inventory-items",
        "inventory-levels",
        "discount-codes",
        "fulfillment-events",
        "hold-fulfillment-orders",
    ] {
        let line = first
            .lines()
            .find(|l| l.starts_with(&format!("default/{sync} ")))
            .unwrap_or_else(|| panic!("no line for {sync}:\n{first}"));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(store_writes(&first) >= 20, "{first}");

    let second = quickstart(dir.path());
    assert_eq!(
        store_writes(&second),
        0,
        "nothing changed, so nothing may be written:\n{second}"
    );
    assert!(
        second.contains("synced 0") || second.contains("0 synced"),
        "{second}"
    );
}
