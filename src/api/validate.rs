//! Offline validation of spec files: the same checks the apiserver makes (schema and CEL rules, evaluated from
//! the generated CRDs), then what only shopsync knows (fields in the pinned Shopify schema, cron expressions,
//! references between the files).
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use kube::CustomResourceExt;
use kube::core::cel::Validator;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::manifest::{Document, Origin};
use super::{API_VERSION, ShopifyDestination, ShopifySync, destination_config, sync_config};
use crate::core::config::{ApiVersion, Target};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The spec cannot work; `validate` exits 1.
    Error,
    /// Worth a look, but the spec can work.
    Warning,
}

/// One problem found in one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The file and document.
    pub origin: Origin,
    /// `Kind/name` when known.
    pub resource: Option<String>,
    /// The field path, e.g. `spec.mappings[2].to`; empty for the whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.origin)?;
        if let Some(r) = &self.resource {
            write!(f, " {r}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The outcome of validating a set of documents.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding, in document order.
    pub findings: Vec<Finding>,
    /// Resources checked, by kind.
    pub checked: BTreeMap<String, usize>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// A document recognised as one of the kinds shopsync reads.
enum Parsed {
    Destination(Box<ShopifyDestination>),
    Sync(Box<ShopifySync>),
    Secret { keys: BTreeSet<String> },
}

struct Entry {
    origin: Origin,
    namespace: String,
    name: String,
    parsed: Parsed,
}

/// Validates `docs` as one set: references are resolved among them.
pub fn validate(docs: &[Document]) -> Report {
    let mut report = Report::default();
    let mut entries = Vec::new();
    for doc in docs {
        let mut ctx = Ctx {
            report: &mut report,
            origin: &doc.origin,
            resource: None,
        };
        let value = match &doc.content {
            Ok(v) => v,
            Err(e) => {
                ctx.error("", format!("malformed YAML: {e}"));
                continue;
            }
        };
        if let Some(entry) = check_document(&mut ctx, value) {
            entries.push(entry);
        }
    }
    check_references(&mut report, &entries);
    check_dependencies(&mut report, &entries);
    report
}

/// `spec.dependsOn`: every name is a ShopifySync of the same namespace among the files, and no cycle.
fn check_dependencies(report: &mut Report, entries: &[Entry]) {
    let mut namespaces: BTreeMap<&str, Vec<(&Entry, Vec<String>)>> = BTreeMap::new();
    for e in entries {
        if let Parsed::Sync(s) = &e.parsed {
            let deps = s.spec.depends_on.iter().map(|r| r.name.clone()).collect();
            namespaces
                .entry(e.namespace.as_str())
                .or_default()
                .push((e, deps));
        }
    }
    for syncs in namespaces.values() {
        let nodes: Vec<crate::core::order::Node<'_>> = syncs
            .iter()
            .map(|(e, d)| (e.name.as_str(), d.as_slice()))
            .collect();
        let Err(error) = crate::core::order::run_order(&nodes) else {
            continue;
        };
        let culprit = match &error {
            crate::core::order::OrderError::Unknown { sync, .. } => sync,
            crate::core::order::OrderError::Cycle { path } => &path[0],
        };
        if let Some((e, _)) = syncs.iter().find(|(e, _)| &e.name == culprit) {
            let mut ctx = Ctx {
                report,
                origin: &e.origin,
                resource: Some(format!("ShopifySync/{}", e.name)),
            };
            ctx.error("spec.dependsOn", error.to_string());
        }
    }
}

struct Ctx<'a> {
    report: &'a mut Report,
    origin: &'a Origin,
    resource: Option<String>,
}

impl Ctx<'_> {
    fn push(&mut self, severity: Severity, path: impl Into<String>, message: impl Into<String>) {
        self.report.findings.push(Finding {
            severity,
            origin: self.origin.clone(),
            resource: self.resource.clone(),
            path: path.into(),
            message: message.into(),
        });
    }
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, path, message);
    }
    fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, path, message);
    }
}

