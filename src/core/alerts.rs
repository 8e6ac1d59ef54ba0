//! Alert rules and their state machine: pure, deterministic, driven by run reports and the clock.
//!
//! A sync has up to four rules (a failed run, too many rejected rows, no successful run for too long past
//! its schedule, a model that suddenly returns far fewer rows than its recent runs). Each rule of each sync is either [`AlertState::Ok`] or [`AlertState::Firing`]; only a change
//! of state produces a [`Notification`], so a sync that fails ten runs in a row pages once, and once more when
//! it recovers. The state is kept in the state store so that restarts do not repeat notifications.
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{Schedule, format_duration};
use super::report::RunReport;
use super::report::RunStatus;

/// Run history kept per sync unless configured otherwise.
pub const DEFAULT_RUN_HISTORY: u32 = 20;

/// The drop, in percent of the recent runs' rows, that trips the source-drop rule unless configured otherwise.
pub const DEFAULT_SOURCE_DROP_PERCENT: f64 = 50.0;
/// How many recent runs (that did not fail) the source-drop rule compares with.
pub const SOURCE_DROP_RUNS: usize = 5;
/// Fewer recent runs than this, and the source-drop rule says nothing (no baseline yet).
pub const SOURCE_DROP_MIN_RUNS: usize = 3;

/// A threshold of rejected rows per run; either bound trips it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RejectedRows {
    /// More rejected rows than this trips the rule.
    pub count: Option<u64>,
    /// A larger share of the rows the query returned (in percent) than this trips the rule.
    pub percent: Option<f64>,
}

/// Alert settings as written on a destination (defaults) or a sync (overrides); `None` inherits.
///
/// `C` is the channel type: the adapters keep references to Secrets here, the core never looks inside.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings<C> {
    /// Alert on failed runs.
    pub on_failure: Option<bool>,
    /// Alert on rejected rows above a threshold.
    pub rejected_rows: Option<RejectedRows>,
    /// Alert when no run succeeded for this long past when one was due.
    pub late_after: Option<Duration>,
    /// Where notifications go; `None` inherits, an empty list means nowhere.
    pub channels: Option<Vec<C>>,
}

impl<C> Default for AlertSettings<C> {
    fn default() -> Self {
        AlertSettings {
            on_failure: None,
            rejected_rows: None,
            late_after: None,
            channels: None,
        }
    }
}

impl<C: Clone> AlertSettings<C> {
    /// The sync's settings over the destination's, field by field. `None` when neither sets alerts: such a sync
    /// has no alerting at all (no state is kept for it).
    pub fn merge(
        defaults: Option<&AlertSettings<C>>,
        overrides: Option<&AlertSettings<C>>,
    ) -> Option<AlertSettings<C>> {
        match (defaults, overrides) {
            (None, None) => None,
            (Some(d), None) => Some(d.clone()),
            (None, Some(o)) => Some(o.clone()),
            (Some(d), Some(o)) => Some(AlertSettings {
                on_failure: o.on_failure.or(d.on_failure),
                rejected_rows: o.rejected_rows.or(d.rejected_rows),
                late_after: o.late_after.or(d.late_after),
                channels: o.channels.clone().or_else(|| d.channels.clone()),
            }),
        }
    }

    /// The rules these settings turn on, with the defaults applied (failed runs alert unless turned off).
    pub fn policy(&self) -> AlertPolicy {
        AlertPolicy {
            on_failure: self.on_failure.unwrap_or(true),
            rejected_rows: self.rejected_rows,
            late_after: self.late_after,
            source_drop_percent: Some(DEFAULT_SOURCE_DROP_PERCENT),
        }
    }

    /// The channels, empty when none are set.
    pub fn channels(&self) -> &[C] {
        self.channels.as_deref().unwrap_or(&[])
    }
}

