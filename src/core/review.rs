//! Spec-level review of a change: which destinations and syncs a commit adds, removes or changes, field by
//! field, and which of those changes are risky for the store.
//!
//! It works on the specs as JSON (the YAML a reviewer reads), so paths in the report are the paths in the
//! files (`spec.mappings[to=email].from`). The data-level effect (rows to create, update, delete) is the
//! ordinary plan's business; this module only adds the risks that follow from it ([`data_risks`]).
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The two kinds a review compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    /// A `ShopifyDestination`.
    ShopifyDestination,
    /// A `ShopifySync`.
    ShopifySync,
}

impl Kind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ShopifyDestination => "ShopifyDestination",
            Kind::ShopifySync => "ShopifySync",
        }
    }

    /// The kind named `kind`, if it is one a review compares.
    pub fn parse(kind: &str) -> Option<Kind> {
        match kind {
            "ShopifyDestination" => Some(Kind::ShopifyDestination),
            "ShopifySync" => Some(Kind::ShopifySync),
            _ => None,
        }
    }
}

/// A resource's identity: kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceId {
    /// Its kind.
    pub kind: Kind,
    /// Its namespace (`default` when the file gives none).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// The specs on one side of the comparison, by identity.
pub type Specs = BTreeMap<ResourceId, Value>;

/// How a resource differs between the base and the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Only in the head.
    Added,
    /// Only in the base.
    Removed,
    /// In both, with different specs.
    Changed,
}

/// One field that differs; `None` on a side means the field is absent there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Where, as in the file: `spec.schedule.interval`, `spec.mappings[to=email].from`.
    pub path: String,
    /// The base's value.
    pub before: Option<Value>,
    /// The head's value.
    pub after: Option<Value>,
}

/// Why a change deserves a reviewer's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    /// An observe-only sync starts managing the store (`managementPolicy` Observe to Manage): its first run
    /// writes everything the observation found.
    ObserveToManage,
    /// Products the sync matched but did not create may now be deleted (`deleteMatched`).
    DeleteMatchedEnabled,
    /// Products leaving the result will now be deleted from the store.
    DeletesEnabled,
    /// The delete guard allows more deletes than before, or is gone.
    DeleteGuardLoosened,
    /// The data-level plan has more deletes than the guard allows: the run would refuse them.
    DeleteGuardTrips,
    /// Deleting the resource now deletes the products it created.
    DeletionPolicyDelete,
    /// A removed sync whose deletion policy deletes its products.
    RemovedWithDelete,
    /// The primary key changed: every row is matched again and nothing is deleted (re-baseline).
    PrimaryKeyChanged,
    /// Rows find their Shopify records by another key.
    MatchKeyChanged,
    /// The sync writes to another destination.
    DestinationChanged,
    /// The destination is another store.
    StoreChanged,
    /// The destination's API version changed.
    ApiVersionChanged,
    /// The sync's mode changed (upsert, update, insert).
    ModeChanged,
    /// The sync feeds another object, event or action.
    TargetChanged,
}

/// A risk found in a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// What kind.
    pub kind: RiskKind,
    /// The resource it concerns.
    pub resource: ResourceId,
    /// A sentence for the reviewer.
    pub message: String,
}

/// The review of one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    /// Which resource.
    pub resource: ResourceId,
    /// Added, removed or changed.
    pub status: Status,
    /// The fields that differ (for added and removed resources: none; the whole spec is new or gone).
    pub fields: Vec<FieldChange>,
}

/// The spec-level review of a change.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Review {
    /// Every added, removed or changed resource, destinations first, then by namespace and name.
    pub changes: Vec<ResourceChange>,
    /// The risks, most severe kinds first.
    pub risks: Vec<Risk>,
}

impl Review {
    /// Whether the specs differ at all.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The change to `resource`, if it changed.
    pub fn change_of(&self, resource: &ResourceId) -> Option<&ResourceChange> {
        self.changes.iter().find(|c| &c.resource == resource)
    }
}