fn check_document(ctx: &mut Ctx<'_>, value: &Value) -> Option<Entry> {
    let Some(obj) = value.as_object() else {
        ctx.error(
            "",
            "not a Kubernetes object: expected a mapping with apiVersion, kind and metadata",
        );
        return None;
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    let Some(kind) = obj.get("kind").and_then(Value::as_str) else {
        ctx.error("kind", "missing kind");
        return None;
    };
    // A GitOps folder holds other tools' resources beside the specs (an Argo CD Application, a Deployment):
    // those of another API group are not shopsync's to judge. Core v1 kinds other than Secret, and anything
    // claiming shopsync's kinds or group, are still checked.
    let group = api_version.and_then(|v| v.split_once('/')).map(|(g, _)| g);
    if group.is_some_and(|g| g != "shopsync.dev")
        && !matches!(kind, "ShopifyDestination" | "ShopifySync")
    {
        return None;
    }
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    ctx.resource = Some(format!("{kind}/{}", name.as_deref().unwrap_or("?")));
    let namespace = obj
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let Some(name) = name else {
        ctx.error("metadata.name", "missing metadata.name");
        return None;
    };
    if !is_dns_subdomain(&name) {
        ctx.error(
            "metadata.name",
            "must be a lowercase DNS subdomain: a-z, 0-9, '-' and '.', at most 253 characters",
        );
    }
    *ctx.report.checked.entry(kind.to_string()).or_default() += 1;
    let parsed = match (kind, api_version) {
        ("Secret", Some("v1")) => Parsed::Secret {
            keys: secret_keys(ctx, obj),
        },
        ("ShopifyDestination" | "ShopifySync", Some(API_VERSION)) => {
            for key in obj.keys() {
                if !matches!(
                    key.as_str(),
                    "apiVersion" | "kind" | "metadata" | "spec" | "status"
                ) {
                    ctx.error(key.clone(), format!("unknown field {key:?}"));
                }
            }
            if kind == "ShopifyDestination" {
                let d: ShopifyDestination = typed(ctx, value)?;
                cel(ctx, value, crd_schema::<ShopifyDestination>())?;
                if let Err(e) = destination_config(&d.spec) {
                    ctx.error(e.path, e.message);
                }
                Parsed::Destination(Box::new(d))
            } else {
                let s: ShopifySync = typed(ctx, value)?;
                cel(ctx, value, crd_schema::<ShopifySync>())?;
                if let Err(errors) = sync_config(&format!("{namespace}/{name}"), &s.spec) {
                    for e in errors {
                        ctx.error(e.path, e.message);
                    }
                }
                Parsed::Sync(Box::new(s))
            }
        }
        ("ShopifyDestination" | "ShopifySync", other) => {
            ctx.error(
                "apiVersion",
                format!(
                    "{kind} is served as {API_VERSION}, not {}",
                    other.unwrap_or("(missing)")
                ),
            );
            return None;
        }
        (other, _) => {
            ctx.error(
                "kind",
                format!("unknown kind {other:?}: shopsync reads ShopifyDestination, ShopifySync and v1 Secret"),
            );
            return None;
        }
    };
    Some(Entry {
        origin: ctx.origin.clone(),
        namespace,
        name,
        parsed,
    })
}

/// Deserializes with the field path of the first type error.
fn typed<T: DeserializeOwned>(ctx: &mut Ctx<'_>, value: &Value) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let path = e.path().to_string();
            ctx.error(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            );
            None
        }
    }
}

/// Evaluates the CRD's CEL rules as the apiserver would; `None` when any fails.
fn cel(ctx: &mut Ctx<'_>, value: &Value, schema: &Value) -> Option<()> {
    match Validator::new().validate(schema, value, None) {
        Ok(()) => Some(()),
        Err(errors) => {
            for e in errors.as_slice() {
                ctx.error(e.field_path.clone(), e.message.clone());
            }
            None
        }
    }
}

fn crd_schema<K: CustomResourceExt + 'static>() -> &'static Value {
    static DEST: OnceLock<Value> = OnceLock::new();
    static SYNC: OnceLock<Value> = OnceLock::new();
    let slot = if K::crd_name() == ShopifyDestination::crd_name() {
        &DEST
    } else {
        &SYNC
    };
    slot.get_or_init(|| {
        let crd = K::crd();
        crd.spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or(Value::Null)
    })
}

fn secret_keys(ctx: &mut Ctx<'_>, obj: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for field in ["data", "stringData"] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    if !v.is_string() {
                        ctx.error(format!("{field}.{k}"), "Secret values must be strings");
                    } else if field == "data" && !is_base64(v.as_str().unwrap_or_default()) {
                        ctx.error(
                            format!("data.{k}"),
                            "not valid base64: use stringData for plain text",
                        );
                    }
                    keys.insert(k.clone());
                }
            }
            Some(_) => ctx.error(
                field,
                format!("{field} must be a mapping of keys to strings"),
            ),
        }
    }
    keys
}

