//! The specs as they were at a git revision, read with the `git` command (plan's `--base`).
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::api::manifest::{self, Document};

/// Runs `git args...` in `dir` and returns its standard output.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The commit `rev` names, checked to exist.
pub fn resolve(dir: &Path, rev: &str) -> anyhow::Result<String> {
    let out = git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .with_context(|| {
        format!(
            "--base {rev}: not a commit of the repository at {}",
            dir.display()
        )
    })?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Drops `.` and resolves `..` without touching the file system (a path may exist at the base only).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Every document of the YAML files under `paths` (files or folders, as for the working tree) at commit
/// `rev`. A path that did not exist at `rev` contributes nothing: everything under it reads as added.
pub fn documents_at(rev: &str, paths: &[PathBuf]) -> anyhow::Result<Vec<Document>> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let top = PathBuf::from(
        String::from_utf8_lossy(&git(&cwd, &["rev-parse", "--show-toplevel"])?)
            .trim()
            .to_string(),
    );
    let top = top.canonicalize().unwrap_or(top);
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    let commit = resolve(&top, rev)?;
    let mut docs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for path in paths {
        let absolute = normalize(&cwd.join(path));
        let Ok(relative) = absolute.strip_prefix(&top) else {
            bail!(
                "{} is outside the git repository at {}",
                path.display(),
                top.display()
            );
        };
        let spec = if relative.as_os_str().is_empty() {
            ".".to_string()
        } else {
            relative.to_string_lossy().into_owned()
        };
        let listing = git(
            &top,
            &["ls-tree", "-r", "-z", "--name-only", &commit, "--", &spec],
        )?;
        for name in listing.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let name = String::from_utf8_lossy(name).into_owned();
            let yaml = matches!(
                Path::new(&name).extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            );
            if !yaml || !seen.insert(name.clone()) {
                continue;
            }
            let blob = git(&top, &["show", &format!("{commit}:{name}")])?;
            let text =
                String::from_utf8(blob).with_context(|| format!("{rev}:{name} is not UTF-8"))?;
            docs.extend(manifest::parse_documents(
                Path::new(&format!("{rev}:{name}")),
                &text,
            ));
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c/specs")),
            PathBuf::from("/a/c/specs")
        );
    }
}
