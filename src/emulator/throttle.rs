//! Shopify's leaky buckets: the cost-based GraphQL bucket and the request-count REST bucket.
use std::time::Duration;

use serde_json::{Value, json};

/// A leaky bucket of points that refills continuously at `restore` points per second.
#[derive(Debug, Clone)]
pub struct CostBucket {
    capacity: f64,
    restore: f64,
    available: f64,
    last: Duration,
    /// Points kept from every charge since the bucket was made (charges minus refunds): what the shop spent,
    /// including requests whose answer never reached the client.
    charged: f64,
}

/// What `throttleStatus` reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    /// Bucket size.
    pub maximum_available: u32,
    /// Points available now (rounded down, as Shopify reports integers).
    pub currently_available: u32,
    /// Points per second.
    pub restore_rate: u32,
}

impl ThrottleStatus {
    /// The JSON object under `extensions.cost.throttleStatus`.
    pub fn to_json(self) -> Value {
        json!({
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": self.currently_available,
            "restoreRate": self.restore_rate,
        })
    }
}

impl CostBucket {
    /// A full bucket.
    pub fn new(capacity: u32, restore: u32, now: Duration) -> Self {
        CostBucket {
            capacity: capacity as f64,
            restore: restore as f64,
            available: capacity as f64,
            last: now,
            charged: 0.0,
        }
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let secs = (now - self.last).as_secs_f64();
            self.available = (self.available + secs * self.restore).min(self.capacity);
            self.last = now;
        }
    }

    /// Charges `cost` up front; `Err` (with the status) when the bucket holds fewer points.
    pub fn charge(&mut self, cost: u32, now: Duration) -> Result<ThrottleStatus, ThrottleStatus> {
        self.refill(now);
        if (cost as f64) > self.available {
            return Err(self.status());
        }
        self.available -= cost as f64;
        self.charged += cost as f64;
        Ok(self.status())
    }

    /// Returns points charged but not used (requested minus actual cost).
    pub fn refund(&mut self, points: u32) {
        self.available = (self.available + points as f64).min(self.capacity);
        self.charged -= points as f64;
    }

    /// Points spent since the bucket was made: every charge less its refund.
    pub fn charged(&self) -> f64 {
        self.charged
    }

    /// Empties the bucket (forced throttling fault).
    pub fn drain(&mut self, now: Duration) {
        self.refill(now);
        self.available = 0.0;
    }

    /// The current status, refilled to `now`.
    pub fn status_at(&mut self, now: Duration) -> ThrottleStatus {
        self.refill(now);
        self.status()
    }

    fn status(&self) -> ThrottleStatus {
        ThrottleStatus {
            maximum_available: self.capacity as u32,
            currently_available: self.available.floor() as u32,
            restore_rate: self.restore as u32,
        }
    }
}

/// The REST bucket: counts requests, leaking `leak` per second.
#[derive(Debug, Clone)]
pub struct RequestBucket {
    size: f64,
    leak: f64,
    used: f64,
    last: Duration,
}

impl RequestBucket {
    /// An empty bucket of `size` requests.
    pub fn new(size: u32, leak: u32, now: Duration) -> Self {
        RequestBucket {
            size: size as f64,
            leak: leak as f64,
            used: 0.0,
            last: now,
        }
    }

    /// Takes one request: `Ok(used, size)` for the call-limit header or `Err(retry_after_secs)`.
    pub fn take(&mut self, now: Duration) -> Result<(u32, u32), f64> {
        if now > self.last {
            self.used = (self.used - (now - self.last).as_secs_f64() * self.leak).max(0.0);
            self.last = now;
        }
        if self.used + 1.0 > self.size {
            return Err(((self.used + 1.0 - self.size) / self.leak).max(0.0));
        }
        self.used += 1.0;
        Ok((self.used.ceil() as u32, self.size as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_charges_refunds_and_refills_at_rate() {
        let mut b = CostBucket::new(1000, 50, Duration::ZERO);
        assert_eq!(
            b.charge(900, Duration::ZERO).unwrap().currently_available,
            100
        );
        let err = b.charge(200, Duration::ZERO).unwrap_err();
        assert_eq!(err.currently_available, 100);
        b.refund(10);
        assert_eq!(b.status_at(Duration::ZERO).currently_available, 110);
        assert_eq!(b.status_at(Duration::from_secs(2)).currently_available, 210);
        assert_eq!(
            b.status_at(Duration::from_secs(100)).currently_available,
            1000
        );
    }

    #[test]
    fn rest_bucket_reports_usage_and_retry_after() {
        let mut b = RequestBucket::new(2, 1, Duration::ZERO);
        assert_eq!(b.take(Duration::ZERO), Ok((1, 2)));
        assert_eq!(b.take(Duration::ZERO), Ok((2, 2)));
        assert_eq!(b.take(Duration::ZERO), Err(1.0));
        assert_eq!(b.take(Duration::from_secs(1)), Ok((2, 2)));
    }
}
