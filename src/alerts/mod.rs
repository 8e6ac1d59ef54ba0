//! Alert delivery: the channels a notification goes to (Slack, PagerDuty, a generic webhook, email, SMS), with
//! bounded retries, and the glue that runs the core's rules after each run and on the clock.
//!
//! Nothing here can fail a sync: every problem (a channel that keeps refusing, the state store unreachable) is
//! returned in an [`AlertOutcome`] and logged, for the caller to turn into metrics, Events or output.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;

use crate::api::{AlertChannel, AlertSpec, SecretKeyRef, alert_settings};
use crate::core::alerts::{
    AlertPolicy, AlertRecord, AlertSettings, Notification, Observation, late_deadline,
    late_observation, observe_run, step,
};
use crate::core::config::Schedule;
use crate::core::redact::Redactor;
use crate::core::report::RunReport;
use crate::core::state::{RunStatus, StateStore};

mod http;
mod smtp;

pub use http::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
pub use smtp::SmtpSettings;

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Twilio's API, the default for SMS channels.
pub const TWILIO_API_URL: &str = "https://api.twilio.com";

/// A channel with its credentials resolved from Secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Channel {
    /// A Slack incoming webhook (the URL is the credential).
    Slack {
        /// The webhook URL.
        webhook_url: String,
    },
    /// A PagerDuty Events API v2 integration.
    PagerDuty {
        /// The integration's routing key.
        routing_key: String,
        /// critical, error, warning or info.
        severity: String,
    },
    /// A generic JSON webhook.
    Webhook {
        /// Where to POST.
        url: String,
        /// The HMAC-SHA256 key signing each request, when set.
        hmac_key: Option<String>,
    },
    /// Email through SMTP.
    Email(SmtpSettings),
    /// SMS through a Twilio-compatible Messages API.
    Sms {
        /// The API's base URL.
        api_url: String,
        /// The account SID (also the basic-auth user).
        account_sid: String,
        /// The account's auth token.
        auth_token: String,
        /// The sending number.
        from: String,
        /// The receiving numbers.
        to: Vec<String>,
    },
}

impl std::fmt::Debug for Channel {
    // Credentials stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel({})", self.describe())
    }
}

impl Channel {
    /// The kind, for metrics and logs: slack, pagerDuty, webhook, email or sms.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Slack { .. } => "slack",
            Channel::PagerDuty { .. } => "pagerDuty",
            Channel::Webhook { .. } => "webhook",
            Channel::Email(_) => "email",
            Channel::Sms { .. } => "sms",
        }
    }

    /// The kind and a target that carries no credential (the webhook's host, the recipients).
    pub fn describe(&self) -> String {
        let host = |u: &str| {
            url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "?".into())
        };
        match self {
            Channel::Slack { .. } => "slack".into(),
            Channel::PagerDuty { .. } => "pagerDuty".into(),
            Channel::Webhook { url, .. } => format!("webhook {}", host(url)),
            Channel::Email(s) => format!("email to {}", s.to.join(", ")),
            Channel::Sms { to, .. } => format!("sms to {}", to.join(", ")),
        }
    }
}

/// The Secret keys `channels` need, each once.
pub fn secret_refs(channels: &[AlertChannel]) -> Vec<SecretKeyRef> {
    let mut out: Vec<SecretKeyRef> = Vec::new();
    let mut add = |r: SecretKeyRef| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    for c in channels {
        if let Some(s) = &c.slack {
            add(s.webhook_url_secret_ref.clone());
        }
        if let Some(p) = &c.pager_duty {
            add(p.routing_key_secret_ref.clone());
        }
        if let Some(w) = c.webhook.as_ref().and_then(|w| w.hmac_secret_ref.clone()) {
            add(w);
        }
        if let Some(e) = c
            .email
            .as_ref()
            .and_then(|e| e.credentials_secret_ref.as_ref())
        {
            for key in ["username", "password"] {
                add(SecretKeyRef {
                    name: e.name.clone(),
                    key: key.into(),
                });
            }
        }
        if let Some(s) = &c.sms {
            add(s.auth_token_secret_ref.clone());
        }
    }
    out
}