fn check_references(report: &mut Report, entries: &[Entry]) {
    let key = |e: &Entry| (e.namespace.clone(), e.name.clone());
    let destinations: BTreeMap<_, _> = entries
        .iter()
        .filter_map(|e| match &e.parsed {
            Parsed::Destination(d) => Some((key(e), d.as_ref())),
            _ => None,
        })
        .collect();
    let secrets: BTreeMap<_, _> = entries
        .iter()
        .filter_map(|e| match &e.parsed {
            Parsed::Secret { keys } => Some((key(e), keys)),
            _ => None,
        })
        .collect();
    for e in entries {
        let mut ctx = Ctx {
            report,
            origin: &e.origin,
            resource: Some(format!(
                "{}/{}",
                match e.parsed {
                    Parsed::Destination(_) => "ShopifyDestination",
                    Parsed::Sync(_) => "ShopifySync",
                    Parsed::Secret { .. } => "Secret",
                },
                e.name
            )),
        };
        let secret_ref = |ctx: &mut Ctx<'_>, path: &str, name: &str, k: Option<&str>| match secrets
            .get(&(e.namespace.clone(), name.to_string()))
        {
            None if secrets.is_empty() => ctx.warning(
                path,
                format!("Secret {name:?} is not among the files; not checked"),
            ),
            None => ctx.error(
                path,
                format!(
                    "Secret {name:?} not found in namespace {:?} among the files",
                    e.namespace
                ),
            ),
            Some(keys) => {
                if let Some(k) = k
                    && !keys.contains(k)
                {
                    ctx.error(
                        path,
                        format!(
                            "Secret {name:?} has no key {k:?} (it has: {})",
                            keys.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
        };
        match &e.parsed {
            Parsed::Destination(d) => {
                let r = &d.spec.credentials.access_token_secret_ref;
                secret_ref(
                    &mut ctx,
                    "spec.credentials.accessTokenSecretRef",
                    &r.name,
                    Some(&r.key),
                );
                for (path, name, k) in alert_secret_refs(d.spec.alerts.as_ref()) {
                    secret_ref(&mut ctx, &path, &name, Some(&k));
                }
            }
            Parsed::Sync(s) => {
                let dest_name = &s.spec.destination_ref.name;
                let dest = destinations.get(&(e.namespace.clone(), dest_name.clone()));
                if dest.is_none() {
                    if destinations.is_empty() {
                        ctx.warning("spec.destinationRef.name", format!("ShopifyDestination {dest_name:?} is not among the files; not checked"));
                    } else {
                        ctx.error(
                            "spec.destinationRef.name",
                            format!("ShopifyDestination {dest_name:?} not found in namespace {:?} among the files", e.namespace),
                        );
                    }
                }
                if let Some(r) = &s.spec.source.url_secret_ref {
                    secret_ref(&mut ctx, "spec.source.urlSecretRef", &r.name, Some(&r.key));
                }
                for (path, name, k) in alert_secret_refs(s.spec.alerts.as_ref()) {
                    secret_ref(&mut ctx, &path, &name, Some(&k));
                }
                let version = dest
                    .and_then(|d| d.spec.api_version.as_deref())
                    .and_then(ApiVersion::parse)
                    .unwrap_or(ApiVersion::DEFAULT);
                if let Some(target) = s.spec.target() {
                    check_fields(&mut ctx, s, target, version);
                }
            }
            Parsed::Secret { .. } => {}
        }
    }
}

/// The Secret keys alert channels refer to: field path, Secret name, key.
fn alert_secret_refs(alerts: Option<&super::AlertSpec>) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Some(alerts) = alerts else {
        return out;
    };
    let mut add = |path: String, r: &super::SecretKeyRef| {
        out.push((path, r.name.clone(), r.key.clone()));
    };
    for (i, c) in alerts.channels.iter().enumerate() {
        let at = |f: &str| format!("spec.alerts.channels[{i}].{f}");
        if let Some(x) = &c.slack {
            add(at("slack.webhookUrlSecretRef"), &x.webhook_url_secret_ref);
        }
        if let Some(x) = &c.pager_duty {
            add(
                at("pagerDuty.routingKeySecretRef"),
                &x.routing_key_secret_ref,
            );
        }
        if let Some(r) = c.webhook.as_ref().and_then(|w| w.hmac_secret_ref.as_ref()) {
            add(at("webhook.hmacSecretRef"), r);
        }
        if let Some(r) = c
            .email
            .as_ref()
            .and_then(|e| e.credentials_secret_ref.as_ref())
        {
            for key in ["username", "password"] {
                add(
                    at("email.credentialsSecretRef"),
                    &super::SecretKeyRef {
                        name: r.name.clone(),
                        key: key.into(),
                    },
                );
            }
        }
        if let Some(x) = &c.sms {
            add(at("sms.authTokenSecretRef"), &x.auth_token_secret_ref);
        }
    }
    out
}

fn check_fields(ctx: &mut Ctx<'_>, s: &ShopifySync, target: Target, version: ApiVersion) {
    for (i, m) in s.spec.mappings.iter().enumerate() {
        if let Some(to) = &m.to
            && let Err(msg) = crate::schema::check_field(version, target, to)
        {
            ctx.error(format!("spec.mappings[{i}].to"), msg);
        }
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_base64(s: &str) -> bool {
    let s = s.trim();
    s.len().is_multiple_of(4)
        && s.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric()
                || b == b'+'
                || b == b'/'
                || (b == b'=' && i >= s.len().saturating_sub(2))
        })
}
