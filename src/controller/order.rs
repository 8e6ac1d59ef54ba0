//! `spec.dependsOn` in the controller: the syncs of a namespace read as plain data, the decision made by
//! [`crate::core::order::may_run`].
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use super::Error;
use super::context::Context;
use crate::api::{CONDITION_RECONCILING, RunOutcome, ShopifySync, ShopifySyncStatus};
use crate::core::order::{Gate, LatestRun, may_run};

/// A sync's latest run as its status shows it: running while `Reconciling` says so (reason `Running`), else
/// the outcome of `lastRun`.
pub fn latest_run(status: Option<&ShopifySyncStatus>) -> LatestRun {
    let Some(status) = status else {
        return LatestRun::None;
    };
    let running = status
        .conditions
        .iter()
        .any(|c| c.type_ == CONDITION_RECONCILING && c.status == "True" && c.reason == "Running");
    if running {
        return LatestRun::Running;
    }
    match status.last_run.as_ref().map(|r| &r.outcome) {
        None => LatestRun::None,
        Some(RunOutcome::Failed) => LatestRun::Failed,
        Some(_) => LatestRun::Finished,
    }
}

/// Whether `sync` may run now, given the other syncs of its namespace.
pub async fn gate(ctx: &Context, sync: &ShopifySync, ns: &str) -> Result<Gate, Error> {
    if sync.spec.depends_on.is_empty() {
        return Ok(Gate::Open);
    }
    let api: Api<ShopifySync> = Api::namespaced(ctx.client.clone(), ns);
    let all = api.list(&ListParams::default()).await?;
    let syncs: Vec<(String, Vec<String>, LatestRun)> = all
        .items
        .iter()
        .map(|s| {
            (
                s.name_any(),
                s.spec.depends_on.iter().map(|r| r.name.clone()).collect(),
                latest_run(s.status.as_ref()),
            )
        })
        .collect();
    Ok(may_run(&sync.name_any(), &syncs))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn status(value: serde_json::Value) -> ShopifySyncStatus {
        serde_json::from_value(value).unwrap()
    }

    fn last_run(outcome: &str) -> serde_json::Value {
        json!({"startedAt": "2026-12-07T10:00:00Z", "finishedAt": "2026-12-07T10:01:00Z",
               "durationSeconds": 60.0, "outcome": outcome, "rowsQueried": 1, "rowsAdded": 1,
               "rowsChanged": 0, "rowsRemoved": 0, "rowsSucceeded": 1, "rowsRejected": 0})
    }

    fn reconciling(status: &str, reason: &str) -> serde_json::Value {
        json!([{"type": "Reconciling", "status": status, "reason": reason, "message": "",
                "lastTransitionTime": "2026-12-07T10:00:00Z"}])
    }

    #[test]
    fn the_latest_run_is_read_from_the_status() {
        assert_eq!(latest_run(None), LatestRun::None);
        assert_eq!(latest_run(Some(&status(json!({})))), LatestRun::None);
        for (outcome, latest) in [
            ("Succeeded", LatestRun::Finished),
            ("PartiallySucceeded", LatestRun::Finished),
            ("Failed", LatestRun::Failed),
        ] {
            let s = status(
                json!({"lastRun": last_run(outcome), "conditions": reconciling("False", "Synced")}),
            );
            assert_eq!(latest_run(Some(&s)), latest, "{outcome}");
        }
        // A run in progress wins over the previous outcome.
        let s = status(
            json!({"lastRun": last_run("Succeeded"), "conditions": reconciling("True", "Running")}),
        );
        assert_eq!(latest_run(Some(&s)), LatestRun::Running);
    }
}
