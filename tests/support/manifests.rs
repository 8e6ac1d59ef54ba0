//! Reading Kubernetes manifests for the apiserver tier: YAML file discovery,
//! multi-document splitting, and the `# expect:` headers of invalid specs.
//!
//! Name it from a test file with
//! `use crate::manifests;` (the tier file in tests/tiers/ declares it once).

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

/// One document of a manifest file.
#[derive(Debug, Clone)]
pub struct Doc {
    /// `apiVersion`, empty when missing.
    pub api_version: String,
    /// `kind`, empty when missing.
    pub kind: String,
    /// `metadata.name`, empty when missing.
    pub name: String,
    /// The whole document.
    pub value: Value,
}

impl Doc {
    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// Core-API Secrets cannot be stored by the test server, which has no
    /// `/api/v1`.
    pub fn is_secret(&self) -> bool {
        self.kind == "Secret" && self.api_version == "v1"
    }

    /// How `kubectl ... -o name` prints this object: `<kind>.<group>/<name>`.
    pub fn kubectl_name(&self) -> String {
        format!(
            "{}.{}/{}",
            self.kind.to_lowercase(),
            self.group(),
            self.name
        )
    }

    /// `path.to.field` as a string, if present and a string.
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        path.iter()
            .try_fold(&self.value, |v, key| v.get(key))
            .and_then(Value::as_str)
    }

    /// `path.to.field` as a list of strings (empty when missing).
    pub fn strings_at(&self, path: &[&str]) -> Vec<String> {
        path.iter()
            .try_fold(&self.value, |v, key| v.get(key))
            .and_then(Value::as_sequence)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The `*.yaml` / `*.yml` files directly in `dir`, sorted. Panics when the
/// directory is missing: the tier never passes on nothing.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read directory {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.is_file() && is_yaml(path))
        .collect();
    files.sort();
    files
}

/// The `*.yaml` / `*.yml` files anywhere below `dir`, sorted.
pub fn yaml_files_recursive(dir: &Path) -> Vec<PathBuf> {
    let mut files = yaml_files(dir);
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read directory {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        // Hidden folders (.github in the GitOps example) hold CI workflows, not manifests.
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if path.is_dir() && !hidden {
            files.extend(yaml_files_recursive(&path));
        }
    }
    files.sort();
    files
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Every non-empty document of a YAML file. Panics naming the file and
/// document when one does not parse.
pub fn read_docs(path: &Path) -> Vec<Doc> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_docs(&text, &path.display().to_string())
}

/// Every non-empty document of `text`; `origin` names it in panics.
pub fn parse_docs(text: &str, origin: &str) -> Vec<Doc> {
    serde_yaml::Deserializer::from_str(text)
        .enumerate()
        .filter_map(|(index, de)| {
            let value = Value::deserialize(de).unwrap_or_else(|e| {
                panic!("{origin}: document {} is not valid YAML: {e}", index + 1)
            });
            if value.is_null() {
                return None;
            }
            let field = |key: &str| {
                value
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let name = value
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Some(Doc {
                api_version: field("apiVersion"),
                kind: field("kind"),
                name,
                value,
            })
        })
        .collect()
}

/// Serializes documents back into one multi-document YAML stream.
pub fn to_yaml_stream(docs: &[&Doc]) -> String {
    docs.iter()
        .map(|doc| {
            serde_yaml::to_string(&doc.value)
                .unwrap_or_else(|e| panic!("cannot serialize {}: {e}", doc.name))
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The expected error substrings of an invalid spec: the `# expect: <text>`
/// lines of the comment block the file starts with. Empty when there are none.
pub fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .take_while(|line| line.starts_with('#'))
        .filter_map(|line| {
            line.trim_start_matches('#')
                .trim_start()
                .strip_prefix("expect:")
        })
        .map(|expected| expected.trim().to_owned())
        .filter(|expected| !expected.is_empty())
        .collect()
}
