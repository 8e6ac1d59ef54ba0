//! Progress of long runs on standard error: a bar on a terminal, plain lines otherwise (CI logs, files).
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
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
