//! Alerts end to end on loopback: an HTTP receiver standing in for Slack, PagerDuty, a webhook and a
//! Twilio-compatible SMS API, and a small SMTP listener; runs from the real engine over a SQLite warehouse and
//! state store. Checks payloads, signatures, firing then resolve, one notification per change of state (across
//! runs and restarts), retries, and that failed deliveries never fail a run.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use shopsync::alerts::{Channel, DeliveryRetry, Notifier, SmtpSettings, SyncAlerts};
use shopsync::api::{ShopifySync, sync_config};
use shopsync::core::alerts::{AlertPolicy, AlertRule, RejectedRows, Transition};
use shopsync::core::config::{Schedule, SyncConfig};
use shopsync::core::engine::Engine;
use shopsync::core::report::RunReport;
use shopsync::core::state::{RunStatus, StateStore};
use shopsync::core::write::{ApiFailure, BoxFuture, ShopifyApi, WriteOp, WriteOutcome};
use shopsync::state::SqliteStateStore;
use shopsync::warehouse::SqlWarehouse;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

// ---------------------------------------------------------------- receivers

/// One request an HTTP receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Status codes to answer with before accepting (one per request, in order).
    failures: Arc<Mutex<VecDeque<u16>>>,
    /// Requests answered (failures included).
    hits: Arc<Mutex<u32>>,
}

impl Receiver {
    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn hits(&self) -> u32 {
        *self.hits.lock().unwrap()
    }
}

async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    *r.hits.lock().unwrap() += 1;
    if let Some(code) = r.failures.lock().unwrap().pop_front() {
        return StatusCode::from_u16(code).unwrap();
    }
    r.got.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    StatusCode::ACCEPTED
}

/// An HTTP receiver on loopback that first answers `failures`, then 202 to everything.
async fn http_receiver(failures: &[u16]) -> (String, Receiver) {
    let r = Receiver::default();
    r.failures.lock().unwrap().extend(failures.iter().copied());
    let app = axum::Router::new().fallback(receive).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), r)
}

/// A message the SMTP listener accepted.
#[derive(Debug, Clone)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

impl Mail {
    /// The text part, decoded.
    fn text(&self) -> String {
        let body: String = self
            .data
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .split("\r\n")
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }
}

/// Enough SMTP for one client: greeting, EHLO/HELO, MAIL, RCPT, DATA, QUIT.
async fn smtp_listener() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = mails.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let (mut from, mut to) = (String::new(), Vec::new());
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-test\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("HELO") {
                        b"250 test\r\n"
                    } else if let Some(a) = upper.strip_prefix("MAIL FROM:") {
                        from = line[line.len() - a.len()..].to_string();
                        b"250 ok\r\n"
                    } else if let Some(a) = upper.strip_prefix("RCPT TO:") {
                        to.push(line[line.len() - a.len()..].to_string());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = Vec::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push(l.strip_prefix('.').map_or(l.clone(), str::to_string));
                        }
                        store.lock().unwrap().push(Mail {
                            from: from.clone(),
                            to: std::mem::take(&mut to),
                            data: data.join("\r\n"),
                        });
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        b"502 not here\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

// ---------------------------------------------------------------- a sync and its runs

/// Accepts every write except rows whose email contains "bad".
struct FakeShopify;

impl ShopifyApi for FakeShopify {
    fn write<'a>(
        &'a self,
        _sync: &'a SyncConfig,
        ops: Vec<WriteOp>,
    ) -> BoxFuture<'a, Result<Vec<WriteOutcome>, ApiFailure>> {
        Box::pin(async move {
            Ok(ops
                .into_iter()
                .map(|op| match op {
                    WriteOp::Upsert { key, fields, .. }
                        if fields
                            .get("email")
                            .and_then(Value::as_str)
                            .is_some_and(|e| e.contains("bad")) =>
                    {
                        WriteOutcome::Rejected {
                            key,
                            code: Some("INVALID".into()),
                            field: vec!["email".into()],
                            message: "Email is invalid".into(),
                        }
                    }
                    WriteOp::Upsert { key, .. } | WriteOp::Send { key, .. } => {
                        WriteOutcome::Succeeded {
                            shopify_id: Some(format!("gid://shopify/Customer/{key}")),
                            key,
                            created: true,
                        }
                    }
                    WriteOp::Delete { key, shopify_id } => WriteOutcome::Succeeded {
                        key,
                        shopify_id: Some(shopify_id),
                        created: false,
                    },
                })
                .collect())
        })
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    config: SyncConfig,
    warehouse: SqlWarehouse,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wh.db");
        let yaml = format!(
            r#"
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: customers}}
spec:
  destinationRef: {{name: demo}}
  source: {{url: "sqlite://{}", query: "SELECT id, email FROM people ORDER BY id"}}
  primaryKey: id
  object: customers
  mode: upsert
  mappings:
    - {{from: email, to: email}}
  schedule: {{interval: 15m}}
