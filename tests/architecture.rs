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