/// The rules in force for one sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertPolicy {
    /// Alert on failed runs.
    pub on_failure: bool,
    /// Alert on rejected rows above a threshold.
    pub rejected_rows: Option<RejectedRows>,
    /// Alert when no run succeeded for this long past when one was due.
    pub late_after: Option<Duration>,
    /// Alert when a run's query returns this many percent fewer rows than its recent runs (on by default:
    /// a model that suddenly returns nothing is a data incident, not a reason to delete records).
    pub source_drop_percent: Option<f64>,
}

/// One alert rule of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertRule {
    /// The last run failed as a whole.
    RunFailed,
    /// The last run rejected more rows than the threshold.
    RejectedRows,
    /// No run succeeded for `lateAfter` past when one was due.
    Late,
    /// The delete guard refused the last run's deletes.
    DeleteGuard,
    /// The query returned far fewer rows than its recent runs.
    SourceDrop,
    /// The last drift check found records changed or deleted in Shopify that its policy did not resolve
    /// (`spec.drift`: drift under `report`, conflicts and missing records under any policy).
    Drift,
}

impl AlertRule {
    /// Every rule, in a fixed order.
    pub const ALL: [AlertRule; 6] = [
        AlertRule::RunFailed,
        AlertRule::RejectedRows,
        AlertRule::Late,
        AlertRule::DeleteGuard,
        AlertRule::SourceDrop,
        AlertRule::Drift,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::RunFailed => "run_failed",
            AlertRule::RejectedRows => "rejected_rows",
            AlertRule::Late => "late",
            AlertRule::DeleteGuard => "delete_guard",
            AlertRule::SourceDrop => "source_drop",
            AlertRule::Drift => "drift",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<AlertRule> {
        AlertRule::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A short human title.
    pub fn title(self) -> &'static str {
        match self {
            AlertRule::RunFailed => "run failed",
            AlertRule::RejectedRows => "rows rejected",
            AlertRule::Late => "sync late",
            AlertRule::DeleteGuard => "deletes refused by the delete guard",
            AlertRule::SourceDrop => "source rows dropped",
            AlertRule::Drift => "records drifted in Shopify",
        }
    }
}

impl fmt::Display for AlertRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a rule is currently tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertState {
    /// Not tripped.
    Ok,
    /// Tripped; a firing notification went out.
    Firing,
}

impl AlertState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Ok => "ok",
            AlertState::Firing => "firing",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<AlertState> {
        [AlertState::Ok, AlertState::Firing]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The stored state of one rule of one sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    /// The rule.
    pub rule: AlertRule,
    /// Its state.
    pub state: AlertState,
    /// Since when it has been in that state.
    pub since: DateTime<Utc>,
    /// What tripped it (or what resolved it).
    pub message: String,
}

/// What one evaluation of a rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The rule is tripped, for this reason.
    Firing(String),
    /// The rule is not tripped (or is turned off: a firing alert of a rule turned off resolves).
    Ok,
    /// Nothing can be said this time (the state stays as it is).
    Unknown,
}

/// Which way a rule changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Transition {
    /// Ok to firing.
    Firing,
    /// Firing to ok.
    Resolved,
}

impl Transition {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Firing => "firing",
            Transition::Resolved => "resolved",
        }
    }
}

/// A change of state to tell the channels about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The sync (`namespace/name`).
    pub sync: String,
    /// The rule.
    pub rule: AlertRule,
    /// Firing or resolved.
    pub transition: Transition,
    /// What tripped the rule, or why it resolved.
    pub message: String,
    /// When the rule started firing (for a resolution: when the alert it ends started).
    pub firing_since: DateTime<Utc>,
    /// When the change was noticed.
    pub at: DateTime<Utc>,
}

impl Notification {
    /// A key stable across the firing and the resolution of the same alert (PagerDuty's `dedup_key`).
    pub fn dedup_key(&self) -> String {
        format!("shopsync/{}/{}", self.sync, self.rule.as_str())
    }

    /// One line: `[FIRING] shopsync ns/name: run failed`.
    pub fn title(&self) -> String {
        format!(
            "[{}] shopsync {}: {}",
            self.transition.as_str().to_ascii_uppercase(),
            self.sync,
            self.rule.title()
        )
    }