"#,
            db.display()
        );
        let s: ShopifySync = serde_yaml::from_str(&yaml).unwrap();
        let config = sync_config("shop/customers", &s.spec).unwrap();
        let warehouse =
            SqlWarehouse::from_url(&config.id, &format!("sqlite://{}?mode=rwc", db.display()))
                .unwrap();
        Fixture {
            dir,
            config,
            warehouse,
        }
    }

    async fn exec(&self, sql: &str) {
        use sqlx::Connection;
        let db = self.dir.path().join("wh.db");
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
    }

    async fn state(&self) -> SqliteStateStore {
        SqliteStateStore::open(&self.dir.path().join("state.db"))
            .await
            .unwrap()
    }

    async fn run(&self, state: &SqliteStateStore) -> RunReport {
        let engine = Engine::new(
            &self.warehouse,
            state,
            &FakeShopify,
            &shopsync::clock::SystemClock,
            "test",
        );
        match engine.run(&self.config).await {
            Ok(r) => r,
            Err(e) => RunReport::failed(&self.config.id, Utc::now(), Utc::now(), e.to_string()),
        }
    }
}

fn quick() -> DeliveryRetry {
    DeliveryRetry {
        attempts: 3,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
    }
}

fn alerts(channels: Vec<Channel>, rejected: Option<RejectedRows>) -> SyncAlerts {
    SyncAlerts {
        sync: "shop/customers".into(),
        policy: AlertPolicy {
            on_failure: true,
            rejected_rows: rejected,
            late_after: None,
            source_drop_percent: None,
        },
        channels,
        schedule: Schedule::Interval(Duration::from_secs(900)),
        since: Utc::now(),
    }
}

