//! examples/gitops stays true to the code: the Argo CD overlay renders with the CRDs in an earlier wave than the
//! controller, the Applications order the operator before the specs and point at folders that exist, and every
//! `shopsync` command line in the GitHub Actions workflow uses flags the binary has.
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_docs(&text).remove(0)
}

fn wave(doc: &Value) -> i64 {
    doc.pointer("/metadata/annotations/argocd.argoproj.io~1sync-wave")
        .and_then(Value::as_str)
        .map_or(0, |w| w.parse().unwrap())
}

#[test]
fn operator_overlay_puts_namespace_and_crds_first() {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join("examples/gitops/argocd/operator"))
        .output()
        .expect("kubectl runs (Debian package kubernetes-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = yaml_docs(&String::from_utf8_lossy(&out.stdout));
    let of = |kind: &str| -> Vec<i64> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .map(wave)
            .collect()
    };
    let crds = of("CustomResourceDefinition");
    assert_eq!(crds.len(), 2);
    let namespace = of("Namespace");
    let deployment = of("Deployment");
    assert_eq!(deployment.len(), 1);
    assert!(namespace[0] < crds[0], "namespace before CRDs");
    assert!(
        crds.iter().all(|w| *w < deployment[0]),
        "CRDs before the controller"
    );
}

#[test]
fn applications_order_operator_before_specs_and_point_at_real_folders() {
    let apps = root().join("examples/gitops/argocd/apps");
    let operator = read_yaml(&apps.join("operator.yaml"));
    let specs = read_yaml(&apps.join("specs.yaml"));
    assert!(wave(&operator) < wave(&specs));
    let root_app = read_yaml(&root().join("examples/gitops/argocd/root.yaml"));
    for app in [&root_app, &operator, &specs] {
        let path = app["spec"]["source"]["path"].as_str().unwrap();
        assert!(root().join(path).is_dir(), "{path} is not a folder");
    }
    // The specs Application's include pattern names files and folders that exist and hold specs.
    let include = specs["spec"]["source"]["directory"]["include"]
        .as_str()
        .unwrap();
    let base = root().join(specs["spec"]["source"]["path"].as_str().unwrap());
    for part in include.trim_matches(|c| c == '{' || c == '}').split(',') {
        match part.strip_suffix("/*.yaml") {
            Some(dir) => assert!(
                std::fs::read_dir(base.join(dir)).unwrap().count() > 0,
                "{dir} is empty"
            ),
            None => assert!(base.join(part).is_file(), "{part} is missing"),
        }
    }
}

/// The `--flags` of every `shopsync SUBCOMMAND` line in `script`.
fn shopsync_lines(script: &str) -> Vec<(String, Vec<String>)> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("shopsync "))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            let sub = words.next().unwrap().to_string();
            let flags = words
                .filter(|w| w.starts_with("--"))
                .map(|w| w.split('=').next().unwrap().to_string())
                .collect();
            (sub, flags)
        })
        .collect()
}

#[test]
fn workflow_commands_use_flags_the_binary_has() {
    let workflow = read_yaml(&root().join("examples/gitops/.github/workflows/shopsync-plan.yaml"));
    let steps = workflow["jobs"]["plan"]["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["with"]["fetch-depth"], 0,
        "plan --base needs the base branch's history"
    );
    let mut checked = 0;
    for step in steps {
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        for (sub, flags) in shopsync_lines(script) {
            let help = Command::new(env!("CARGO_BIN_EXE_shopsync"))
                .args([&sub, "--help"])
                .output()
                .unwrap();
            assert!(help.status.success(), "shopsync {sub} --help failed");
            let help = String::from_utf8_lossy(&help.stdout);
            for flag in flags {
                assert!(help.contains(&flag), "shopsync {sub} has no {flag}");
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 4,
        "the workflow runs validate and plan with their flags"
    );
}
