//! `ShopifySync`: a warehouse query, what it feeds in Shopify, and how.
// kube's printcolumn(...) repeats keys such as type_ per column, which this lint misreads as duplicates.
#![allow(clippy::duplicated_attributes)]
use kube::core::Rule;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{AlertSpec, LocalRef, SecretKeyRef};
use super::status::ShopifySyncStatus;
use crate::core::config::{
    ActionKind, DeleteBehavior, DeletionPolicy, DriftPolicy, EventKind, LIST_METAFIELD_TYPES,
    METAFIELD_TYPES, ManagementPolicy, MatchKey, NullPolicy, ObjectKind, OnDuplicateKey, SyncMode,
    Target, ValueFormat,
};

/// Rows of a warehouse query, synced into a Shopify store on a schedule.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "shopsync.dev",
    version = "v1alpha1",
    kind = "ShopifySync",
    namespaced,
    status = "ShopifySyncStatus",
    shortname = "ssync",
    shortname = "shopifysync",
    category = "shopsync",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Destination",
        type_ = "string",
        json_path = ".spec.destinationRef.name"
    ),
    printcolumn(name = "Object", type_ = "string", json_path = ".spec.object"),
    printcolumn(
        name = "Event",
        type_ = "string",
        json_path = ".spec.event",
        priority = 1
    ),
    printcolumn(
        name = "Action",
        type_ = "string",
        json_path = ".spec.action",
        priority = 1
    ),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Last run",
        type_ = "date",
        json_path = ".status.lastRun.finishedAt"
    ),
    printcolumn(
        name = "Synced",
        type_ = "integer",
        json_path = ".status.lastRun.rowsSucceeded"
    ),
    printcolumn(
        name = "Rejected",
        type_ = "integer",
        json_path = ".status.lastRun.rowsRejected"
    ),
    printcolumn(
        name = "Next run",
        type_ = "date",
        json_path = ".status.nextRunAt",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("(has(self.object) ? 1 : 0) + (has(self.event) ? 1 : 0) + (has(self.action) ? 1 : 0) == 1").message("set exactly one of object, event or action"))]
