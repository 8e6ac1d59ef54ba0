//! The dashboard's pages over a state with known runs: a succeeded run, a run with rejected rows, a failed run
//! with a firing alert, and a run in progress. Each page is fetched over HTTP from a served router and checked
//! for what a person reads on it (text and links); no page shows a secret.
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use chrono::{Duration, Utc};
use shopsync::core::alerts::{AlertRecord, AlertRule, AlertState};
use shopsync::core::calls::{ApiCall, CallStore};
use shopsync::core::config::SyncConfig;
use shopsync::core::redact::{self, Redactor};
use shopsync::core::state::{RunRecord, RunStats, RunStatus, StateStore};
use shopsync::state::{PostgresStateStore, SqliteStateStore};
use shopsync::ui::Dashboard;

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";
/// A Shopify token as a misbehaving client could have logged it: the pattern redaction must catch it.
const LEAKED_TOKEN: &str = "shpat_0123456789abcdef0123456789abcdef";
/// A warehouse password the process knows (as the CLI learns it from --state-url or a Secret).
const KNOWN_SECRET: &str = "pw-hunter2-secret";
const UI_TOKEN: &str = "ui-token-s3cr3t-value";

/// The runs the tests look at.
struct Seeded {
    ok: i64,
    rejected: i64,
    failed: i64,
    running: i64,
}

fn call(sync: &str, run: i64, keys: &[&str], response: &str, attempt: u32) -> ApiCall {
    ApiCall {
        run_id: Some(run),
        sync: sync.into(),
        started_at: Utc::now(),
        duration_us: 2300,
        method: "POST".into(),
        url: "http://127.0.0.1:1/admin/api/2026-04/graphql.json".into(),
        operation: Some("customerSet".into()),
        document: Some(format!(
            "mutation CustomerSetBatch {{ m0: customerSet(input: $input0) {{ customer {{ id }} }} }} # {LEAKED_TOKEN}"
        )),
        variables: Some(format!(
            r#"{{"input0":{{"email":"ann@example.com","note":"{KNOWN_SECRET}"}}}}"#
        )),
        status: Some(200),
        response: Some(response.into()),
        error: None,
        cost_requested: Some(20.0),
        cost_actual: Some(12.0),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        attempt,
    }
}

async fn finish(
    state: &dyn StateStore,
    id: i64,
    sync: &str,
    status: RunStatus,
    stats: RunStats,
    error: Option<String>,
) {
    let started = Utc::now() - Duration::seconds(30);
    state
        .finish_run(&RunRecord {
            id,
            sync: sync.into(),
            started_at: started,
            finished_at: Some(started + Duration::milliseconds(4200)),
            status,
            stats,
            error,
        })
        .await
        .unwrap();
}