/// Compares the base's specs with the head's.
pub fn review(base: &Specs, head: &Specs) -> Review {
    let mut out = Review::default();
    for (id, before) in base {
        match head.get(id) {
            None => {
                out.changes.push(ResourceChange {
                    resource: id.clone(),
                    status: Status::Removed,
                    fields: Vec::new(),
                });
                removed_risks(id, before, &mut out.risks);
            }
            Some(after) if after != before => {
                let mut fields = Vec::new();
                diff_values("spec", Some(before), Some(after), &mut fields);
                risks(id, before, after, &mut out.risks);
                out.changes.push(ResourceChange {
                    resource: id.clone(),
                    status: Status::Changed,
                    fields,
                });
            }
            Some(_) => {}
        }
    }
    for (id, after) in head {
        if !base.contains_key(id) {
            added_risks(id, after, &mut out.risks);
            out.changes.push(ResourceChange {
                resource: id.clone(),
                status: Status::Added,
                fields: Vec::new(),
            });
        }
    }
    out.changes.sort_by(|a, b| a.resource.cmp(&b.resource));
    out.risks
        .sort_by(|a, b| (a.kind, &a.resource).cmp(&(b.kind, &b.resource)));
    out
}

/// Risks that only the data-level plan of a sync can show: `refused_deletes` is the plan's reason for refusing
/// its deletes, when it does.
pub fn data_risks(resource: &ResourceId, refused_deletes: Option<&str>) -> Vec<Risk> {
    refused_deletes
        .map(|reason| Risk {
            kind: RiskKind::DeleteGuardTrips,
            resource: resource.clone(),
            message: format!("the delete guard would trip: {reason}"),
        })
        .into_iter()
        .collect()
}

fn text<'a>(spec: &'a Value, pointer: &str) -> Option<&'a str> {
    spec.pointer(pointer).and_then(Value::as_str)
}

fn deletes(spec: &Value) -> bool {
    text(spec, "/deleteBehavior") == Some("delete")
}

/// Whether a sync spec only observes (`managementPolicy: Observe`).
pub fn observes(spec: &Value) -> bool {
    text(spec, "/managementPolicy") == Some("Observe")
}

fn deletes_matched(spec: &Value) -> bool {
    spec.pointer("/deleteMatched").and_then(Value::as_bool) == Some(true)
}

const DELETE_MATCHED: &str = "deleteMatched: products this sync did not create but matched by handle (existing \
                              products it updates) will be deleted too when their row leaves the result or the \
                              resource is deleted with deletionPolicy: Delete";

/// The object, event or action a sync feeds, as `object customers`.
fn target(spec: &Value) -> Option<String> {
    ["object", "event", "action"]
        .into_iter()
        .find_map(|k| text(spec, &format!("/{k}")).map(|v| format!("{k} {v}")))
}

fn shown(v: Option<&str>, absent: &str) -> String {
    v.unwrap_or(absent).to_string()
}

fn added_risks(id: &ResourceId, spec: &Value, out: &mut Vec<Risk>) {
    if id.kind != Kind::ShopifySync {
        return;
    }
    if deletes_matched(spec) {
        out.push(risk(
            RiskKind::DeleteMatchedEnabled,
            id,
            format!("a new sync with {DELETE_MATCHED}"),
        ));
    }
    if deletes(spec) {
        out.push(risk(
            RiskKind::DeletesEnabled,
            id,
            "a new sync with deleteBehavior: delete: products it created that leave its result will be deleted \
             from the store"
                .into(),
        ));
    }
    if text(spec, "/deletionPolicy") == Some("Delete") {
        out.push(risk(
            RiskKind::DeletionPolicyDelete,
            id,
            "deletionPolicy: Delete: deleting this resource deletes the products it created".into(),
        ));
    }
}

fn removed_risks(id: &ResourceId, spec: &Value, out: &mut Vec<Risk>) {
    if id.kind == Kind::ShopifySync && text(spec, "/deletionPolicy") == Some("Delete") {
        out.push(risk(
            RiskKind::RemovedWithDelete,
            id,
            "removed with deletionPolicy: Delete: when the resource is deleted from the cluster, the products it created are deleted from the store"
                .into(),
        ));
    }
}

fn risk(kind: RiskKind, id: &ResourceId, message: String) -> Risk {
    Risk {
        kind,
        resource: id.clone(),
        message,
    }
}

/// A text field's change, as a risk: `{field} changes from A to B{consequence}`.
struct FieldRisk {
    kind: RiskKind,
    pointer: &'static str,
    field: &'static str,
    absent: &'static str,
    consequence: &'static str,
}