#[x_kube(validation = Rule::new("!has(self.object) || has(self.mode)").message("mode is required for objects: upsert, update or insert").field_path(".mode"))]
#[x_kube(validation = rules::object_modes(ObjectKind::InventoryItems))]
#[x_kube(validation = rules::object_modes(ObjectKind::Discounts))]
#[x_kube(validation = Rule::new("has(self.object) || !has(self.mode) || self.mode == 'insert'").message("events and actions are insert only: set mode to insert or leave it out").field_path(".mode"))]
#[x_kube(validation = rules::object_match_keys())]
#[x_kube(validation = Rule::new("has(self.object) || !has(self.match)").message("match applies only to objects: events and actions are identified by their primary key").field_path(".match"))]
#[x_kube(validation = Rule::new("!has(self.deleteBehavior) || (has(self.object) && self.object == 'products')").message("deleteBehavior applies only to object products").field_path(".deleteBehavior"))]
#[x_kube(validation = Rule::new("!has(self.deleteGuard) || (has(self.object) && self.object == 'products')").message("deleteGuard applies only to object products").field_path(".deleteGuard"))]
#[x_kube(validation = Rule::new("!has(self.deleteMatched) || (has(self.object) && self.object == 'products')").message("deleteMatched applies only to object products").field_path(".deleteMatched"))]
#[x_kube(validation = Rule::new("!has(self.deletionPolicy) || self.deletionPolicy == 'Orphan' || (has(self.object) && self.object == 'products')").message("deletionPolicy Delete applies only to object products").field_path(".deletionPolicy"))]
#[x_kube(validation = Rule::new("!(has(self.mappings) && self.mappings.exists(m, has(m.metafield))) || (has(self.object) && self.object in ['customers', 'products'])").message("metafield mappings are supported for customers and products only").field_path(".mappings"))]
#[x_kube(validation = Rule::new("!has(self.drift) || (has(self.object) && self.object in ['customers', 'products'])").message("drift detection is supported for objects customers and products only: other objects cannot be read back").field_path(".drift"))]
#[x_kube(validation = Rule::new("!has(self.drift) || !has(self.drift.policy) || self.drift.policy != 'overwrite' || !has(self.mode) || self.mode != 'insert'").message("drift.policy overwrite cannot work in mode insert, which never updates a record: use report or adopt").field_path(".drift.policy"))]
#[x_kube(validation = Rule::new("!(has(self.object) && self.object == 'discounts' && has(self.mode) && self.mode == 'insert' && has(self.mappings) && self.mappings.exists(m, has(m.to) && m.to in ['usageLimit', 'appliesOncePerCustomer']))").message("usageLimit and appliesOncePerCustomer are settings of the code discount, which mode insert never changes: use mode update").field_path(".mappings"))]
#[x_kube(validation = rules::required_fields(RequiredFor::Discounts))]
#[x_kube(validation = rules::required_fields(RequiredFor::InventoryLevels))]
#[x_kube(validation = rules::required_fields(RequiredFor::FulfillmentEvents))]
#[x_kube(validation = rules::required_fields(RequiredFor::AnyAction))]
#[x_kube(validation = rules::required_fields(RequiredFor::Action(ActionKind::HoldFulfillmentOrder)))]
#[x_kube(validation = rules::required_fields(RequiredFor::Action(ActionKind::MoveFulfillmentOrder)))]
#[x_kube(validation = rules::required_fields(RequiredFor::Action(ActionKind::RescheduleFulfillmentOrder)))]
pub struct ShopifySyncSpec {
    /// The ShopifyDestination (same namespace) this sync writes to.
    pub destination_ref: LocalRef,
    /// The warehouse and the query whose rows are synced.
    pub source: SourceSpec,
    /// The column that identifies a row across runs (unique, never NULL).
    #[schemars(length(min = 1, max = 255))]
    pub primary_key: String,
    /// The Shopify object the rows become: customers, discounts, inventoryItems, inventoryLevels or products.
    /// Set exactly one of object, event or action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectKind>,
    /// The event each row sends once: fulfillmentEvents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventKind>,
    /// The fulfillment-order action each row performs once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionKind>,
    /// How rows apply to records: upsert (create or update), update (existing only) or insert (new only).
    /// Required for objects; events and actions are always insert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SyncMode>,
    /// How a row finds its Shopify record. Default: customers by email, products by handle, inventoryLevels by
    /// inventoryItemId, others by id.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<MatchSpec>,
    /// Where each value sent to Shopify comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub mappings: Vec<FieldMappingSpec>,
    /// products only: doNothing (default) or delete the product when its row leaves the result. Only products
    /// this sync created are deleted, unless deleteMatched is true; a product that insert mode found existing is
    /// never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_behavior: Option<DeleteBehavior>,
    /// products only: when true, deleteBehavior: delete and deletionPolicy: Delete also delete products this
    /// sync did not create but matched by handle (existing products it updated). Default false: only products
    /// the sync created are ever deleted. Turning it on is listed as a risk by `shopsync plan --base`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_matched: Option<bool>,
    /// products only: the most deletes one run may make; over it, the run deletes nothing, applies the rest,
    /// and fails with reason DeleteGuardTripped. Each limit left out keeps its default (at most 10% of the
    /// products the sync knows, no count limit); maxPercent: 100 turns the percentage off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_guard: Option<DeleteGuardSpec>,
    /// Rows sharing a primary key: rejectRows (default) rejects each of them; failRun fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_duplicate_key: Option<OnDuplicateKey>,
    /// products and customers: when a run has at least this many upserts that need no lookup (mode upsert,
    /// or records synced before; customers without metafields), they go through one Shopify bulk operation
    /// instead of batched requests. Default 5000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub bulk_threshold: Option<i64>,
    /// When the sync runs.
    pub schedule: ScheduleSpec,
    /// When true, no run starts, scheduled or triggered (the run-now annotation waits), until it is false again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// What deleting this resource does to the store: Orphan (default) leaves it alone; Delete (products only)
    /// deletes the products this sync created (and those it matched, with deleteMatched), under the delete
    /// guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Alerts for this sync; each field overrides the destination's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertSpec>,
    /// ShopifySyncs (same namespace) that must have finished their latest run without failure before this one
    /// runs, e.g. `[{name: products}]` for inventory levels of the products' items. `shopsync run` runs them
    /// first and skips this sync when one failed; the controller waits (condition `Ready=False`,
    /// `WaitingForDependencies`); a cycle is invalid (`Stalled`, `DependencyCycle`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub depends_on: Vec<LocalRef>,
    /// customers and products: compare what Shopify holds with what this sync last applied, per mapped field,
    /// and act on fields changed in Shopify (drift). Without it, runs never read the store back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftSpec>,
    /// Manage (default) plans and writes; Observe plans with live values (products and customers), records in
    /// the status and the run history what a run would do, and never writes to Shopify. Switching Observe to
    /// Manage is listed as a risk by `shopsync plan --base`, with the writes it would make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,
}

