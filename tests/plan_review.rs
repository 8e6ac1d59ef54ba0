//! `shopsync plan --base REF`: a git repository with two commits of specs, a warehouse and a state that a real
//! run against the emulator produced; the review in every format matches the checked-in expectations in
//! tests/golden/ (run with SHOPSYNC_BLESS=1 to rewrite them after an intended change), and never writes to the
//! store.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli;

use cli::{Emulator, bin, text};

const TOKEN: &str = "shpat_review_token";
/// The endpoint in the committed specs: a plan never calls it; the run swaps in the emulator's URL.
const UNUSED_ENDPOINT: &str = "http://127.0.0.1:9";

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", text(&o));
}

fn write(dir: &Path, file: &str, content: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn sql(db: &Path, statements: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
            .execute(&mut c)
            .await
            .unwrap();
    });
}

fn destination(endpoint: &str, version: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata: {{name: token}}
stringData: {{token: {TOKEN}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifyDestination
metadata: {{name: store}}
spec:
  store: review
  apiVersion: "{version}"
  endpoint: {endpoint}
  credentials: {{accessTokenSecretRef: {{name: token, key: token}}}}
"#
    )
}

const PRODUCTS_BASE: &str = r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {name: products}
spec:
  destinationRef: {name: store}
  source:
    url: "sqlite://warehouse.db?mode=ro"
    query: SELECT handle, title, display_title, vendor FROM products ORDER BY handle
  primaryKey: handle
  object: products
  mode: upsert
  mappings:
    - {from: handle, to: handle}
    - {from: title, to: title}
  schedule: {interval: 1h}
"#;

const PRODUCTS_HEAD: &str = r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {name: products}
spec:
  destinationRef: {name: store}
  source:
    url: "sqlite://warehouse.db?mode=ro"
    query: SELECT handle, title, display_title, vendor FROM products ORDER BY handle
  primaryKey: handle
  object: products
  mode: upsert
  mappings:
    - {from: handle, to: handle}
    - {from: display_title, to: title}
    - {from: vendor, to: vendor}
  deleteBehavior: delete
  deleteGuard: {maxCount: 1}
  schedule: {interval: 30m}
"#;

const CUSTOMERS_BASE: &str = r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {name: customers}
spec:
  destinationRef: {name: store}
  source:
    url: "sqlite://warehouse.db?mode=ro"
    query: SELECT id, email, name FROM people ORDER BY id
  primaryKey: id
  object: customers
  mode: upsert
  mappings:
    - {from: email, to: email}
    - {from: name, to: firstName}
  schedule: {interval: 1h}
"#;

const CUSTOMERS_HEAD: &str = r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {name: customers}
spec:
  destinationRef: {name: store}
  source:
    url: "sqlite://warehouse.db?mode=ro"
    query: SELECT id, email, name FROM people ORDER BY id
  primaryKey: email
  object: customers
  mode: update
  mappings:
    - {from: email, to: email}
    - {from: name, to: firstName}
  schedule: {interval: 1h}
"#;

const RETIRED: &str = r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {name: retired}
spec:
  destinationRef: {name: store}
  source:
    url: "sqlite://warehouse.db?mode=ro"
    query: SELECT handle, title FROM products WHERE 0
  primaryKey: handle
  object: products
  mode: upsert
  mappings:
    - {from: handle, to: handle}
    - {from: title, to: title}
  deletionPolicy: Delete
  schedule: {manual: true}
"#;

const VIP: &str = r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {name: vip}
spec:
  destinationRef: {name: store}
  source:
    url: "sqlite://warehouse.db?mode=ro"
    query: SELECT id, email, name FROM people WHERE id = 1
  primaryKey: id
  object: customers
  mode: upsert
  mappings:
    - {from: email, to: email}
  schedule: {cron: "0 6 * * *"}
"#;

/// The repository: base commit, a run against the emulator at the base, then the head commit and a warehouse
/// change (two products gone). Returns the repository and the emulator (kept alive for the write counter).
fn repository() -> (tempfile::TempDir, Emulator) {
    let emu = Emulator::start(TOKEN);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["config", "user.email", "ci@example.com"]);
    git(repo, &["config", "user.name", "ci"]);
    // The emulator's URL changes every run: kept out of git so the plan never shows it.
    write(repo, ".gitignore", "warehouse.db\n.shopsync/\n");
    sql(
        &repo.join("warehouse.db"),
        "CREATE TABLE products (handle TEXT, title TEXT, display_title TEXT, vendor TEXT);
         INSERT INTO products VALUES
           ('anvil', 'Anvil', 'Anvil (cast iron)', 'Acme'),
           ('bucket', 'Bucket', 'Bucket', 'Acme'),
           ('crate', 'Crate', 'Crate', 'Box Co'),
           ('drum', 'Drum', 'Drum', 'Box Co');
         CREATE TABLE people (id INTEGER, email TEXT, name TEXT);
         INSERT INTO people VALUES (1, 'ada@example.com', 'Ada'), (2, 'bob@example.com', 'Bob');",
    );
    write(
        repo,
        "specs/destination.yaml",
        &destination(UNUSED_ENDPOINT, "2026-04"),
    );
    write(repo, "specs/products.yaml", PRODUCTS_BASE);
    write(repo, "specs/customers.yaml", CUSTOMERS_BASE);
    write(repo, "specs/retired.yaml", RETIRED);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "base"]);

    // The state as the controller would have it: one real run of the base specs.
    let with_endpoint = |version: &str| destination(&emu.url, version);
    write(repo, "specs/destination.yaml", &with_endpoint("2026-04"));
    let o = bin()
        .current_dir(repo)
        .args([
            "run",
            "--once",
            "-f",
            "specs",
            "--sync",
            "products",
            "--sync",
            "customers",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    write(
        repo,
        "specs/destination.yaml",
        &destination(UNUSED_ENDPOINT, "2026-07"),
    );
    write(repo, "specs/products.yaml", PRODUCTS_HEAD);
    write(repo, "specs/customers.yaml", CUSTOMERS_HEAD);
    write(repo, "specs/vip.yaml", VIP);
    std::fs::remove_file(repo.join("specs/retired.yaml")).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "head"]);
    sql(
        &repo.join("warehouse.db"),
        "DELETE FROM products WHERE handle IN ('crate', 'drum');",
    );
    (dir, emu)
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file, or rewrites it under SHOPSYNC_BLESS=1.
fn check_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("SHOPSYNC_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with SHOPSYNC_BLESS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from the golden file at line {}:\n--- expected\n{}\n--- actual\n{}\n(run with SHOPSYNC_BLESS=1 after an intended change)",
            first + 1,
            expected
                .lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
            actual
                .lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

/// Shopify ids depend on the order the emulator created records in; the review is about everything else.
fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("gid://shopify/") {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let kind_end = tail["gid://shopify/".len()..]
            .find('/')
            .map(|j| j + "gid://shopify/".len() + 1)
            .unwrap_or(tail.len());
        out.push_str(&tail[..kind_end]);
        let digits = tail[kind_end..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len() - kind_end);
        out.push('N');
        rest = &tail[kind_end + digits..];
    }
    out.push_str(rest);
    out
}

