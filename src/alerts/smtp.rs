//! Email alerts: a small SMTP client (EHLO, STARTTLS or implicit TLS on port 465, AUTH PLAIN, one message).
//!
//! Small on purpose: an alert is one short plain-text message, and the TLS stack is the rustls build the rest of
//! shopsync already links.
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::DeliveryError;
use crate::core::alerts::Notification;

/// Where and how to send alert email.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The server's host name.
    pub host: String,
    /// The server's port: 465 means TLS from the start; any other port upgrades with STARTTLS when offered.
    pub port: u16,
    /// User name and password, when the server wants a login.
    pub login: Option<(String, String)>,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

impl std::fmt::Debug for SmtpSettings {
    // The password stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("login", &self.login.as_ref().map(|(u, _)| u))
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Session {
    io: BufReader<Box<dyn Io>>,
    tls: bool,
}

/// A reply: its code and its lines of text.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

fn retryable(e: std::io::Error) -> DeliveryError {
    DeliveryError::Retryable(format!("SMTP: {e}"))
}

impl Session {
    async fn reply(&mut self) -> Result<Reply, DeliveryError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            // A bounded read: a server sending an endless line cannot exhaust memory.
            let n = (&mut self.io)
                .take(4096)
                .read_line(&mut line)
                .await
                .map_err(retryable)?;
            if n == 0 {
                return Err(DeliveryError::Retryable(
                    "SMTP: the server closed the connection".into(),
                ));
            }
            let line = line.trim_end().to_string();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| DeliveryError::Permanent(format!("SMTP: not a reply: {line:?}")))?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.get(4..).unwrap_or_default().to_string());
            if last {
                return Ok(Reply { code, lines });
            }
        }
    }

    async fn send_line(&mut self, line: &str) -> Result<(), DeliveryError> {
        let w = self.io.get_mut();
        w.write_all(line.as_bytes()).await.map_err(retryable)?;
        w.write_all(b"\r\n").await.map_err(retryable)?;
        w.flush().await.map_err(retryable)
    }

    /// Sends `line` (shown as `shown` in errors) and expects one of `ok`.
    async fn command(
        &mut self,
        line: &str,
        shown: &str,
        ok: &[u16],
    ) -> Result<Reply, DeliveryError> {
        self.send_line(line).await?;
        let reply = self.reply().await?;
        expect(reply, shown, ok)
    }
}

fn expect(reply: Reply, what: &str, ok: &[u16]) -> Result<Reply, DeliveryError> {
    if ok.contains(&reply.code) {
        return Ok(reply);
    }
    let message = format!("SMTP {what}: {} {}", reply.code, reply.lines.join(" "));
    Err(if (400..500).contains(&reply.code) {
        DeliveryError::Retryable(message)
    } else {
        DeliveryError::Permanent(message)
    })
}

fn tls_connector() -> Result<TlsConnector, DeliveryError> {
    let config = crate::tls::client_config()
        .map_err(|e| DeliveryError::Permanent(format!("SMTP TLS: {e}")))?;
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn tls(host: &str, tcp: Box<dyn Io>) -> Result<Box<dyn Io>, DeliveryError> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| DeliveryError::Permanent(format!("SMTP host {host:?}: {e}")))?;
    let stream = tls_connector()?
        .connect(name, tcp)
        .await
        .map_err(|e| DeliveryError::Retryable(format!("SMTP TLS handshake: {e}")))?;
    Ok(Box::new(stream))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Address text safe to put in a command or header: no line breaks, no angle brackets.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '<' | '>'))
        .collect()
}

/// The message: headers, then the text as base64 (any UTF-8 passes every server that way).
pub fn message(s: &SmtpSettings, n: &Notification) -> String {
    let subject = n.title().replace(['\r', '\n'], " ");
    let subject = if subject.is_ascii() {
        subject
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject.as_bytes())
        )
    };
    let body = base64::engine::general_purpose::STANDARD.encode(n.text().as_bytes());
    let body = body
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n");
    let host = s.from.rsplit('@').next().unwrap_or("shopsync");
    format!(
        "From: <{}>\r\nTo: {}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{}.{}.{}@{}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n",
        clean(&s.from),
        s.to.iter()
            .map(|t| format!("<{}>", clean(t)))
            .collect::<Vec<_>>()
            .join(", "),
        n.at.to_rfc2822(),
        n.rule.as_str(),
        n.transition.as_str(),
        n.at.timestamp_millis(),
        clean(host),
    )
}