fn verify(key: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    want == signature
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn every_channel_hears_firing_then_resolved_once() {
    let (base, http) = http_receiver(&[]).await;
    let (smtp_port, mails) = smtp_listener().await;
    let channels = vec![
        Channel::Slack {
            webhook_url: format!("{base}/services/T000/B000/slack-secret"),
        },
        Channel::PagerDuty {
            routing_key: "pd-routing-key".into(),
            severity: "critical".into(),
        },
        Channel::Webhook {
            url: format!("{base}/hook"),
            hmac_key: Some("hook-signing-key".into()),
        },
        Channel::Email(SmtpSettings {
            host: "127.0.0.1".into(),
            port: smtp_port,
            login: None,
            from: "shopsync@example.com".into(),
            to: vec!["ops@example.com".into(), "data@example.com".into()],
        }),
        Channel::Sms {
            api_url: base.clone(),
            account_sid: "AC123".into(),
            auth_token: "twilio-token".into(),
            from: "+15550000000".into(),
            to: vec!["+15551111111".into()],
        },
    ];
    let notifier = Notifier::new()
        .unwrap()
        .with_retry(quick())
        .with_pagerduty_url(format!("{base}/v2/enqueue"));
    let f = Fixture::new().await;
    let state = f.state().await;
    let a = alerts(channels, None);

    // The table is missing: the run fails, every channel hears it once.
    let failed = f.run(&state).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let outcome = notifier.after_run(&state, &a, &failed).await;
    assert_eq!(outcome.notifications.len(), 1);
    assert_eq!(outcome.notifications[0].rule, AlertRule::RunFailed);
    assert_eq!(outcome.deliveries.len(), 5);
    assert!(
        outcome.failed_deliveries().next().is_none(),
        "{:?}",
        outcome.deliveries
    );
    assert_eq!(outcome.firing.len(), 1);

    // Failing again changes nothing: no second notification.
    let again = f.run(&state).await;
    let outcome = notifier.after_run(&state, &a, &again).await;
    assert!(outcome.notifications.is_empty() && outcome.deliveries.is_empty());
    assert_eq!(outcome.firing.len(), 1);

    // Fixed: one resolution each.
    f.exec("CREATE TABLE people (id TEXT, email TEXT); INSERT INTO people VALUES ('1', 'a@example.com');")
        .await;
    let ok = f.run(&state).await;
    assert_eq!(ok.status, RunStatus::Succeeded);
    let outcome = notifier.after_run(&state, &a, &ok).await;
    assert_eq!(outcome.notifications.len(), 1);
    assert_eq!(outcome.notifications[0].transition, Transition::Resolved);
    assert!(outcome.firing.is_empty());

    let got = http.got();
    let at = |path: &str| -> Vec<Received> {
        got.iter()
            .filter(|r| r.path.starts_with(path))
            .cloned()
            .collect()
    };
    // Slack: text and blocks, firing then resolved.
    let slack = at("/services/");
    assert_eq!(slack.len(), 2);
    let first = slack[0].json();
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .contains("[FIRING] shopsync shop/customers: run failed"),
        "{first}"
    );
    assert!(first["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    assert!(
        slack[1].json()["text"]
            .as_str()
            .unwrap()
            .contains("[RESOLVED]")
    );

    // PagerDuty: trigger then resolve, one dedup key, the routing key from the Secret.
    let pd = at("/v2/enqueue");
    assert_eq!(pd.len(), 2);
    let (trigger, resolve) = (pd[0].json(), pd[1].json());
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "pd-routing-key");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["class"], "run_failed");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);
    assert_eq!(trigger["dedup_key"], "shopsync/shop/customers/run_failed");

    // Webhook: JSON, signed over the timestamp and the body.
    let hooks = at("/hook");
    assert_eq!(hooks.len(), 2);
    for (h, state) in hooks.iter().zip(["firing", "resolved"]) {
        assert_eq!(h.json()["state"], state);
        assert_eq!(h.json()["rule"], "run_failed");
        assert_eq!(h.header("content-type"), "application/json");
        let ts = h.header("x-shopsync-timestamp");
        assert!(ts.parse::<i64>().is_ok(), "timestamp header {ts:?}");
        let sig = h.header("x-shopsync-signature");
        assert!(
            verify("hook-signing-key", ts, &h.body, sig),
            "signature {sig}"
        );
        assert!(!verify("another-key", ts, &h.body, sig));
    }

    // SMS: a form POST per message to the Messages resource, with basic auth.
    let sms = at("/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(sms.len(), 2);
    let form = sms[0].form();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("To").as_deref(), Some("+15551111111"));
    assert_eq!(field("From").as_deref(), Some("+15550000000"));
    assert!(
        field("Body")
            .unwrap()
            .starts_with("[FIRING] shopsync shop/customers")
    );
    let auth = base64::engine::general_purpose::STANDARD.encode("AC123:twilio-token");
    assert_eq!(sms[0].header("authorization"), format!("Basic {auth}"));

    // Email: one message per change, to every recipient.
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].from, "<shopsync@example.com>");
    assert_eq!(mails[0].to, ["<ops@example.com>", "<data@example.com>"]);
    assert!(
        mails[0]
            .data
            .contains("Subject: [FIRING] shopsync shop/customers: run failed")
    );
    assert!(mails[0].text().contains("failed"), "{}", mails[0].text());
    assert!(mails[1].data.contains("Subject: [RESOLVED]"));
}

