//! The ShopifyDestination decisions: what the store check found, turned into the status and Events.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Note, Outcome, Requeue};
use crate::api::{
    CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, ShopifyDestinationSpec,
    ShopifyDestinationStatus, ShopifySyncSpec, destination_config,
};
use crate::controller::egress::EgressPolicy;
use crate::controller::status::{Cond, conditions, stalled, waiting};
use crate::core::config::{ApiVersion, SyncMode};
use crate::shopify::{ShopInfo, ShopifyError};

/// The condition saying whether Shopify still supports the destination's API version.
pub const CONDITION_API_VERSION: &str = "ApiVersionSupported";

/// What the controller observed of one destination.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The spec.
    pub spec: &'a ShopifyDestinationSpec,
    /// The status (the default before the first write).
    pub status: &'a ShopifyDestinationStatus,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The clock reading the decision is made at.
    pub now: DateTime<Utc>,
    /// How often a checked destination is checked again.
    pub recheck: Duration,
    /// How soon something waiting on the outside is looked at again.
    pub retry_after: Duration,
}

/// Why a destination is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Only a change by the user helps (spec, token, scopes).
    Stalled(&'static str, String),
    /// May pass by itself (network, a Secret not created yet, a frozen shop).
    Waiting(&'static str, String),
}

/// What the check of the store found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checked {
    /// What the shop query answered, when it was reached.
    pub shop: Option<ShopInfo>,
    /// What stands in the way; `None`: the store answers and the token holds the scopes its syncs need.
    pub problem: Option<Problem>,
}

impl Checked {
    /// A check that stopped at `problem` before reaching the shop.
    pub fn failed(problem: Problem) -> Checked {
        Checked {
            shop: None,
            problem: Some(problem),
        }
    }
}

/// What can be told from the spec alone: the API version, and whether the endpoint may be called. Checked
/// before the token is read: a refused host never sees it.
pub fn precheck(
    spec: &ShopifyDestinationSpec,
    egress: &EgressPolicy,
) -> Result<ApiVersion, Problem> {
    let version =
        destination_config(spec).map_err(|e| Problem::Stalled("InvalidSpec", e.to_string()))?;
    if let Some(endpoint) = &spec.endpoint {
        egress
            .check_endpoint(endpoint)
            .map_err(|m| Problem::Stalled("EndpointNotAllowed", m))?;
    }
    Ok(version)
}

/// The scopes the syncs writing to the destination (`(name, spec)`) need and the token lacks, as a problem.
pub fn missing_scopes<'a>(
    info: &ShopInfo,
    syncs: impl IntoIterator<Item = (String, &'a ShopifySyncSpec)>,
) -> Option<Problem> {
    let mut missing: Vec<String> = Vec::new();
    for (name, spec) in syncs {
        let Some(target) = spec.target() else {
            continue;
        };
        let mode = spec.mode.unwrap_or(SyncMode::Insert);
        for group in info.missing(&target.required_scopes_in(mode)) {
            missing.push(format!("{} (sync {name})", group.join(" or ")));
        }
    }
    missing.sort();
    missing.dedup();
    (!missing.is_empty()).then(|| {
        Problem::Stalled(
            "MissingScopes",
            format!("the token lacks {}", missing.join(", ")),
        )
    })
}

/// What a failed shop query means for the destination.
pub fn problem(e: ShopifyError) -> Problem {
    let last = match e {
        ShopifyError::Exhausted { last, .. } => *last,
        other => other,
    };
    let message = last.to_string();
    match last {
        ShopifyError::Unauthorized => Problem::Stalled("InvalidToken", message),
        ShopifyError::Forbidden(_) => Problem::Stalled("AccessDenied", message),
        ShopifyError::NotFound { .. } => Problem::Stalled("StoreNotFound", message),
        ShopifyError::PaymentRequired => Problem::Waiting("ShopFrozen", message),
        ShopifyError::Locked => Problem::Waiting("ShopLocked", message),
        ShopifyError::GraphQl(_)
        | ShopifyError::Decode(_)
        | ShopifyError::MaxCostExceeded { .. } => Problem::Waiting("UnexpectedAnswer", message),
        ShopifyError::Network { .. }
        | ShopifyError::Unavailable { .. }
        | ShopifyError::Throttled { .. }
        | ShopifyError::Exhausted { .. } => Problem::Waiting("Unreachable", message),
    }
}

