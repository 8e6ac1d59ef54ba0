//! Shopify's support window for the API version a destination pins.
//!
//! Stable versions are released quarterly (January, April, July, October, at 17:00 UTC on the 1st) and each is
//! supported for at least 12 months. Once a version is retired Shopify does not refuse it: it silently answers as
//! the oldest supported version, so fields and behaviour change under a sync without an error. Hence a warning
//! well before the date, and a clear state after it. Pure: the caller passes the clock reading.
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::config::ApiVersion;

/// How long before retirement a pinned version is reported: one quarter, the time to test and roll out the next.
pub const WARN_BEFORE_DAYS: i64 = 90;

/// How a pinned version stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSupport {
    /// Supported for more than [`WARN_BEFORE_DAYS`] days.
    Supported {
        /// When Shopify stops supporting it.
        retires: DateTime<Utc>,
    },
    /// Retired within [`WARN_BEFORE_DAYS`] days: time to move to a newer version.
    RetiringSoon {
        /// When Shopify stops supporting it.
        retires: DateTime<Utc>,
        /// Whole days left.
        days_left: i64,
    },
    /// No longer supported: Shopify answers as its oldest supported version.
    Retired {
        /// When support ended.
        retired: DateTime<Utc>,
    },
}

impl VersionSupport {
    /// The condition reason: `Supported`, `ApiVersionRetiringSoon` or `ApiVersionRetired`.
    pub fn reason(&self) -> &'static str {
        match self {
            VersionSupport::Supported { .. } => "Supported",
            VersionSupport::RetiringSoon { .. } => "ApiVersionRetiringSoon",
            VersionSupport::Retired { .. } => "ApiVersionRetired",
        }
    }

    /// Whether the version needs attention (retiring soon or retired).
    pub fn needs_attention(&self) -> bool {
        !matches!(self, VersionSupport::Supported { .. })
    }

    /// A sentence for a condition or an alert about `version`.
    pub fn message(&self, version: ApiVersion) -> String {
        let day = |t: &DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        match self {
            VersionSupport::Supported { retires } => {
                format!("API version {version} is supported until {}", day(retires))
            }
            VersionSupport::RetiringSoon { retires, days_left } => format!(
                "API version {version} is retired by Shopify on {} (in {days_left} days): move the destination's \
                 apiVersion to a newer version before then",
                day(retires)
            ),
            VersionSupport::Retired { retired } => format!(
                "API version {version} was retired by Shopify on {}: Shopify now answers as its oldest supported \
                 version; move the destination's apiVersion to a supported one",
                day(retired)
            ),
        }
    }
}

/// When `version` was released: 17:00 UTC on the first day of its month.
pub fn released(version: ApiVersion) -> DateTime<Utc> {
    let (year, month) = year_month(version);
    Utc.with_ymd_and_hms(year, month, 1, 17, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// When Shopify stops supporting `version`: 12 months after its release, when the same quarter's version of the
/// next year comes out.
pub fn retires(version: ApiVersion) -> DateTime<Utc> {
    let (year, month) = year_month(version);
    Utc.with_ymd_and_hms(year + 1, month, 1, 17, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// How `version` stands at `now`.
pub fn support(version: ApiVersion, now: DateTime<Utc>) -> VersionSupport {
    let retires = retires(version);
    if now >= retires {
        return VersionSupport::Retired { retired: retires };
    }
    let left = retires - now;
    if left <= Duration::days(WARN_BEFORE_DAYS) {
        // Rounded up: "in 1 day" until the very end.
        let days_left = (left + Duration::days(1) - Duration::nanoseconds(1)).num_days();
        return VersionSupport::RetiringSoon { retires, days_left };
    }
    VersionSupport::Supported { retires }
}

fn year_month(version: ApiVersion) -> (i32, u32) {
    // `as_str` is always `YYYY-MM`; the fallbacks are never reached for a declared version.
    let (y, m) = version.as_str().split_once('-').unwrap_or(("1970", "1"));
    (y.parse().unwrap_or(1970), m.parse().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_version_is_supported_twelve_months_from_release() {
        for v in ApiVersion::ALL {
            let (r, end) = (released(v), retires(v));
            assert!(end - r >= Duration::days(365), "{v}");
            assert!(end - r <= Duration::days(366), "{v}");
            assert_eq!(r.format("%Y-%m").to_string(), v.as_str());
        }
        assert_eq!(retires(ApiVersion::V2026_01), at("2027-01-01T17:00:00Z"));
    }

    #[test]
    fn warns_a_quarter_ahead_then_reports_retirement() {
        let v = ApiVersion::V2026_04;
        assert_eq!(
            support(v, at("2026-06-01T00:00:00Z")),
            VersionSupport::Supported {
                retires: at("2027-04-01T17:00:00Z")
            }
        );
        // 90 days and a bit before: still fine; 90 days before: warned.
        assert!(!support(v, at("2027-01-01T16:00:00Z")).needs_attention());
        assert_eq!(
            support(v, at("2027-01-01T17:00:00Z")),
            VersionSupport::RetiringSoon {
                retires: at("2027-04-01T17:00:00Z"),
                days_left: 90
            }
        );
        assert_eq!(
            support(v, at("2027-04-01T16:59:00Z")),
            VersionSupport::RetiringSoon {
                retires: at("2027-04-01T17:00:00Z"),
                days_left: 1
            }
        );
        let gone = support(v, at("2027-04-01T17:00:00Z"));
        assert_eq!(
            gone,
            VersionSupport::Retired {
                retired: at("2027-04-01T17:00:00Z")
            }
        );
        assert_eq!(gone.reason(), "ApiVersionRetired");
        assert!(gone.message(v).contains("2027-04-01"));
        // Today's reading of the oldest version the client speaks.
        let today = support(ApiVersion::V2026_01, at("2026-12-07T12:00:00Z"));
        assert_eq!(today.reason(), "ApiVersionRetiringSoon");
        assert!(
            today.message(ApiVersion::V2026_01).contains("in 26 days"),
            "{today:?}"
        );
    }
}