/// Drift detection: what a check does with fields changed in Shopify, and how often it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("!has(self.every) || (self.every.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self.every) >= duration('1m'))").message("drift.every must be a duration of at least 1m, such as 1h").field_path(".every"))]
pub struct DriftSpec {
    /// report (default) counts drifted records and shows them in the status, the run report and
    /// `plan --live`; overwrite sends the warehouse's values again in the run that finds the drift; adopt
    /// accepts Shopify's values as the last applied ones without writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<DriftPolicy>,
    /// At most one drift check per interval, e.g. `6h` (each reads every record of the sync back from
    /// Shopify). Default: every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub every: Option<String>,
}

/// The warehouse connection and query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("self.query.matches('\\\\S')").message("source.query must not be empty").field_path(".query"))]
#[x_kube(validation = Rule::new("has(self.url) != has(self.urlSecretRef)").message("source sets exactly one of url or urlSecretRef"))]
#[x_kube(validation = Rule::new("!has(self.url) || !self.url.matches('^[a-z0-9+]+://[^/@]*:[^/@]+@')").message("source.url must not contain a password: store the URL in a Secret and use urlSecretRef").field_path(".url"))]
#[x_kube(validation = Rule::new("!has(self.timeout) || self.timeout.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')").message("source.timeout must be a duration such as 30s or 5m").field_path(".timeout"))]
pub struct SourceSpec {
    /// The warehouse URL without a password: `postgres://`, `mysql://` (MySQL and MariaDB) or `sqlite://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// The Secret key holding the warehouse URL (use this when it carries a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret_ref: Option<SecretKeyRef>,
    /// The SQL query. It runs read-only; each row is one record, event or action.
    #[schemars(length(max = 65536))]
    pub query: String,
    /// How long the query may run, e.g. `5m` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub timeout: Option<String>,
}

/// How rows are matched to existing Shopify records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchSpec {
    /// The Shopify field that identifies the record: email, phone or id (customers), id (discounts,
    /// inventoryItems), inventoryItemId (inventoryLevels, with the mapped locationId) or handle (products).
    pub key: MatchKey,
    /// The column holding the key's value. Default: the column mapped to the same Shopify field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub column: Option<String>,
}

/// One value sent to Shopify: from a column or a static value, to a field or a metafield.
///
/// That exactly one of `from` and `value` is set is checked by `shopsync validate` and the controller, not by
/// CEL: `value` accepts any JSON, and CEL cannot see fields of no declared type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("has(self.to) != has(self.metafield)").message("each mapping sets exactly one of to (a Shopify field) or metafield"))]
pub struct FieldMappingSpec {
    /// The Shopify input field, e.g. `firstName`, `tags`, `variants` or, for actions, `reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub to: Option<String>,
    /// A custom field (customers and products).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metafield: Option<MetafieldSpec>,
    /// The column the value comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub from: Option<String>,
    /// A static value sent for every row (any JSON value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::any_value")]
    pub value: Option<serde_json::Value>,
    /// How the column is read: auto (default), json (parse JSON text into a structure, e.g. variants) or string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
    /// What a NULL in the column does: clear (default) clears the Shopify field, or deletes the metafield; keep
    /// leaves the field as it is in Shopify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_null: Option<NullPolicy>,
}