#[tokio::test]
async fn no_duplicate_notifications_across_runs_and_restarts() {
    let (base, http) = http_receiver(&[]).await;
    let channels = vec![Channel::Webhook {
        url: format!("{base}/hook"),
        hmac_key: None,
    }];
    let a = alerts(
        channels,
        Some(RejectedRows {
            count: Some(0),
            percent: None,
        }),
    );
    let f = Fixture::new().await;
    f.exec("CREATE TABLE people (id TEXT, email TEXT); INSERT INTO people VALUES ('1', 'a@example.com'), ('2', 'bad');")
        .await;
    {
        let state = f.state().await;
        let notifier = Notifier::new().unwrap().with_retry(quick());
        for _ in 0..2 {
            let r = f.run(&state).await;
            assert_eq!(r.status, RunStatus::PartiallySucceeded);
            notifier.after_run(&state, &a, &r).await;
        }
    }
    assert_eq!(http.got().len(), 1, "one firing for two runs");
    // A restart: new store handle, new notifier; the alert is still known to be firing.
    let state = f.state().await;
    let notifier = Notifier::new().unwrap().with_retry(quick());
    let r = f.run(&state).await;
    assert_eq!(r.stats.rejected, 1, "rejected rows are retried every run");
    let outcome = notifier.after_run(&state, &a, &r).await;
    assert!(outcome.notifications.is_empty());
    assert_eq!(outcome.firing[0].rule, AlertRule::RejectedRows);
    assert_eq!(http.got().len(), 1);
    // The data is fixed: resolved once.
    f.exec("UPDATE people SET email = 'b@example.com' WHERE id = '2';")
        .await;
    for _ in 0..2 {
        let r = f.run(&state).await;
        notifier.after_run(&state, &a, &r).await;
    }
    let got = http.got();
    let states: Vec<(Value, Value)> = got
        .iter()
        .map(|r| (r.json()["rule"].clone(), r.json()["state"].clone()))
        .collect();
    assert_eq!(
        states,
        [
            ("rejected_rows".into(), "firing".into()),
            ("rejected_rows".into(), "resolved".into())
        ]
    );
    assert!(
        got[0].json()["message"]
            .as_str()
            .unwrap()
            .contains("1 of 2 rows rejected"),
        "{}",
        got[0].json()
    );
}

#[tokio::test]
async fn deliveries_are_retried_and_failures_reported_without_failing_the_run() {
    // Two 503s and a 429, then accepted: delivered on the fourth attempt.
    let (flaky_base, flaky) = http_receiver(&[503, 503, 429]).await;
    // Always down.
    let (down_base, down) = http_receiver(&[503; 10]).await;
    // A bad request is not retried.
    let (bad_base, bad) = http_receiver(&[400; 10]).await;
    let channels = vec![
        Channel::Slack {
            webhook_url: format!("{flaky_base}/slack"),
        },
        Channel::Webhook {
            url: format!("{down_base}/hook"),
            hmac_key: None,
        },
        Channel::PagerDuty {
            routing_key: "k".into(),
            severity: "error".into(),
        },
        Channel::Email(SmtpSettings {
            // Nothing listens on port 9 of loopback.
            host: "127.0.0.1".into(),
            port: 9,
            login: None,
            from: "a@example.com".into(),
            to: vec!["b@example.com".into()],
        }),
    ];
    let retry = DeliveryRetry {
        attempts: 4,
        ..quick()
    };
    let notifier = Notifier::new()
        .unwrap()
        .with_retry(retry)
        .with_pagerduty_url(format!("{bad_base}/v2/enqueue"));
    let f = Fixture::new().await;
    let state = f.state().await;
    let report = f.run(&state).await;
    let before = report.clone();
    let outcome = notifier
        .after_run(&state, &alerts(channels, None), &report)
        .await;
    assert_eq!(report, before, "alerting never touches the run's report");
    let by = |kind: &str| {
        outcome
            .deliveries
            .iter()
            .find(|d| d.channel == kind)
            .unwrap()
            .clone()
    };
    let slack = by("slack");
    assert_eq!((slack.attempts, slack.error.as_deref()), (4, None));
    assert_eq!(flaky.got().len(), 1);
    let hook = by("webhook");
    assert_eq!(hook.attempts, 4);
    assert!(hook.error.as_deref().unwrap().contains("503"), "{hook:?}");
    assert_eq!(down.hits(), 4, "bounded retries");
    let pd = by("pagerDuty");
    assert_eq!(pd.attempts, 1, "a 400 is not retried");
    assert!(pd.error.as_deref().unwrap().contains("400"));
    assert_eq!(bad.hits(), 1);
    let email = by("email");
    assert!(email.error.is_some() && email.attempts == 4, "{email:?}");
    assert_eq!(outcome.failed_deliveries().count(), 3);
    // The state moved on regardless: the next failed run does not notify again.
    assert_eq!(outcome.firing.len(), 1);
    let again = notifier
        .after_run(&state, &alerts(vec![], None), &f.run(&state).await)
        .await;
    assert!(again.notifications.is_empty());
}

