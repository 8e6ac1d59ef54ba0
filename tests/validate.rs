//! `shopsync validate`: examples pass, every spec in tests/invalid fails with its message, and bad input of
//! any kind gives an error, never a panic.
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use shopsync::api::manifest::{load, parse_documents};
use shopsync::api::validate::{Severity, validate};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shopsync(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shopsync"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn errors_of(text: &str) -> Vec<String> {
    let report = validate(&parse_documents(Path::new("inline.yaml"), text));
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect()
}

#[test]
fn examples_are_valid_without_warnings() {
    let docs = load(&[root().join("examples")]).unwrap();
    let report = validate(&docs);
    let text: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
    assert!(
        report.findings.is_empty(),
        "examples must validate cleanly:\n{}",
        text.join("\n")
    );
    assert_eq!(
        report.checked.get("ShopifySync"),
        Some(&16),
        "one sync per object, the event and each action"
    );
    let (code, stdout, _) = shopsync(&["validate", "-f", "examples"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("valid:"), "{stdout}");
}

#[test]
fn examples_cover_every_object_event_and_action() {
    let docs = load(&[root().join("examples")]).unwrap();
    let mut targets = std::collections::BTreeSet::new();
    for d in docs {
        let v = d.content.unwrap();
        if v["kind"] == "ShopifySync" {
            for k in ["object", "event", "action"] {
                if let Some(t) = v["spec"][k].as_str() {
                    targets.insert(t.to_string());
                }
            }
        }
    }
    use shopsync::core::config::{ActionKind, EventKind, ObjectKind};
    let expected: std::collections::BTreeSet<String> = ObjectKind::names()
        .into_iter()
        .chain(EventKind::names())
        .chain(ActionKind::names())
        .map(str::to_string)
        .collect();
    assert_eq!(targets, expected);
}

/// The `# expect:` / `# expect-validate:` header of an invalid spec.
fn expectations(text: &str) -> Vec<String> {
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    let specific: Vec<String> = header
        .iter()
        .filter_map(|l| l.strip_prefix("# expect-validate: "))
        .map(str::to_string)
        .collect();
    if !specific.is_empty() {
        return specific;
    }
    header
        .iter()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_invalid_spec_is_rejected_with_its_message() {
    let dir = root().join("tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the issue asks for at least 20 invalid specs, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{} has no # expect: line",
            file.display()
        );
        let errors = errors_of(&text);
        let joined = errors.join("\n");
        for e in &expected {
            if !joined.contains(e.as_str()) {
                failures.push(format!(
                    "{}: expected {e:?}, got:\n{joined}",
                    file.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_specs_exit_1_and_name_file_document_and_field() {
    let (code, stdout, stderr) = shopsync(&[
        "validate",
        "-f",
        "tests/invalid/14-hold-without-reason.yaml",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("tests/invalid/14-hold-without-reason.yaml (document 1) ShopifySync/hold-without-reason: spec.mappings:"),
        "{stderr}"
    );
}

#[test]
fn unreadable_paths_exit_2() {
    let (code, _, stderr) = shopsync(&["validate", "-f", "no/such/file.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no/such/file.yaml"), "{stderr}");
}

#[test]
fn malformed_yaml_unknown_kinds_and_wrong_types_are_errors() {
    let e = errors_of("kind: ShopifySync\nspec: [unclosed\n");
    assert!(e.iter().any(|m| m.contains("malformed YAML")), "{e:?}");

    let e = errors_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    assert!(
        e.iter().any(|m| m.contains("unknown kind \"ConfigMap\"")),
        "{e:?}"
    );

    // Another tool's resource in the same folder is left alone; a shopsync group with a wrong kind is not.
    let e = errors_of("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\n");
    assert!(e.is_empty(), "{e:?}");
    let e =
        errors_of("apiVersion: shopsync.dev/v1alpha1\nkind: ShopifySyncs\nmetadata: {name: x}\n");
    assert!(
        e.iter()
            .any(|m| m.contains("unknown kind \"ShopifySyncs\"")),
        "{e:?}"
    );

    let e = errors_of("apiVersion: shopsync.dev/v1beta1\nkind: ShopifySync\nmetadata: {name: x}\n");
    assert!(
        e.iter()
            .any(|m| m.contains("served as shopsync.dev/v1alpha1")),
        "{e:?}"
    );

    let e = errors_of("- just\n- a list\n");
    assert!(
        e.iter().any(|m| m.contains("not a Kubernetes object")),
        "{e:?}"
    );

    let spec = std::fs::read_to_string(root().join("examples/syncs/customers.yaml")).unwrap();
    let wrong = spec.replace("primaryKey: customer_id", "primaryKey: [customer_id]");
    let e = errors_of(&wrong);
    assert!(
        e.iter()
            .any(|m| m.contains("spec.primaryKey: invalid type: sequence")),
        "{e:?}"
    );

    let e = errors_of(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {token: 'not base64!'}\n",
    );
    assert!(
        e.iter().any(|m| m.contains("data.token: not valid base64")),
        "{e:?}"
    );
}

#[test]
fn mapped_fields_must_exist_in_the_pinned_schema() {
    let spec = std::fs::read_to_string(root().join("examples/syncs/customers.yaml")).unwrap();
    let typo = spec.replace("to: firstName", "to: fristName");
    let e = errors_of(&typo);
    assert!(
        e.iter().any(
            |m| m.contains("spec.mappings[1].to: customers have no field \"fristName\"")
                && m.contains("did you mean \"firstName\"")
        ),
        "{e:?}"
    );
}

#[test]
fn references_resolve_among_the_files() {
    let dest = std::fs::read_to_string(root().join("examples/destination.yaml")).unwrap();
    let secrets = std::fs::read_to_string(root().join("examples/secrets.yaml")).unwrap();
    let sync = std::fs::read_to_string(root().join("examples/syncs/customers.yaml")).unwrap();

    let all = format!("{dest}\n---\n{secrets}\n---\n{sync}");
    assert!(errors_of(&all).is_empty(), "{:?}", errors_of(&all));

    let wrong_dest = format!(
        "{dest}\n---\n{secrets}\n---\n{}",
        sync.replace("name: demo-store", "name: other-store")
    );
    let e = errors_of(&wrong_dest);
    assert!(
        e.iter()
            .any(|m| m.contains("ShopifyDestination \"other-store\" not found")),
        "{e:?}"
    );

    let wrong_key = format!(
        "{}\n---\n{secrets}\n---\n{sync}",
        dest.replace("key: token", "key: password")
    );
    let e = errors_of(&wrong_key);
    assert!(
        e.iter()
            .any(|m| m.contains("Secret \"demo-store-token\" has no key \"password\"")),
        "{e:?}"
    );

    // Alone, a sync's references cannot be checked: a warning, not an error, unless --strict.
    let docs = parse_documents(Path::new("s.yaml"), &sync);
    let report = validate(&docs);
    assert!(!report.has_errors());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning)
    );
    let (code, _, _) = shopsync(&[
        "validate",
        "--strict",
        "-f",
        "examples/syncs/customers.yaml",
    ]);
    assert_eq!(code, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = validate(&parse_documents(Path::new("fuzz.yaml"), &text));
    }

    #[test]
    fn mangled_examples_never_panic(cut in 0usize..1500, junk in "[ :\\-\\[\\]{}a-z0-9\n]{0,12}") {
        let spec = std::fs::read_to_string(root().join("examples/syncs/products.yaml")).unwrap();
        let cut = cut.min(spec.len());
        let cut = (0..=cut).rev().find(|i| spec.is_char_boundary(*i)).unwrap_or(0);
        let text = format!("{}{junk}{}", &spec[..cut], &spec[cut..]);
        let _ = validate(&parse_documents(Path::new("fuzz.yaml"), &text));
    }
}