/// Sends `n` to the recipients of `s`, within `timeout` to connect.
pub async fn send(
    s: &SmtpSettings,
    n: &Notification,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((s.host.as_str(), s.port)))
        .await
        .map_err(|_| {
            DeliveryError::Retryable(format!("SMTP: cannot connect to {} in time", s.host))
        })?
        .map_err(|e| DeliveryError::Retryable(format!("SMTP: connecting to {}: {e}", s.host)))?;
    let implicit = s.port == 465;
    let io: Box<dyn Io> = if implicit {
        tls(&s.host, Box::new(tcp)).await?
    } else {
        Box::new(tcp)
    };
    let mut session = Session {
        io: BufReader::new(io),
        tls: implicit,
    };
    let greeting = session.reply().await?;
    expect(greeting, "greeting", &[220])?;
    let mut ehlo = session.command("EHLO shopsync", "EHLO", &[250]).await;
    if matches!(ehlo, Err(DeliveryError::Permanent(_))) {
        // A server without ESMTP: plain HELO, no extensions.
        session.command("HELO shopsync", "HELO", &[250]).await?;
        ehlo = Ok(Reply {
            code: 250,
            lines: Vec::new(),
        });
    }
    let extensions = ehlo?.lines;
    let offers = |name: &str| {
        extensions.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(name))
        })
    };
    if !session.tls && offers("STARTTLS") {
        session.command("STARTTLS", "STARTTLS", &[220]).await?;
        let plain = session.io.into_inner();
        session = Session {
            io: BufReader::new(tls(&s.host, plain).await?),
            tls: true,
        };
        session.command("EHLO shopsync", "EHLO", &[250]).await?;
    }
    if let Some((user, password)) = &s.login {
        if !session.tls && !is_loopback(&s.host) {
            return Err(DeliveryError::Permanent(format!(
                "SMTP: {} offers no TLS; refusing to send the login in clear text",
                s.host
            )));
        }
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{user}\0{password}").as_bytes());
        session
            .command(&format!("AUTH PLAIN {token}"), "AUTH", &[235])
            .await?;
    }
    session
        .command(
            &format!("MAIL FROM:<{}>", clean(&s.from)),
            "MAIL FROM",
            &[250],
        )
        .await?;
    for to in &s.to {
        session
            .command(&format!("RCPT TO:<{}>", clean(to)), "RCPT TO", &[250, 251])
            .await?;
    }
    session.command("DATA", "DATA", &[354]).await?;
    let mut data = String::new();
    for line in message(s, n).split("\r\n") {
        // Dot-stuffing: a line starting with a dot must not end the data early.
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push('.');
    let w = session.io.get_mut();
    w.write_all(data.as_bytes()).await.map_err(retryable)?;
    session.command("", "message", &[250]).await?;
    // The message is accepted; a failed goodbye changes nothing.
    let _ = session.send_line("QUIT").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::alerts::{AlertRule, Transition};

    #[test]
    fn message_headers_are_clean_and_body_decodes() {
        let s = SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            login: Some(("u".into(), "hunter2".into())),
            from: "alerts@example.com".into(),
            to: vec!["ops@example.com\r\nBcc: x@evil".into()],
        };
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let n = Notification {
            sync: "shop/customers".into(),
            rule: AlertRule::RejectedRows,
            transition: Transition::Firing,
            message: "7 of 10 rows rejected — too many".into(),
            firing_since: at,
            at,
        };
        let m = message(&s, &n);
        assert!(!m.contains("\r\nBcc:"), "{m}");
        assert!(m.contains("Subject: [FIRING] shopsync shop/customers: rows rejected\r\n"));
        let body: String = m
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .split("\r\n")
            .collect();
        let text = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .unwrap_or_default();
        assert!(String::from_utf8_lossy(&text).contains("— too many"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("smtp.example.com"));
    }
}
