//! The layering rules of docs/architecture.md ("Layers"), enforced on the source tree.
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// Lines that import or name `krate` as a path root (`use kube::`, `kube::Api`, `extern crate kube`).
fn mentions(source: &str, krate: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| {
            let l = l.replace(' ', "");
            l.contains(&format!("{krate}::")) || l.contains(&format!("externcrate{krate}"))
        })
        .map(str::to_string)
        .collect()
}

fn violations(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut found = Vec::new();
    for file in rust_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for krate in forbidden {
            for line in mentions(&text, krate) {
                found.push(format!("{}: {krate}: {}", file.display(), line.trim()));
            }
        }
    }
    found
}

#[test]
fn core_is_pure() {
    let forbidden = [
        "kube",
        "k8s_openapi",
        "reqwest",
        "sqlx",
        "axum",
        "hyper",
        "tokio::net",
        "tokio::process",
        "crate::api",
        "crate::warehouse",
        "crate::state",
        "crate::shopify",
        "crate::controller",
        "crate::emulator",
        "crate::cli",
        "crate::schema",
    ];
    let found = violations("src/core", &forbidden);
    assert!(
        found.is_empty(),
        "src/core must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn emulator_never_uses_the_client() {
    let found = violations("src/emulator", &["crate::shopify"]);
    assert!(
        found.is_empty(),
        "the emulator must not import the Shopify client:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_purity_check_detects_imports() {
    // Guards the checker itself: a file that imports a forbidden crate must be reported.
    assert_eq!(
        mentions("use kube::Api;\n// kube::x in a comment\nfn f() {}", "kube").len(),
        1
    );
    assert_eq!(mentions("let c = sqlx :: query(\"\");", "sqlx").len(), 1);
    assert!(mentions("use std::io;", "kube").is_empty());
}

#[test]
fn top_level_layout_is_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let allowed = [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "crds",
        "manifests",
        "tests",
        "benches",
        "examples",
        // Guides (docs/gitops.md).
        "docs",
        "README.md",
        "BENCHMARKS.md",
        "LICENSE",
        "target",
        ".ci",
        ".git",
        ".gitignore",
        ".github",
        "rustfmt.toml",
        "clippy.toml",
        ".config",
        // The default local state folder (ignored by git).
        ".shopsync",
    ];
    let mut extra = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if !allowed.contains(&name.as_str()) {
            extra.push(name);
        }
    }
    assert!(extra.is_empty(), "unexpected top-level entries: {extra:?}");
}

/// With `autotests = false`, a test file that no tier names would silently never run.
#[test]
fn every_test_file_belongs_to_exactly_one_tier() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut claimed: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(tests.join("tiers")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        claimed.extend(
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("#[path = \"../"))
                .filter(|l| !l.starts_with("support/"))
                .filter_map(|l| l.strip_suffix(".rs\"]"))
                .map(str::to_string),
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(&tests)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .collect();
    files.sort();
    let mut unique = claimed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "a file is in two tiers: {claimed:?}"
    );
    assert_eq!(
        unique, files,
        "tests/*.rs and the modules of tests/tiers/*.rs differ"
    );
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for entry in std::fs::read_dir(tests.join("tiers")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            manifest.contains(&format!("path = \"tests/tiers/{name}\"")),
            "tests/tiers/{name} is not a [[test]] target in Cargo.toml"
        );
    }
}
