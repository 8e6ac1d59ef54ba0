//! Status of both kinds: kstatus conditions and, for syncs, the last run.

/// Annotation that triggers a run of a ShopifySync now: set it to a new value (a timestamp, say) each time.
pub const RUN_NOW_ANNOTATION: &str = "shopsync.dev/run-now";
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type: the resource does what its spec asks (the store answers; the last run succeeded).
pub const CONDITION_READY: &str = "Ready";
/// Condition type: the controller is working towards the spec (a run is in progress, or a new generation).
pub const CONDITION_RECONCILING: &str = "Reconciling";
/// Condition type: the controller cannot make progress without a change from the user.
pub const CONDITION_STALLED: &str = "Stalled";
/// Condition type (syncs with `spec.drift`): the last drift check found records that differ in Shopify from
/// what the sync last applied and that its policy left as they are.
pub const CONDITION_DRIFTED: &str = "Drifted";

/// Observed state of a ShopifyDestination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopifyDestinationStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled, one entry per type.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The shop's name as Shopify reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<String>,
    /// The shop's plan as Shopify reports it, e.g. `Shopify Plus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The access scopes the token grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_scopes: Vec<String>,
}

/// Observed state of a ShopifySync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShopifySyncStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled, one entry per type.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The most recent finished run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunSummary>,
    /// The generation of the spec the last run ran with. A newer spec runs at once, even when a status was
    /// written for it meanwhile (a run held by its dependencies, destination or ledger runs when the hold clears).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_generation: Option<i64>,
    /// When the last run that succeeded finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_run_at: Option<Time>,
    /// When the next scheduled run is due (absent for manual or suspended syncs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<Time>,
    /// The most recent runs, newest first (a short summary; the state store keeps the full history).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_runs: Vec<RunSummary>,
    /// The alert rules firing now (`alerts` on the sync or its destination); empty when none is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["rule"]))]
    pub alerts: Vec<FiringAlert>,
    /// The value of the `shopsync.dev/run-now` annotation that the last triggered run answered; setting the
    /// annotation to any other value triggers another run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_request: Option<String>,
    /// Records the last drift check found changed (drift, conflict) or deleted in Shopify since the sync last
    /// applied them (`spec.drift`, or an observe-only sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drifted_records: Option<i64>,
    /// The last drift check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift_check: Option<DriftCheck>,
}

/// What the last drift check of a sync found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftCheck {
    /// When the run that made it started.
    pub checked_at: Time,
    /// The policy applied: report, overwrite or adopt.
    pub policy: String,
    /// Records compared.
    pub checked: i64,
    /// Records changed in Shopify only.
    pub drifted: i64,
    /// Records changed in Shopify and in the warehouse, to different values.
    pub conflicts: i64,
    /// Records deleted in Shopify.
    pub missing: i64,
    /// Drifted records whose warehouse values were sent again (overwrite).
    pub overwritten: i64,
    /// Drifted records whose Shopify values were accepted (adopt).
    pub adopted: i64,
    /// Why the check was skipped, or the first drifted records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An alert rule that is firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FiringAlert {
    /// The rule: `run_failed`, `rejected_rows` or `late`.
    pub rule: String,
    /// Since when it has been firing.
    pub since: Time,
    /// What tripped it.
    pub message: String,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunOutcome {
    /// Every row was synced.
    Succeeded,
    /// The run finished but Shopify rejected some rows; they are retried next run.
    PartiallySucceeded,
    /// The run failed as a whole (query, destination, credentials); nothing after the failure was synced.
    Failed,
    /// The run was skipped (another run of the same sync held the lock).
    Skipped,
}

/// Statistics of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// When the run started.
    pub started_at: Time,
    /// When the run finished.
    pub finished_at: Time,
    /// How long the run took, in seconds.
    pub duration_seconds: f64,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Rows the query returned.
    pub rows_queried: i64,
    /// Rows new since the last run.
    pub rows_added: i64,
    /// Rows whose mapped values changed since the last run (including retried rejected rows).
    pub rows_changed: i64,
    /// Rows that left the result since the last run.
    pub rows_removed: i64,
    /// Rows Shopify accepted.
    pub rows_succeeded: i64,
    /// Rows rejected, by Shopify or before sending (for example a NULL primary key).
    pub rows_rejected: i64,
    /// Why the run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// An observe-only run (`managementPolicy: Observe`): the counts are what a run would do; nothing was
    /// written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
}
