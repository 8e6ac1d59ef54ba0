//! Where specs may make the controller send requests.
//!
//! The controller holds every store's token and the alert channels' Secrets, and it runs inside the cluster. A
//! spec that points a destination's `endpoint` or an alert channel at any host it likes could make the controller
//! call what only the cluster can reach (the cloud metadata endpoint, the apiserver, a database) and hand a token
//! to whoever runs that host: server-side request forgery. So a destination reaches Shopify (`https://*.myshopify.com`)
//! and alerts reach the services they name (Slack's and Twilio's API hosts) unless the controller's operator
//! allows more hosts (`--allow-endpoint`, `--allow-alert-host`).
use crate::alerts::Channel;

/// Hosts alert channels may reach without being allowed: Slack incoming webhooks and Twilio's API.
pub const ALERT_SERVICE_HOSTS: &[&str] = &["hooks.slack.com", "api.twilio.com"];

/// The hosts allowed beyond Shopify and the alert services. Each entry is a host (`proxy.example.com`), a host
/// and port (`127.0.0.1:8787`), or a domain wildcard (`*.corp.example.com`); host names compare without case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Extra hosts a ShopifyDestination's `endpoint` may name.
    pub endpoints: Vec<String>,
    /// Extra hosts alert webhooks, Slack and SMS URLs and SMTP servers may name.
    pub alert_hosts: Vec<String>,
}

impl EgressPolicy {
    /// Whether a destination's `endpoint` may be called: `Err` says why not and how to allow it.
    pub fn check_endpoint(&self, endpoint: &str) -> Result<(), String> {
        let (scheme, host, port) = parts(endpoint)
            .ok_or_else(|| format!("endpoint {endpoint:?} is not a URL with a host"))?;
        if scheme == "https" && host.ends_with(".myshopify.com") {
            return Ok(());
        }
        if allowed(&self.endpoints, &host, port) {
            return Ok(());
        }
        Err(format!(
            "endpoint host {host} is not a Shopify store (https://*.myshopify.com) and is not allowed by the \
             controller; its operator can allow it with --allow-endpoint {host}"
        ))
    }

    /// Whether every channel's target may be called: `Err` names the first refused one.
    pub fn check_alerts(&self, channels: &[Channel]) -> Result<(), String> {
        for channel in channels {
            let (what, target) = match channel {
                // The Events API URL is the controller's own setting, not a spec's.
                Channel::PagerDuty { .. } => continue,
                Channel::Slack { webhook_url } => ("Slack webhook", webhook_url.as_str()),
                Channel::Webhook { url, .. } => ("webhook", url.as_str()),
                Channel::Sms { api_url, .. } => ("SMS API", api_url.as_str()),
                Channel::Email(smtp) => {
                    if allowed(&self.alert_hosts, &smtp.host, Some(smtp.port)) {
                        continue;
                    }
                    return Err(refused_alert("SMTP server", &smtp.host));
                }
            };
            let Some((scheme, host, port)) = parts(target) else {
                return Err(format!("alert {what} URL is not a URL with a host"));
            };
            // A generic webhook is trusted for no host by default, not even a service's.
            let service = scheme == "https"
                && ALERT_SERVICE_HOSTS.contains(&host.as_str())
                && !matches!(channel, Channel::Webhook { .. });
            if !service && !allowed(&self.alert_hosts, &host, port) {
                return Err(refused_alert(what, &host));
            }
        }
        Ok(())
    }
}

fn refused_alert(what: &str, host: &str) -> String {
    format!(
        "alert {what} host {host} is not allowed by the controller; its operator can allow it with \
         --allow-alert-host {host}"
    )
}

/// Scheme, lower-case host and port (explicit or the scheme's default) of `url`.
fn parts(url: &str) -> Option<(String, String, Option<u16>)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    Some((
        parsed.scheme().to_string(),
        host,
        parsed.port_or_known_default(),
    ))
}

/// Whether `host` (and `port`) matches an entry of `list`.
fn allowed(list: &[String], host: &str, port: Option<u16>) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    list.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        // `host:port` pins the port; a bare host (or an IPv6 literal in brackets) allows any.
        let (name, pinned) = match entry.rsplit_once(':') {
            Some((name, p)) if !name.is_empty() && !name.ends_with(':') => match p.parse::<u16>() {
                Ok(p) => (name.to_string(), Some(p)),
                Err(_) => (entry.clone(), None),
            },
            _ => (entry.clone(), None),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let host_matches = match name.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host.trim_start_matches('[').trim_end_matches(']') == name,
        };
        host_matches && pinned.is_none_or(|p| Some(p) == port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::SmtpSettings;

    fn policy(endpoints: &[&str], alert_hosts: &[&str]) -> EgressPolicy {
        EgressPolicy {
            endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
            alert_hosts: alert_hosts.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn shopify_stores_are_reachable_and_other_endpoints_need_allowing() {
        let none = EgressPolicy::default();
        assert!(none.check_endpoint("https://demo.myshopify.com").is_ok());
        for refused in [
            "http://demo.myshopify.com",
            "https://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:8787",
            "https://myshopify.com.evil.example",
            "https://kubernetes.default.svc",
        ] {
            let e = none.check_endpoint(refused).unwrap_err();
            assert!(e.contains("--allow-endpoint"), "{refused}: {e}");
        }
        let some = policy(&["127.0.0.1:8787", "*.proxy.example.com"], &[]);
        assert!(some.check_endpoint("http://127.0.0.1:8787").is_ok());
        assert!(some.check_endpoint("http://127.0.0.1:8788").is_err());
        assert!(
            some.check_endpoint("https://eu.proxy.example.com/x")
                .is_ok()
        );
        assert!(some.check_endpoint("https://proxy.example.com").is_err());
        assert!(some.check_endpoint("https://EU.Proxy.Example.com.").is_ok());
        assert!(some.check_endpoint("not a url").is_err());
    }

    #[test]
    fn alert_channels_reach_their_services_or_allowed_hosts_only() {
        let slack = Channel::Slack {
            webhook_url: "https://hooks.slack.com/services/T/B/X".into(),
        };
        let hook = |url: &str| Channel::Webhook {
            url: url.into(),
            hmac_key: None,
        };
        let smtp = |port: u16| {
            Channel::Email(SmtpSettings {
                host: "smtp.example.com".into(),
                port,
                login: None,
                from: "shopsync@example.com".into(),
                to: vec!["ops@example.com".into()],
            })
        };
        let email = smtp(587);
        let none = EgressPolicy::default();
        assert!(none.check_alerts(std::slice::from_ref(&slack)).is_ok());
        let e = none
            .check_alerts(&[hook("http://10.0.0.5/hook")])
            .unwrap_err();
        assert!(e.contains("--allow-alert-host 10.0.0.5"), "{e}");
        // A generic webhook is never trusted for naming a service host.
        assert!(
            none.check_alerts(&[hook("https://hooks.slack.com/x")])
                .is_err()
        );
        assert!(none.check_alerts(std::slice::from_ref(&email)).is_err());
        let slack_elsewhere = Channel::Slack {
            webhook_url: "http://metadata.google.internal/".into(),
        };
        assert!(none.check_alerts(&[slack_elsewhere]).is_err());

        let some = policy(&[], &["hooks.example.com", "smtp.example.com:587"]);
        assert!(
            some.check_alerts(&[slack, hook("https://hooks.example.com/a"), email])
                .is_ok()
        );
        assert!(some.check_alerts(&[smtp(25)]).is_err());
    }
}
