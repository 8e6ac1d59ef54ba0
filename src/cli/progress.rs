//! Progress of long runs on standard error: a bar on a terminal, plain lines otherwise (CI logs, files).
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::core::progress::Progress;

/// Runs with fewer records than this finish too fast for a bar or a line to help.
const MIN_TOTAL: u64 = 200;
/// Plain lines come at most this often per sync.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// The reporter for this process: a bar when standard error is a terminal, plain lines when it is not.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bars::default())
    } else {
        Box::new(Lines::default())
    }
}

/// One bar per running sync.
#[derive(Default)]
struct Bars {
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress for Bars {
    fn planned(&self, sync: &str, total: u64) {
        if total < MIN_TOTAL {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        // The template is a constant: a parse failure would be a bug, and a bar without style still works.
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {pos}/{len} records, {per_sec}, {eta} left",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(sync.to_string());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(sync.to_string(), bar);
        }
    }

    fn advanced(&self, sync: &str, done: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(sync).cloned()) {
            bar.inc(done);
        }
    }

    fn finished(&self, sync: &str) {
        // Cleared, not left behind: the run's summary line follows on standard output.
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(sync)) {
            bar.finish_and_clear();
        }
    }
}

struct LineState {
    total: u64,
    done: u64,
    started: Instant,
    last: Instant,
}

/// A line per sync every [`LINE_EVERY`] while it writes.
#[derive(Default)]
struct Lines {
    runs: Mutex<HashMap<String, LineState>>,
}

impl Progress for Lines {
    fn planned(&self, sync: &str, total: u64) {
        if total < MIN_TOTAL {
            return;
        }
        eprintln!("{sync}: {total} records to apply");
        let now = Instant::now();
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(
                sync.to_string(),
                LineState {
                    total,
                    done: 0,
                    started: now,
                    last: now,
                },
            );
        }
    }

    fn advanced(&self, sync: &str, done: u64) {
        let Ok(mut runs) = self.runs.lock() else {
            return;
        };
        let Some(run) = runs.get_mut(sync) else {
            return;
        };
        run.done += done;
        if run.last.elapsed() >= LINE_EVERY {
            run.last = Instant::now();
            eprintln!(
                "{sync}: {}",
                line(run.done, run.total, run.started.elapsed())
            );
        }
    }

    fn finished(&self, sync: &str) {
        if let Some(run) = self.runs.lock().ok().and_then(|mut r| r.remove(sync)) {
            eprintln!(
                "{sync}: {}",
                line(run.done, run.total, run.started.elapsed())
            );
        }
    }
}

/// Plans with fewer rows than this finish too fast for a bar or a line to help.
const MIN_PLAN_ROWS: u64 = 10_000;
/// The clock and the bar are looked at once per this many rows.
const PLAN_TICK: u64 = 4096;

/// Progress of a long plan: the rows read so far (the total is not known before the query ends). A spinner
/// with the count on a terminal, a line every [`LINE_EVERY`] otherwise.
pub struct PlanProgress {
    sync: String,
    rows: AtomicU64,
    started: Instant,
    terminal: bool,
    shown: Mutex<PlanShown>,
}

#[derive(Default)]
struct PlanShown {
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl PlanProgress {
    /// Progress of the plan of `sync`, drawn on standard error.
    pub fn for_stderr(sync: &str) -> Self {
        PlanProgress {
            sync: sync.to_string(),
            rows: AtomicU64::new(0),
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            shown: Mutex::new(PlanShown::default()),
        }
    }

    /// `n` more rows were read.
    pub fn read(&self, n: u64) {
        let before = self.rows.fetch_add(n, Ordering::Relaxed);
        let done = before + n;
        if done / PLAN_TICK == before / PLAN_TICK || done < MIN_PLAN_ROWS {
            return;
        }
        let Ok(mut shown) = self.shown.lock() else {
            return;
        };
        if self.terminal {
            let bar = shown.bar.get_or_insert_with(|| {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(
                    "{prefix:.bold} {spinner} {pos} rows read, {per_sec}",
                ) {
                    bar.set_style(style);
                }
                bar.set_prefix(self.sync.clone());
                bar
            });
            bar.set_position(done);
        } else if shown.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY)
            && self.started.elapsed() >= LINE_EVERY
        {
            shown.last_line = Some(Instant::now());
            eprintln!("{}: {}", self.sync, plan_line(done, self.started.elapsed()));
        }
    }

    /// The plan is made: the bar goes, and a last line follows the ones printed.
    pub fn finish(&self) {
        let Ok(mut shown) = self.shown.lock() else {
            return;
        };
        if let Some(bar) = shown.bar.take() {
            bar.finish_and_clear();
        }
        if shown.last_line.take().is_some() {
            let done = self.rows.load(Ordering::Relaxed);
            eprintln!("{}: {}", self.sync, plan_line(done, self.started.elapsed()));
        }
    }
}

/// `1200000 rows read, 95000/s`
fn plan_line(done: u64, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    format!("{done} rows read, {rate:.0}/s")
}

/// `1200/20000 records (6%), 120/s`
fn line(done: u64, total: u64, elapsed: Duration) -> String {
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    format!("{done}/{total} records ({percent}%), {rate:.0}/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_done_total_percent_and_rate() {
        assert_eq!(
            line(1200, 20000, Duration::from_secs(10)),
            "1200/20000 records (6%), 120/s"
        );
        assert_eq!(line(0, 0, Duration::ZERO), "0/0 records (100%), 0/s");
    }

    #[test]
    fn plan_lines_say_rows_and_rate() {
        assert_eq!(
            plan_line(1_200_000, Duration::from_secs(10)),
            "1200000 rows read, 120000/s"
        );
        let p = PlanProgress::for_stderr("s");
        p.read(5);
        p.read(7);
        assert_eq!(p.rows.load(Ordering::Relaxed), 12);
        p.finish();
    }

    #[test]
    fn small_runs_are_not_tracked() {
        let lines = Lines::default();
        lines.planned("s", MIN_TOTAL - 1);
        lines.advanced("s", 10);
        assert!(lines.runs.lock().unwrap().is_empty());
        lines.planned("s", MIN_TOTAL);
        lines.advanced("s", 10);
        assert_eq!(lines.runs.lock().unwrap()["s"].done, 10);
        lines.finished("s");
        assert!(lines.runs.lock().unwrap().is_empty());
    }
}