fn writes(emu: &Emulator) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let body: serde_json::Value = reqwest::get(format!("{}/__emulator/writes", emu.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["writes"].as_u64().unwrap()
    })
}

fn plan(repo: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .current_dir(repo)
        .args(["plan", "--base", "HEAD~1", "-f", "specs", "--check"])
        .args(extra)
        .env_remove("SHOPSYNC_STATE_URL")
        .output()
        .unwrap()
}

#[test]
fn review_of_a_commit_matches_the_golden_files_and_writes_nothing() {
    let (dir, emu) = repository();
    let repo = dir.path();
    let before = writes(&emu);
    assert!(before > 0, "the base run wrote to the emulator");
    for (format, file) in [
        ("text", "plan-review.txt"),
        ("markdown", "plan-review.md"),
        ("json", "plan-review.json"),
    ] {
        let o = plan(repo, &["--format", format]);
        // Changes are pending: --check exits 1.
        assert_eq!(o.status.code(), Some(1), "{format}: {}", text(&o));
        check_golden(file, &normalize(&String::from_utf8_lossy(&o.stdout)));
    }
    assert_eq!(writes(&emu), before, "plan must never write to the store");

    // The risks a reviewer must see, named in the text output's first lines.
    let o = plan(repo, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    let risks: String = out.lines().take(12).collect::<Vec<_>>().join("\n");
    for needle in [
        "deleteBehavior turns to delete",
        "delete guard would trip",
        "primaryKey changes from id to email",
        "mode changes from upsert to update",
        "apiVersion changes from 2026-04 to 2026-07",
        "removed with deletionPolicy: Delete",
    ] {
        assert!(risks.contains(needle), "missing {needle:?} in:\n{risks}");
    }
}

#[test]
fn without_warehouse_or_state_the_review_keeps_the_spec_level_part() {
    let (dir, _emu) = repository();
    let repo = dir.path();
    std::fs::remove_file(repo.join("warehouse.db")).unwrap();
    let o = plan(repo, &["--state", "no/such/state.db"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = normalize(&String::from_utf8_lossy(&o.stdout));
    check_golden("plan-review-no-data.txt", &out);
    assert!(out.contains("data-level plan skipped"), "{out}");

    // --no-data: the same spec-level review, and the reason is the flag.
    let o = plan(repo, &["--no-data", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("--no-data: the warehouse and the state were not read"),
        "{out}"
    );
    assert!(out.contains("deleteBehavior turns to delete"), "{out}");
}

#[test]
fn no_spec_change_is_exit_zero_and_bad_refs_are_errors() {
    let (dir, _emu) = repository();
    let repo = dir.path();
    let o = bin()
        .current_dir(repo)
        .args([
            "plan",
            "--base",
            "HEAD",
            "-f",
            "specs",
            "--check",
            "--no-data",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("no spec changes"), "{}", text(&o));

    let o = bin()
        .current_dir(repo)
        .args(["plan", "--base", "no-such-branch", "-f", "specs"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no-such-branch"), "{}", text(&o));
}
