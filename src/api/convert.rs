//! From custom resources to the core configuration: defaults applied, text parsed, every problem reported
//! with the field path it concerns.
use std::time::Duration;

use crate::core::config::{
    ApiVersion, DeleteBehavior, DeleteGuard, DriftConfig, FieldMapping, MappingSource,
    MappingTarget, MatchKey, OnDuplicateKey, Schedule, SyncConfig, SyncMode, ValueFormat,
    parse_duration,
};

use super::{AlertChannel, AlertSpec, ShopifyDestinationSpec, ShopifySyncSpec};
use crate::core::alerts::{AlertSettings, RejectedRows};

/// The default query timeout.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// The default bulk-operation threshold.
pub const DEFAULT_BULK_THRESHOLD: u64 = 5000;

/// One problem with a spec, at a field path such as `spec.schedule.cron`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Where the problem is, from the resource's root (e.g. `spec.mappings[2].to`).
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl ConfigError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Alert settings as written at `path` (`spec.alerts`), durations parsed; channels stay specs (their Secrets
/// are resolved where they are read). An empty channel list inherits the destination's channels.
pub fn alert_settings(
    spec: &AlertSpec,
    path: &str,
) -> Result<AlertSettings<AlertChannel>, ConfigError> {
    let late_after = match &spec.late_after {
        None => None,
        Some(text) => Some(parse_duration(text).ok_or_else(|| {
            ConfigError::new(
                format!("{path}.lateAfter"),
                "alerts.lateAfter must be a duration such as 30m or 2h",
            )
        })?),
    };
    Ok(AlertSettings {
        on_failure: spec.on_failure,
        rejected_rows: spec.rejected_rows.as_ref().map(|t| RejectedRows {
            count: t.count.map(|c| c.max(0).unsigned_abs()),
            percent: t.percent.map(f64::from),
        }),
        late_after,
        channels: (!spec.channels.is_empty()).then(|| spec.channels.clone()),
    })
}

/// The API version a destination spec selects.
pub fn destination_config(spec: &ShopifyDestinationSpec) -> Result<ApiVersion, ConfigError> {
    match &spec.api_version {
        None => Ok(ApiVersion::DEFAULT),
        Some(v) => ApiVersion::parse(v).ok_or_else(|| {
            ConfigError::new(
                "spec.apiVersion",
                format!("apiVersion must be a Shopify Admin API version shopsync supports: 2026-01, 2026-04 or 2026-07 (got {v:?})"),
            )
        }),
    }
}

/// Converts a sync spec into the engine's config. `id` names the sync in messages and state.
///
/// This repeats none of the CEL rules' work beyond what conversion needs (a spec that reaches the engine
/// from a cluster already passed them); it parses what CEL cannot (cron expressions) and fills in defaults.
pub fn sync_config(id: &str, spec: &ShopifySyncSpec) -> Result<SyncConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let target = spec.target();
    if target.is_none() {
        errors.push(ConfigError::new(
            "spec",
            "set exactly one of object, event or action",
        ));
    }
    let query_timeout = match &spec.source.timeout {
        None => DEFAULT_QUERY_TIMEOUT,
        Some(t) => parse_duration(t).unwrap_or_else(|| {
            errors.push(ConfigError::new(
                "spec.source.timeout",
                "source.timeout must be a duration such as 30s or 5m",
            ));
            DEFAULT_QUERY_TIMEOUT
        }),
    };
    if spec.source.query.trim().is_empty() {
        errors.push(ConfigError::new(
            "spec.source.query",
            "source.query must not be empty",
        ));
    }
    let schedule = schedule(spec, &mut errors);
    let mappings = spec
        .mappings
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let target = match (&m.to, &m.metafield) {
                (Some(to), None) => MappingTarget::Field(to.clone()),
                (None, Some(mf)) => MappingTarget::Metafield {
                    namespace: mf.namespace.clone(),
                    key: mf.key.clone(),
                    type_: mf.type_.clone(),
                },
                _ => {
                    errors.push(ConfigError::new(
                        format!("spec.mappings[{i}]"),
                        "each mapping sets exactly one of to (a Shopify field) or metafield",
                    ));
                    return None;
                }
            };
            let source = match (&m.from, &m.value) {
                (Some(c), None) => MappingSource::Column(c.clone()),
                (None, Some(v)) => MappingSource::Static(v.clone()),
                _ => {
                    errors.push(ConfigError::new(
                        format!("spec.mappings[{i}]"),
                        "each mapping takes exactly one of from (a column) or value (a static value)",
                    ));
                    return None;
                }
            };
            Some(FieldMapping {
                target,
                source,
                format: m.format.unwrap_or(ValueFormat::Auto),
                on_null: m.on_null.unwrap_or_default(),
            })
        })
        .collect::<Vec<_>>();
    for (i, m) in mappings.iter().enumerate() {
        if mappings[..i]
            .iter()
            .any(|earlier| earlier.target == m.target)
        {
            errors.push(ConfigError::new(
                format!("spec.mappings[{i}]"),
                format!("{} is mapped more than once", describe_target(&m.target)),
            ));
        }
    }
    let Some(target) = target else {
        return Err(errors);
    };
    let mode = spec.mode.unwrap_or(SyncMode::Insert);
    let match_key = spec
        .match_
        .as_ref()
        .map(|m| m.key)
        .or_else(|| target.default_match_key());
    // Each limit left out keeps its default: `deleteGuard: {}` or a lone maxCount must not turn the percentage
    // off. Turning a limit off takes an explicit value (maxPercent: 100).
    let delete_guard = spec
        .delete_guard
        .as_ref()
        .map(|g| DeleteGuard {
            max_count: g
                .max_count
                .map(|c| c.max(0).unsigned_abs())
                .or(DeleteGuard::DEFAULT.max_count),
            max_percent: g
                .max_percent
                .map(f64::from)
                .or(DeleteGuard::DEFAULT.max_percent),
        })
        .unwrap_or(DeleteGuard::DEFAULT);
    // Insert by id cannot look anything up (a new record has no id yet): state alone tells known keys apart.
    let needs_match_value = !(mode == SyncMode::Insert && match_key == Some(MatchKey::Id));
    if let Some(key) = match_key
        && needs_match_value
        && spec
            .match_
            .as_ref()
            .and_then(|m| m.column.as_ref())
            .is_none()
        && !mappings
            .iter()
            .any(|m| m.target == MappingTarget::Field(key.as_str().to_string()))
    {
        errors.push(ConfigError::new(
            "spec.match",
            format!(
                "{target} match by {key}, but no mapping sends {key}: map a column to {key} or set match.column"
            ),
        ));
    }
    // A code discount's usage settings belong to a discount that exists already: only update changes them.
    if target == crate::core::config::Target::Object(crate::core::config::ObjectKind::Discounts)
        && mode == SyncMode::Insert
    {
        for (i, m) in mappings.iter().enumerate() {
            if let MappingTarget::Field(f) = &m.target
                && crate::core::config::DISCOUNT_USAGE_FIELDS.contains(&f.as_str())
            {
                errors.push(ConfigError::new(
                    format!("spec.mappings[{i}]"),
                    format!(
                        "{f} is a setting of the code discount, which mode insert never changes: use mode update"
                    ),
                ));
            }
        }
    }
    let drift = drift(spec, target, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(SyncConfig {
        id: id.to_string(),
        destination: spec.destination_ref.name.clone(),
        query: spec.source.query.clone(),
        query_timeout,
        primary_key: spec.primary_key.clone(),
        target,
        mode,
        match_key,
        match_column: spec.match_.as_ref().and_then(|m| m.column.clone()),
        mappings,
        delete_behavior: spec.delete_behavior.unwrap_or(DeleteBehavior::DoNothing),
        delete_matched: spec.delete_matched.unwrap_or(false),
        delete_guard,
        on_duplicate_key: spec.on_duplicate_key.unwrap_or(OnDuplicateKey::RejectRows),
        bulk_threshold: spec
            .bulk_threshold
            .map(|t| t.max(1).unsigned_abs())
            .unwrap_or(DEFAULT_BULK_THRESHOLD),
        schedule: schedule.unwrap_or(Schedule::Manual),
        suspend: spec.suspend.unwrap_or(false),
        drift,
        management: spec.management_policy.unwrap_or_default(),
    })
}