/// A Shopify metafield.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = rules::metafield_type())]
pub struct MetafieldSpec {
    /// The namespace, e.g. `custom`.
    #[schemars(length(min = 2, max = 255))]
    pub namespace: String,
    /// The key, e.g. `loyalty_tier`.
    #[schemars(length(min = 2, max = 64))]
    pub key: String,
    /// The metafield type, e.g. `single_line_text_field`, `number_integer`, `json` or `list.single_line_text_field`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 64))]
    pub type_: String,
}

/// The most deletes one run may make. A limit left out keeps its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteGuardSpec {
    /// At most this many deletes per run. Default: no count limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_count: Option<i64>,
    /// At most this percentage (0 to 100) of the records the sync knows. Default 10; 100 turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_percent: Option<i32>,
}

/// When a sync runs: exactly one of interval, cron or manual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("(has(self.interval) ? 1 : 0) + (has(self.cron) ? 1 : 0) + ((has(self.manual) && self.manual) ? 1 : 0) == 1").message("schedule sets exactly one of interval, cron or manual: true"))]
#[x_kube(validation = Rule::new("!has(self.interval) || (self.interval.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') && duration(self.interval) >= duration('1m'))").message("schedule.interval must be a duration of at least 1m, such as 15m or 1h").field_path(".interval"))]
#[x_kube(validation = Rule::new("!has(self.cron) || self.cron.matches('^\\\\s*\\\\S+(\\\\s+\\\\S+){4}\\\\s*$')").message("schedule.cron must be a five-field cron expression, such as '*/15 * * * *'").field_path(".cron"))]
pub struct ScheduleSpec {
    /// Run every interval, e.g. `15m` or `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub interval: Option<String>,
    /// Run on a five-field cron expression in UTC, e.g. `0 3 * * *`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub cron: Option<String>,
    /// Run only when triggered (annotate `shopsync.dev/run-now`, or `shopsync run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<bool>,
}

impl ShopifySyncSpec {
    /// The one target the spec names, if it names exactly one.
    pub fn target(&self) -> Option<Target> {
        match (self.object, self.event, self.action) {
            (Some(o), None, None) => Some(Target::Object(o)),
            (None, Some(e), None) => Some(Target::Event(e)),
            (None, None, Some(a)) => Some(Target::Action(a)),
            _ => None,
        }
    }
}

/// What a required-fields rule covers.
#[derive(Debug, Clone, Copy)]
pub enum RequiredFor {
    /// object discounts
    Discounts,
    /// object inventoryLevels
    InventoryLevels,
    /// event fulfillmentEvents
    FulfillmentEvents,
    /// every action: the fulfillment order id
    AnyAction,
    /// one action's extra fields
    Action(ActionKind),
}

/// CEL rules built from the core tables, so the CRD and the engine cannot disagree.
mod rules {
    use super::*;