    /// The title and the message.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.title(), self.message)
    }
}

/// What the rules found about a finished run. The late rule is judged by [`late_observation`]. A run that failed
/// only because the delete guard refused its deletes fires the delete-guard rule (always on: refused deletes need
/// a person), not the failed-run rule as well.
pub fn observe_run(policy: &AlertPolicy, report: &RunReport) -> Vec<(AlertRule, Observation)> {
    let guard = match &report.refused_deletes {
        Some(reason) => Observation::Firing(format!(
            "the run started at {} deleted nothing: {reason}",
            report.started_at.to_rfc3339()
        )),
        None if report.status == RunStatus::Failed => Observation::Unknown,
        None => Observation::Ok,
    };
    let failed = report.status == RunStatus::Failed && !report.guard_tripped();
    let run_failed = if policy.on_failure && failed {
        Observation::Firing(format!(
            "the run started at {} failed: {}",
            report.started_at.to_rfc3339(),
            report.error.as_deref().unwrap_or("no reason given")
        ))
    } else {
        Observation::Ok
    };
    let rejected = match policy.rejected_rows {
        None => Observation::Ok,
        // A failed run's counters are partial: they prove nothing either way about rejections.
        Some(_) if failed => Observation::Unknown,
        Some(t) => rejected_observation(t, report.stats.rejected, report.stats.rows_queried),
    };
    vec![
        (AlertRule::RunFailed, run_failed),
        (AlertRule::RejectedRows, rejected),
        (AlertRule::DeleteGuard, guard),
        (AlertRule::Drift, drift_observation(report)),
    ]
}

/// The drift rule for a run: firing while its drift check found records the policy left drifted (drift under
/// `report`, conflicts and records deleted in Shopify under any policy); nothing to say for a run without a
/// check (drift checks have a schedule of their own).
pub fn drift_observation(report: &RunReport) -> Observation {
    let Some(d) = &report.drift else {
        return Observation::Unknown;
    };
    if d.skipped.is_some() {
        return Observation::Unknown;
    }
    let c = &d.counts;
    let resolved = d.overwritten + d.adopted;
    let unresolved = (c.drift + c.conflict + c.missing).saturating_sub(resolved);
    if unresolved == 0 {
        Observation::Ok
    } else {
        Observation::Firing(format!(
            "{unresolved} record(s) differ in Shopify from what the sync last applied: {}",
            d.line()
        ))
    }
}

/// The source-drop rule for a run that read `rows` rows, against the rows read by `recent` runs (newest first,
/// failed runs left out by the caller). The baseline is the median of up to [`SOURCE_DROP_RUNS`] of them, so one
/// odd run neither trips nor hides a drop. A failed run says nothing (its count is partial).
pub fn source_drop_observation(
    percent: Option<f64>,
    failed: bool,
    rows: u64,
    recent: &[u64],
) -> Observation {
    let Some(threshold) = percent else {
        return Observation::Ok;
    };
    if failed {
        return Observation::Unknown;
    }
    let mut window: Vec<u64> = recent.iter().copied().take(SOURCE_DROP_RUNS).collect();
    if window.len() < SOURCE_DROP_MIN_RUNS {
        return Observation::Ok;
    }
    window.sort_unstable();
    let baseline = window[window.len() / 2];
    if baseline == 0 || rows >= baseline {
        return Observation::Ok;
    }
    let drop = (baseline - rows) as f64 * 100.0 / baseline as f64;
    if drop >= threshold {
        Observation::Firing(format!(
            "the query returned {rows} rows, {drop:.0}% fewer than the {baseline} of recent runs (median of the \
             last {}); the threshold is {threshold}%: check the model before trusting its removals",
            window.len()
        ))
    } else {
        Observation::Ok
    }
}

