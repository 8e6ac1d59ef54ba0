//! Types both kinds share: references to Secrets and objects, and alert settings.
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A key of a Secret in the same namespace as the resource that refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A reference to another resource of this API in the same namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalRef {
    /// The resource's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// When to alert, and whom. On a ShopifySync it replaces the destination's defaults field by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("!has(self.lateAfter) || self.lateAfter.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')").message("alerts.lateAfter must be a duration such as 30m or 2h"))]
pub struct AlertSpec {
    /// Alert when a run fails (the query, the destination or the whole run). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<bool>,
    /// Alert when a run rejects more rows than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_rows: Option<RejectedRowsThreshold>,
    /// Alert when no run has succeeded for this long past its schedule, e.g. `2h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_after: Option<String>,
    /// Where alerts go.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub channels: Vec<AlertChannel>,
}

/// A threshold of rejected rows per run: by count, by percentage of the rows the query returned, or both
/// (either trips it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("has(self.count) || has(self.percent)").message("alerts.rejectedRows needs count, percent or both"))]
pub struct RejectedRowsThreshold {
    /// More rejected rows than this trips the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub count: Option<i64>,
    /// A larger percentage of rejected rows (0 to 100) among the rows the query returned trips the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub percent: Option<i32>,
}

/// One alert channel: exactly one of slack, pagerDuty, webhook, email or sms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("(has(self.slack) ? 1 : 0) + (has(self.pagerDuty) ? 1 : 0) + (has(self.webhook) ? 1 : 0) + (has(self.email) ? 1 : 0) + (has(self.sms) ? 1 : 0) == 1").message("each alert channel sets exactly one of slack, pagerDuty, webhook, email or sms"))]
pub struct AlertChannel {
    /// A Slack incoming webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackChannel>,
    /// A PagerDuty service (Events API v2); incidents resolve when the alert does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pager_duty: Option<PagerDutyChannel>,
    /// A generic HTTPS webhook receiving JSON, optionally HMAC-signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookChannel>,
    /// Email through an SMTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailChannel>,
    /// SMS through a Twilio-compatible HTTP API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsChannel>,
}

/// A Slack incoming webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackChannel {
    /// The Secret key holding the webhook URL (it is a credential).
    pub webhook_url_secret_ref: SecretKeyRef,
}

/// A PagerDuty Events API v2 integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PagerDutyChannel {
    /// The Secret key holding the integration's routing key.
    pub routing_key_secret_ref: SecretKeyRef,
    /// The incident severity: critical, error, warning or info. Default error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(critical|error|warning|info)$"))]
    pub severity: Option<String>,
}

/// A generic webhook: a JSON POST per alert state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = kube::core::Rule::new("self.url.startsWith('https://') || self.url.startsWith('http://')").message("webhook.url must be an http:// or https:// URL"))]
pub struct WebhookChannel {
    /// The URL to POST to.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// The Secret key holding an HMAC-SHA256 key; when set, each request carries an `X-Shopsync-Signature` header
    /// (`sha256=` and the hex HMAC of the `X-Shopsync-Timestamp` value, a dot and the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret_ref: Option<SecretKeyRef>,
}

/// Email through SMTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailChannel {
    /// The SMTP server's host name.
    #[schemars(length(min = 1, max = 253))]
    pub smtp_host: String,
    /// The SMTP server's port. Default 587.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub smtp_port: Option<i32>,
    /// The Secret holding the SMTP login: keys `username` and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<LocalRef>,
    /// The sender address.
    #[schemars(length(min = 3, max = 254))]
    pub from: String,
    /// The recipients.
    #[schemars(length(min = 1, max = 50))]
    pub to: Vec<String>,
}

/// SMS through a Twilio-compatible Messages API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsChannel {
    /// The API's base URL. Default `https://api.twilio.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The account SID.
    #[schemars(length(min = 1, max = 64))]
    pub account_sid: String,
    /// The Secret key holding the account's auth token.
    pub auth_token_secret_ref: SecretKeyRef,
    /// The sending phone number (E.164).
    #[schemars(length(min = 1, max = 32))]
    pub from: String,
    /// The receiving phone numbers (E.164).
    #[schemars(length(min = 1, max = 20))]
    pub to: Vec<String>,
}
