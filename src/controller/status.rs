//! Building status deterministically: the same inputs give the same status, so an unchanged object is never
//! written again (a write with a fresh timestamp would trigger another reconcile, and so on forever).
use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{
    CONDITION_DRIFTED, CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, DriftCheck,
    RunOutcome, RunSummary, ShopifySyncStatus,
};
use crate::core::report::RunReport;
use crate::core::state::{RunRecord, RunStatus};

/// Runs kept in `status.recentRuns`.
pub const RECENT_RUNS: usize = 5;
/// Longest condition message the API accepts is 32768 bytes; shorter keeps `kubectl describe` readable.
const MAX_MESSAGE: usize = 1024;

/// A timestamp as the API stores it: whole seconds, so what is read back equals what was written.
pub fn time(t: DateTime<Utc>) -> Time {
    let ts = jiff::Timestamp::from_second(t.timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Time(ts)
}

/// The chrono form of an API timestamp.
pub fn chrono_of(t: &Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.0.as_second(), 0).unwrap_or_default()
}

/// One condition to set: its status, a CamelCase reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    /// `Ready`, `Reconciling` or `Stalled`.
    pub type_: &'static str,
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl Cond {
    /// A condition with status `True`.
    pub fn yes(type_: &'static str, reason: &str, message: impl Into<String>) -> Cond {
        Cond::new(type_, "True", reason, message)
    }

    /// A condition with status `False`.
    pub fn no(type_: &'static str, reason: &str, message: impl Into<String>) -> Cond {
        Cond::new(type_, "False", reason, message)
    }

    /// A condition with status `Unknown`.
    pub fn unknown(type_: &'static str, reason: &str, message: impl Into<String>) -> Cond {
        Cond::new(type_, "Unknown", reason, message)
    }

    fn new(
        type_: &'static str,
        status: &'static str,
        reason: &str,
        message: impl Into<String>,
    ) -> Cond {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Cond {
            type_,
            status,
            reason: reason.to_string(),
            message,
        }
    }
}

