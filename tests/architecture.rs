//! The layering rules of docs/architecture.md ("Layers"), enforced on the source tree. The core's purity is
//! the compiler's job (it is a crate whose manifest names no I/O crate); these tests keep that manifest honest
//! and the core's modules free of circles.
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

/// The `[dependencies]` of a Cargo manifest: each crate's name and the rest of its line.
fn manifest_dependencies(manifest: &str) -> Vec<(String, String)> {
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, spec)) = line.split_once('=') {
            out.push((name.trim().to_string(), spec.trim().to_string()));
        }
    }
    out
}

/// The core is a crate of its own (`src/core/Cargo.toml`): what it may not do is decided by what its manifest
/// lets it name. Every dependency is on this list on purpose; none of them performs I/O.
#[test]
fn core_depends_on_no_io_crate() {
    let allowed = [
        "thiserror",
        "serde",
        "serde_json",
        "chrono",
        "croner",
        "futures",
        "sha2",
        "hex",
        "regex",
        "once_cell",
        "hashbrown",
        "foldhash",
        // Optional (feature `schemars`): JSON schemas of the config enums for the custom resources.
        "schemars",
    ];
    // Named so that the message says why, should one of them be added to the list above.
    let io = [
        "tokio",
        "kube",
        "k8s-openapi",
        "reqwest",
        "sqlx",
        "rusqlite",
        "axum",
        "hyper",
        "tokio-rustls",
        "mio",
        "socket2",
        "shopsync",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("src/core/Cargo.toml")).unwrap();
    let deps = manifest_dependencies(&manifest);
    assert!(
        deps.iter().any(|(name, _)| name == "serde"),
        "the manifest parser found no dependencies: {deps:?}"
    );
    let mut found = Vec::new();
    for (name, spec) in &deps {
        if io.contains(&name.as_str()) {
            found.push(format!("{name}: an I/O crate"));
        } else if !allowed.contains(&name.as_str()) {
            found.push(format!(
                "{name}: not on the list of the core's dependencies (tests/architecture.rs)"
            ));
        }
        // chrono's `clock` feature is what lets a crate read the wall clock.
        if name == "chrono"
            && (!spec.contains("default-features = false") || spec.contains("clock"))
        {
            found.push(format!("chrono must come without its clock: {spec}"));
        }
    }
    assert!(
        found.is_empty(),
        "src/core/Cargo.toml must keep the core pure:\n{}",
        found.join("\n")
    );
    // Clock reads and sleeps are refused at lint time in the core.
    let clippy = std::fs::read_to_string(root.join("src/core/clippy.toml")).unwrap();
    for method in [
        "chrono::Utc::now",
        "chrono::Local::now",
        "std::time::Instant::now",
        "std::time::SystemTime::now",
        "std::thread::sleep",
    ] {
        assert!(
            clippy.contains(&format!("\"{method}\"")),
            "src/core/clippy.toml must disallow {method}"
        );
    }
}

/// `text` without comments, string and character literals (kept as empty quotes), so that a path in a doc
/// comment or a message is not taken for a use.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let end = text[open + 1..]
                    .find(&close)
                    .map_or(b.len(), |e| open + 1 + e + close.len());
                out.push_str("\"\"");
                i = end;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                out.push_str("\"\"");
                i += 1;
            }
            // A character literal ('{', '\''), not a lifetime ('a).
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                i += if b[i + 1] == b'\\' { 4 } else { 3 };
                while i < b.len() && b[i - 1] != b'\'' {
                    i += 1;
                }
                out.push_str("' '");
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// `code` without the items marked `#[cfg(test)]` (test modules may import anything).
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        // The item ends at the brace that closes its first block, or at a `;` before any block.
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The core modules each core module names (`crate::m`, or `super::m` from a top-level file), tests left out.
/// A file below a module's folder (`state/index.rs`) belongs to that module.
fn core_module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let module_of = |file: &Path| {
        let rel = file.strip_prefix(&dir).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let files = rust_files(&dir);
    let modules: std::collections::BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f))
        .filter(|m| m != "mod")
        .collect();
    let mut graph = std::collections::BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let top_level = file.parent() == Some(dir.as_path());
        let code = without_tests(&code_only(&std::fs::read_to_string(file).unwrap()))
            .replace(char::is_whitespace, "");
        let edges: &mut std::collections::BTreeSet<String> = graph.entry(from.clone()).or_default();
        for to in &modules {
            let named = code.contains(&format!("crate::{to}::"))
                || code.contains(&format!("crate::{to};"))
                || (top_level && code.contains(&format!("super::{to}::")));
            if named && *to != from {
                edges.insert(to.clone());
            }
        }
    }
    graph
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// Inside the core, imports run one way: no module reaches, directly or through others, back to itself
/// (the plan types have their own module, the snapshot index lives with the state, the run report has its own).
#[test]
fn core_modules_form_no_cycle() {
    let graph = core_module_graph();
    assert!(
        graph.get("engine").is_some_and(|e| e.contains("state")),
        "the module graph missed engine -> state: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "modules of src/core import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_check_detects_cycles_and_skips_comments_and_tests() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("a", "c"), ("b", "c")])),
        None
    );
    let code = without_tests(&code_only(
        "use crate::x::A; // crate::y::B\nlet s = \"crate::z::C {\";\n#[cfg(test)]\nmod tests { use crate::w::D; fn f() { '{'; } }\nuse crate::v::E;",
    ));
    assert!(
        code.contains("crate::x::A") && code.contains("crate::v::E"),
        "{code}"
    );
    assert!(
        !code.contains("crate::y") && !code.contains("crate::z") && !code.contains("crate::w"),
        "{code}"
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