async fn seed<S: StateStore + CallStore>(store: &S) -> Seeded {
    let now = Utc::now();
    let ok = store
        .start_run("customers", now - Duration::minutes(30))
        .await
        .unwrap();
    store
        .append_calls(&[call(
            "customers",
            ok,
            &["C-1", "C-2"],
            r#"{"data":{"m0":{"customer":{"id":"gid://shopify/Customer/1"},"userErrors":[]},"m1":{"customer":{"id":"gid://shopify/Customer/2"},"userErrors":[]}}}"#,
            1,
        )])
        .await
        .unwrap();
    finish(
        store,
        ok,
        "customers",
        RunStatus::Succeeded,
        RunStats {
            rows_queried: 2,
            added: 2,
            succeeded: 2,
            ..Default::default()
        },
        None,
    )
    .await;

    let rejected = store
        .start_run("customers", now - Duration::minutes(20))
        .await
        .unwrap();
    store
        .append_calls(&[
            call(
                "customers",
                rejected,
                &["C-1", "C-2"],
                r#"{"data":{"m0":{"customer":{"id":"gid://shopify/Customer/1"},"userErrors":[]},"m1":{"customer":null,"userErrors":[{"field":["input","email"],"code":"INVALID","message":"Email is invalid"}]}}}"#,
                1,
            ),
            call(
                "customers",
                rejected,
                &["C-3"],
                r#"{"data":{"customerSet":{"customer":null,"userErrors":[{"field":["input","email"],"message":"Email is invalid"}]}}}"#,
                1,
            ),
            call(
                "customers",
                rejected,
                &["C-4"],
                r#"{"data":{"customerSet":{"customer":null,"userErrors":[{"field":["input","phone"],"message":"Phone is invalid"}]}}}"#,
                2,
            ),
        ])
        .await
        .unwrap();
    finish(
        store,
        rejected,
        "customers",
        RunStatus::PartiallySucceeded,
        RunStats {
            rows_queried: 4,
            added: 2,
            changed: 1,
            succeeded: 1,
            rejected: 3,
            ..Default::default()
        },
        None,
    )
    .await;

    let failed = store
        .start_run("customers", now - Duration::minutes(10))
        .await
        .unwrap();
    finish(
        store,
        failed,
        "customers",
        RunStatus::Failed,
        RunStats::default(),
        Some(format!(
            "warehouse: connecting to postgres://app:{KNOWN_SECRET}@db:5432/wh: connection refused"
        )),
    )
    .await;
    store
        .save_alert_states(
            "customers",
            &[AlertRecord {
                rule: AlertRule::RunFailed,
                state: AlertState::Firing,
                since: now - Duration::minutes(9),
                message: "the last run failed: connection refused".into(),
            }],
        )
        .await
        .unwrap();

    let running = store
        .start_run("products", now - Duration::seconds(5))
        .await
        .unwrap();
    store
        .append_calls(&[call(
            "products",
            running,
            &["P-1"],
            r#"{"data":{"productSet":{"userErrors":[]}}}"#,
            1,
        )])
        .await
        .unwrap();
    Seeded {
        ok,
        rejected,
        failed,
        running,
    }
}

fn example_specs() -> Vec<SyncConfig> {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let docs = shopsync::cli::specs::read_valid(&[examples]).unwrap();
    // The state below names syncs as local files without a namespace do (`customers`).
    shopsync::cli::specs::find(&docs, &[], &Redactor::new())
        .unwrap()
        .into_iter()
        .map(|f| SyncConfig {
            id: f.config.id.trim_start_matches("default/").to_owned(),
            ..f.config
        })
        .collect()
}

fn redactor() -> Redactor {
    let r = Redactor::new();
    r.add(KNOWN_SECRET);
    r
}