const DESTINATION_RISKS: [FieldRisk; 2] = [
    FieldRisk {
        kind: RiskKind::StoreChanged,
        pointer: "/store",
        field: "store",
        absent: "none",
        consequence: ": every sync writing here starts over in another store",
    },
    FieldRisk {
        kind: RiskKind::ApiVersionChanged,
        pointer: "/apiVersion",
        field: "apiVersion",
        absent: "the default version",
        consequence: ": fields and behaviour follow the new version's schema",
    },
];

const SYNC_RISKS: [FieldRisk; 3] = [
    FieldRisk {
        kind: RiskKind::PrimaryKeyChanged,
        pointer: "/primaryKey",
        field: "primaryKey",
        absent: "none",
        consequence: ": the state knows none of the new keys, so every row is matched again and nothing is \
                      deleted in that run (re-baseline)",
    },
    FieldRisk {
        kind: RiskKind::DestinationChanged,
        pointer: "/destinationRef/name",
        field: "destinationRef",
        absent: "none",
        consequence: ": the sync writes to another store",
    },
    FieldRisk {
        kind: RiskKind::ModeChanged,
        pointer: "/mode",
        field: "mode",
        absent: "none",
        consequence: "",
    },
];

fn field_risks(
    id: &ResourceId,
    before: &Value,
    after: &Value,
    table: &[FieldRisk],
    out: &mut Vec<Risk>,
) {
    for f in table {
        if before.pointer(f.pointer) != after.pointer(f.pointer) {
            let message = format!(
                "{} changes from {} to {}{}",
                f.field,
                shown(text(before, f.pointer), f.absent),
                shown(text(after, f.pointer), f.absent),
                f.consequence
            );
            out.push(risk(f.kind, id, message));
        }
    }
}

fn risks(id: &ResourceId, before: &Value, after: &Value, out: &mut Vec<Risk>) {
    if id.kind == Kind::ShopifyDestination {
        field_risks(id, before, after, &DESTINATION_RISKS, out);
        return;
    }
    field_risks(id, before, after, &SYNC_RISKS, out);
    if observes(before) && !observes(after) {
        out.push(risk(
            RiskKind::ObserveToManage,
            id,
            "managementPolicy turns from Observe to Manage: the next run writes to the store what the observation              found"
                .into(),
        ));
    }
    if !deletes_matched(before) && deletes_matched(after) {
        out.push(risk(
            RiskKind::DeleteMatchedEnabled,
            id,
            format!("{DELETE_MATCHED} (turned on)"),
        ));
    }
    if !deletes(before) && deletes(after) {
        out.push(risk(
            RiskKind::DeletesEnabled,
            id,
            "deleteBehavior turns to delete: products it created that leave the result will be deleted from the \
             store"
                .into(),
        ));
    }
    // A sync that only now starts deleting is flagged above; its guard is news, not a loosening.
    if deletes(before)
        && deletes(after)
        && guard_loosened(before.get("deleteGuard"), after.get("deleteGuard"))
    {
        let message = format!(
            "the delete guard is loosened: {} before, {} now",
            guard_text(before.get("deleteGuard")),
            guard_text(after.get("deleteGuard"))
        );
        out.push(risk(RiskKind::DeleteGuardLoosened, id, message));
    }
    if text(before, "/deletionPolicy") != Some("Delete")
        && text(after, "/deletionPolicy") == Some("Delete")
    {
        out.push(risk(
            RiskKind::DeletionPolicyDelete,
            id,
            "deletionPolicy turns to Delete: deleting this resource deletes the products it created"
                .into(),
        ));
    }
    if before.get("match") != after.get("match") {
        let message = format!(
            "match changes from {} to {}: rows may find other records in the store",
            match_text(before.get("match")),
            match_text(after.get("match"))
        );
        out.push(risk(RiskKind::MatchKeyChanged, id, message));
    }
    if target(before) != target(after) {
        let message = format!(
            "the sync feeds {} instead of {}",
            target(after).unwrap_or_else(|| "nothing".into()),
            target(before).unwrap_or_else(|| "nothing".into())
        );
        out.push(risk(RiskKind::TargetChanged, id, message));
    }
}