/// The rejected-rows rule for `rejected` rows out of `queried`.
pub fn rejected_observation(t: RejectedRows, rejected: u64, queried: u64) -> Observation {
    let percent = if queried == 0 {
        if rejected == 0 { 0.0 } else { 100.0 }
    } else {
        rejected as f64 * 100.0 / queried as f64
    };
    let by_count = t.count.is_some_and(|c| rejected > c);
    let by_percent = t.percent.is_some_and(|p| percent > p);
    if by_count || by_percent {
        Observation::Firing(format!(
            "{rejected} of {queried} rows rejected ({percent:.1}%), above the threshold of {}",
            threshold_text(t)
        ))
    } else {
        Observation::Ok
    }
}

fn threshold_text(t: RejectedRows) -> String {
    match (t.count, t.percent) {
        (Some(c), Some(p)) => format!("{c} rows or {p}%"),
        (Some(c), None) => format!("{c} rows"),
        (None, Some(p)) => format!("{p}%"),
        (None, None) => "nothing".into(),
    }
}

/// When a sync on `schedule` becomes late: `late_after` past the first run due after the last successful run
/// started (or after `since`, when none ever succeeded). `None` when it cannot be late (manual syncs).
pub fn late_deadline(
    schedule: &Schedule,
    late_after: Duration,
    last_success: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let due = schedule.next_after(last_success.unwrap_or(since))?;
    let grace = chrono::Duration::from_std(late_after).ok()?;
    due.checked_add_signed(grace)
}

/// The late rule at `now`.
pub fn late_observation(
    policy: &AlertPolicy,
    schedule: &Schedule,
    last_success: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Observation {
    let Some(late_after) = policy.late_after else {
        return Observation::Ok;
    };
    match late_deadline(schedule, late_after, last_success, since) {
        Some(deadline) if now >= deadline => {
            let last = last_success.map_or_else(
                || "no run has succeeded yet".to_string(),
                |t| format!("the last successful run started at {}", t.to_rfc3339()),
            );
            Observation::Firing(format!(
                "{last}; a run was due and none succeeded within {} after",
                format_duration(late_after)
            ))
        }
        _ => Observation::Ok,
    }
}

/// The result of one step of the state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Records that changed and must be stored.
    pub changed: Vec<AlertRecord>,
    /// What to tell the channels, one per change of state.
    pub notifications: Vec<Notification>,
    /// Every rule firing after the step.
    pub firing: Vec<AlertRecord>,
}

