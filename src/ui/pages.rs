//! The pages: handlers reading the state and maud templates rendering it.
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use plotters::style::RGBColor;
use serde::Deserialize;
use serde_json::json;

use super::view::{self, Health, Series};
use super::{Dashboard, TOKEN_COOKIE, UiError};
use crate::core::alerts::AlertState;
use crate::core::calls::{RunCalls, StoredCall, export};
use crate::core::config::{
    DeleteBehavior, MappingSource, MappingTarget, Schedule, SyncConfig, Target,
};
use crate::core::redact::Redactor;
use crate::core::state::{RunRecord, RunStatus};

type Page = Result<Markup, UiError>;

/// An error a page failed with, not yet shown: the dashboard's `error_pages` layer renders it through its
/// redactor (a handler's error has no access to the dashboard).
#[derive(Debug, Clone)]
pub(super) struct ErrorPage(String);

impl ErrorPage {
    /// The error page, `message` redacted by `redactor` (driver errors may quote a connection string).
    pub(super) fn render(self, status: StatusCode, redactor: &Redactor) -> Response {
        let message = redactor.redact_owned(self.0);
        let body = layout(
            "Error",
            &[],
            html! {
                h1 { "Something went wrong" }
                p role="alert" { (message) }
                p { a href="/" { "Back to the overview" } }
            },
        );
        (status, body).into_response()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = match self {
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::State(_) | UiError::TokenFile { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // No text yet: the body is made where the redactor is (`error_pages`).
        let mut response = status.into_response();
        response
            .extensions_mut()
            .insert(ErrorPage(self.to_string()));
        response
    }
}

impl Dashboard {
    fn redact(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    fn spec(&self, id: &str) -> Option<SyncConfig> {
        (self.specs)().into_iter().find(|s| s.id == id)
    }

    /// The run `id` of `sync` with its call totals.
    async fn find_run(&self, sync: &str, id: i64) -> Result<RunCalls, UiError> {
        self.calls
            .run_calls_summary(Some(sync), self.history)
            .await?
            .into_iter()
            .find(|r| r.run.id == id && r.run.sync == sync)
            .ok_or_else(|| {
                UiError::NotFound(format!(
                    "sync {sync} has no run {id} in its history (it may have been pruned)"
                ))
            })
    }
}

// --- URLs -----------------------------------------------------------------------------------------------

fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn sync_url(sync: &str) -> String {
    format!("/sync?id={}", q(sync))
}

fn run_url(sync: &str, run: i64) -> String {
    format!("/run?sync={}&id={run}", q(sync))
}

fn call_url(c: &StoredCall) -> String {
    match c.call.run_id {
        Some(run) => format!("/call?sync={}&run={run}&id={}", q(&c.call.sync), c.id),
        None => format!(
            "/call?sync={}&key={}&id={}",
            q(&c.call.sync),
            q(c.call.keys.first().map_or("", String::as_str)),
            c.id
        ),
    }
}

fn key_url(sync: &str, key: &str) -> String {
    format!("/key?sync={}&key={}", q(sync), q(key))
}

// --- formatting -----------------------------------------------------------------------------------------

fn when(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

fn took(run: &RunRecord) -> String {
    match run.finished_at {
        Some(f) => seconds((f - run.started_at).num_milliseconds() as f64 / 1000.0),
        None => "running".into(),
    }
}

fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{}m {:02}s", (s / 60.0).floor(), (s % 60.0).round())
    }
}

fn status_badge(status: RunStatus) -> Markup {
    let (label, class) = match status {
        RunStatus::Running => ("running", "idle"),
        RunStatus::Succeeded => ("succeeded", "good"),
        RunStatus::PartiallySucceeded => ("rows rejected", "warn"),
        RunStatus::Failed => ("failed", "bad"),
    };
    html! { span class={"badge " (class)} { (label) } }
}

fn health_badge(h: Health) -> Markup {
    html! { span class={"badge " (h.class())} { (h.label()) } }
}

fn kind(target: Target) -> &'static str {
    match target {
        Target::Object(_) => "object",
        Target::Event(_) => "event",
        Target::Action(_) => "action",
    }
}

fn cost(c: &StoredCall) -> String {
    match (c.call.cost_actual, c.call.cost_requested) {
        (Some(a), Some(r)) => format!("{a:.0} / {r:.0}"),
        (None, Some(r)) => format!("- / {r:.0}"),
        (Some(a), None) => format!("{a:.0}"),
        (None, None) => "-".into(),
    }
}

fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

// --- layout ---------------------------------------------------------------------------------------------

fn layout(title: &str, crumbs: &[(String, String)], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · shopsync" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header {
                    nav aria-label="Breadcrumb" {
                        ol {
                            li { a href="/" { "shopsync" } }
                            @for (label, href) in crumbs {
                                li { a href=(href) { (label) } }
                            }
                        }
                    }
                }
                main id="main" { (body) }
                footer { "shopsync " (env!("CARGO_PKG_VERSION")) " · read-only dashboard · times in UTC" }
            }
        }
    }
}

