//! The clock and timer port: the core reads the time and waits only through a [`Clock`] it is handed.
//!
//! The real one (`shopsync::clock::SystemClock`, chrono and tokio) lives with the adapters; tests can use a
//! [`ManualClock`], whose time moves only when told. `src/core/clippy.toml` refuses direct clock reads here.
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// Tells the time and waits.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// A future that completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// A clock for tests: it starts at a given time and moves only through [`ManualClock::advance`], which also
/// wakes the sleeps it ends. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<Manual>>,
}

#[derive(Debug)]
struct Manual {
    now: DateTime<Utc>,
    sleepers: Vec<(DateTime<Utc>, Waker)>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            inner: Arc::new(Mutex::new(Manual {
                now: start,
                sleepers: Vec::new(),
            })),
        }
    }

    /// Moves the time forward by `by` and wakes the sleeps that are over.
    pub fn advance(&self, by: Duration) {
        let woken = {
            let mut m = self.lock();
            m.now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
            let now = m.now;
            let (due, waiting): (Vec<_>, Vec<_>) =
                m.sleepers.drain(..).partition(|(at, _)| *at <= now);
            m.sleepers = waiting;
            due
        };
        for (_, waker) in woken {
            waker.wake();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Manual> {
        // A panic while holding the lock cannot leave the time half-updated: take it as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let clock = self.clone();
        let until =
            self.now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        Box::pin(futures::future::poll_fn(move |cx| {
            let mut m = clock.lock();
            if m.now >= until {
                return Poll::Ready(());
            }
            m.sleepers.push((until, cx.waker().clone()));
            Poll::Pending
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use futures::FutureExt;

    #[test]
    fn manual_time_moves_only_when_advanced() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        let mut sleep = clock.sleep(Duration::from_secs(10));
        assert!((&mut sleep).now_or_never().is_none());
        clock.advance(Duration::from_secs(9));
        assert!((&mut sleep).now_or_never().is_none());
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(10));
        assert!(sleep.now_or_never().is_some());
    }
}
