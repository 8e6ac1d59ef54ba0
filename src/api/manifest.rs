//! Reading spec files: multi-document YAML from files and folders, each document tagged with where it came
//! from so every message can name the file and document.
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why spec files could not be read at all (as opposed to being invalid).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path given on the command line does not exist or cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A folder held no YAML files.
    #[error("{0}: no .yaml or .yml files found")]
    Empty(PathBuf),
    /// A file is larger than any spec file can reasonably be (see [`MAX_FILE_BYTES`]).
    #[error("{path}: {size} bytes is more than a spec file may hold ({MAX_FILE_BYTES} bytes)", path = path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
}

/// The largest spec file read: far more than any set of specs needs, and a bound on the memory a file given by
/// mistake (a dump, a binary) takes.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// The document's position in the file, from 1.
    pub document: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.file.display(), self.document)
    }
}

/// One YAML document, parsed to JSON values, or the reason it could not be.
#[derive(Debug, Clone)]
pub struct Document {
    /// Where it came from.
    pub origin: Origin,
    /// The parsed document, or the YAML error.
    pub content: Result<serde_json::Value, String>,
}

/// Lists the YAML files under `paths` (files as given; folders recursively, sorted, hidden folders skipped).
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let before = out.len();
            walk(path, &mut out)?;
            if out.len() == before {
                return Err(LoadError::Empty(path.clone()));
            }
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for p in entries {
        // Hidden folders (.git, .github) hold no specs, though they may hold YAML (CI workflows).
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if p.is_dir() {
            if !hidden {
                walk(&p, out)?;
            }
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads every document of every file. Empty documents (a lone `---`) are skipped.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>, LoadError> {
    let mut docs = Vec::new();
    for file in collect_files(paths)? {
        let size = std::fs::metadata(&file)
            .map_err(|source| LoadError::Io {
                path: file.clone(),
                source,
            })?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge { path: file, size });
        }
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        docs.extend(parse_documents(&file, &text));
    }
    Ok(docs)
}

/// Splits `text` into documents and parses each; a YAML error ends the file (the parser cannot resync).
pub fn parse_documents(file: &Path, text: &str) -> Vec<Document> {
    let mut out = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let origin = Origin {
            file: file.to_path_buf(),
            document: i + 1,
        };
        match serde_yaml::Value::deserialize(de) {
            Ok(serde_yaml::Value::Null) => {}
            Ok(v) => {
                let content =
                    serde_json::to_value(&v).map_err(|e| format!("not representable as JSON: {e}"));
                out.push(Document { origin, content });
            }
            Err(e) => {
                out.push(Document {
                    origin,
                    content: Err(e.to_string()),
                });
                break;
            }
        }
    }
    out
}
