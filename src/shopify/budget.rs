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
    /// Points reserved by requests not yet answered: what Shopify may still charge beyond the level it last
    /// reported, so its figures can correct the model upwards without spending those points twice.
    in_flight: f64,
    /// Points of every reservation ever finished (answered, failed, throttled): a request's answer may predate
    /// what finished while it was in flight, so those points are not in the level it reports.
    finished: f64,
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

    /// `r` is no longer in flight (answered, failed or throttled).
    fn done(&mut self, r: &Reservation) {
        self.in_flight = (self.in_flight - r.cost).max(0.0);
        self.finished += r.cost;
    }
}

/// Points [`CostBudget::reserve`] took for one request, handed back when it is answered, fails or is
/// throttled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reservation {
    /// Points taken (the request's expected cost, at most the bucket size).
    pub cost: f64,
    /// [`Bucket::finished`] when taken.
    mark: f64,
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
                in_flight: 0.0,
                finished: 0.0,
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
    pub fn reserve(&self, cost: f64, now: Instant) -> Result<Reservation, Duration> {
        let mut b = self.lock();
        let cost = cost.min(b.maximum);
        let level = b.level(now);
        if level >= cost {
            b.available = level - cost;
            b.at = now;
            b.in_flight += cost;
            Ok(Reservation {
                cost,
                mark: b.finished,
            })
        } else {
            Err(Duration::from_secs_f64(
                (cost - level) / b.rate.max(f64::MIN_POSITIVE),
            ))
        }
    }

    /// Records an answer: refunds `requested - actual`, and adopts Shopify's figures when they show less than
    /// the model (another client of the same store, or a refill the model overestimated). They also raise it
    /// when, less what is still in flight, they show more: points the model wrote off (a failed request's
    /// half, see [`CostBudget::release`]) that Shopify never charged would otherwise stay lost for good.
    pub fn settle(
        &self,
        reserved: &Reservation,
        actual: Option<f64>,
        status: Option<ThrottleStatus>,
        now: Instant,
    ) {
        let mut b = self.lock();
        let finished_since = b.finished - reserved.mark;
        b.done(reserved);
        let level = b.level(now);
        let requested = reserved.cost;
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
            // Every request still in flight counts as not yet charged, and every one that finished while this
            // one was in flight as charged after this answer was made: some were not, which only makes this
            // lower bound more cautious.
            let floor = (s.currently_available - b.in_flight - finished_since).min(b.maximum);
            if floor > b.available {
                b.available = floor;
            }
        }
    }

    /// Gives back a reservation whose request was never answered by Shopify's cost accounting (e.g. a network
    /// error before the request arrived). Conservative: only half is returned, since it may have been charged.
    pub fn release(&self, reserved: &Reservation, now: Instant) {
        let mut b = self.lock();
        b.done(reserved);
        let level = b.level(now);
        b.available = (level + reserved.cost / 2.0).min(b.maximum);
        b.at = now;
    }

    /// After a THROTTLED answer to a request that reserved `cost`: the reservation is dropped (the request will
    /// reserve again before it is resent) and the model, behind reality, adopts Shopify's status when the
    /// answer carried one.
    pub fn throttled(&self, reserved: &Reservation, status: Option<ThrottleStatus>, now: Instant) {
        let mut b = self.lock();
        b.throttles += 1;
        b.done(reserved);
        if let Some(status) = status {
            b.maximum = status.maximum_available;
            b.rate = status.restore_rate;
            b.available = status.currently_available;
            b.at = now;
        }
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

    fn status(maximum: f64, available: f64, rate: f64) -> ThrottleStatus {
        ThrottleStatus {
            maximum_available: maximum,
            currently_available: available,
            restore_rate: rate,
        }
    }

    fn take(b: &CostBudget, cost: f64, now: Instant) -> Reservation {
        match b.reserve(cost, now) {
            Ok(r) => r,
            Err(wait) => panic!("{cost} points should be there, not in {wait:?}"),
        }
    }

    #[test]
    fn spends_the_bucket_then_waits_for_the_restore_rate() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        for _ in 0..10 {
            take(&b, 10.0, t0);
        }
        assert_eq!(b.reserve(10.0, t0).err(), Some(Duration::from_secs(1)));
        assert_eq!(
            b.reserve(10.0, t0 + Duration::from_millis(999))
                .err()
                .map(|d| d > Duration::ZERO),
            Some(true)
        );
        assert!(b.reserve(10.0, t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn refunds_actual_cost_and_adopts_lower_server_figures() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        let first = take(&b, 100.0, t0);
        b.settle(&first, Some(20.0), None, t0);
        let second = take(&b, 80.0, t0);
        assert!(b.reserve(1.0, t0).is_err());
        // Shopify reports a bigger plan but fewer points (someone else spent them): both are adopted.
        b.settle(&second, Some(80.0), Some(status(1000.0, 0.0, 50.0)), t0);
        assert_eq!(b.reserve(50.0, t0).err(), Some(Duration::from_secs(1)));
        assert_eq!(b.maximum(), 1000.0);
    }

    #[test]
    fn a_bigger_plan_than_assumed_makes_its_whole_bucket_usable() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(2000.0, 100.0, t0);
        let answered = take(&b, 10.0, t0);
        take(&b, 1990.0, t0);
        // One request of 10 was answered; the other 1990 reserved points are still in flight.
        b.settle(
            &answered,
            Some(10.0),
            Some(status(20000.0, 19990.0, 1000.0)),
            t0,
        );
        take(&b, 18000.0, t0);
        assert!(b.reserve(1.0, t0).is_err());
    }

    #[test]
    fn points_written_off_for_a_failed_request_come_back_when_shopify_shows_it_never_charged_them()
    {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        // The first never reached Shopify: half its reservation is written off (75 left in the model).
        let lost = take(&b, 50.0, t0);
        b.release(&lost, t0);
        // The next one is answered: Shopify charged only it, so 50 points are there, not 25.
        let answered = take(&b, 50.0, t0);
        b.settle(&answered, Some(50.0), Some(status(100.0, 50.0, 10.0)), t0);
        take(&b, 50.0, t0);
        assert!(b.reserve(1.0, t0).is_err());
    }

    #[test]
    fn shopify_figures_never_hand_out_points_requests_in_flight_may_still_spend() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        let first = take(&b, 40.0, t0);
        take(&b, 40.0, t0);
        // The first is answered before the second reached Shopify: 60 there, of which 40 are spoken for.
        b.settle(&first, Some(40.0), Some(status(100.0, 60.0, 10.0)), t0);
        let third = take(&b, 20.0, t0);
        assert!(b.reserve(1.0, t0).is_err());
        // A THROTTLED answer drops the reservation of the request that got it.
        b.throttled(&third, None, t0);
        assert_eq!(b.throttles(), 1);
        assert_eq!(b.lock().in_flight, 40.0);
    }

    #[test]
    fn an_answer_made_before_others_finished_raises_nothing_they_spent() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        let slow = take(&b, 30.0, t0);
        let fast = take(&b, 30.0, t0);
        // Shopify answered the slow one first (70 left), then the fast one (40 left), whose answer arrives
        // first; then the slow one's older figure arrives and must not hand the fast one's 30 points out again.
        b.settle(&fast, Some(30.0), Some(status(100.0, 40.0, 10.0)), t0);
        b.settle(&slow, Some(30.0), Some(status(100.0, 70.0, 10.0)), t0);
        take(&b, 40.0, t0);
        assert!(b.reserve(1.0, t0).is_err());
    }

    #[test]
    fn never_overfills_and_clamps_huge_costs() {
        let t0 = Instant::now();
        let b = CostBudget::with_limits(100.0, 10.0, t0);
        let later = t0 + Duration::from_secs(3600);
        take(&b, 100.0, later);
        assert!(b.reserve(1.0, later).is_err());
        let huge = take(&b, 5000.0, later + Duration::from_secs(10));
        assert_eq!(huge.cost, 100.0, "clamped to the bucket size");
    }
}