/// Turns channel specs into channels, taking Secret values from `secrets` (keyed by name and key). Fails with
/// the first missing value, named by Secret and key.
pub fn resolve_channels(
    channels: &[AlertChannel],
    secrets: &BTreeMap<(String, String), String>,
) -> Result<Vec<Channel>, String> {
    let get = |r: &SecretKeyRef| {
        secrets
            .get(&(r.name.clone(), r.key.clone()))
            .cloned()
            .ok_or_else(|| format!("alerts: Secret {} key {:?} is not available", r.name, r.key))
    };
    let mut out = Vec::new();
    for (i, c) in channels.iter().enumerate() {
        let channel = if let Some(s) = &c.slack {
            Channel::Slack {
                webhook_url: get(&s.webhook_url_secret_ref)?,
            }
        } else if let Some(p) = &c.pager_duty {
            Channel::PagerDuty {
                routing_key: get(&p.routing_key_secret_ref)?,
                severity: p.severity.clone().unwrap_or_else(|| "error".into()),
            }
        } else if let Some(w) = &c.webhook {
            Channel::Webhook {
                url: w.url.clone(),
                hmac_key: w.hmac_secret_ref.as_ref().map(get).transpose()?,
            }
        } else if let Some(e) = &c.email {
            let login = match &e.credentials_secret_ref {
                None => None,
                Some(r) => Some((
                    get(&SecretKeyRef {
                        name: r.name.clone(),
                        key: "username".into(),
                    })?,
                    get(&SecretKeyRef {
                        name: r.name.clone(),
                        key: "password".into(),
                    })?,
                )),
            };
            Channel::Email(SmtpSettings {
                host: e.smtp_host.clone(),
                port: e
                    .smtp_port
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(587),
                login,
                from: e.from.clone(),
                to: e.to.clone(),
            })
        } else if let Some(s) = &c.sms {
            Channel::Sms {
                api_url: s.api_url.clone().unwrap_or_else(|| TWILIO_API_URL.into()),
                account_sid: s.account_sid.clone(),
                auth_token: get(&s.auth_token_secret_ref)?,
                from: s.from.clone(),
                to: s.to.clone(),
            }
        } else {
            return Err(format!(
                "alerts.channels[{i}] sets none of slack, pagerDuty, webhook, email or sms"
            ));
        };
        out.push(channel);
    }
    Ok(out)
}

/// The alert settings of a sync: its own over its destination's, field by field, with the channel specs
/// (Secrets not yet resolved). `None` when neither sets `alerts`.
pub fn merged_settings(
    destination: Option<&AlertSpec>,
    sync: Option<&AlertSpec>,
) -> Result<Option<AlertSettings<AlertChannel>>, String> {
    let d = destination
        .map(|s| alert_settings(s, "ShopifyDestination spec.alerts"))
        .transpose()
        .map_err(|e| e.to_string())?;
    let s = sync
        .map(|s| alert_settings(s, "spec.alerts"))
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(AlertSettings::merge(d.as_ref(), s.as_ref()))
}

/// Everything the alerting of one sync needs.
#[derive(Debug, Clone)]
pub struct SyncAlerts {
    /// The sync (`namespace/name`), as the state store knows it.
    pub sync: String,
    /// The rules in force.
    pub policy: AlertPolicy,
    /// Where notifications go.
    pub channels: Vec<Channel>,
    /// The sync's schedule (for the late rule).
    pub schedule: Schedule,
    /// Where lateness is measured from when no run ever succeeded (the sync's creation, or the process start).
    pub since: DateTime<Utc>,
}

/// A channel's refusal, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Trying again may help (a timeout, a 5xx).
    #[error("{0}")]
    Retryable(String),
    /// The receiver asked to slow down, possibly saying for how long.
    #[error("rate limited: {message}")]
    RateLimited {
        /// What the receiver said.
        message: String,
        /// How long it asked to wait.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help (a bad key, a malformed address).
    #[error("{0}")]
    Permanent(String),
}

