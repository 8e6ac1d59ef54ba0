//! ShopifyDestination reconcile: check the store answers the token, and that the token holds the scopes the
//! destination's syncs need.
use std::sync::Arc;

use chrono::Utc;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::Error;
use super::context::{Context, MANAGER};
use super::status::{Cond, conditions, stalled, waiting};
use crate::api::{
    CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, ShopifyDestination,
    ShopifyDestinationStatus, ShopifySync, destination_config,
};
use crate::shopify::{RetryPolicy, ShopifyError, Store, Transport, shop_info};

/// The kind, for metrics and logs.
pub const KIND: &str = "ShopifyDestination";

/// Reconciles one ShopifyDestination.
pub async fn reconcile(dest: Arc<ShopifyDestination>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled(KIND);
    let ns = dest.namespace().ok_or(Error::NotNamespaced)?;
    let name = dest.name_any();
    let generation = dest.metadata.generation;
    let prev = dest.status.clone().unwrap_or_default();
    let now = Utc::now();
    let mut next = ShopifyDestinationStatus {
        observed_generation: generation,
        ..prev.clone()
    };
    let (conds, action) = match check(&dest, &ns, &ctx, &mut next).await {
        Ok(()) => {
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
                Action::requeue(ctx.settings.destination_recheck),
            )
        }
        // A rejected token or missing scopes wait for a change of the Secret or the spec (both watched), but a
        // scope granted in Shopify's admin changes neither: look again now and then.
        Err(Problem::Stalled(reason, message)) => (
            stalled(reason, &message),
            Action::requeue(ctx.settings.destination_recheck),
        ),
        Err(Problem::Waiting(reason, message)) => (
            waiting(reason, &message),
            Action::requeue(ctx.settings.retry_after),
        ),
    };
    let version = api_version_condition(&dest, now);
    next.conditions = conditions(
        &prev.conditions,
        conds.into_iter().chain(version),
        generation,
        now,
    );
    if next != prev {
        let api: Api<ShopifyDestination> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"apiVersion": crate::api::API_VERSION, "kind": KIND, "status": next});
        api.patch_status(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        ctx.metrics.status_written(KIND);
        let ready = |s: &ShopifyDestinationStatus| {
            s.conditions
                .iter()
                .find(|c| c.type_ == CONDITION_READY)
                .map(|c| (c.status.clone(), c.reason.clone()))
        };
        // A pinned version nearing or past retirement is a warning once per change of reason.
        let attention = |s: &ShopifyDestinationStatus| {
            s.conditions
                .iter()
                .find(|c| c.type_ == CONDITION_API_VERSION && c.status == "False")
                .map(|c| c.reason.clone())
        };
        if let Some(reason) = attention(&next)
            && attention(&prev).as_ref() != Some(&reason)
            && let Some(c) = next
                .conditions
                .iter()
                .find(|c| c.type_ == CONDITION_API_VERSION)
        {
            let event = Event {
                type_: EventType::Warning,
                reason,
                note: Some(c.message.chars().take(1000).collect()),
                action: "CheckApiVersion".into(),
                secondary: None,
            };
            ctx.event(dest.as_ref(), event).await;
        }
        if ready(&prev) != ready(&next)
            && let Some(c) = next.conditions.iter().find(|c| c.type_ == CONDITION_READY)
        {
            let type_ = if c.status == "True" {
                EventType::Normal
            } else {
                EventType::Warning
            };
            let event = Event {
                type_,
                reason: c.reason.clone(),
                note: Some(c.message.chars().take(1000).collect()),
                action: "CheckStore".into(),
                secondary: None,
            };
            ctx.event(dest.as_ref(), event).await;
        }
    }
    ctx.succeeded(&format!("{KIND}/{ns}/{name}"));
    Ok(action)
}

/// The condition saying whether Shopify still supports the destination's API version.
pub const CONDITION_API_VERSION: &str = "ApiVersionSupported";

/// `ApiVersionSupported` for the version `dest` pins, read at `now`; `None` when the spec names no valid one (the
/// Ready condition reports that).
fn api_version_condition(dest: &ShopifyDestination, now: chrono::DateTime<Utc>) -> Option<Cond> {
    let version = destination_config(&dest.spec).ok()?;
    let support = crate::core::support::support(version, now);
    let message = support.message(version);
    Some(if support.needs_attention() {
        Cond::no(CONDITION_API_VERSION, support.reason(), message)
    } else {
        Cond::yes(CONDITION_API_VERSION, support.reason(), message)
    })
}

enum Problem {
    /// Only a change by the user helps (spec, token, scopes).
    Stalled(&'static str, String),
    /// May pass by itself (network, a Secret not created yet, a frozen shop).
    Waiting(&'static str, String),
}

async fn check(
    dest: &ShopifyDestination,
    ns: &str,
    ctx: &Context,
    status: &mut ShopifyDestinationStatus,
) -> Result<(), Problem> {
    let version = destination_config(&dest.spec)
        .map_err(|e| Problem::Stalled("InvalidSpec", e.to_string()))?;
    if let Some(endpoint) = &dest.spec.endpoint {
        // Checked before the token is read: a refused host never sees it.
        ctx.settings
            .egress
            .check_endpoint(endpoint)
            .map_err(|m| Problem::Stalled("EndpointNotAllowed", m))?;
    }
    let token = ctx
        .secret_value(ns, &dest.spec.credentials.access_token_secret_ref)
        .await
        .map_err(|p| Problem::Waiting(p.reason(), p.to_string()))?;
    let base_url = dest
        .spec
        .endpoint
        .clone()
        .unwrap_or_else(|| Store::default_base_url(&dest.spec.store));
    let store_key = format!("{base_url}|{}", dest.spec.store);
    // A check must answer quickly: one retry, short timeout; the requeue retries later.
    let retry = RetryPolicy {
        max_attempts: 2,
        timeout: std::time::Duration::from_secs(15),
        ..RetryPolicy::default()
    };
    let transport = Transport::new(
        Store {
            base_url,
            version,
            token,
        },
        ctx.budget(&store_key),
        retry,
    )
    .map_err(|e| Problem::Waiting("Unreachable", e.to_string()))?;
    let info = shop_info(&transport).await.map_err(problem)?;
    status.shop_name = Some(info.name.clone());
    status.plan = info.plan.clone();
    status.granted_scopes = info.scopes.clone();
    let mut missing: Vec<String> = Vec::new();
    for sync in syncs_of(dest, ns, ctx) {
        let Some(target) = sync.spec.target() else {
            continue;
        };
        let mode = sync
            .spec
            .mode
            .unwrap_or(crate::core::config::SyncMode::Insert);
        for group in info.missing(&target.required_scopes_in(mode)) {
            missing.push(format!("{} (sync {})", group.join(" or "), sync.name_any()));
        }
    }
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(Problem::Stalled(
            "MissingScopes",
            format!("the token lacks {}", missing.join(", ")),
        ));
    }
    Ok(())
}

/// The syncs (as the sync controller's cache holds them) that write to `dest`.
fn syncs_of(dest: &ShopifyDestination, ns: &str, ctx: &Context) -> Vec<Arc<ShopifySync>> {
    let Some(cache) = &ctx.syncs else {
        return Vec::new();
    };
    let name = dest.name_any();
    cache
        .state()
        .into_iter()
        .filter(|s| s.namespace().as_deref() == Some(ns) && s.spec.destination_ref.name == name)
        .collect()
}

fn problem(e: ShopifyError) -> Problem {
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