/// `spec.drift`, checked against the target (only products and customers can be read back).
fn drift(
    spec: &ShopifySyncSpec,
    target: crate::core::config::Target,
    errors: &mut Vec<ConfigError>,
) -> DriftConfig {
    let Some(d) = &spec.drift else {
        return DriftConfig::default();
    };
    if let Err(why) = crate::core::drift::compared_fields(target, &[]) {
        errors.push(ConfigError::new(
            "spec.drift",
            format!("drift detection is supported for objects customers and products only ({why})"),
        ));
    }
    let every = match &d.every {
        None => None,
        Some(text) => match parse_duration(text) {
            Some(e) if e >= Duration::from_secs(60) => Some(e),
            _ => {
                errors.push(ConfigError::new(
                    "spec.drift.every",
                    "drift.every must be a duration of at least 1m, such as 1h",
                ));
                None
            }
        },
    };
    let policy = d.policy.unwrap_or_default();
    if policy == crate::core::config::DriftPolicy::Overwrite && spec.mode == Some(SyncMode::Insert)
    {
        errors.push(ConfigError::new(
            "spec.drift.policy",
            "drift.policy overwrite cannot work in mode insert, which never updates a record: use report or adopt",
        ));
    }
    DriftConfig {
        enabled: true,
        policy,
        every,
    }
}

fn describe_target(t: &MappingTarget) -> String {
    match t {
        MappingTarget::Field(f) => format!("field {f}"),
        MappingTarget::Metafield { namespace, key, .. } => format!("metafield {namespace}.{key}"),
    }
}

fn schedule(spec: &ShopifySyncSpec, errors: &mut Vec<ConfigError>) -> Option<Schedule> {
    let s = &spec.schedule;
    let manual = s.manual == Some(true);
    match (&s.interval, &s.cron, manual) {
        (Some(i), None, false) => match parse_duration(i) {
            Some(d) if d >= Duration::from_secs(60) => Some(Schedule::Interval(d)),
            _ => {
                errors.push(ConfigError::new(
                    "spec.schedule.interval",
                    "schedule.interval must be a duration of at least 1m, such as 15m or 1h",
                ));
                None
            }
        },
        (None, Some(c), false) => {
            let fields = c.split_whitespace().count();
            let parsed = croner::Cron::new(c).parse();
            if fields != 5 {
                errors.push(ConfigError::new(
                    "spec.schedule.cron",
                    "schedule.cron must be a five-field cron expression, such as '*/15 * * * *'",
                ));
                None
            } else if let Err(e) = parsed {
                errors.push(ConfigError::new(
                    "spec.schedule.cron",
                    format!("schedule.cron {c:?} does not parse: {e}"),
                ));
                None
            } else {
                Some(Schedule::Cron(c.trim().to_string()))
            }
        }
        (None, None, true) => Some(Schedule::Manual),
        _ => {
            errors.push(ConfigError::new(
                "spec.schedule",
                "schedule sets exactly one of interval, cron or manual: true",
            ));
            None
        }
    }
}
