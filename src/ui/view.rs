//! What the pages show, computed from plain data: a sync's health, the rows a run's calls were refused for,
//! and the run-history charts (SVG drawn by plotters).
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use serde_json::Value;

use crate::core::alerts::{AlertRecord, AlertRule, AlertState};
use crate::core::calls::StoredCall;
use crate::core::config::SyncConfig;
use crate::core::state::{RunRecord, RunStatus};

/// A sync's health at a glance, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// The last run failed as a whole (or the run-failed alert fires).
    Failing,
    /// No run succeeded for too long (the late alert fires).
    Late,
    /// The last run finished but Shopify (or the mapping) rejected rows.
    RejectedRows,
    /// The spec is suspended: it does not run on its schedule.
    Suspended,
    /// No run finished yet.
    NeverRan,
    /// The last run succeeded.
    Ok,
}

impl Health {
    /// The label shown.
    pub fn label(self) -> &'static str {
        match self {
            Health::Failing => "failing",
            Health::Late => "late",
            Health::RejectedRows => "rejected rows",
            Health::Suspended => "suspended",
            Health::NeverRan => "no finished run",
            Health::Ok => "ok",
        }
    }

    /// The CSS class of its badge.
    pub fn class(self) -> &'static str {
        match self {
            Health::Failing => "bad",
            Health::Late | Health::RejectedRows => "warn",
            Health::Suspended | Health::NeverRan => "idle",
            Health::Ok => "good",
        }
    }
}

/// The health of a sync from its spec (when known), its runs (newest first) and its alert states.
pub fn health(spec: Option<&SyncConfig>, runs: &[RunRecord], alerts: &[AlertRecord]) -> Health {
    let firing = |rule| {
        alerts
            .iter()
            .any(|a| a.rule == rule && a.state == AlertState::Firing)
    };
    let last = runs.iter().find(|r| r.status != RunStatus::Running);
    if last.is_some_and(|r| r.status == RunStatus::Failed) || firing(AlertRule::RunFailed) {
        return Health::Failing;
    }
    if firing(AlertRule::Late) {
        return Health::Late;
    }
    if last.is_some_and(|r| r.stats.rejected > 0) || firing(AlertRule::RejectedRows) {
        return Health::RejectedRows;
    }
    if spec.is_some_and(|s| s.suspend) {
        return Health::Suspended;
    }
    if last.is_none() {
        return Health::NeverRan;
    }
    Health::Ok
}

/// When the sync runs next: `None` when it has no schedule (manual, suspended, or the spec is unknown).
pub fn next_run(spec: Option<&SyncConfig>, runs: &[RunRecord]) -> Option<DateTime<Utc>> {
    let spec = spec.filter(|s| !s.suspend)?;
    let last = runs.first()?;
    spec.schedule.next_after(last.started_at)
}

/// A row Shopify refused in one of a run's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The row's primary key, when the call tells it.
    pub key: Option<String>,
    /// The field blamed, as a dotted path.
    pub field: String,
    /// Shopify's error code, when it gave one.
    pub code: Option<String>,
    /// Shopify's message.
    pub message: String,
    /// The call that carried it.
    pub call_id: i64,
}