fn match_text(m: Option<&Value>) -> String {
    let Some(m) = m else {
        return "the object's default key".into();
    };
    let key = m.get("key").and_then(Value::as_str).unwrap_or("?");
    match m.get("column").and_then(Value::as_str) {
        Some(c) => format!("{key} (column {c})"),
        None => key.to_string(),
    }
}

/// The guard's limits as the engine applies them: each limit left out is its default (no count limit, at most
/// 10%).
fn guard_limits(g: Option<&Value>) -> (Option<f64>, Option<f64>) {
    let default = crate::config::DeleteGuard::DEFAULT;
    let limit = |field: &str, default: Option<f64>| {
        g.and_then(|g| g.get(field))
            .and_then(Value::as_f64)
            .or(default)
    };
    (
        limit("maxCount", default.max_count.map(|c| c as f64)),
        limit("maxPercent", default.max_percent),
    )
}

fn guard_loosened(before: Option<&Value>, after: Option<&Value>) -> bool {
    let (bc, bp) = guard_limits(before);
    let (ac, ap) = guard_limits(after);
    // A limit that disappears or grows lets more through.
    let looser = |b: Option<f64>, a: Option<f64>| match (b, a) {
        (Some(_), None) => true,
        (Some(b), Some(a)) => a > b,
        (None, _) => false,
    };
    looser(bc, ac) || looser(bp, ap)
}

fn guard_text(g: Option<&Value>) -> String {
    let (count, percent) = guard_limits(g);
    let mut parts = Vec::new();
    if let Some(c) = count {
        parts.push(format!("at most {c} delete(s)"));
    }
    if let Some(p) = percent {
        parts.push(format!("at most {p}%"));
    }
    if parts.is_empty() {
        "no limit".into()
    } else {
        parts.join(" and ")
    }
}

/// An element's identity within a list, so that reordering or inserting mapping entries reads as what it is.
fn identity(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    if let Some(to) = obj.get("to").and_then(Value::as_str) {
        return Some(format!("to={to}"));
    }
    if let Some(m) = obj.get("metafield") {
        let ns = m.get("namespace").and_then(Value::as_str)?;
        let key = m.get("key").and_then(Value::as_str)?;
        return Some(format!("metafield={ns}.{key}"));
    }
    obj.get("name")
        .and_then(Value::as_str)
        .map(|n| format!("name={n}"))
}

fn diff_values(
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_values(&format!("{path}.{k}"), b.get(k), a.get(k), out);
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) => diff_lists(path, b, a, out),
        (b, a) if b != a => out.push(FieldChange {
            path: path.to_string(),
            before: b.cloned(),
            after: a.cloned(),
        }),
        _ => {}
    }
}

fn diff_lists(path: &str, before: &[Value], after: &[Value], out: &mut Vec<FieldChange>) {
    let ids = |list: &[Value]| -> Option<Vec<String>> {
        let ids: Vec<String> = list.iter().map(identity).collect::<Option<_>>()?;
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        (unique.len() == ids.len()).then_some(ids)
    };
    match (ids(before), ids(after)) {
        (Some(bi), Some(ai)) => {
            for (id, b) in bi.iter().zip(before) {
                let a = ai.iter().position(|x| x == id).map(|i| &after[i]);
                diff_values(&format!("{path}[{id}]"), Some(b), a, out);
            }
            for (id, a) in ai.iter().zip(after) {
                if !bi.contains(id) {
                    diff_values(&format!("{path}[{id}]"), None, Some(a), out);
                }
            }
        }
        // Lists without identities (tags, say) are values: shown whole when they differ.
        _ if before != after => out.push(FieldChange {
            path: path.to_string(),
            before: Some(Value::Array(before.to_vec())),
            after: Some(Value::Array(after.to_vec())),
        }),
        _ => {}
    }
}

/// One field of a record whose value differs between what Shopify last accepted and what the plan sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueChange {
    /// The mapped field.
    pub field: String,
    /// The value last accepted (absent: it was not sent).
    pub before: Option<Value>,
    /// The value to send (absent: it is no longer sent).
    pub after: Option<Value>,
}