    fn quoted(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
        items
            .into_iter()
            .map(|s| format!("'{}'", s.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn has_mapping(field: &str) -> String {
        format!("(has(self.mappings) && self.mappings.exists(m, has(m.to) && m.to == '{field}'))")
    }

    /// Mode restrictions of one object (inventoryItems: update only; discounts: update or insert).
    pub fn object_modes(object: ObjectKind) -> Rule {
        let modes = Target::Object(object).modes();
        let names: Vec<&str> = modes.iter().map(|m| m.as_str()).collect();
        let message = match names.as_slice() {
            [one] => format!("{object} support only mode {one}"),
            [a, b] => format!(
                "{object} support mode {a} or {b}, not {}",
                missing_mode(modes)
            ),
            _ => format!("{object} support mode {}", names.join(", ")),
        };
        Rule::new(format!(
            "!has(self.object) || self.object != '{object}' || !has(self.mode) || self.mode in [{}]",
            quoted(names)
        ))
        .message(kube::core::cel::Message::Message(message))
        .field_path(".mode")
    }

    fn missing_mode(modes: &[SyncMode]) -> String {
        SyncMode::ALL
            .iter()
            .filter(|m| !modes.contains(m))
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// The match keys each object supports.
    pub fn object_match_keys() -> Rule {
        let cases: Vec<String> = ObjectKind::ALL
            .iter()
            .map(|o| {
                format!(
                    "'{}': [{}]",
                    o,
                    quoted(Target::Object(*o).match_keys().iter().map(|m| m.as_str()))
                )
            })
            .collect();
        Rule::new(format!(
            "!has(self.object) || !has(self.match) || self.match.key in {{{}}}[self.object]",
            cases.join(", ")
        ))
        .message("match.key not supported by this object: customers match by email, id or phone; discounts and inventoryItems by id; inventoryLevels by inventoryItemId; products by handle")
        .field_path(".match.key")
    }

    /// The mappings a target cannot work without.
    pub fn required_fields(what: RequiredFor) -> Rule {
        let (guard, fields, message): (String, Vec<&str>, &str) = match what {
            RequiredFor::Discounts => (
                "!has(self.object) || self.object != 'discounts'".into(),
                Target::Object(ObjectKind::Discounts)
                    .required_fields()
                    .to_vec(),
                "discounts need mappings to priceRuleId and code",
            ),
            RequiredFor::InventoryLevels => (
                "!has(self.object) || self.object != 'inventoryLevels'".into(),
                Target::Object(ObjectKind::InventoryLevels)
                    .required_fields()
                    .to_vec(),
                "inventoryLevels need mappings to locationId and quantity",
            ),
            RequiredFor::FulfillmentEvents => (
                "!has(self.event)".into(),
                Target::Event(EventKind::FulfillmentEvents)
                    .required_fields()
                    .to_vec(),
                "fulfillmentEvents need mappings to fulfillmentId, orderId and status",
            ),
            RequiredFor::AnyAction => (
                "!has(self.action)".into(),
                vec!["fulfillmentOrderId"],
                "fulfillment-order actions need a mapping to fulfillmentOrderId",
            ),
            RequiredFor::Action(a) => (
                format!("!has(self.action) || self.action != '{a}'"),
                Target::Action(a)
                    .required_fields()
                    .iter()
                    .copied()
                    .filter(|f| *f != "fulfillmentOrderId")
                    .collect(),
                match a {
                    ActionKind::HoldFulfillmentOrder => {
                        "holdFulfillmentOrder needs a mapping to reason (why the order is held)"
                    }
                    ActionKind::MoveFulfillmentOrder => {
                        "moveFulfillmentOrder needs a mapping to newLocationId (where the order moves)"
                    }
                    ActionKind::RescheduleFulfillmentOrder => {
                        "rescheduleFulfillmentOrder needs a mapping to fulfillAt (the new fulfill-at time)"
                    }
                    _ => "this action needs its required mappings",
                },
            ),
        };
        let checks: Vec<String> = fields.iter().map(|f| has_mapping(f)).collect();
        Rule::new(format!("{guard} || ({})", checks.join(" && ")))
            .message(message)
            .field_path(".mappings")
    }

    /// Metafield types Shopify accepts.
    pub fn metafield_type() -> Rule {
        let lists: Vec<String> = LIST_METAFIELD_TYPES
            .iter()
            .map(|t| format!("list.{t}"))
            .collect();
        Rule::new(format!(
            "self.type in [{}, {}]",
            quoted(METAFIELD_TYPES.iter()),
            quoted(lists.iter())
        ))
        .message("metafield.type must be a Shopify metafield type, such as single_line_text_field, number_integer, json or list.single_line_text_field")
        .field_path(".type")
    }
}