fn table_of_calls(d: &Dashboard, calls: &[StoredCall], show_run: bool) -> Markup {
    html! {
        div class="scroll" {
            table {
                thead { tr {
                    th scope="col" { "Call" }
                    @if show_run { th scope="col" { "Run" } }
                    th scope="col" { "Time" }
                    th scope="col" { "Operation" }
                    th scope="col" { "Status" }
                    th scope="col" class="num" { "Cost" }
                    th scope="col" class="num" { "Duration" }
                    th scope="col" class="num" { "Attempt" }
                    th scope="col" { "Rows" }
                } }
                tbody {
                    @for c in calls {
                        tr class=[c.call.failed().then_some("failed")] {
                            td { a href=(call_url(c)) { "#" (c.id) } }
                            @if show_run { td { @match c.call.run_id {
                                Some(r) => a href=(run_url(&c.call.sync, r)) { "#" (r) },
                                None => "-",
                            } } }
                            td { (c.call.started_at.format("%H:%M:%S%.3f")) }
                            td { (c.call.method) " " (c.call.operation.as_deref().unwrap_or("-")) }
                            td {
                                (c.call.status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()))
                                @if let Some(e) = &c.call.error { " · " span class="error" { (d.redact(e)) } }
                            }
                            td class="num" { (cost(c)) }
                            td class="num" { (format!("{:.1} ms", c.call.duration_us as f64 / 1000.0)) }
                            td class="num" { (c.call.attempt) }
                            td { @for (i, k) in c.call.keys.iter().enumerate() {
                                @if i > 0 { ", " }
                                a href=(key_url(&c.call.sync, k)) { (d.redact(k)) }
                            } }
                        }
                    }
                }
            }
        }
    }
}

// --- pages ----------------------------------------------------------------------------------------------