/// The fields that differ between two versions of a record's mapped values, in the new record's order, then
/// the fields it no longer sends.
pub fn value_changes(
    before: &serde_json::Map<String, Value>,
    after: &serde_json::Map<String, Value>,
) -> Vec<ValueChange> {
    let (before, after) = (&by_metafield(before), &by_metafield(after));
    let mut out: Vec<ValueChange> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| ValueChange {
            field: k.clone(),
            before: before.get(k).cloned(),
            after: Some(v.clone()),
        })
        .collect();
    out.extend(
        before
            .iter()
            .filter(|(k, _)| !after.contains_key(*k))
            .map(|(k, v)| ValueChange {
                field: k.clone(),
                before: Some(v.clone()),
                after: None,
            }),
    );
    out
}

/// `fields` with the mapped metafields listed one by one, as `metafield namespace.key`, so that a change shows
/// which metafield moved (and a NULL that clears one shows as its value going to null).
fn by_metafield(fields: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let mut out = fields.clone();
    if let Some(Value::Array(list)) = out.remove("metafields") {
        for m in list {
            let name = format!(
                "metafield {}.{}",
                m.get("namespace").and_then(Value::as_str).unwrap_or("?"),
                m.get("key").and_then(Value::as_str).unwrap_or("?")
            );
            out.insert(name, m.get("value").cloned().unwrap_or(Value::Null));
        }
    }
    out
}