#[tokio::test]
async fn a_secret_in_a_webhook_url_never_reaches_errors() {
    let (base, _r) = http_receiver(&[500; 10]).await;
    // A Slack webhook URL is a credential; the client's errors must not repeat it.
    let url = format!("{base}/services/T1/B1/very-secret-path");
    let n = Notifier::new().unwrap().with_retry(DeliveryRetry {
        attempts: 1,
        ..quick()
    });
    let f = Fixture::new().await;
    let state = f.state().await;
    let report = f.run(&state).await;
    let outcome = n
        .after_run(
            &state,
            &alerts(vec![Channel::Slack { webhook_url: url }], None),
            &report,
        )
        .await;
    let d = &outcome.deliveries[0];
    assert!(d.error.is_some());
    assert!(!format!("{d:?}").contains("very-secret-path"), "{d:?}");
    // A transport error (nothing listening) names no URL either.
    let closed = "http://127.0.0.1:9/services/T1/B1/very-secret-path".to_string();
    let d = n
        .deliver(
            &[Channel::Slack {
                webhook_url: closed,
            }],
            &outcome.notifications[0],
        )
        .await;
    assert!(d[0].error.is_some());
    assert!(!format!("{d:?}").contains("very-secret-path"), "{d:?}");
}

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

#[tokio::test]
async fn late_fires_between_runs_and_a_successful_run_resolves_it() {
    let (base, http) = http_receiver(&[]).await;
    let f = Fixture::new().await;
    let state = f.state().await;
    let notifier = Notifier::new().unwrap().with_retry(quick());
    let mut a = alerts(
        vec![Channel::Webhook {
            url: format!("{base}/hook"),
            hmac_key: None,
        }],
        None,
    );
    a.policy.late_after = Some(Duration::from_secs(600));
    a.since = t(0);
    // Every 15m, late 10m after a due run: never succeeded since t(0), so late from t(25).
    let early = notifier.check_late(&state, &a, t(24)).await;
    assert!(early.notifications.is_empty());
    assert_eq!(early.late_at, Some(t(25)));
    let late = notifier.check_late(&state, &a, t(25)).await;
    assert_eq!(late.notifications.len(), 1);
    assert_eq!(late.notifications[0].rule, AlertRule::Late);
    assert!(
        notifier
            .check_late(&state, &a, t(40))
            .await
            .notifications
            .is_empty()
    );
    // A run succeeds: the late alert resolves, and lateness is measured from that run.
    f.exec("CREATE TABLE people (id TEXT, email TEXT);").await;
    let ok = f.run(&state).await;
    assert_eq!(ok.status, RunStatus::Succeeded);
    let outcome = notifier.after_run(&state, &a, &ok).await;
    assert_eq!(outcome.notifications.len(), 1);
    assert_eq!(outcome.notifications[0].transition, Transition::Resolved);
    assert_eq!(
        outcome.late_at,
        Some(ok.started_at + chrono::Duration::minutes(25))
    );
    // SQLite keeps milliseconds.
    assert_eq!(
        state
            .last_success(&a.sync)
            .await
            .unwrap()
            .map(|t| t.timestamp_millis()),
        Some(ok.started_at.timestamp_millis())
    );
    let states: Vec<Value> = http
        .got()
        .iter()
        .map(|r| r.json()["state"].clone())
        .collect();
    assert_eq!(states, ["firing", "resolved"]);
}