/// Every sync: health, last and next run, what the last run did, alerts firing.
pub async fn overview(State(d): State<Dashboard>) -> Page {
    let specs = (d.specs)();
    let mut ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    for r in d.calls.run_calls_summary(None, 1000).await? {
        if !ids.contains(&r.run.sync) {
            ids.push(r.run.sync);
        }
    }
    struct Row {
        id: String,
        spec: Option<SyncConfig>,
        health: Health,
        runs: Vec<RunRecord>,
        firing: Vec<String>,
    }
    let mut rows = Vec::new();
    for id in ids {
        let spec = specs.iter().find(|s| s.id == id).cloned();
        let runs = d.state.runs(&id, 2).await?;
        let alerts = d.state.alert_states(&id).await?;
        let health = view::health(spec.as_ref(), &runs, &alerts);
        let firing = alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| format!("{}: {}", a.rule.as_str(), d.redact(&a.message)))
            .collect();
        rows.push(Row {
            id,
            spec,
            health,
            runs,
            firing,
        });
    }
    rows.sort_by(|a, b| a.health.cmp(&b.health).then_with(|| a.id.cmp(&b.id)));
    let body = html! {
        h1 { "Syncs" }
        @if rows.is_empty() {
            p { "No sync has run against this state yet." }
        } @else {
            p class="summary" {
                (rows.len()) " syncs · "
                (rows.iter().filter(|r| r.health == Health::Ok).count()) " ok · "
                (rows.iter().filter(|r| r.health <= Health::RejectedRows).count()) " need attention"
            }
            div class="scroll" {
                table {
                    caption class="visually-hidden" { "Every sync, the ones needing attention first" }
                    thead { tr {
                        th scope="col" { "Sync" }
                        th scope="col" { "Destination" }
                        th scope="col" { "Feeds" }
                        th scope="col" { "Health" }
                        th scope="col" { "Last run" }
                        th scope="col" { "Next run" }
                        th scope="col" class="num" { "Synced" }
                        th scope="col" class="num" { "Rejected" }
                        th scope="col" { "Alerts firing" }
                    } }
                    tbody {
                        @for row in &rows {
                            @let last = row.runs.first();
                            @let done = row.runs.iter().find(|r| r.status != RunStatus::Running);
                            tr {
                                th scope="row" { a href=(sync_url(&row.id)) { (row.id) } }
                                td { (row.spec.as_ref().map_or("-", |s| s.destination.as_str())) }
                                td { @if let Some(s) = &row.spec { (kind(s.target)) " " (s.target.name()) } @else { "-" } }
                                td { (health_badge(row.health)) }
                                td {
                                    @if let Some(r) = last {
                                        a href=(run_url(&row.id, r.id)) { (when(r.started_at)) }
                                        " " (status_badge(r.status))
                                        @if r.status == RunStatus::Running {
                                            span data-follow=(format!("/api/run?sync={}&id={}", q(&row.id), r.id)) {}
                                        }
                                    } @else { "never" }
                                }
                                td { (next_run_text(row.spec.as_ref(), &row.runs)) }
                                td class="num" { (done.map_or("-".into(), |r| r.stats.succeeded.to_string())) }
                                td class="num" { (done.map_or("-".into(), |r| r.stats.rejected.to_string())) }
                                td {
                                    @if row.firing.is_empty() { "none" } @else {
                                        ul class="plain" { @for f in &row.firing { li class="error" { (f) } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout("Syncs", &[], body))
}

fn next_run_text(spec: Option<&SyncConfig>, runs: &[RunRecord]) -> Markup {
    match (spec, view::next_run(spec, runs)) {
        (_, Some(t)) => when(t),
        (Some(s), None) if s.suspend => html! { "suspended" },
        (Some(_), None) if runs.is_empty() => html! { "at start" },
        (Some(_), None) => html! { "manual" },
        (None, None) => html! { "unknown (no spec)" },
    }
}

/// `?id=`
#[derive(Deserialize)]
pub struct SyncQuery {
    id: String,
}

/// A sync: run history charts and table, spec summary, alerts, key search.
pub async fn sync(State(d): State<Dashboard>, Query(p): Query<SyncQuery>) -> Page {
    let spec = d.spec(&p.id);
    let mut runs: Vec<RunCalls> = d
        .calls
        .run_calls_summary(Some(&p.id), d.history)
        .await?
        .into_iter()
        .filter(|r| r.run.sync == p.id)
        .collect();
    let alerts = d.state.alert_states(&p.id).await?;
    if runs.is_empty() && spec.is_none() && alerts.is_empty() {
        return Err(UiError::NotFound(format!("no sync {} in this state", p.id)));
    }
    let records: Vec<RunRecord> = runs.iter().map(|r| r.run.clone()).collect();
    let health = view::health(spec.as_ref(), &records, &alerts);
    runs.reverse();
    let ids: Vec<i64> = runs.iter().map(|r| r.run.id).collect();
    let per_run = |f: &dyn Fn(&RunCalls) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let rows_chart = view::chart(
        "Rows per run",
        "rows",
        &ids,
        &[
            Series {
                label: "added",
                color: RGBColor(31, 119, 180),
                values: per_run(&|r: &RunCalls| r.run.stats.added as f64),
            },
            Series {
                label: "changed",
                color: RGBColor(44, 160, 44),
                values: per_run(&|r: &RunCalls| r.run.stats.changed as f64),
            },
            Series {
                label: "removed",
                color: RGBColor(127, 127, 127),
                values: per_run(&|r: &RunCalls| r.run.stats.removed as f64),
            },
            Series {
                label: "rejected",
                color: RGBColor(214, 39, 40),
                values: per_run(&|r: &RunCalls| r.run.stats.rejected as f64),
            },
        ],
    );
    let duration_chart = view::chart(
        "Duration per run",
        "seconds",
        &ids,
        &[Series {
            label: "duration",
            color: RGBColor(148, 103, 189),
            values: per_run(&|r: &RunCalls| {
                r.run.finished_at.map_or(0.0, |f| {
                    (f - r.run.started_at).num_milliseconds() as f64 / 1000.0
                })
            }),
        }],
    );
    let cost_chart = view::chart(
        "Shopify cost per run",
        "points",
        &ids,
        &[Series {
            label: "cost",
            color: RGBColor(255, 127, 14),
            values: per_run(&|r: &RunCalls| r.cost),
        }],
    );
    runs.reverse();
    let body = html! {
        h1 { "Sync " (p.id) " " (health_badge(health)) }
        section aria-labelledby="alerts" {
            h2 id="alerts" { "Alerts" }
            @if alerts.is_empty() { p { "No alert has been evaluated for this sync." } } @else {
                ul class="plain" {
                    @for a in &alerts {
                        li class=[(a.state == AlertState::Firing).then_some("error")] {
                            strong { (a.rule.as_str()) } " " (a.state.as_str()) " since " (when(a.since)) ": " (d.redact(&a.message))
                        }
                    }
                }
            }
        }
        section aria-labelledby="search" {
            h2 id="search" { "Find a row" }
            (key_form(&p.id, ""))
        }
        section aria-labelledby="history" {
            h2 id="history" { "Run history" }
            @if runs.is_empty() { p { "No run recorded yet." } } @else {
                div class="charts" {
                    figure role="img" aria-label="Rows added, changed, removed and rejected per run (the table below has the figures)" { (PreEscaped(rows_chart)) }
                    figure role="img" aria-label="Duration of each run in seconds" { (PreEscaped(duration_chart)) }
                    figure role="img" aria-label="Shopify query cost points of each run" { (PreEscaped(cost_chart)) }
                }
                div class="scroll" {
                    table {
                        thead { tr {
                            th scope="col" { "Run" } th scope="col" { "Started" } th scope="col" { "Status" }
                            th scope="col" class="num" { "Took" } th scope="col" class="num" { "Queried" }
                            th scope="col" class="num" { "Added" } th scope="col" class="num" { "Changed" }
                            th scope="col" class="num" { "Removed" } th scope="col" class="num" { "Synced" }
                            th scope="col" class="num" { "Rejected" } th scope="col" class="num" { "Calls" }
                            th scope="col" class="num" { "Cost" }
                        } }
                        tbody {
                            @for r in &runs {
                                tr {
                                    th scope="row" { a href=(run_url(&p.id, r.run.id)) { "Run #" (r.run.id) } }
                                    td { (when(r.run.started_at)) }
                                    td { (status_badge(r.run.status)) }
                                    td class="num" { (took(&r.run)) }
                                    td class="num" { (r.run.stats.rows_queried) }
                                    td class="num" { (r.run.stats.added) }
                                    td class="num" { (r.run.stats.changed) }
                                    td class="num" { (r.run.stats.removed) }
                                    td class="num" { (r.run.stats.succeeded) }
                                    td class="num" { (r.run.stats.rejected) }
                                    td class="num" { (r.calls) }
                                    td class="num" { (format!("{:.0}", r.cost)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="spec" {
            h2 id="spec" { "Spec" }
            @if let Some(s) = &spec { (spec_summary(&d, s)) } @else {
                p { "This dashboard was started without the sync's spec (start it with " code { "--filename" } " to see it)." }
            }
        }
    };
    Ok(layout(
        &format!("Sync {}", p.id),
        &[(p.id.clone(), sync_url(&p.id))],
        body,
    ))
}

fn spec_summary(d: &Dashboard, s: &SyncConfig) -> Markup {
    let guard = match (s.delete_guard.max_count, s.delete_guard.max_percent) {
        (Some(c), Some(p)) => format!("at most {c} records and {p}% per run"),
        (Some(c), None) => format!("at most {c} records per run"),
        (None, Some(p)) => format!("at most {p}% of the records per run"),
        (None, None) => "none".into(),
    };
    html! {
        dl class="facts" {
            dt { "Destination" } dd { (s.destination) }
            dt { "Feeds" } dd { (kind(s.target)) " " (s.target.name()) }
            dt { "Mode" } dd { (s.mode.as_str()) }
            dt { "Primary key" } dd { code { (s.primary_key) } }
            dt { "Match key" } dd { (s.match_key.map_or("-".into(), |m| m.as_str().to_owned())) }
            dt { "Schedule" } dd { (schedule(&s.schedule)) @if s.suspend { " (suspended)" } }
            dt { "Deletes" } dd {
                @if s.deletes() { "records whose row leaves the query are deleted" }
                @else if s.delete_behavior == DeleteBehavior::DoNothing { "none: records whose row leaves are left alone" }
                @else { (s.delete_behavior.as_str()) }
            }
            dt { "Delete guard" } dd { (guard) }
        }
        h3 { "Mappings" }
        div class="scroll" {
            table {
                thead { tr { th scope="col" { "Shopify field" } th scope="col" { "From" } th scope="col" { "Format" } } }
                tbody {
                    @for m in &s.mappings {
                        tr {
                            td { code { @match &m.target {
                                MappingTarget::Field(f) => (f),
                                MappingTarget::Metafield { namespace, key, type_ } => (format!("metafield {namespace}.{key} ({type_})")),
                            } } }
                            td { @match &m.source {
                                MappingSource::Column(c) => { "column " code { (c) } },
                                MappingSource::Static(v) => { "static " code { (d.redact(&v.to_string())) } },
                            } }
                            td { (m.format.as_str()) }
                        }
                    }
                }
            }
        }
    }
}

fn schedule(s: &Schedule) -> String {
    match s {
        Schedule::Interval(d) => format!("every {}", humantime::format_duration(*d)),
        Schedule::Cron(expr) => format!("cron {expr} (UTC)"),
        Schedule::Manual => "manual".into(),
    }
}

fn key_form(sync: &str, key: &str) -> Markup {
    html! {
        form class="inline" action="/key" method="get" role="search" {
            input type="hidden" name="sync" value=(sync);
            label for="key" { "Primary key" }
            input id="key" name="key" type="search" required value=(key) placeholder="e.g. C-1001";
            button type="submit" { "Show every call about it" }
        }
    }
}

/// `?sync=&id=`
#[derive(Deserialize)]
pub struct RunQuery {
    sync: String,
    id: i64,
}

/// A run: counts, rejected rows by reason, its calls, export links.
pub async fn run(State(d): State<Dashboard>, Query(p): Query<RunQuery>) -> Page {
    let r = d.find_run(&p.sync, p.id).await?;
    let calls = d.calls.calls_of_run(p.id).await?;
    let groups = view::by_reason(view::rejections(&calls));
    let shown: usize = groups.iter().map(|(_, rows)| rows.len()).sum();
    let running = r.run.status == RunStatus::Running;
    let stats = r.run.stats;
    let body = html! {
        h1 { "Run #" (r.run.id) " of " (p.sync) " " (status_badge(r.run.status)) }
        @if running {
            p class="live" role="status" data-follow=(format!("/api/run?sync={}&id={}", q(&p.sync), p.id)) {
                "In progress: " output data-field="calls" { (r.calls) } " calls so far, "
                output data-field="cost" { (format!("{:.0}", r.cost)) } " cost points, running for "
                output data-field="elapsed" { (seconds((Utc::now() - r.run.started_at).num_milliseconds() as f64 / 1000.0)) }
                ". This page follows the run."
            }
        }
        @if let Some(e) = &r.run.error { p class="error" role="alert" { strong { "Failed: " } (d.redact(e)) } }
        dl class="facts counts" {
            dt { "Started" } dd { (when(r.run.started_at)) }
            dt { "Took" } dd { (took(&r.run)) }
            dt { "Rows queried" } dd { (stats.rows_queried) }
            dt { "Added" } dd { (stats.added) }
            dt { "Changed" } dd { (stats.changed) }
            dt { "Removed" } dd { (stats.removed) }
            dt { "Synced" } dd { (stats.succeeded) }
            dt { "Rejected" } dd { (stats.rejected) }
            dt { "Calls" } dd { (r.calls) " (" (r.failed) " failed, " (r.retries) " retries)" }
            dt { "Cost" } dd { (format!("{:.0}", r.cost)) " points" }
        }
        p {
            "Export this run's calls: "
            a href=(format!("/export?sync={}&run={}&format=json", q(&p.sync), p.id)) download=(format!("run-{}.json", p.id)) { "JSON" }
            " · "
            a href=(format!("/export?sync={}&run={}&format=csv", q(&p.sync), p.id)) download=(format!("run-{}.csv", p.id)) { "CSV" }
        }
        section aria-labelledby="rejected" {
            h2 id="rejected" { "Rejected rows" }
            @if groups.is_empty() {
                p { @if stats.rejected > 0 {
                    (stats.rejected) " rows were rejected; their reasons are not in the call log (rejected by the mapping before sending, or the calls aged out)."
                } @else { "None." } }
            } @else {
                @if (stats.rejected as usize) > shown {
                    p { (stats.rejected) " rows were rejected; " (shown) " of them by Shopify in the calls below (the others by the mapping, before sending)." }
                }
                @for (reason, rows) in &groups {
                    section class="reason" {
                        h3 { (d.redact(reason)) " " span class="count" { "(" (rows.len()) (if rows.len() == 1 { " row)" } else { " rows)" }) } }
                        div class="scroll" {
                            table {
                                thead { tr { th scope="col" { "Key" } th scope="col" { "Field" } th scope="col" { "Code" } th scope="col" { "Call" } } }
                                tbody { @for row in rows { tr {
                                    td { @if let Some(k) = &row.key { a href=(key_url(&p.sync, k)) { (d.redact(k)) } } @else { "-" } }
                                    td { code { (if row.field.is_empty() { "-" } else { row.field.as_str() }) } }
                                    td { (row.code.as_deref().unwrap_or("-")) }
                                    td { a href=(format!("/call?sync={}&run={}&id={}", q(&p.sync), p.id, row.call_id)) { "#" (row.call_id) } }
                                } } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="calls" {
            h2 id="calls" { "Calls" }
            @if calls.is_empty() { p { "No calls recorded for this run (the debugger log was off, or they aged out)." } }
            @else { (table_of_calls(&d, &calls, false)) }
        }
    };
    Ok(layout(
        &format!("Run #{}", p.id),
        &[
            (p.sync.clone(), sync_url(&p.sync)),
            (format!("Run #{}", p.id), run_url(&p.sync, p.id)),
        ],
        body,
    ))
}

/// `?sync=&id=` and `run=` or `key=`
#[derive(Deserialize)]
pub struct CallQuery {
    sync: String,
    id: i64,
    run: Option<i64>,
    key: Option<String>,
}

/// One call, as the debugger log holds it.
pub async fn call(State(d): State<Dashboard>, Query(p): Query<CallQuery>) -> Page {
    let calls = match (&p.run, &p.key) {
        (Some(run), _) => d.calls.calls_of_run(*run).await?,
        (None, Some(key)) => d.calls.calls_for_key(&p.sync, key).await?,
        (None, None) => Vec::new(),
    };
    let c = calls
        .into_iter()
        .find(|c| c.id == p.id && c.call.sync == p.sync)
        .ok_or_else(|| {
            UiError::NotFound(format!("no call #{} of sync {} is kept", p.id, p.sync))
        })?;
    let call = c.call.clone().redacted(&d.redactor);
    let mut crumbs = vec![(p.sync.clone(), sync_url(&p.sync))];
    if let Some(run) = call.run_id {
        crumbs.push((format!("Run #{run}"), run_url(&p.sync, run)));
    }
    crumbs.push((format!("Call #{}", c.id), call_url(&c)));
    let body = html! {
        h1 { "Call #" (c.id) ": " (call.method) " " (call.operation.as_deref().unwrap_or("-")) }
        dl class="facts" {
            dt { "Status" } dd class=[c.call.failed().then_some("error")] {
                (call.status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()))
                @if let Some(e) = &call.error { " · " (e) }
            }
            dt { "Operation" } dd { (call.operation.as_deref().unwrap_or("-")) }
            dt { "URL" } dd { code { (call.url) } }
            dt { "Sent" } dd { (when(call.started_at)) }
            dt { "Duration" } dd { (format!("{:.1} ms", call.duration_us as f64 / 1000.0)) }
            dt { "Attempt" } dd { (call.attempt) @if call.is_retry() { " (a retry)" } }
            dt { "Cost (actual / requested)" } dd { (cost(&c)) }
            dt { "Run" } dd { @match call.run_id { Some(r) => a href=(run_url(&p.sync, r)) { "Run #" (r) }, None => "-" } }
            dt { "Rows concerned" } dd {
                @if call.keys.is_empty() { "none" }
                @for (i, k) in call.keys.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(key_url(&p.sync, k)) { (k) }
                }
            }
        }
        section aria-labelledby="document" {
            h2 id="document" { "Document" }
            pre tabindex="0" { code { (call.document.as_deref().unwrap_or("(none)")) } }
        }
        section aria-labelledby="variables" {
            h2 id="variables" { "Variables" }
            pre tabindex="0" { code { (call.variables.as_deref().map(pretty_json).unwrap_or_else(|| "(none)".into())) } }
        }
        section aria-labelledby="answer" {
            h2 id="answer" { "Answer" }
            pre tabindex="0" { code { (call.response.as_deref().map(pretty_json).unwrap_or_else(|| "(no answer)".into())) } }
        }
    };
    Ok(layout(&format!("Call #{}", c.id), &crumbs, body))
}

/// `?sync=&key=`
#[derive(Deserialize)]
pub struct KeyQuery {
    sync: String,
    key: String,
}

/// Every kept call about one primary key, across runs.
pub async fn key(State(d): State<Dashboard>, Query(p): Query<KeyQuery>) -> Page {
    let calls: Vec<StoredCall> = d
        .calls
        .calls_for_key(&p.sync, &p.key)
        .await?
        .into_iter()
        .filter(|c| c.call.sync == p.sync)
        .collect();
    let shown = d.redact(&p.key);
    let body = html! {
        h1 { "Key " code { (shown) } " of " (p.sync) }
        (key_form(&p.sync, &shown))
        @if calls.is_empty() {
            p { "No call about this key is kept (it was never sent, or its calls aged out)." }
        } @else {
            p { (calls.len()) " calls, oldest first." }
            (table_of_calls(&d, &calls, true))
        }
    };
    Ok(layout(
        &format!("Key {shown}"),
        &[
            (p.sync.clone(), sync_url(&p.sync)),
            (format!("Key {shown}"), key_url(&p.sync, &p.key)),
        ],
        body,
    ))
}

/// `?sync=&run=&format=json|csv`
#[derive(Deserialize)]
pub struct ExportQuery {
    sync: String,
    run: i64,
    format: String,
}

/// A run's calls, as `shopsync debugger export` writes them.
pub async fn export(
    State(d): State<Dashboard>,
    Query(p): Query<ExportQuery>,
) -> Result<Response, UiError> {
    d.find_run(&p.sync, p.run).await?;
    let calls = d.calls.calls_of_run(p.run).await?;
    let (text, mime, ext) = match p.format.as_str() {
        "csv" => (
            export::to_csv(&calls, &d.redactor),
            "text/csv; charset=utf-8",
            "csv",
        ),
        "json" => (
            export::to_json(p.run, &calls, &d.redactor),
            "application/json",
            "json",
        ),
        other => {
            return Err(UiError::NotFound(format!(
                "no export format {other}: use json or csv"
            )));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"run-{}.{ext}\"", p.run),
            ),
        ],
        text,
    )
        .into_response())
}

/// Where a run stands, for pages that follow it.
pub async fn run_progress(
    State(d): State<Dashboard>,
    Query(p): Query<RunQuery>,
) -> Result<Response, UiError> {
    let r = d.find_run(&p.sync, p.id).await?;
    let elapsed = (r.run.finished_at.unwrap_or_else(Utc::now) - r.run.started_at).num_milliseconds()
        as f64
        / 1000.0;
    Ok(axum::Json(json!({
        "status": r.run.status.as_str(),
        "running": r.run.status == RunStatus::Running,
        "calls": r.calls,
        "cost": format!("{:.0}", r.cost),
        "elapsed": seconds(elapsed),
    }))
    .into_response())
}

/// The stylesheet.
pub async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
        .into_response()
}

/// The script that follows runs in progress.
pub async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
        .into_response()
}

/// The login form (when a token is required).
pub async fn login_form() -> Markup {
    layout(
        "Sign in",
        &[],
        html! {
            h1 { "Sign in" }
            form method="post" action="/login" {
                p { label for="token" { "Dashboard token" } }
                p { input id="token" name="token" type="password" required autocomplete="current-password"; }
                p { button type="submit" { "Sign in" } }
            }
        },
    )
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// Sets the token cookie; the guard checks it on the next request.
pub async fn login(Form(l): Form<Login>) -> Response {
    let cookie = format!(
        "{TOKEN_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        l.token.trim().replace([';', ',', ' '], "")
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// Clears the token cookie.
pub async fn logout() -> Response {
    let cookie = format!("{TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}