/// Why a known key's row is sent again, for `plan`: which values changed, or, when none did, that the sync's
/// mapping or mode changed since the last run (`spec_changed`), which re-sends every row it covers.
pub fn change_reason(fields: &[ValueChange], before_known: bool, spec_changed: bool) -> String {
    let changed: Vec<&str> = fields
        .iter()
        .filter(|f| f.before != f.after)
        .map(|f| f.field.as_str())
        .collect();
    match (before_known, changed.is_empty(), spec_changed) {
        (true, false, _) => format!("values changed: {}", changed.join(", ")),
        (true, true, true) | (false, _, true) => {
            "re-sent: the sync's mapping or mode changed since the last run".into()
        }
        (true, true, false) => "re-sent: the row's digest changed with equal values".into(),
        (false, _, false) => "values changed (the earlier values were not kept)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sync(name: &str) -> ResourceId {
        ResourceId {
            kind: Kind::ShopifySync,
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn specs(items: &[(ResourceId, Value)]) -> Specs {
        items.iter().cloned().collect()
    }

    fn products() -> Value {
        json!({
            "destinationRef": {"name": "store"},
            "primaryKey": "sku",
            "object": "products",
            "mode": "upsert",
            "mappings": [{"from": "title", "to": "title"}, {"from": "body", "to": "descriptionHtml"}],
            "schedule": {"interval": "1h"}
        })
    }

    #[test]
    fn observe_to_manage_is_a_risk_and_the_way_back_is_not() {
        let mut observe = products();
        observe["managementPolicy"] = json!("Observe");
        let mut manage = products();
        manage["managementPolicy"] = json!("Manage");
        for after in [products(), manage] {
            let r = review(
                &specs(&[(sync("p"), observe.clone())]),
                &specs(&[(sync("p"), after)]),
            );
            let kinds: Vec<RiskKind> = r.risks.iter().map(|r| r.kind).collect();
            assert_eq!(kinds, [RiskKind::ObserveToManage]);
        }
        let back = review(
            &specs(&[(sync("p"), products())]),
            &specs(&[(sync("p"), observe)]),
        );
        assert!(back.risks.is_empty(), "{:?}", back.risks);
    }

    #[test]
    fn identical_specs_review_empty() {
        let s = specs(&[(sync("p"), products())]);
        let r = review(&s, &s);
        assert!(r.is_empty());
        assert!(r.risks.is_empty());
    }

    #[test]
    fn mappings_are_matched_by_target_not_position() {
        let mut after = products();
        after["mappings"] = json!([
            {"from": "name", "to": "title"},
            {"from": "vendor", "to": "vendor"},
            {"from": "body", "to": "descriptionHtml"}
        ]);
        let r = review(
            &specs(&[(sync("p"), products())]),
            &specs(&[(sync("p"), after)]),
        );
        let fields = &r.changes[0].fields;
        assert_eq!(
            fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["spec.mappings[to=title].from", "spec.mappings[to=vendor]"]
        );
        assert_eq!(fields[0].before, Some(json!("title")));
        assert_eq!(fields[0].after, Some(json!("name")));
        assert_eq!(fields[1].before, None);
        assert!(r.risks.is_empty(), "{:?}", r.risks);
    }

    #[test]
    fn risky_changes_are_named() {
        let mut before = products();
        before["deleteBehavior"] = json!("delete");
        let mut after = products();
        after["deleteBehavior"] = json!("delete");
        after["deleteGuard"] = json!({"maxPercent": 50});
        after["deletionPolicy"] = json!("Delete");
        after["primaryKey"] = json!("product_id");
        after["match"] = json!({"key": "id", "column": "shopify_id"});
        after["destinationRef"] = json!({"name": "other"});
        after["mode"] = json!("update");
        let r = review(
            &specs(&[(sync("p"), before)]),
            &specs(&[(sync("p"), after)]),
        );
        let kinds: Vec<RiskKind> = r.risks.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                RiskKind::DeleteGuardLoosened,
                RiskKind::DeletionPolicyDelete,
                RiskKind::PrimaryKeyChanged,
                RiskKind::MatchKeyChanged,
                RiskKind::DestinationChanged,
                RiskKind::ModeChanged
            ]
        );
        assert!(
            r.risks[0]
                .message
                .contains("at most 10% before, at most 50% now"),
            "{}",
            r.risks[0].message
        );

        // Deletes turned on: that is the risk; the guard that comes with them is not a loosening.
        let mut after = products();
        after["deleteBehavior"] = json!("delete");
        after["deleteGuard"] = json!({"maxCount": 100});
        let r = review(
            &specs(&[(sync("p"), products())]),
            &specs(&[(sync("p"), after)]),
        );
        let kinds: Vec<RiskKind> = r.risks.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [RiskKind::DeletesEnabled]);
    }

    #[test]
    fn a_tighter_guard_is_not_a_risk() {
        let mut before = products();
        before["deleteBehavior"] = json!("delete");
        let mut after = before.clone();
        after["deleteGuard"] = json!({"maxPercent": 5});
        let r = review(
            &specs(&[(sync("p"), before)]),
            &specs(&[(sync("p"), after)]),
        );
        assert!(r.risks.is_empty(), "{:?}", r.risks);
        assert_eq!(r.changes[0].fields[0].path, "spec.deleteGuard");
    }

    #[test]
    fn added_and_removed_resources() {
        let mut doomed = products();
        doomed["deletionPolicy"] = json!("Delete");
        let r = review(
            &specs(&[(sync("old"), doomed)]),
            &specs(&[(sync("new"), products())]),
        );
        let statuses: Vec<(&str, Status)> = r
            .changes
            .iter()
            .map(|c| (c.resource.name.as_str(), c.status))
            .collect();
        assert_eq!(statuses, [("new", Status::Added), ("old", Status::Removed)]);
        assert_eq!(r.risks.len(), 1);
        assert_eq!(r.risks[0].kind, RiskKind::RemovedWithDelete);
    }

    #[test]
    fn destination_version_and_store_switches_are_risks() {
        let d = ResourceId {
            kind: Kind::ShopifyDestination,
            namespace: "default".into(),
            name: "store".into(),
        };
        let r = review(
            &specs(&[(d.clone(), json!({"store": "a", "apiVersion": "2026-04"}))]),
            &specs(&[(d, json!({"store": "b"}))]),
        );
        let kinds: Vec<RiskKind> = r.risks.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [RiskKind::StoreChanged, RiskKind::ApiVersionChanged]);
        assert!(
            r.risks[1]
                .message
                .starts_with("apiVersion changes from 2026-04 to the default version"),
            "{}",
            r.risks[1].message
        );
    }

    #[test]
    fn value_changes_list_changed_new_and_dropped_fields() {
        let before = json!({"title": "A", "vendor": "V", "tags": ["x"]});
        let after = json!({"title": "B", "vendor": "V", "status": "ACTIVE"});
        let (Value::Object(b), Value::Object(a)) = (before, after) else {
            unreachable!()
        };
        let changes = value_changes(&b, &a);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["title", "status", "tags"]);
        assert_eq!(changes[0].before, Some(json!("A")));
        assert_eq!(changes[2].after, None);
    }
}