/// The three kstatus conditions (and any others), in a fixed order, keeping each one's `lastTransitionTime`
/// from `previous` when its status did not change.
pub fn conditions(
    previous: &[Condition],
    set: impl IntoIterator<Item = Cond>,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    set.into_iter()
        .map(|c| {
            let before = previous.iter().find(|p| p.type_ == c.type_);
            let last_transition_time = match before {
                Some(p) if p.status == c.status => p.last_transition_time.clone(),
                _ => time(now),
            };
            Condition {
                type_: c.type_.to_string(),
                status: c.status.to_string(),
                reason: c.reason,
                message: c.message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// Ready, Reconciling and Stalled for a resource that is waiting on something outside it (a Secret, a
/// destination, the store): not ready, not stalled (a watch or a retry will bring it back).
pub fn waiting(reason: &str, message: &str) -> [Cond; 3] {
    [
        Cond::no(CONDITION_READY, reason, message),
        Cond::no(CONDITION_RECONCILING, reason, message),
        Cond::no(CONDITION_STALLED, reason, ""),
    ]
}

/// Ready, Reconciling and Stalled for a spec that cannot work until the user changes it.
pub fn stalled(reason: &str, message: &str) -> [Cond; 3] {
    [
        Cond::no(CONDITION_READY, reason, message),
        Cond::no(CONDITION_RECONCILING, reason, ""),
        Cond::yes(CONDITION_STALLED, reason, message),
    ]
}

/// The summary of a finished run, as `status.lastRun` shows it.
pub fn run_summary(report: &RunReport) -> RunSummary {
    let outcome = match report.status {
        RunStatus::Succeeded => RunOutcome::Succeeded,
        RunStatus::PartiallySucceeded => RunOutcome::PartiallySucceeded,
        RunStatus::Failed | RunStatus::Running => RunOutcome::Failed,
    };
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    RunSummary {
        started_at: time(report.started_at),
        finished_at: time(report.finished_at),
        // Milliseconds are enough, and a fixed precision keeps the status byte-for-byte stable.
        duration_seconds: report.duration().as_millis() as f64 / 1000.0,
        outcome,
        rows_queried: count(report.stats.rows_queried),
        rows_added: count(report.stats.added),
        rows_changed: count(report.stats.changed),
        rows_removed: count(report.stats.removed),
        rows_succeeded: count(report.stats.succeeded),
        rows_rejected: count(report.stats.rejected),
        message: run_message(report),
        observed: report.observed,
    }
}

/// `status.lastDriftCheck` for a run that checked drift.
pub fn drift_check(report: &RunReport) -> Option<DriftCheck> {
    let d = report.drift.as_ref()?;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let message = match &d.skipped {
        Some(why) => Some(why.clone()),
        None => {
            let first: Vec<String> = d
                .records
                .iter()
                .take(5)
                .map(|r| {
                    let fields: Vec<&str> = r.fields.iter().map(|f| f.field.as_str()).collect();
                    if fields.is_empty() {
                        format!("{} ({})", r.key, r.state.as_str())
                    } else {
                        format!("{} ({}: {})", r.key, r.state.as_str(), fields.join(", "))
                    }
                })
                .collect();
            (!first.is_empty()).then(|| first.join("; "))
        }
    };
    Some(DriftCheck {
        checked_at: time(report.started_at),
        policy: d.policy.to_string(),
        checked: count(d.counts.checked),
        drifted: count(d.counts.drift),
        conflicts: count(d.counts.conflict),
        missing: count(d.counts.missing),
        overwritten: count(d.overwritten),
        adopted: count(d.adopted),
        message,
    })
}

/// `next` with its `Drifted` condition derived from `lastDriftCheck` (kept from `prev` when its status did
/// not change), so every status write carries it whatever path wrote the other conditions; without a drift
/// check the condition is absent.
pub fn with_drifted_condition(
    prev: &ShopifySyncStatus,
    mut next: ShopifySyncStatus,
) -> ShopifySyncStatus {
    next.conditions.retain(|c| c.type_ != CONDITION_DRIFTED);
    let Some(check) = &next.last_drift_check else {
        return next;
    };
    let unresolved = if check.message.is_some() && check.checked == 0 {
        None
    } else {
        let resolved = check.overwritten + check.adopted;
        Some((check.drifted + check.conflicts + check.missing - resolved).max(0))
    };
    let cond = match unresolved {
        None => Cond::unknown(
            CONDITION_DRIFTED,
            "CheckSkipped",
            check.message.clone().unwrap_or_default(),
        ),
        Some(0) => Cond::no(
            CONDITION_DRIFTED,
            "InSync",
            format!(
                "{} record(s) checked: Shopify holds what the sync applied ({} overwritten, {} adopted)",
                check.checked, check.overwritten, check.adopted
            ),
        ),
        Some(n) => Cond::yes(
            CONDITION_DRIFTED,
            "DriftDetected",
            format!(
                "{n} of {} record(s) differ in Shopify from what the sync applied ({} drifted, {} in conflict, {} \
                 missing; policy {}){}",
                check.checked,
                check.drifted,
                check.conflicts,
                check.missing,
                check.policy,
                check
                    .message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        ),
    };
    let at = chrono_of(&check.checked_at);
    let mut derived = conditions(&prev.conditions, [cond], next.observed_generation, at);
    next.conditions.append(&mut derived);
    next
}

/// The summary of a run as the state store's run history keeps it (no rejection details: the message is the
/// failure, or the count of rejected rows).
pub fn record_summary(record: &RunRecord) -> RunSummary {
    let outcome = match record.status {
        RunStatus::Succeeded => RunOutcome::Succeeded,
        RunStatus::PartiallySucceeded => RunOutcome::PartiallySucceeded,
        RunStatus::Failed | RunStatus::Running => RunOutcome::Failed,
    };
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let finished = record.finished_at.unwrap_or(record.started_at);
    let message = record.error.clone().or_else(|| {
        (record.stats.rejected > 0).then(|| format!("{} rows rejected", record.stats.rejected))
    });
    RunSummary {
        started_at: time(record.started_at),
        finished_at: time(finished),
        duration_seconds: (finished - record.started_at).num_milliseconds().max(0) as f64 / 1000.0,
        outcome,
        rows_queried: count(record.stats.rows_queried),
        rows_added: count(record.stats.added),
        rows_changed: count(record.stats.changed),
        rows_removed: count(record.stats.removed),
        rows_succeeded: count(record.stats.succeeded),
        rows_rejected: count(record.stats.rejected),
        message,
        observed: false,
    }
}

/// What a run's status message says: the failure, the refused deletes, or the first rejection.
pub fn run_message(report: &RunReport) -> Option<String> {
    if let Some(e) = &report.error {
        return Some(e.clone());
    }
    let mut parts = Vec::new();
    if report.stats.rejected > 0 {
        let first = report
            .rejections
            .first()
            .map(|r| {
                format!(
                    " (first: {}: {})",
                    r.key.as_deref().unwrap_or("no key"),
                    r.message
                )
            })
            .unwrap_or_default();
        parts.push(format!("{} rows rejected{first}", report.stats.rejected));
    }
    if let Some(d) = &report.refused_deletes {
        parts.push(format!("deletes refused: {d}"));
    }
    if !report.unknown.is_empty() {
        parts.push(format!(
            "{} sent with an unknown outcome (not resent)",
            report.unknown.len()
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The Ready condition after a run.
pub fn ready_after(report: &RunReport) -> Cond {
    let stats = &report.stats;
    let counts = format!(
        "{} rows queried, {} added, {} changed, {} removed, {} synced, {} rejected",
        stats.rows_queried,
        stats.added,
        stats.changed,
        stats.removed,
        stats.succeeded,
        stats.rejected
    );
    if let Some(refused) = &report.refused_deletes {
        return Cond::no(
            CONDITION_READY,
            "DeleteGuardTripped",
            format!(
                "The delete guard refused this run's deletes: {refused}. Nothing was deleted; the rest was \
                 applied ({counts}). Check the model, or raise spec.deleteGuard to let the deletes happen"
            ),
        );
    }
    match report.status {
        RunStatus::Succeeded => Cond::yes(
            CONDITION_READY,
            "Synced",
            format!("Last run succeeded: {counts}"),
        ),
        RunStatus::PartiallySucceeded => Cond::yes(
            CONDITION_READY,
            "RowsRejected",
            format!(
                "Last run finished: {counts}; {}",
                run_message(report).unwrap_or_default()
            ),
        ),
        RunStatus::Failed | RunStatus::Running => Cond::no(
            CONDITION_READY,
            "RunFailed",
            format!(
                "Last run failed: {}",
                report.error.as_deref().unwrap_or("unknown error")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 123_456_789).unwrap_or_default()
    }

    #[test]
    fn the_drifted_condition_follows_the_last_drift_check_on_every_write() {
        use crate::core::config::DriftPolicy;
        use crate::core::drift::{DriftCounts, DriftSummary};
        let mut report = RunReport::failed("ns/s", at(100), at(100), "x".into());
        report.drift = Some(DriftSummary {
            policy: DriftPolicy::Report,
            counts: DriftCounts {
                checked: 10,
                in_sync: 8,
                drift: 2,
                ..DriftCounts::default()
            },
            overwritten: 0,
            adopted: 0,
            skipped: None,
            records: Vec::new(),
            cost_points: 3.0,
        });
        let prev = ShopifySyncStatus::default();
        let next = ShopifySyncStatus {
            last_drift_check: drift_check(&report),
            ..ShopifySyncStatus::default()
        };
        let written = with_drifted_condition(&prev, next);
        let drifted = written
            .conditions
            .iter()
            .find(|c| c.type_ == CONDITION_DRIFTED)
            .expect("Drifted");
        assert_eq!(
            (drifted.status.as_str(), drifted.reason.as_str()),
            ("True", "DriftDetected")
        );
        assert!(
            drifted.message.starts_with("2 of 10 record(s)"),
            "{}",
            drifted.message
        );
        // A later write built without the condition (an idle path) gets the same condition back, unchanged.
        let idle = ShopifySyncStatus {
            conditions: Vec::new(),
            ..written.clone()
        };
        assert_eq!(with_drifted_condition(&written, idle), written);
        // Adopted drift is resolved.
        if let Some(d) = &mut report.drift {
            d.policy = DriftPolicy::Adopt;
            d.adopted = 2;
        }
        let next = ShopifySyncStatus {
            last_drift_check: drift_check(&report),
            ..written.clone()
        };
        let resolved = with_drifted_condition(&written, next);
        let c = resolved
            .conditions
            .iter()
            .find(|c| c.type_ == CONDITION_DRIFTED)
            .expect("Drifted");
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "InSync"));
    }

    #[test]
    fn a_history_record_summarises_like_its_report() {
        let report = RunReport::failed("ns/s", at(100), at(103), "boom".into());
        let record = RunRecord {
            id: 7,
            sync: "ns/s".into(),
            started_at: report.started_at,
            finished_at: Some(report.finished_at),
            status: report.status,
            stats: report.stats,
            error: report.error.clone(),
        };
        assert_eq!(record_summary(&record), run_summary(&report));
        let partial = RunRecord {
            status: RunStatus::PartiallySucceeded,
            stats: crate::core::state::RunStats {
                rows_queried: 10,
                rejected: 2,
                ..Default::default()
            },
            error: None,
            ..record
        };
        let s = record_summary(&partial);
        assert_eq!(s.outcome, RunOutcome::PartiallySucceeded);
        assert_eq!(s.message.as_deref(), Some("2 rows rejected"));
        assert_eq!((s.rows_queried, s.rows_rejected), (10, 2));
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let first = conditions(
            &[],
            waiting("SecretNotFound", "no secret"),
            Some(1),
            at(100),
        );
        let again = conditions(
            &first,
            waiting("DestinationNotFound", "other"),
            Some(2),
            at(200),
        );
        assert_eq!(first[0].last_transition_time, again[0].last_transition_time);
        assert_eq!(again[0].reason, "DestinationNotFound");
        let flipped = conditions(&again, stalled("InvalidSpec", "bad"), Some(3), at(300));
        assert_eq!(
            flipped[0].last_transition_time,
            again[0].last_transition_time
        );
        assert_ne!(
            flipped[2].last_transition_time,
            again[2].last_transition_time
        );
        assert_eq!(chrono_of(&flipped[2].last_transition_time).timestamp(), 300);
    }

    #[test]
    fn times_are_whole_seconds() {
        let t = time(at(1_700_000_000));
        assert_eq!(
            chrono_of(&t),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let c = Cond::yes(CONDITION_READY, "R", "é".repeat(2000));
        assert!(c.message.len() <= MAX_MESSAGE + 3);
        assert!(c.message.ends_with('…'));
    }
}