/// How a channel is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRetry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failure; doubled after each later one.
    pub first_backoff: Duration,
    /// The longest wait (also caps a receiver's Retry-After).
    pub max_backoff: Duration,
    /// The time limit of one attempt.
    pub timeout: Duration,
}

impl Default for DeliveryRetry {
    fn default() -> Self {
        DeliveryRetry {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            timeout: Duration::from_secs(15),
        }
    }
}

/// What happened to one notification on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The channel's kind.
    pub channel: &'static str,
    /// The channel, without credentials.
    pub target: String,
    /// The notification's dedup key.
    pub alert: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed, when delivery failed (redacted).
    pub error: Option<String>,
}

/// What an alert evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertOutcome {
    /// The changes of state notified.
    pub notifications: Vec<Notification>,
    /// One per notification and channel.
    pub deliveries: Vec<Delivery>,
    /// The rules firing now.
    pub firing: Vec<AlertRecord>,
    /// When the sync becomes late if no run succeeds before (to wake up then).
    pub late_at: Option<DateTime<Utc>>,
    /// A problem with the state store; alert state may be stale (redacted).
    pub error: Option<String>,
}

impl AlertOutcome {
    /// The deliveries that failed.
    pub fn failed_deliveries(&self) -> impl Iterator<Item = &Delivery> {
        self.deliveries.iter().filter(|d| d.error.is_some())
    }
}

/// Why a notifier could not be built.
#[derive(Debug, thiserror::Error)]
#[error("alert notifier: {0}")]
pub struct NotifierError(String);

/// Delivers notifications to channels.
#[derive(Debug, Clone)]
pub struct Notifier {
    http: reqwest::Client,
    retry: DeliveryRetry,
    pagerduty_url: String,
    redactor: Redactor,
}

impl Notifier {
    /// A notifier with the default retries, posting PagerDuty events to `SHOPSYNC_PAGERDUTY_URL` when set (a
    /// proxy, or a test receiver), else to PagerDuty.
    pub fn new() -> Result<Notifier, NotifierError> {
        let retry = DeliveryRetry::default();
        let http = crate::tls::http_client()
            .map_err(|e| NotifierError(e.to_string()))?
            .user_agent(concat!("shopsync/", env!("CARGO_PKG_VERSION")))
            .timeout(retry.timeout)
            .build()
            .map_err(|e| NotifierError(e.to_string()))?;
        Ok(Notifier {
            http,
            retry,
            pagerduty_url: std::env::var("SHOPSYNC_PAGERDUTY_URL")
                .unwrap_or_else(|_| PAGERDUTY_EVENTS_URL.into()),
            redactor: Redactor::new(),
        })
    }

    /// Retries as `retry` says.
    pub fn with_retry(mut self, retry: DeliveryRetry) -> Notifier {
        self.retry = retry;
        self
    }

    /// Redacts delivery and state errors through `redactor` (the process's, which knows its Secret values)
    /// instead of one that knows only the patterns.
    pub fn with_redactor(mut self, redactor: Redactor) -> Notifier {
        self.redactor = redactor;
        self
    }

    /// Posts PagerDuty events to `url` instead.
    pub fn with_pagerduty_url(mut self, url: impl Into<String>) -> Notifier {
        self.pagerduty_url = url.into();
        self
    }

    /// Sends `notification` to every channel at once, each retried on its own; never fails.
    pub async fn deliver(
        &self,
        channels: &[Channel],
        notification: &Notification,
    ) -> Vec<Delivery> {
        join_all(channels.iter().map(|c| self.deliver_one(c, notification))).await
    }