/// Applies `observations` to the stored `previous` states of `sync`'s rules at `now`. Only Ok→Firing and
/// Firing→Ok produce notifications; a rule with no stored state is Ok.
pub fn step(
    sync: &str,
    previous: &[AlertRecord],
    observations: &[(AlertRule, Observation)],
    now: DateTime<Utc>,
) -> Step {
    let mut out = Step::default();
    let mut current: Vec<AlertRecord> = previous.to_vec();
    for (rule, observation) in observations {
        let before = current.iter().position(|r| r.rule == *rule);
        let was_firing = before.is_some_and(|i| current[i].state == AlertState::Firing);
        let next = match (was_firing, observation) {
            (false, Observation::Firing(message)) => {
                out.notifications.push(Notification {
                    sync: sync.to_string(),
                    rule: *rule,
                    transition: Transition::Firing,
                    message: message.clone(),
                    firing_since: now,
                    at: now,
                });
                AlertRecord {
                    rule: *rule,
                    state: AlertState::Firing,
                    since: now,
                    message: message.clone(),
                }
            }
            (true, Observation::Ok) => {
                let since = before.map_or(now, |i| current[i].since);
                let message = format!(
                    "resolved after {}",
                    format_duration((now - since).to_std().unwrap_or_default())
                );
                out.notifications.push(Notification {
                    sync: sync.to_string(),
                    rule: *rule,
                    transition: Transition::Resolved,
                    message: message.clone(),
                    firing_since: since,
                    at: now,
                });
                AlertRecord {
                    rule: *rule,
                    state: AlertState::Ok,
                    since: now,
                    message,
                }
            }
            // Steady states (and unknowns) change nothing and tell no one.
            _ => continue,
        };
        match before {
            Some(i) => current[i] = next.clone(),
            None => current.push(next.clone()),
        }
        out.changed.push(next);
    }
    out.firing = current
        .into_iter()
        .filter(|r| r.state == AlertState::Firing)
        .collect();
    out.firing.sort_by_key(|r| r.rule);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RunStats;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    fn report(status: RunStatus, queried: u64, rejected: u64) -> RunReport {
        let mut r = RunReport::failed("ns/s", t(0), t(0), "warehouse unreachable".into());
        r.status = status;
        r.stats = RunStats {
            rows_queried: queried,
            rejected,
            ..RunStats::default()
        };
        if status != RunStatus::Failed {
            r.error = None;
        }
        r
    }

    fn policy() -> AlertPolicy {
        AlertPolicy {
            on_failure: true,
            rejected_rows: Some(RejectedRows {
                count: Some(10),
                percent: Some(5.0),
            }),
            late_after: Some(Duration::from_secs(1800)),
            source_drop_percent: Some(DEFAULT_SOURCE_DROP_PERCENT),
        }
    }

    #[test]
    fn merge_takes_each_field_from_the_sync_first() {
        let dest = AlertSettings {
            on_failure: Some(false),
            rejected_rows: Some(RejectedRows {
                count: Some(1),
                percent: None,
            }),
            late_after: Some(Duration::from_secs(60)),
            channels: Some(vec!["slack"]),
        };
        let sync = AlertSettings {
            on_failure: None,
            rejected_rows: None,
            late_after: Some(Duration::from_secs(120)),
            channels: None,
        };
        let m = AlertSettings::merge(Some(&dest), Some(&sync)).unwrap();
        assert_eq!(m.on_failure, Some(false));
        assert_eq!(m.rejected_rows, dest.rejected_rows);
        assert_eq!(m.late_after, Some(Duration::from_secs(120)));
        assert_eq!(m.channels(), &["slack"]);
        let own = AlertSettings {
            channels: Some(vec!["pager"]),
            ..AlertSettings::default()
        };
        let m = AlertSettings::merge(Some(&dest), Some(&own)).unwrap();
        assert_eq!(m.channels(), &["pager"]);
        assert!(AlertSettings::<&str>::merge(None, None).is_none());
        // Failed runs alert unless someone turns it off.
        assert!(AlertSettings::<&str>::default().policy().on_failure);
        assert!(!dest.policy().on_failure);
    }

    #[test]
    fn failed_runs_fire_and_successful_runs_resolve() {
        let obs = observe_run(&policy(), &report(RunStatus::Failed, 0, 0));
        assert!(
            matches!(&obs[0], (AlertRule::RunFailed, Observation::Firing(m)) if m.contains("warehouse unreachable"))
        );
        // Counters of a failed run say nothing about rejections.
        assert_eq!(obs[1], (AlertRule::RejectedRows, Observation::Unknown));
        let obs = observe_run(&policy(), &report(RunStatus::Succeeded, 100, 0));
        assert_eq!(obs[0], (AlertRule::RunFailed, Observation::Ok));
        assert_eq!(obs[1], (AlertRule::RejectedRows, Observation::Ok));
        let off = AlertPolicy {
            on_failure: false,
            ..policy()
        };
        assert_eq!(
            observe_run(&off, &report(RunStatus::Failed, 0, 0))[0].1,
            Observation::Ok
        );
    }

    #[test]
    fn rejected_rows_trip_on_count_or_percent() {
        let count = RejectedRows {
            count: Some(10),
            percent: None,
        };
        assert_eq!(rejected_observation(count, 10, 20), Observation::Ok);
        assert!(matches!(
            rejected_observation(count, 11, 1_000_000),
            Observation::Firing(_)
        ));
        let pct = RejectedRows {
            count: None,
            percent: Some(5.0),
        };
        assert_eq!(rejected_observation(pct, 5, 100), Observation::Ok);
        assert!(matches!(
            rejected_observation(pct, 6, 100),
            Observation::Firing(m) if m.contains("6 of 100") && m.contains("6.0%")
        ));
        assert!(matches!(
            rejected_observation(pct, 1, 0),
            Observation::Firing(_)
        ));
        assert_eq!(rejected_observation(pct, 0, 0), Observation::Ok);
        let zero = RejectedRows {
            count: Some(0),
            percent: None,
        };
        assert!(matches!(
            rejected_observation(zero, 1, 100),
            Observation::Firing(_)
        ));
        assert!(matches!(
            observe_run(&policy(), &report(RunStatus::PartiallySucceeded, 100, 6))[1].1,
            Observation::Firing(_)
        ));
    }

    #[test]
    fn late_is_measured_from_the_run_due_after_the_last_success() {
        let every_hour = Schedule::Interval(Duration::from_secs(3600));
        let p = policy();
        // Last success at 0: next due at 60, late from 90.
        assert_eq!(
            late_deadline(&every_hour, Duration::from_secs(1800), Some(t(0)), t(-500)),
            Some(t(90))
        );
        assert_eq!(
            late_observation(&p, &every_hour, Some(t(0)), t(-500), t(89)),
            Observation::Ok
        );
        assert!(matches!(
            late_observation(&p, &every_hour, Some(t(0)), t(-500), t(90)),
            Observation::Firing(m) if m.contains("30m")
        ));
        // Never succeeded: measured from `since`.
        assert!(matches!(
            late_observation(&p, &every_hour, None, t(0), t(95)),
            Observation::Firing(m) if m.contains("no run has succeeded")
        ));
        assert_eq!(
            late_observation(&p, &Schedule::Manual, None, t(0), t(100_000)),
            Observation::Ok
        );
        let no_late = AlertPolicy {
            late_after: None,
            ..p
        };
        assert_eq!(
            late_observation(&no_late, &every_hour, None, t(0), t(100_000)),
            Observation::Ok
        );
        let cron = Schedule::Cron("0 * * * *".into());
        assert_eq!(
            late_deadline(&cron, Duration::from_secs(600), Some(t(5)), t(0)),
            Some(t(70))
        );
    }

    #[test]
    fn one_notification_per_change_of_state() {
        let fire = [(AlertRule::RunFailed, Observation::Firing("boom".into()))];
        let ok = [(AlertRule::RunFailed, Observation::Ok)];
        let s1 = step("ns/s", &[], &fire, t(0));
        assert_eq!(s1.notifications.len(), 1);
        assert_eq!(s1.notifications[0].transition, Transition::Firing);
        assert_eq!(s1.notifications[0].dedup_key(), "shopsync/ns/s/run_failed");
        assert_eq!(s1.firing.len(), 1);
        let s2 = step("ns/s", &s1.changed, &fire, t(10));
        assert!(s2.notifications.is_empty() && s2.changed.is_empty());
        assert_eq!(s2.firing[0].since, t(0), "a steady alert keeps its start");
        let unknown = [(AlertRule::RunFailed, Observation::Unknown)];
        assert!(
            step("ns/s", &s1.changed, &unknown, t(15))
                .changed
                .is_empty()
        );
        let s3 = step("ns/s", &s1.changed, &ok, t(20));
        assert_eq!(s3.notifications.len(), 1);
        let n = &s3.notifications[0];
        assert_eq!(n.transition, Transition::Resolved);
        assert_eq!(n.firing_since, t(0));
        assert!(n.message.contains("20m"), "{}", n.message);
        assert!(s3.firing.is_empty());
        let s4 = step("ns/s", &s3.changed, &ok, t(30));
        assert!(s4.notifications.is_empty() && s4.changed.is_empty());
        // Nothing stored and nothing wrong: nothing to store either.
        assert!(step("ns/s", &[], &ok, t(0)).changed.is_empty());
    }

    #[test]
    fn title_names_the_transition_sync_and_rule() {
        let s = step(
            "shop/customers",
            &[],
            &[(AlertRule::Late, Observation::Firing("x".into()))],
            t(0),
        );
        assert_eq!(
            s.notifications[0].title(),
            "[FIRING] shopsync shop/customers: sync late"
        );
    }

    fn observation() -> impl Strategy<Value = Observation> {
        prop_oneof![
            Just(Observation::Ok),
            Just(Observation::Unknown),
            "[a-z]{1,5}".prop_map(Observation::Firing),
        ]
    }

    proptest! {
        /// Whatever the sequence of observations, and whether the state is kept in memory or reloaded from
        /// storage between steps (a restart), notifications alternate firing/resolved starting with firing,
        /// and there is exactly one per change of the observed condition.
        #[test]
        fn notifications_follow_changes_of_state(seq in proptest::collection::vec((0usize..3, observation()), 0..60)) {
            let mut stored: Vec<AlertRecord> = Vec::new();
            let mut sent: Vec<Notification> = Vec::new();
            let mut expected = 0usize;
            let mut firing = [false; 3];
            for (i, (r, o)) in seq.iter().enumerate() {
                let rule = AlertRule::ALL[*r];
                match o {
                    Observation::Firing(_) if !firing[*r] => { firing[*r] = true; expected += 1; }
                    Observation::Ok if firing[*r] => { firing[*r] = false; expected += 1; }
                    _ => {}
                }
                let s = step("ns/s", &stored, &[(rule, o.clone())], t(i as i64));
                for c in s.changed {
                    stored.retain(|x| x.rule != c.rule);
                    stored.push(c);
                }
                sent.extend(s.notifications);
                prop_assert_eq!(s.firing.len(), firing.iter().filter(|f| **f).count());
            }
            prop_assert_eq!(sent.len(), expected);
            for rule in AlertRule::ALL {
                let kinds: Vec<Transition> = sent.iter().filter(|n| n.rule == rule).map(|n| n.transition).collect();
                for (i, k) in kinds.iter().enumerate() {
                    let want = if i % 2 == 0 { Transition::Firing } else { Transition::Resolved };
                    prop_assert_eq!(*k, want);
                }
            }
        }
    }

    #[test]
    fn a_model_returning_far_fewer_rows_than_its_recent_runs_trips_source_drop() {
        let on = Some(DEFAULT_SOURCE_DROP_PERCENT);
        let recent = [1000, 980, 1020, 5, 1010];
        // Median 1000: 0 rows and 400 rows trip it, 600 rows does not.
        for rows in [0, 400, 500] {
            match source_drop_observation(on, false, rows, &recent) {
                Observation::Firing(m) => {
                    assert!(m.contains(&format!("returned {rows} rows")), "{m}");
                    assert!(m.contains("1000 of recent runs"), "{m}");
                }
                other => panic!("{rows}: {other:?}"),
            }
        }
        assert_eq!(
            source_drop_observation(on, false, 600, &recent),
            Observation::Ok
        );
        assert_eq!(
            source_drop_observation(on, false, 5000, &recent),
            Observation::Ok
        );
        // One odd run in the history does not move the baseline.
        assert_eq!(
            source_drop_observation(on, false, 900, &[1000, 0, 1000]),
            Observation::Ok
        );
        // No baseline yet, an empty model before, a failed run, or the rule turned off: nothing to say.
        assert_eq!(
            source_drop_observation(on, false, 0, &[1000, 1000]),
            Observation::Ok
        );
        assert_eq!(
            source_drop_observation(on, false, 0, &[0, 0, 0]),
            Observation::Ok
        );
        assert_eq!(
            source_drop_observation(on, true, 0, &recent),
            Observation::Unknown
        );
        assert_eq!(
            source_drop_observation(None, false, 0, &recent),
            Observation::Ok
        );
        // Only the last five runs count: an old, larger model does not keep it firing.
        assert_eq!(
            source_drop_observation(on, false, 100, &[100, 100, 100, 100, 100, 9000, 9000, 9000]),
            Observation::Ok
        );
    }
}
