//! The HTTP channels: Slack, PagerDuty, the generic webhook and SMS.
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::DeliveryError;
use crate::core::alerts::{Notification, Transition};

/// Header carrying the webhook's signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Shopsync-Signature";
/// Header carrying the webhook's send time, in Unix seconds (signed with the body).
pub const TIMESTAMP_HEADER: &str = "X-Shopsync-Timestamp";

/// Classifies an answer: 2xx is delivered, 429 and 5xx (and 408) are worth retrying, other codes are not.
async fn check(response: reqwest::Response) -> Result<(), DeliveryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.text().await.unwrap_or_default();
    let mut body: String = body.chars().take(300).collect();
    if body.is_empty() {
        body = "(no body)".into();
    }
    let message = format!("HTTP {}: {body}", status.as_u16());
    Err(match status.as_u16() {
        429 => DeliveryError::RateLimited {
            message,
            retry_after,
        },
        408 | 500..=599 => DeliveryError::Retryable(message),
        _ => DeliveryError::Permanent(message),
    })
}

/// A transport error, without the URL (a Slack webhook URL is a credential).
fn transport(e: reqwest::Error) -> DeliveryError {
    let builder = e.is_builder();
    let message = e.without_url().to_string();
    if builder {
        DeliveryError::Permanent(message)
    } else {
        DeliveryError::Retryable(message)
    }
}

async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> Result<(), DeliveryError> {
    let response = http.post(url).json(body).send().await.map_err(transport)?;
    check(response).await
}

/// The Slack message: the text (for notifications and old clients) and the same in blocks.
pub fn slack_payload(n: &Notification) -> Value {
    let emoji = match n.transition {
        Transition::Firing => ":rotating_light:",
        Transition::Resolved => ":white_check_mark:",
    };
    json!({
        "text": format!("{emoji} {}\n{}", n.title(), n.message),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("{emoji} *{}*", n.title())}},
            {"type": "section", "text": {"type": "plain_text", "text": n.message}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                "sync `{}` · rule `{}` · firing since {}", n.sync, n.rule.as_str(), n.firing_since.to_rfc3339()
            )}]},
        ],
    })
}

/// Posts `n` to a Slack incoming webhook.
pub async fn slack(
    http: &reqwest::Client,
    url: &str,
    n: &Notification,
) -> Result<(), DeliveryError> {
    post_json(http, url, &slack_payload(n)).await
}

/// The PagerDuty Events API v2 event: a trigger while firing, a resolve after, under one dedup key.
pub fn pagerduty_payload(routing_key: &str, severity: &str, n: &Notification) -> Value {
    match n.transition {
        Transition::Firing => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": n.dedup_key(),
            "payload": {
                "summary": truncate(&format!("{}: {}", n.title(), n.message), 1024),
                "source": format!("shopsync/{}", n.sync),
                "severity": severity,
                "timestamp": n.firing_since.to_rfc3339(),
                "component": n.sync,
                "group": "shopsync",
                "class": n.rule.as_str(),
                "custom_details": {"sync": n.sync, "rule": n.rule.as_str(), "message": n.message},
            },
        }),
        Transition::Resolved => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": n.dedup_key(),
        }),
    }
}

/// Sends `n` to PagerDuty's Events API v2 at `url`.
pub async fn pagerduty(
    http: &reqwest::Client,
    url: &str,
    routing_key: &str,
    severity: &str,
    n: &Notification,
) -> Result<(), DeliveryError> {
    post_json(http, url, &pagerduty_payload(routing_key, severity, n)).await
}

/// The generic webhook's JSON body.
pub fn webhook_payload(n: &Notification) -> Value {
    json!({
        "version": 1,
        "sync": n.sync,
        "rule": n.rule.as_str(),
        "state": n.transition.as_str(),
        "title": n.title(),
        "message": n.message,
        "firingSince": n.firing_since.to_rfc3339(),
        "at": n.at.to_rfc3339(),
        "dedupKey": n.dedup_key(),
    })
}

/// `sha256=` and the hex HMAC-SHA256, under `key`, of the timestamp, a dot and the body: signing the timestamp
/// too lets a receiver refuse replays of old requests.
pub fn signature(key: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `n` as JSON to `url`, signed with `key` when there is one.
pub async fn webhook(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    n: &Notification,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    let body = serde_json::to_vec(&webhook_payload(n))
        .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
    let timestamp = now.timestamp();
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string());
    if let Some(key) = key {
        request = request.header(SIGNATURE_HEADER, signature(key, timestamp, &body));
    }
    let response = request.body(body).send().await.map_err(transport)?;
    check(response).await
}

/// An SMS body: the title and the message, cut to the length one message may have.
pub fn sms_body(n: &Notification) -> String {
    truncate(&n.text(), 1600)
}

/// Sends `n` as one SMS per recipient through a Twilio-compatible Messages API.
pub async fn sms(
    http: &reqwest::Client,
    api_url: &str,
    account_sid: &str,
    auth_token: &str,
    from: &str,
    to: &[String],
    n: &Notification,
) -> Result<(), DeliveryError> {
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        api_url.trim_end_matches('/'),
        urlencode(account_sid)
    );
    let body = sms_body(n);
    for number in to {
        let response = http
            .post(&url)
            .basic_auth(account_sid, Some(auth_token))
            .form(&[("To", number.as_str()), ("From", from), ("Body", &body)])
            .send()
            .await
            .map_err(transport)?;
        check(response).await?;
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::alerts::AlertRule;

    fn n(transition: Transition) -> Notification {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        Notification {
            sync: "shop/customers".into(),
            rule: AlertRule::RunFailed,
            transition,
            message: "the warehouse refused the login".into(),
            firing_since: at,
            at,
        }
    }

    #[test]
    fn pagerduty_triggers_then_resolves_under_one_key() {
        let t = pagerduty_payload("rk", "critical", &n(Transition::Firing));
        let r = pagerduty_payload("rk", "critical", &n(Transition::Resolved));
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(t["dedup_key"], r["dedup_key"]);
        assert_eq!(t["payload"]["severity"], "critical");
        assert!(r.get("payload").is_none());
    }

    #[test]
    fn signature_covers_timestamp_and_body() {
        let a = signature("k", 1, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature("k", 2, b"{}"));
        assert_ne!(a, signature("k", 1, b"{ }"));
        assert_ne!(a, signature("other", 1, b"{}"));
    }

    #[test]
    fn long_sms_bodies_are_cut() {
        let mut long = n(Transition::Firing);
        long.message = "x".repeat(5000);
        assert_eq!(sms_body(&long).chars().count(), 1600);
        assert!(sms_body(&n(Transition::Firing)).starts_with("[FIRING] shopsync shop/customers"));
    }
}
