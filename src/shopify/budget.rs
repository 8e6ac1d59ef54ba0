//! The cost budget of one store: a local model of Shopify's leaky bucket, shared by every sync that writes to
//! the store, so that together they spend the available points without being throttled.
//!
//! Before a request, [`CostBudget::reserve`] takes its requested cost from the modelled bucket, or says how
//! long to wait until the bucket holds it. After the answer, [`CostBudget::settle`] refunds the difference to
//! the actual cost and re-anchors the model on Shopify's `throttleStatus`, the only authority.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `extensions.cost.throttleStatus` as Shopify reports it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    /// The bucket size.
    pub maximum_available: f64,
    /// Points available when the answer was made.
    pub currently_available: f64,
    /// Points restored per second.
    pub restore_rate: f64,
}

#[derive(Debug)]
struct Bucket {
    maximum: f64,
    rate: f64,
    /// Points available at `at`, after every reservation made so far.
    available: f64,
    at: Instant,
    /// Points Shopify charged so far (actual costs).
    spent: f64,
    /// THROTTLED answers received.
    throttles: u64,
}

impl Bucket {
    fn level(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.available + elapsed * self.rate).min(self.maximum)
    }
}

/// A store's shared cost budget.
#[derive(Debug)]
pub struct CostBudget {
    bucket: Mutex<Bucket>,
}

impl CostBudget {
    /// A budget that assumes Shopify's smallest plan (bucket 2000, 100 points a second) until the first answer
    /// says otherwise.
    pub fn new() -> CostBudget {
        CostBudget::with_limits(2000.0, 100.0, Instant::now())
    }

    /// A budget with known limits, full at `now`.
    pub fn with_limits(maximum: f64, rate: f64, now: Instant) -> CostBudget {
        CostBudget {
            bucket: Mutex::new(Bucket {
                maximum,
                rate,
                available: maximum,
                at: now,
                spent: 0.0,
                throttles: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // A poisoned lock only means another thread panicked mid-update of plain numbers; they stay usable.
        self.bucket.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `cost` points if the bucket holds them at `now` (returns `None`), or returns how long to wait
    /// before asking again. A cost above the bucket size is clamped so it can run once the bucket is full.
    pub fn reserve(&self, cost: f64, now: Instant) -> Option<Duration> {
        let mut b = self.lock();
        let cost = cost.min(b.maximum);
        let level = b.level(now);
        if level >= cost {
            b.available = level - cost;
            b.at = now;
            None
        } else {
            Some(Duration::from_secs_f64(
                (cost - level) / b.rate.max(f64::MIN_POSITIVE),
            ))
        }
    }

    /// Records an answer: refunds `requested - actual`, and adopts Shopify's figures when they show less than
    /// the model (another client of the same store, or a refill the model overestimated).
    pub fn settle(
        &self,
        requested: f64,
        actual: Option<f64>,
        status: Option<ThrottleStatus>,
        now: Instant,
    ) {
        let mut b = self.lock();
        let level = b.level(now);
        let refund = actual.map(|a| (requested - a).max(0.0)).unwrap_or(0.0);
        b.spent += actual.unwrap_or(requested);
        b.available = (level + refund).min(b.maximum);
        b.at = now;
        if let Some(s) = status {
            // A bigger bucket than assumed held the difference from the start (the model began full at the
            // smaller size); without it the first bucketful of a bigger plan would go unused.
            if s.maximum_available > b.maximum {
                b.available += s.maximum_available - b.maximum;
            }
            b.maximum = s.maximum_available;
            b.rate = s.restore_rate;
            if s.currently_available < b.available {
                b.available = s.currently_available;
            }
        }
    }

    /// Gives back a reservation whose request was never answered by Shopify's cost accounting (e.g. a network
    /// error before the request arrived). Conservative: only half is returned, since it may have been charged.
    pub fn release(&self, cost: f64, now: Instant) {
        let mut b = self.lock();
        let level = b.level(now);
        b.available = (level + cost / 2.0).min(b.maximum);
        b.at = now;
    }

    /// After a THROTTLED answer: the model is behind reality; adopt Shopify's status.
    pub fn throttled(&self, status: ThrottleStatus, now: Instant) {
        let mut b = self.lock();
        b.throttles += 1;
        b.maximum = status.maximum_available;
        b.rate = status.restore_rate;
        b.available = status.currently_available;
        b.at = now;
    }

    /// Points restored per second (as last reported).
    pub fn restore_rate(&self) -> f64 {
        self.lock().rate
    }

    /// Points Shopify charged through this budget so far.
    pub fn spent(&self) -> f64 {
        self.lock().spent
    }

    /// THROTTLED answers received so far.
    pub fn throttles(&self) -> u64 {
        self.lock().throttles
    }

    /// The bucket size (as last reported).
    pub fn maximum(&self) -> f64 {
        self.lock().maximum
    }
}

impl Default for CostBudget {
    fn default() -> Self {
        CostBudget::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_the_bucket_then_waits_for_the_restore_rate() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        for _ in 0..10 {
            assert_eq!(b.reserve(10.0, t0), None);
        }
        let wait = b.reserve(10.0, t0).unwrap();
        assert_eq!(wait, Duration::from_secs(1));
        assert_eq!(
            b.reserve(10.0, t0 + Duration::from_millis(999))
                .map(|d| d > Duration::ZERO),
            Some(true)
        );
        assert_eq!(b.reserve(10.0, t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn refunds_actual_cost_and_adopts_lower_server_figures() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        assert_eq!(b.reserve(100.0, t0), None);
        b.settle(100.0, Some(20.0), None, t0);
        assert_eq!(b.reserve(80.0, t0), None);
        assert!(b.reserve(1.0, t0).is_some());
        // Shopify reports a bigger plan but fewer points (someone else spent them): both are adopted.
        let s = ThrottleStatus {
            maximum_available: 1000.0,
            currently_available: 0.0,
            restore_rate: 50.0,
        };
        b.settle(0.0, Some(0.0), Some(s), t0);
        assert_eq!(b.reserve(50.0, t0), Some(Duration::from_secs(1)));
        assert_eq!(b.maximum(), 1000.0);
    }

    #[test]
    fn a_bigger_plan_than_assumed_makes_its_whole_bucket_usable() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(2000.0, 100.0, t0);
        assert_eq!(b.reserve(2000.0, t0), None);
        let plus = ThrottleStatus {
            maximum_available: 20000.0,
            currently_available: 19990.0,
            restore_rate: 1000.0,
        };
        // One request of 10 was answered; the other 1990 reserved points are still in flight.
        b.settle(10.0, Some(10.0), Some(plus), t0);
        assert_eq!(b.reserve(18000.0, t0), None);
        assert!(b.reserve(1.0, t0).is_some());
    }

    #[test]
    fn never_overfills_and_clamps_huge_costs() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.reserve(100.0, later), None);
        assert!(b.reserve(1.0, later).is_some());
        assert_eq!(
            b.reserve(5000.0, later + Duration::from_secs(10)),
            None,
            "clamped to the bucket size"
        );
    }
}
