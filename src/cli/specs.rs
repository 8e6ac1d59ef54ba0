//! Spec files for `run` and `plan`: destinations, syncs and Secrets read from files, validated, and resolved
//! into what the engine needs (credentials from Secret manifests among the files, or the environment).
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use serde_json::Value;

use crate::alerts::{SyncAlerts, merged_settings, resolve_channels, secret_refs};
use crate::api::manifest;
use crate::api::validate::{Severity, validate};
use crate::api::{SecretKeyRef, ShopifyDestination, ShopifySync, destination_config, sync_config};
use crate::core::config::{ApiVersion, SyncConfig};
use crate::core::redact::Redactor;
use crate::core::review::{Kind, ResourceId, Specs};
use crate::shopify::Store;

/// Where the specs and the state are: the arguments `run` and `plan` share.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// Spec files or folders: destinations, syncs and (optionally) their Secrets.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Only these syncs (by name); repeatable.
    #[arg(long = "sync", value_name = "NAME")]
    pub only: Vec<String>,
    /// The state file (SQLite): `run` creates it; `plan` reads a missing one as empty and leaves no file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".shopsync/state.db",
        env = "SHOPSYNC_STATE"
    )]
    pub state: PathBuf,
}

/// A sync ready to run: its config, its warehouse URL and its store.
pub struct ResolvedSync {
    /// The engine's config.
    pub config: SyncConfig,
    /// The warehouse URL (may carry a password: never print it).
    pub warehouse_url: String,
    /// The store it writes to.
    pub store: Store,
    /// The store's key, shared by syncs writing to the same store (one cost budget each).
    pub store_key: String,
    /// Its alerting (`None`: no alerts set on the sync or its destination), or why its channels cannot be
    /// resolved (a missing Secret): `run` refuses that, `plan` does not need alerts.
    pub alerts: Result<Option<SyncAlerts>, String>,
    /// The syncs (`namespace/name`) that must finish their latest run without failure first.
    pub depends_on: Vec<String>,
}

/// Every sync in `paths`, resolved; fails on the first invalid spec with validate's messages, or on a Secret
/// value that is neither among the files nor in the environment.
pub fn load(
    paths: &[PathBuf],
    only: &[String],
    redactor: &Redactor,
) -> anyhow::Result<Vec<ResolvedSync>> {
    let docs = read_valid(paths)?;
    let found = find(&docs, only, redactor)?;
    if found.is_empty() {
        bail!("{}", none_found(only));
    }
    found
        .into_iter()
        .map(|f| {
            Ok(ResolvedSync {
                config: f.config,
                warehouse_url: f.warehouse_url.map_err(|e| anyhow!(e))?,
                store: f.store.map_err(|e| anyhow!(e))?,
                store_key: f.store_key,
                alerts: f.alerts,
                depends_on: f.depends_on,
            })
        })
        .collect()
}

/// The message for specs without any (selected) sync.
pub fn none_found(only: &[String]) -> String {
    if only.is_empty() {
        "no ShopifySync found".into()
    } else {
        format!("no ShopifySync found named {}", only.join(", "))
    }
}

/// Reads the documents under `paths` and fails with validate's messages when any is invalid.
pub fn read_valid(paths: &[PathBuf]) -> anyhow::Result<Vec<manifest::Document>> {
    let docs = manifest::load(paths)?;
    let report = validate(&docs);
    if report.has_errors() {
        let errors: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect();
        bail!(
            "the specs are invalid (run `shopsync validate` for details):\n{}",
            errors.join("\n")
        );
    }
    Ok(docs)
}

/// A sync found among the documents, with its credentials resolved where they could be: `plan` works without
/// a store token, and reports a missing warehouse URL instead of failing.
pub struct FoundSync {
    /// The resource.
    pub resource: ResourceId,
    /// The engine's config.
    pub config: SyncConfig,
    /// The warehouse URL, or why it is unknown.
    pub warehouse_url: Result<String, String>,
    /// The store with its token, or why the token is unknown.
    pub store: Result<Store, String>,
    /// The store's key, shared by syncs writing to the same store.
    pub store_key: String,
    /// Its alerting, or why its channels cannot be resolved.
    pub alerts: Result<Option<SyncAlerts>, String>,
    /// `spec.dependsOn`, as `namespace/name`.
    pub depends_on: Vec<String>,
}

/// The identity and spec of every destination and sync among `docs` (documents that do not parse are left
/// out: validation reports them).
pub fn specs_of(docs: &[manifest::Document]) -> Specs {
    docs.iter()
        .filter_map(|d| {
            let value = d.content.as_ref().ok()?;
            let kind = Kind::parse(value.get("kind")?.as_str()?)?;
            let (namespace, name) = name_of(value);
            let spec = value.get("spec").cloned().unwrap_or(Value::Null);
            Some((
                ResourceId {
                    kind,
                    namespace,
                    name,
                },
                spec,
            ))
        })
        .collect()
}

fn name_of(value: &Value) -> (String, String) {
    let ns = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    (ns, name)
}