/// The rows refused in `calls`: every `userErrors` entry of every mutation payload, tied to its row's key. A
/// batched document carries one payload per row, in the order of the call's keys. The same refusal seen twice
/// (a batch, then the row alone) is listed once.
pub fn rejections(calls: &[StoredCall]) -> Vec<Rejection> {
    let mut out: Vec<Rejection> = Vec::new();
    for c in calls {
        let Some(data) = c
            .call
            .response
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .and_then(|v| v.get("data").cloned())
            .and_then(|d| match d {
                Value::Object(m) => Some(m),
                _ => None,
            })
        else {
            continue;
        };
        let payloads = data.len();
        for (i, payload) in data.values().enumerate() {
            let Some(errors) = payload.get("userErrors").and_then(Value::as_array) else {
                continue;
            };
            let key = if c.call.keys.len() == payloads {
                c.call.keys.get(i).cloned()
            } else if c.call.keys.len() == 1 {
                c.call.keys.first().cloned()
            } else {
                None
            };
            for e in errors {
                let field = match e.get("field") {
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .map(|p| match p {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => String::new(),
                };
                let rejection = Rejection {
                    key: key.clone(),
                    field,
                    code: e.get("code").and_then(Value::as_str).map(str::to_owned),
                    message: e
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("(no message)")
                        .to_owned(),
                    call_id: c.id,
                };
                if !out.iter().any(|r| {
                    r.key == rejection.key
                        && r.field == rejection.field
                        && r.message == rejection.message
                }) {
                    out.push(rejection);
                }
            }
        }
    }
    out
}

/// Rejections grouped by reason (Shopify's message), the most frequent first.
pub fn by_reason(rejections: Vec<Rejection>) -> Vec<(String, Vec<Rejection>)> {
    let mut groups: Vec<(String, Vec<Rejection>)> = Vec::new();
    for r in rejections {
        match groups.iter_mut().find(|(m, _)| *m == r.message) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((r.message.clone(), vec![r])),
        }
    }
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    groups
}

/// One line of a chart.
pub struct Series {
    /// Its legend.
    pub label: &'static str,
    /// Its colour.
    pub color: RGBColor,
    /// One value per run, oldest first.
    pub values: Vec<f64>,
}

/// A line chart of per-run values as an SVG document (x: the runs, labelled by id, oldest first).
pub fn chart(caption: &str, y_label: &str, run_ids: &[i64], series: &[Series]) -> String {
    let mut svg = String::new();
    // Drawing into a String cannot fail for I/O reasons; a failure leaves a partial chart, not an error page.
    let _ = draw(&mut svg, caption, y_label, run_ids, series);
    svg
}

fn draw(
    svg: &mut String,
    caption: &str,
    y_label: &str,
    run_ids: &[i64],
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (640, 260)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = run_ids.len().max(1);
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let top = if top <= 0.0 { 1.0 } else { top * 1.1 };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("run")
        .y_desc(y_label)
        .x_labels(n.min(10))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            run_ids
                .get(i as usize)
                .map(|id| format!("#{id}"))
                .unwrap_or_default()
        })
        .draw()?;
    for s in series {
        let color = s.color;
        let points: Vec<(f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64, *v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(s.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart.draw_series(PointSeries::of_element(
            points,
            3,
            color.filled(),
            &|c, s, st| Circle::new(c, s, st),
        ))?;
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::calls::ApiCall;

    fn call(id: i64, keys: &[&str], response: &str) -> StoredCall {
        StoredCall {
            id,
            call: ApiCall {
                run_id: Some(1),
                sync: "s".into(),
                started_at: Utc::now(),
                duration_us: 1,
                method: "POST".into(),
                url: "u".into(),
                operation: None,
                document: None,
                variables: None,
                status: Some(200),
                response: Some(response.into()),
                error: None,
                cost_requested: None,
                cost_actual: None,
                keys: keys.iter().map(|k| k.to_string()).collect(),
                attempt: 1,
            },
        }
    }

    #[test]
    fn batched_payloads_map_to_their_keys_and_repeats_collapse() {
        let batch = call(
            1,
            &["a", "b"],
            r#"{"data":{"m0":{"userErrors":[]},"m1":{"userErrors":[{"field":["input","email"],"code":"INVALID","message":"Email is invalid"}]}}}"#,
        );
        let alone = call(
            2,
            &["b"],
            r#"{"data":{"customerSet":{"userErrors":[{"field":["input","email"],"message":"Email is invalid"}]}}}"#,
        );
        let other = call(
            3,
            &["c"],
            r#"{"data":{"customerSet":{"userErrors":[{"field":null,"message":"Title can't be blank"}]}}}"#,
        );
        let found = rejections(&[batch, alone, other]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].key.as_deref(), Some("b"));
        assert_eq!(found[0].field, "input.email");
        assert_eq!(found[0].code.as_deref(), Some("INVALID"));
        assert_eq!(found[0].call_id, 1);
        assert_eq!(found[1].key.as_deref(), Some("c"));
        let groups = by_reason(found);
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn charts_are_svg_with_their_caption() {
        let svg = chart(
            "Rows per run",
            "rows",
            &[7, 8],
            &[Series {
                label: "added",
                color: BLUE,
                values: vec![1.0, 3.0],
            }],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("Rows per run"));
        assert!(svg.contains("#8"));
    }
}