/// The status, Events and requeue after a check. Events are said once per change: the Ready condition's status
/// or reason, and a pinned API version nearing or past retirement.
pub fn decide(obs: &Observed, checked: &Checked) -> Outcome<ShopifyDestinationStatus> {
    let prev = obs.status;
    let mut next = ShopifyDestinationStatus {
        observed_generation: obs.generation,
        ..prev.clone()
    };
    if let Some(info) = &checked.shop {
        next.shop_name = Some(info.name.clone());
        next.plan = info.plan.clone();
        next.granted_scopes = info.scopes.clone();
    }
    let (conds, requeue) = match &checked.problem {
        None => {
            let message = format!(
                "Shop {:?}{} answers; the token holds the scopes its syncs need",
                next.shop_name.as_deref().unwrap_or_default(),
                next.plan
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
            (
                [
                    Cond::yes(CONDITION_READY, "Connected", message),
                    Cond::no(CONDITION_RECONCILING, "Connected", ""),
                    Cond::no(CONDITION_STALLED, "Connected", ""),
                ],
                Requeue::After(obs.recheck),
            )
        }
        // A rejected token or missing scopes wait for a change of the Secret or the spec (both watched), but a
        // scope granted in Shopify's admin changes neither: look again now and then.
        Some(Problem::Stalled(reason, message)) => {
            (stalled(reason, message), Requeue::After(obs.recheck))
        }
        Some(Problem::Waiting(reason, message)) => {
            (waiting(reason, message), Requeue::After(obs.retry_after))
        }
    };
    let version = api_version_condition(obs.spec, obs.now);
    next.conditions = conditions(
        &prev.conditions,
        conds.into_iter().chain(version),
        obs.generation,
        obs.now,
    );
    if &next == prev {
        return Outcome {
            alert_notes: Vec::new(),
            status: None,
            notes: Vec::new(),
            requeue,
        };
    }
    let mut notes = Vec::new();
    // A pinned version nearing or past retirement is a warning once per change of reason.
    if let Some(reason) = attention(&next)
        && attention(prev).as_ref() != Some(&reason)
        && let Some(c) = condition(&next, CONDITION_API_VERSION)
    {
        notes.push(Note::warning(&reason, "CheckApiVersion", cut(&c.message)));
    }
    if ready(prev) != ready(&next)
        && let Some(c) = condition(&next, CONDITION_READY)
    {
        let note = cut(&c.message);
        notes.push(if c.status == "True" {
            Note::normal(&c.reason, "CheckStore", note)
        } else {
            Note::warning(&c.reason, "CheckStore", note)
        });
    }
    Outcome {
        alert_notes: Vec::new(),
        status: Some(next),
        notes,
        requeue,
    }
}

/// `ApiVersionSupported` for the version `spec` pins, read at `now`; `None` when the spec names no valid one
/// (the Ready condition reports that).
fn api_version_condition(spec: &ShopifyDestinationSpec, now: DateTime<Utc>) -> Option<Cond> {
    let version = destination_config(spec).ok()?;
    let support = crate::core::support::support(version, now);
    let message = support.message(version);
    Some(if support.needs_attention() {
        Cond::no(CONDITION_API_VERSION, support.reason(), message)
    } else {
        Cond::yes(CONDITION_API_VERSION, support.reason(), message)
    })
}

fn condition<'a>(
    s: &'a ShopifyDestinationStatus,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    s.conditions.iter().find(|c| c.type_ == type_)
}

fn ready(s: &ShopifyDestinationStatus) -> Option<(String, String)> {
    condition(s, CONDITION_READY).map(|c| (c.status.clone(), c.reason.clone()))
}

fn attention(s: &ShopifyDestinationStatus) -> Option<String> {
    condition(s, CONDITION_API_VERSION)
        .filter(|c| c.status == "False")
        .map(|c| c.reason.clone())
}

/// Event notes are limited to 1 kB.
fn cut(message: &str) -> String {
    message.chars().take(1000).collect()
}