/// Every sync among `docs` (already validated), its destination and what its Secrets give.
pub fn find(
    docs: &[manifest::Document],
    only: &[String],
    redactor: &Redactor,
) -> anyhow::Result<Vec<FoundSync>> {
    let mut secrets: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    let mut destinations = BTreeMap::new();
    let mut syncs = Vec::new();
    for doc in docs {
        let Ok(value) = &doc.content else { continue };
        let (ns, name) = name_of(value);
        match value.get("kind").and_then(Value::as_str) {
            Some("Secret") => {
                secrets.insert(
                    (ns, name),
                    secret_data(value).with_context(|| format!("{}", doc.origin))?,
                );
            }
            Some("ShopifyDestination") => {
                let d: ShopifyDestination = serde_json::from_value(value.clone())
                    .with_context(|| format!("{}", doc.origin))?;
                destinations.insert((ns, name), d);
            }
            Some("ShopifySync") => {
                let s: ShopifySync = serde_json::from_value(value.clone())
                    .with_context(|| format!("{}", doc.origin))?;
                syncs.push((ns, name, s));
            }
            _ => {}
        }
    }
    // Every Secret value, and the password of every URL among them, is redacted from logs, errors and the
    // debugger log from here on.
    let remember = |value: &str| {
        redactor.add(value);
        redactor.add_url(value);
    };
    for value in secrets.values().flat_map(|s| s.values()) {
        remember(value);
    }
    let lookup = |ns: &str, r: &SecretKeyRef, what: &str| -> Result<String, String> {
        if let Some(v) = secrets
            .get(&(ns.to_string(), r.name.clone()))
            .and_then(|s| s.get(&r.key))
        {
            return Ok(v.clone());
        }
        let var = env_name(&r.name, &r.key);
        std::env::var(&var).inspect(|v| remember(v)).map_err(|_| {
            format!(
                "{what}: Secret {}/{} key {:?} is not among the files and ${var} is not set",
                ns, r.name, r.key
            )
        })
    };
    let mut out = Vec::new();
    for (ns, name, s) in syncs {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let id = format!("{ns}/{name}");
        let config = sync_config(&id, &s.spec).map_err(|errors| {
            anyhow!(
                "ShopifySync {id}: {}",
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let dest_name = &s.spec.destination_ref.name;
        let dest = destinations
            .get(&(ns.clone(), dest_name.clone()))
            .ok_or_else(|| {
                anyhow!(
                    "ShopifySync {id}: ShopifyDestination {ns}/{dest_name} is not among the files"
                )
            })?;
        let version: ApiVersion = destination_config(&dest.spec).map_err(|e| anyhow!("{e}"))?;
        let base_url = dest
            .spec
            .endpoint
            .clone()
            .unwrap_or_else(|| Store::default_base_url(&dest.spec.store));
        let store = lookup(
            &ns,
            &dest.spec.credentials.access_token_secret_ref,
            &format!("ShopifyDestination {ns}/{dest_name}"),
        )
        .map(|token| Store {
            base_url: base_url.clone(),
            version,
            token,
        });
        let warehouse_url = match (&s.spec.source.url, &s.spec.source.url_secret_ref) {
            (Some(url), _) => {
                redactor.add_url(url);
                Ok(url.clone())
            }
            (None, Some(r)) => lookup(&ns, r, &format!("ShopifySync {id} source")),
            (None, None) => Err(format!(
                "ShopifySync {id}: source has neither url nor urlSecretRef"
            )),
        };
        let store_key = format!("{base_url}|{}", dest.spec.store);
        let alerts = merged_settings(dest.spec.alerts.as_ref(), s.spec.alerts.as_ref())
            .map_err(|e| format!("ShopifySync {id}: {e}"))
            .and_then(|settings| {
                let Some(settings) = settings else {
                    return Ok(None);
                };
                let mut values = BTreeMap::new();
                for r in secret_refs(settings.channels()) {
                    let v = lookup(&ns, &r, &format!("ShopifySync {id} alerts"))?;
                    values.insert((r.name.clone(), r.key.clone()), v);
                }
                let channels = resolve_channels(settings.channels(), &values)
                    .map_err(|e| format!("ShopifySync {id}: {e}"))?;
                Ok(Some(SyncAlerts {
                    sync: id.clone(),
                    policy: settings.policy(),
                    channels,
                    schedule: config.schedule.clone(),
                    since: chrono::Utc::now(),
                }))
            });
        let depends_on = s
            .spec
            .depends_on
            .iter()
            .map(|r| format!("{ns}/{}", r.name))
            .collect();
        out.push(FoundSync {
            depends_on,
            resource: ResourceId {
                kind: Kind::ShopifySync,
                namespace: ns,
                name,
            },
            config,
            warehouse_url,
            store,
            store_key,
            alerts,
        });
    }
    Ok(out)
}

/// `SHOPSYNC_SECRET_<NAME>_<KEY>`, upper-cased with non-alphanumerics as `_`: where a Secret's value comes from
/// when no manifest of it is among the files.
pub fn env_name(secret: &str, key: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!("SHOPSYNC_SECRET_{}_{}", clean(secret), clean(key))
}

fn secret_data(value: &Value) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(data) = value.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let text = v.as_str().unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .with_context(|| format!("Secret data.{k} is not base64"))?;
            out.insert(
                k.clone(),
                String::from_utf8(bytes)
                    .with_context(|| format!("Secret data.{k} is not UTF-8"))?,
            );
        }
    }
    if let Some(data) = value.get("stringData").and_then(Value::as_object) {
        for (k, v) in data {
            out.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
    }
    Ok(out)
}
