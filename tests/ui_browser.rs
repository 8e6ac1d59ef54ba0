//! The dashboard in a real browser: after a quickstart, headless Chromium (Debian's, driven through
//! chromedriver over WebDriver) opens the overview, clicks through sync -> run -> call, searches a key and
//! exports a run. Screenshots of every page (laptop and phone widths) are saved under
//! `target/tmp/ui-browser/` and the path is printed.
//!
//! Chromium and chromedriver are Debian packages (`.ci/run` installs them). Without them the test fails
//! under CI and says so elsewhere.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shopsync"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the browser tier can run; under CI its absence is a failure, not a skip.
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: .ci/run installs Debian's chromium and chromium-driver"
        );
        eprintln!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)"
        );
    }
    present
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn quickstart(dir: &Path) -> PathBuf {
    let out = bin()
        .current_dir(repo())
        .args(["quickstart", "--fresh", "--examples", "examples", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "quickstart: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("state.db")
}

/// `shopsync ui` on a free port; returns the process and the base URL it printed.
fn dashboard(state: &Path) -> (Running, String) {
    let mut child = bin()
        .current_dir(repo())
        .args(["ui", "--listen", "127.0.0.1:0", "-f", "examples", "--state"])
        .arg(state)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("dashboard: ")
        .unwrap_or_else(|| panic!("unexpected first line from shopsync ui: {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    (running, url)
}

async fn browser(profile: &Path) -> (Running, Client) {
    let port = free_port();
    let driver = Running(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let started = Instant::now();
    loop {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("chromedriver on port {port} did not start a session: {e}"),
        }
    }
}

/// The text of the page as shown, spaces collapsed.
async fn text(c: &Client) -> String {
    let body = c
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn shot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn click_link(c: &Client, text: &str) {
    c.find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("no link {text:?}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn fetch_text(c: &Client, href: &str) -> String {
    let value = c
        .execute_async(
            "const [url, done] = arguments; fetch(url).then(r => r.text()).then(done, e => done('fetch failed: ' + e));",
            vec![serde_json::Value::String(href.to_owned())],
        )
        .await
        .unwrap();
    value.as_str().unwrap_or_default().to_owned()
}

fn debugger_export(state: &Path, run: &str, format: &str) -> String {
    let out = bin()
        .args(["debugger", "export", run, "--format", format, "--state"])
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_clicks_from_the_overview_to_a_call_searches_a_key_and_exports_a_run() {
    if !browser_available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let state = quickstart(&work.path().join("quickstart"));
    let (_ui, base) = dashboard(&state);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-browser");
    std::fs::create_dir_all(&shots).unwrap();
    println!("screenshots: {}", shots.display());
    let (_driver, c) = browser(&work.path().join("profile")).await;

    // Overview: every example sync, with health and its last run.
    c.goto(&format!("{base}/")).await.unwrap();
    let overview = text(&c).await;
    assert!(overview.contains("Syncs"), "{overview}");
    for sync in ["customers", "products", "inventory-levels"] {
        assert!(
            overview.contains(sync),
            "{sync} missing from the overview: {overview}"
        );
    }
    assert_eq!(c.title().await.unwrap(), "Syncs · shopsync");
    shot(&c, &shots, "overview").await;

    // Sync -> run -> call.
    click_link(&c, "default/customers").await;
    let sync = text(&c).await;
    assert!(sync.contains("Sync default/customers"), "{sync}");
    assert!(
        sync.contains("Run history") && sync.contains("Mappings"),
        "{sync}"
    );
    shot(&c, &shots, "sync").await;
    let run_link = c
        .find(Locator::Css("#history ~ div table a[href^='/run?']"))
        .await
        .unwrap();
    let run_label = run_link.text().await.unwrap();
    let run_id = run_label.trim_start_matches("Run #").to_owned();
    run_link.click().await.unwrap();
    let run = text(&c).await;
    assert!(
        run.contains(&format!("Run #{run_id} of default/customers")),
        "{run}"
    );
    assert!(
        run.contains("Rows queried") && run.contains("Rejected rows") && run.contains("Calls"),
        "{run}"
    );
    shot(&c, &shots, "run").await;

    // Export: the links give what `shopsync debugger export` gives.
    for (label, format) in [("JSON", "json"), ("CSV", "csv")] {
        let href = c
            .find(Locator::LinkText(label))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let served = fetch_text(&c, &href).await;
        assert_eq!(
            served,
            debugger_export(&state, &run_id, format),
            "{format} export of run {run_id}"
        );
    }

    let call_link = c
        .find(Locator::Css("#calls ~ div table a[href^='/call?']"))
        .await
        .unwrap();
    let call_label = call_link.text().await.unwrap();
    call_link.click().await.unwrap();
    let call = text(&c).await;
    assert!(call.contains(&format!("Call {call_label}: POST")), "{call}");
    for part in [
        "Status",
        "Attempt",
        "Rows concerned",
        "Document",
        "Variables",
        "Answer",
    ] {
        assert!(call.contains(part), "{part} missing: {call}");
    }
    shot(&c, &shots, "call").await;
    let key = c
        .find(Locator::Css("a[href^='/key?']"))
        .await
        .expect("the call concerns a row")
        .text()
        .await
        .unwrap();

    // Key search from the sync page, with the keyboard.
    click_link(&c, "default/customers").await;
    let input = c.find(Locator::Id("key")).await.unwrap();
    input.send_keys(&format!("{key}\u{E007}")).await.unwrap();
    c.wait().for_element(Locator::Css("h1 code")).await.unwrap();
    let found = text(&c).await;
    assert!(
        found.contains(&format!("Key {key} of default/customers")),
        "{found}"
    );
    assert!(found.contains("calls, oldest first."), "{found}");
    assert!(
        found.contains(&call_label),
        "the call we came from is about {key}: {found}"
    );
    shot(&c, &shots, "key").await;

    // A run whose rows Shopify rejected (the quickstart's action on fulfillment order 5006).
    c.goto(&format!("{base}/")).await.unwrap();
    let rejected = c
        .find(Locator::XPath(
            "//tr[.//span[contains(@class, 'warn')]]//a[starts-with(@href, '/run?')]",
        ))
        .await
        .expect("the quickstart leaves a sync with rejected rows");
    rejected.click().await.unwrap();
    let run = text(&c).await;
    assert!(run.contains("rows rejected"), "{run}");
    assert!(
        regex::Regex::new(r"Rejected rows .+ \(1 row\) Key Field Code Call")
            .unwrap()
            .is_match(&run),
        "{run}"
    );
    shot(&c, &shots, "run-rejected").await;

    // The same pages at a phone's width.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    shot(&c, &shots, "overview-phone").await;
    c.goto(&format!("{base}/run?sync=default%2Fcustomers&id={run_id}"))
        .await
        .unwrap();
    shot(&c, &shots, "run-phone").await;
    c.close().await.unwrap();
}