    async fn deliver_one(&self, channel: &Channel, n: &Notification) -> Delivery {
        let mut attempts = 0;
        let mut backoff = self.retry.first_backoff;
        let error = loop {
            attempts += 1;
            let result = tokio::time::timeout(self.retry.timeout, self.send(channel, n))
                .await
                .unwrap_or_else(|_| {
                    Err(DeliveryError::Retryable(format!(
                        "no answer within {}s",
                        self.retry.timeout.as_secs()
                    )))
                });
            let wait = match result {
                Ok(()) => break None,
                Err(DeliveryError::Permanent(m)) => break Some(m),
                Err(e) if attempts >= self.retry.attempts.max(1) => break Some(e.to_string()),
                Err(DeliveryError::RateLimited {
                    retry_after: Some(d),
                    ..
                }) => d.min(self.retry.max_backoff),
                Err(_) => backoff,
            };
            tracing::debug!(
                channel = channel.kind(),
                attempts,
                "alert delivery failed; retrying"
            );
            tokio::time::sleep(wait).await;
            backoff = backoff.saturating_mul(2).min(self.retry.max_backoff);
        };
        let error = error.map(|e| self.redactor.redact_owned(e));
        if let Some(e) = &error {
            tracing::warn!(
                channel = channel.kind(),
                target = %channel.describe(),
                alert = %n.dedup_key(),
                attempts,
                error = %e,
                "alert delivery failed"
            );
        }
        Delivery {
            channel: channel.kind(),
            target: channel.describe(),
            alert: n.dedup_key(),
            attempts,
            error,
        }
    }

    async fn send(&self, channel: &Channel, n: &Notification) -> Result<(), DeliveryError> {
        match channel {
            Channel::Slack { webhook_url } => http::slack(&self.http, webhook_url, n).await,
            Channel::PagerDuty {
                routing_key,
                severity,
            } => http::pagerduty(&self.http, &self.pagerduty_url, routing_key, severity, n).await,
            Channel::Webhook { url, hmac_key } => {
                http::webhook(&self.http, url, hmac_key.as_deref(), n, Utc::now()).await
            }
            Channel::Email(settings) => smtp::send(settings, n, self.retry.timeout).await,
            Channel::Sms {
                api_url,
                account_sid,
                auth_token,
                from,
                to,
            } => http::sms(&self.http, api_url, account_sid, auth_token, from, to, n).await,
        }
    }

    /// Runs the rules on a finished run (including the late rule, which a successful run resolves), notifies
    /// the changes of state and stores the new states.
    pub async fn after_run(
        &self,
        store: &dyn StateStore,
        alerts: &SyncAlerts,
        report: &RunReport,
    ) -> AlertOutcome {
        let mut error = None;
        let last_success = if report.status == RunStatus::Failed {
            store.last_success(&alerts.sync).await.unwrap_or_else(|e| {
                error = Some(e.to_string());
                None
            })
        } else {
            Some(report.started_at)
        };
        let mut observations = observe_run(&alerts.policy, report);
        if alerts.policy.source_drop_percent.is_some() {
            observations.push((
                crate::core::alerts::AlertRule::SourceDrop,
                self.source_drop(store, alerts, report, &mut error).await,
            ));
        }
        observations.push((
            crate::core::alerts::AlertRule::Late,
            late_observation(
                &alerts.policy,
                &alerts.schedule,
                last_success,
                alerts.since,
                report.finished_at,
            ),
        ));
        let mut outcome = self
            .advance(store, alerts, &observations, report.finished_at)
            .await;
        outcome.late_at = late_at(alerts, last_success);
        outcome.error = outcome.error.or(error);
        outcome
    }

    /// The source-drop rule for `report`, against the runs of the history that started before it.
    async fn source_drop(
        &self,
        store: &dyn StateStore,
        alerts: &SyncAlerts,
        report: &RunReport,
        error: &mut Option<String>,
    ) -> Observation {
        let limit = crate::core::alerts::SOURCE_DROP_RUNS as u32 + 2;
        let runs = match store.runs(&alerts.sync, limit).await {
            Ok(runs) => runs,
            Err(e) => {
                error.get_or_insert(e.to_string());
                return Observation::Unknown;
            }
        };
        // The history already holds this run; a failed run's count is partial.
        let before = report.started_at - chrono::Duration::milliseconds(1);
        let recent: Vec<u64> = runs
            .iter()
            .filter(|r| r.started_at < before && r.status != RunStatus::Failed)
            .map(|r| r.stats.rows_queried)
            .collect();
        crate::core::alerts::source_drop_observation(
            alerts.policy.source_drop_percent,
            report.status == RunStatus::Failed,
            report.stats.rows_queried,
            &recent,
        )
    }