/// `shopsync run` as a user drives it: Secrets from the environment, a failing run notified once
/// across two processes, a signed webhook, a run history pruned to `--run-history`, and exit codes that
/// follow the runs, not the deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopsync_run_notifies_once_per_change_across_processes() {
    let (base, http) = http_receiver(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wh.db");
    let specs = dir.path().join("specs.yaml");
    std::fs::write(
        &specs,
        format!(
            r#"apiVersion: shopsync.dev/v1alpha1
kind: ShopifyDestination
metadata: {{name: store}}
spec:
  store: cli
  endpoint: http://127.0.0.1:9
  credentials: {{accessTokenSecretRef: {{name: token, key: token}}}}
  alerts:
    channels:
      - webhook: {{url: "{base}/hook", hmacSecretRef: {{name: alert-keys, key: hmac}}}}
---
apiVersion: shopsync.dev/v1alpha1
kind: ShopifySync
metadata: {{name: customers}}
spec:
  destinationRef: {{name: store}}
  source: {{url: "sqlite://{}?mode=rwc", query: "SELECT id, email FROM people"}}
  primaryKey: id
  object: customers
  mode: upsert
  mappings:
    - {{from: email, to: email}}
  schedule: {{interval: 1h}}
  alerts: {{rejectedRows: {{count: 0}}}}
"#,
            db.display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state.db");
    let run = |env_key: Option<&'static str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_shopsync"));
        c.arg("run")
            .arg("-f")
            .arg(&specs)
            .arg("--state")
            .arg(&state)
            .args(["--run-history", "2"])
            .env("SHOPSYNC_SECRET_TOKEN_TOKEN", "shpat_cli_alerts");
        match env_key {
            Some(k) => c.env("SHOPSYNC_SECRET_ALERT_KEYS_HMAC", k),
            None => c.env_remove("SHOPSYNC_SECRET_ALERT_KEYS_HMAC"),
        };
        async move {
            let o = tokio::task::spawn_blocking(move || c.output().unwrap())
                .await
                .unwrap();
            (
                o.status.code(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            )
        }
    };

    // Without the channel's Secret, run refuses to start rather than run blind.
    let (code, out) = run(None).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("$SHOPSYNC_SECRET_ALERT_KEYS_HMAC"), "{out}");

    // No table: the run fails, the webhook hears it once; a second process adds nothing.
    for _ in 0..3 {
        let (code, out) = run(Some("cli-hmac-key")).await;
        assert_eq!(code, Some(1), "{out}");
        assert!(
            !out.contains("cli-hmac-key"),
            "the key never reaches output: {out}"
        );
    }
    let got = http.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let hook = &got[0];
    assert_eq!(hook.json()["state"], "firing");
    assert_eq!(hook.json()["sync"], "default/customers");
    assert!(verify(
        "cli-hmac-key",
        hook.header("x-shopsync-timestamp"),
        &hook.body,
        hook.header("x-shopsync-signature")
    ));
    let store = SqliteStateStore::open(&state).await.unwrap();
    // The debugger log holds no calls (nothing reached Shopify), so only the last two runs stay.
    assert_eq!(store.runs("default/customers", 100).await.unwrap().len(), 2);
    drop(store);
}

#[tokio::test]
async fn a_model_that_suddenly_returns_nothing_fires_source_drop_once() {
    let (base, http) = http_receiver(&[]).await;
    let channels = vec![Channel::Webhook {
        url: format!("{base}/hook"),
        hmac_key: None,
    }];
    let mut a = alerts(channels, None);
    a.policy.source_drop_percent = Some(shopsync::core::alerts::DEFAULT_SOURCE_DROP_PERCENT);
    let f = Fixture::new().await;
    let rows: Vec<String> = (0..40)
        .map(|i| format!("('{i}', 'p{i}@example.com')"))
        .collect();
    f.exec(&format!(
        "CREATE TABLE people (id TEXT, email TEXT); INSERT INTO people VALUES {};",
        rows.join(", ")
    ))
    .await;
    let state = f.state().await;
    let notifier = Notifier::new().unwrap().with_retry(quick());
    // Three runs of 40 rows make the baseline; nothing fires meanwhile.
    for _ in 0..3 {
        let r = f.run(&state).await;
        assert_eq!(r.stats.rows_queried, 40);
        let outcome = notifier.after_run(&state, &a, &r).await;
        assert!(outcome.notifications.is_empty(), "{outcome:?}");
    }
    // The model comes back empty: one firing, however many empty runs follow.
    f.exec("DELETE FROM people;").await;
    for _ in 0..2 {
        let r = f.run(&state).await;
        assert_eq!(r.stats.rows_queried, 0);
        notifier.after_run(&state, &a, &r).await;
    }
    let got = http.got();
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(|r| r.json()).collect::<Vec<_>>()
    );
    assert_eq!(got[0].json()["rule"], "source_drop");
    assert_eq!(got[0].json()["state"], "firing");
    let message = got[0].json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("returned 0 rows") && message.contains("40"),
        "{message}"
    );
    // The rows are back: resolved.
    f.exec(&format!("INSERT INTO people VALUES {};", rows.join(", ")))
        .await;
    let r = f.run(&state).await;
    let outcome = notifier.after_run(&state, &a, &r).await;
    assert_eq!(outcome.notifications.len(), 1, "{outcome:?}");
    let got = http.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].json()["rule"], "source_drop");
    assert_eq!(got[1].json()["state"], "resolved");
}