/// Serves `dashboard` on a free loopback port; returns its base URL.
async fn serve(dashboard: Dashboard) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(shopsync::ui::serve(
        listener,
        dashboard.router(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

async fn sqlite_dashboard() -> (tempfile::TempDir, SqliteStateStore, Seeded, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let seeded = seed(&store).await;
    let specs = example_specs();
    let dashboard = Dashboard::new(Arc::new(store.clone()), Arc::new(store.clone()), redactor())
        .with_specs(Arc::new(move || specs.clone()));
    let base = serve(dashboard).await;
    (dir, store, seeded, base)
}

/// A page's status and the text a person reads on it (tags dropped, entities decoded, spaces collapsed), and
/// its raw HTML for the links.
async fn page(url: &str) -> (u16, String, String) {
    let answer = reqwest::get(url).await.unwrap();
    let status = answer.status().as_u16();
    let html = answer.text().await.unwrap();
    (status, text_of(&html), html)
}

fn text_of(html: &str) -> String {
    let no_svg = regex::Regex::new(r"(?s)<svg.*?</svg>|<script.*?</script>")
        .unwrap()
        .replace_all(html, " ");
    let no_tags = regex::Regex::new(r"<[^>]*>")
        .unwrap()
        .replace_all(&no_svg, " ");
    let decoded = no_tags
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn links(html: &str) -> Vec<String> {
    regex::Regex::new(r#"href="([^"]*)""#)
        .unwrap()
        .captures_iter(html)
        .map(|c| c[1].replace("&amp;", "&"))
        .collect()
}

fn assert_no_secret(url: &str, body: &str) {
    for secret in [LEAKED_TOKEN, KNOWN_SECRET, UI_TOKEN] {
        assert!(
            !body.contains(secret),
            "{url} shows the secret {secret}:\n{body}"
        );
    }
}

#[tokio::test]
async fn overview_lists_every_sync_worst_first_with_its_last_run_and_alerts() {
    let (_dir, _store, seeded, base) = sqlite_dashboard().await;
    let (status, text, html) = page(&format!("{base}/")).await;
    assert_eq!(status, 200);
    // customers failed last and its alert fires; products is running; the other examples never ran.
    let customers = text
        .find("customers demo-store object customers failing")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.contains("run_failed: the last run failed: connection refused"),
        "{text}"
    );
    let products = text
        .find("products demo-store object products")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(customers < products, "the failing sync comes first: {text}");
    assert!(text.contains("no finished run"), "{text}");
    assert!(text.contains("running"), "{text}");
    let links = links(&html);
    assert!(
        links.contains(&"/sync?id=customers".to_string()),
        "{links:?}"
    );
    assert!(
        links.contains(&format!("/run?sync=customers&id={}", seeded.failed)),
        "{links:?}"
    );
    // The running run is followed by the page script.
    assert!(
        html.contains(&format!(
            "data-follow=\"/api/run?sync=products&amp;id={}\"",
            seeded.running
        )),
        "{html}"
    );
}

#[tokio::test]
async fn sync_page_charts_the_history_and_summarises_the_spec() {
    let (_dir, _store, seeded, base) = sqlite_dashboard().await;
    let (status, text, html) = page(&format!("{base}/sync?id=customers")).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("shopsync customers Sync customers failing"),
        "{text}"
    );
    assert!(text.contains("run_failed firing since"), "{text}");
    for caption in ["Rows per run", "Duration per run", "Shopify cost per run"] {
        assert!(html.contains(caption), "missing chart {caption}");
    }
    assert_eq!(html.matches("<svg").count(), 3);
    for run in [seeded.ok, seeded.rejected, seeded.failed] {
        assert!(text.contains(&format!("Run #{run}")), "{text}");
        assert!(links(&html).contains(&format!("/run?sync=customers&id={run}")));
    }
    // The spec: mode, keys, mappings, deletes, schedule.
    for fact in [
        "Mode upsert",
        "Primary key customer_id",
        "Match key email",
        "Schedule every 15m",
        "firstName column first_name",
        "metafield custom.loyalty_tier",
    ] {
        assert!(text.contains(fact), "missing `{fact}` in {text}");
    }
    assert!(text.contains("Delete guard"), "{text}");
    assert_no_secret("/sync", &html);
}

#[tokio::test]
async fn run_page_groups_rejected_rows_by_reason_and_lists_the_calls() {
    let (_dir, _store, seeded, base) = sqlite_dashboard().await;
    let url = format!("{base}/run?sync=customers&id={}", seeded.rejected);
    let (status, text, html) = page(&url).await;
    assert_eq!(status, 200);
    assert!(
        text.contains(&format!(
            "Run #{} of customers rows rejected",
            seeded.rejected
        )),
        "{text}"
    );
    assert!(
        text.contains("Rows queried 4 Added 2 Changed 1 Removed 0 Synced 1 Rejected 3"),
        "{text}"
    );
    assert!(
        text.contains("Calls 3 (0 failed, 1 retries) Cost 36 points"),
        "{text}"
    );
    // Two rows share a reason, listed first; the batched call's second payload is C-2's.
    let email = text
        .find("Email is invalid (2 rows) Key Field Code Call C-2 input.email INVALID")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(text.contains("C-3 input.email -"), "{text}");
    let phone = text
        .find("Phone is invalid (1 row) Key Field Code Call C-4 input.phone")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(email < phone);
    let links = links(&html);
    assert!(
        links.contains(&"/key?sync=customers&key=C-2".to_string()),
        "{links:?}"
    );
    assert!(links.contains(&format!(
        "/export?sync=customers&run={}&format=json",
        seeded.rejected
    )));
    assert!(links.contains(&format!(
        "/export?sync=customers&run={}&format=csv",
        seeded.rejected
    )));
    assert_eq!(
        links.iter().filter(|l| l.starts_with("/call?")).count(),
        6,
        "3 calls, each linked from the table and a rejection: {links:?}"
    );
    assert_no_secret(&url, &html);

    // The failed run says why, redacted.
    let (_, text, html) = page(&format!("{base}/run?sync=customers&id={}", seeded.failed)).await;
    assert!(text.contains("Failed: warehouse: connecting to postgres://app:[REDACTED]@db:5432/wh: connection refused"), "{text}");
    assert!(text.contains("No calls recorded for this run"), "{text}");
    assert_no_secret("failed run", &html);
}

#[tokio::test]
async fn call_page_shows_the_call_as_the_log_holds_it_redacted() {
    let (_dir, store, seeded, base) = sqlite_dashboard().await;
    let calls = store.calls_of_run(seeded.rejected).await.unwrap();
    let retry = &calls[2];
    let url = format!(
        "{base}/call?sync=customers&run={}&id={}",
        seeded.rejected, retry.id
    );
    let (status, text, html) = page(&url).await;
    assert_eq!(status, 200);
    assert!(
        text.contains(&format!("Call #{}: POST customerSet", retry.id)),
        "{text}"
    );
    for fact in [
        "Status 200",
        "Operation customerSet",
        "Duration 2.3 ms",
        "Attempt 2 (a retry)",
        "Cost (actual / requested) 12 / 20",
        "Rows concerned C-4",
    ] {
        assert!(text.contains(fact), "missing `{fact}` in {text}");
    }
    assert!(
        text.contains("Document mutation CustomerSetBatch"),
        "{text}"
    );
    assert!(
        text.contains(r#""message": "Phone is invalid""#),
        "the answer, pretty-printed: {text}"
    );
    assert!(text.contains("[REDACTED]"), "{text}");
    assert!(links(&html).contains(&format!("/run?sync=customers&id={}", seeded.rejected)));
    assert_no_secret(&url, &html);

    let (status, text, _) = page(&format!(
        "{base}/call?sync=customers&run={}&id=999999",
        seeded.rejected
    ))
    .await;
    assert_eq!(status, 404);
    assert!(
        text.contains("no call #999999 of sync customers is kept"),
        "{text}"
    );
}

#[tokio::test]
async fn key_search_finds_every_call_about_a_key_across_runs() {
    let (_dir, store, seeded, base) = sqlite_dashboard().await;
    let url = format!("{base}/key?sync=customers&key=C-2");
    let (status, text, html) = page(&url).await;
    assert_eq!(status, 200);
    assert!(text.contains("Key C-2 of customers"), "{text}");
    assert!(text.contains("2 calls, oldest first."), "{text}");
    let expected = store.calls_for_key("customers", "C-2").await.unwrap();
    let links = links(&html);
    for c in &expected {
        let run = c.call.run_id.unwrap();
        assert!(
            links.contains(&format!("/call?sync=customers&run={run}&id={}", c.id)),
            "{links:?}"
        );
        assert!(
            links.contains(&format!("/run?sync=customers&id={run}")),
            "{links:?}"
        );
    }
    assert_eq!(
        expected
            .iter()
            .map(|c| c.call.run_id.unwrap())
            .collect::<Vec<_>>(),
        vec![seeded.ok, seeded.rejected]
    );
    let (_, text, _) = page(&format!("{base}/key?sync=customers&key=nobody")).await;
    assert!(text.contains("No call about this key is kept"), "{text}");
}

#[tokio::test]
async fn exports_are_what_the_debugger_exports() {
    let (dir, _store, seeded, base) = sqlite_dashboard().await;
    for format in ["json", "csv"] {
        let answer = reqwest::get(format!(
            "{base}/export?sync=customers&run={}&format={format}",
            seeded.rejected
        ))
        .await
        .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        let disposition = answer.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            disposition,
            format!("attachment; filename=\"run-{}.{format}\"", seeded.rejected)
        );
        let served = answer.text().await.unwrap();
        let cli = Command::new(env!("CARGO_BIN_EXE_shopsync"))
            .args([
                "debugger",
                "export",
                &seeded.rejected.to_string(),
                "--format",
                format,
                "--state",
            ])
            .arg(dir.path().join("state.db"))
            .output()
            .unwrap();
        assert!(
            cli.status.success(),
            "{}",
            String::from_utf8_lossy(&cli.stderr)
        );
        let exported = String::from_utf8(cli.stdout).unwrap();
        // The CLI knows no secret value here, the dashboard does: beyond that, the same bytes.
        assert_eq!(
            served,
            exported.replace(KNOWN_SECRET, redact::REDACTED),
            "{format}"
        );
        assert_no_secret(format, &served);
        assert!(served.contains("Phone is invalid"));
    }
    let answer = reqwest::get(format!(
        "{base}/export?sync=customers&run={}&format=xml",
        seeded.rejected
    ))
    .await
    .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
}

#[tokio::test]
async fn a_run_in_progress_is_followed_until_it_ends() {
    let (_dir, store, seeded, base) = sqlite_dashboard().await;
    let (_, text, html) = page(&format!("{base}/run?sync=products&id={}", seeded.running)).await;
    assert!(
        text.contains("In progress: 1 calls so far, 12 cost points, running for"),
        "{text}"
    );
    assert!(html.contains("/assets/app.js"));
    let api = format!("{base}/api/run?sync=products&id={}", seeded.running);
    let progress: serde_json::Value = reqwest::get(&api).await.unwrap().json().await.unwrap();
    assert_eq!(progress["running"], true, "{progress}");
    assert_eq!(progress["calls"], 1);
    store
        .append_calls(&[call(
            "products",
            seeded.running,
            &["P-2"],
            r#"{"data":{}}"#,
            1,
        )])
        .await
        .unwrap();
    let progress: serde_json::Value = reqwest::get(&api).await.unwrap().json().await.unwrap();
    assert_eq!(progress["calls"], 2, "{progress}");
    finish(
        &store,
        seeded.running,
        "products",
        RunStatus::Succeeded,
        RunStats {
            succeeded: 2,
            ..Default::default()
        },
        None,
    )
    .await;
    let progress: serde_json::Value = reqwest::get(&api).await.unwrap().json().await.unwrap();
    assert_eq!(progress["running"], false, "{progress}");
    assert_eq!(progress["status"], "succeeded");
    // The script the page loads is served from the binary.
    let script = reqwest::get(format!("{base}/assets/app.js"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("data-follow"));
}

#[tokio::test]
async fn a_token_guards_every_page_and_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStateStore::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let seeded = seed(&store).await;
    let base = serve(
        Dashboard::new(Arc::new(store.clone()), Arc::new(store), redactor()).with_token(UI_TOKEN),
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let pages = [
        "/".to_string(),
        "/sync?id=customers".into(),
        format!("/run?sync=customers&id={}", seeded.rejected),
        format!("/export?sync=customers&run={}&format=json", seeded.rejected),
        "/key?sync=customers&key=C-2".into(),
    ];
    for p in &pages {
        let denied = client.get(format!("{base}{p}")).send().await.unwrap();
        assert_eq!(denied.status().as_u16(), 401, "{p}");
        let wrong = client
            .get(format!("{base}{p}"))
            .bearer_auth("nope-nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{p}");
        let allowed = client
            .get(format!("{base}{p}"))
            .bearer_auth(UI_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status().as_u16(), 200, "{p}");
        assert_no_secret(p, &allowed.text().await.unwrap());
    }
    // A browser is sent to the sign-in form, whose cookie then opens the pages.
    let browser = client
        .get(format!("{base}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status().as_u16(), 303);
    assert_eq!(browser.headers()["location"], "/login");
    let login = client
        .post(format!("{base}/login"))
        .form(&[("token", UI_TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = client
        .get(format!("{base}/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let text = text_of(&page.text().await.unwrap());
    assert!(text.contains("customers"), "{text}");
}

#[tokio::test]
async fn the_overview_reads_the_controllers_postgresql_state() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("ui_{}_{nanos}", std::process::id());
    let store = PostgresStateStore::connect_in_schema(PG, Some(&schema))
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432");
    let seeded = seed(&store).await;
    let base = serve(Dashboard::new(
        Arc::new(store.clone()),
        Arc::new(store),
        redactor(),
    ))
    .await;
    let (status, text, _) = page(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("customers - - failing"),
        "without specs, the state's syncs: {text}"
    );
    assert!(text.contains("unknown (no spec)"), "{text}");
    let (status, text, html) =
        page(&format!("{base}/run?sync=customers&id={}", seeded.rejected)).await;
    assert_eq!(status, 200);
    assert!(text.contains("Email is invalid (2 rows)"), "{text}");
    assert_no_secret("postgres run", &html);
}