    /// Runs the late rule at `now` (between runs: on a requeue, or a timer).
    pub async fn check_late(
        &self,
        store: &dyn StateStore,
        alerts: &SyncAlerts,
        now: DateTime<Utc>,
    ) -> AlertOutcome {
        if alerts.policy.late_after.is_none() {
            // Still resolve a late alert left firing by settings that turned the rule off since.
            let observations = [(crate::core::alerts::AlertRule::Late, Observation::Ok)];
            return self.advance(store, alerts, &observations, now).await;
        }
        let last_success = match store.last_success(&alerts.sync).await {
            Ok(t) => t,
            Err(e) => {
                return AlertOutcome {
                    error: Some(self.redactor.redact_owned(e.to_string())),
                    ..AlertOutcome::default()
                };
            }
        };
        let observation = late_observation(
            &alerts.policy,
            &alerts.schedule,
            last_success,
            alerts.since,
            now,
        );
        let mut outcome = self
            .advance(
                store,
                alerts,
                &[(crate::core::alerts::AlertRule::Late, observation)],
                now,
            )
            .await;
        outcome.late_at = late_at(alerts, last_success);
        outcome
    }

    /// One step of the state machine: load, step, deliver, store. Delivery comes before storing so that a crash
    /// in between repeats a notification rather than losing it.
    async fn advance(
        &self,
        store: &dyn StateStore,
        alerts: &SyncAlerts,
        observations: &[(crate::core::alerts::AlertRule, Observation)],
        now: DateTime<Utc>,
    ) -> AlertOutcome {
        let previous = match retry_once(|| store.alert_states(&alerts.sync)).await {
            Ok(p) => p,
            Err(e) => {
                let error = self.redactor.redact_owned(e.to_string());
                tracing::warn!(sync = %alerts.sync, %error, "alerts: cannot read alert state; not evaluating");
                return AlertOutcome {
                    error: Some(error),
                    ..AlertOutcome::default()
                };
            }
        };
        let s = step(&alerts.sync, &previous, observations, now);
        let mut deliveries = Vec::new();
        for n in &s.notifications {
            tracing::info!(sync = %n.sync, rule = %n.rule, transition = n.transition.as_str(), "alert");
            deliveries.extend(self.deliver(&alerts.channels, n).await);
        }
        let mut error = None;
        if !s.changed.is_empty()
            && let Err(e) = retry_once(|| store.save_alert_states(&alerts.sync, &s.changed)).await
        {
            let message = self.redactor.redact_owned(e.to_string());
            tracing::warn!(sync = %alerts.sync, error = %message, "alerts: cannot store alert state");
            error = Some(message);
        }
        AlertOutcome {
            notifications: s.notifications,
            deliveries,
            firing: s.firing,
            late_at: None,
            error,
        }
    }
}

/// Runs `op`, and once more after a short pause when it failed in a way a retry may fix (a busy database, a
/// connection reset): a lost alert state costs a missed or repeated notification.
async fn retry_once<T, F, Fut>(op: F) -> crate::core::state::StateResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::core::state::StateResult<T>>,
{
    match op().await {
        Err(e) if e.class() == crate::core::source::FailureClass::Retryable => {
            tokio::time::sleep(Duration::from_millis(250)).await;
            op().await
        }
        other => other,
    }
}

fn late_at(alerts: &SyncAlerts, last_success: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let after = alerts.policy.late_after?;
    late_deadline(&alerts.schedule, after, last_success, alerts.since)
}

/// Keeps the last `keep` runs of `sync` (see [`StateStore::prune_runs`]); a failure is logged, never fatal.
pub async fn prune_history(store: &dyn StateStore, sync: &str, keep: u32) {
    if let Err(e) = store.prune_runs(sync, keep.max(1)).await {
        tracing::warn!(%sync, error = %e, "cannot prune the run history");
    }
}
