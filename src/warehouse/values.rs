//! JSON forms of warehouse values shared by the drivers.
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};

use crate::core::record::Value;

/// A float as a JSON number; NaN and infinities, which JSON cannot hold, as their names.
pub(crate) fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// `2024-01-31`.
pub(crate) fn date(d: NaiveDate) -> Value {
    Value::String(d.format("%Y-%m-%d").to_string())
}

/// `13:45:00` with fractional seconds when present.
pub(crate) fn time(t: NaiveTime) -> Value {
    Value::String(t.format("%H:%M:%S%.f").to_string())
}

/// A timestamp without time zone: `2024-01-31T13:45:00`, no offset (the warehouse did not record one).
pub(crate) fn naive_datetime(t: NaiveDateTime) -> Value {
    Value::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

/// A timestamp with time zone, in RFC 3339 UTC: `2024-01-31T13:45:00Z`.
pub(crate) fn datetime_utc(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}
