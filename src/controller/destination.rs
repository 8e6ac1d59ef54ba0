//! ShopifyDestination reconcile: check the store answers the token, and that the token holds the scopes the
//! destination's syncs need. The act layer: it looks, [`decide::destination`] decides, it carries that out.
use std::sync::Arc;

use chrono::Utc;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::Error;
use super::context::{Context, MANAGER};
use super::decide::destination::{self as decide, Checked, Observed, Problem};
use crate::api::{ShopifyDestination, ShopifySync};
use crate::shopify::{RetryPolicy, Store, Transport, shop_info};

pub use super::decide::destination::CONDITION_API_VERSION;

/// The kind, for metrics and logs.
pub const KIND: &str = "ShopifyDestination";

/// Reconciles one ShopifyDestination.
pub async fn reconcile(dest: Arc<ShopifyDestination>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciled(KIND);
    let ns = dest.namespace().ok_or(Error::NotNamespaced)?;
    let name = dest.name_any();
    let prev = dest.status.clone().unwrap_or_default();
    let obs = Observed {
        spec: &dest.spec,
        status: &prev,
        generation: dest.metadata.generation,
        now: Utc::now(),
        recheck: ctx.settings.destination_recheck,
        retry_after: ctx.settings.retry_after,
    };
    let checked = check(&dest, &ns, &ctx).await;
    let outcome = decide::decide(&obs, &checked);
    if let Some(next) = &outcome.status {
        let api: Api<ShopifyDestination> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"apiVersion": crate::api::API_VERSION, "kind": KIND, "status": next});
        api.patch_status(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        ctx.metrics.status_written(KIND);
    }
    for note in &outcome.notes {
        ctx.event(dest.as_ref(), note.event()).await;
    }
    ctx.succeeded(&format!("{KIND}/{ns}/{name}"));
    Ok(outcome.requeue.action(obs.now))
}

/// Looks at the store: the token from its Secret, the shop query, the scopes of the syncs writing to it.
async fn check(dest: &ShopifyDestination, ns: &str, ctx: &Context) -> Checked {
    let version = match decide::precheck(&dest.spec, &ctx.settings.egress) {
        Ok(v) => v,
        Err(p) => return Checked::failed(p),
    };
    let token = match ctx
        .secret_value(ns, &dest.spec.credentials.access_token_secret_ref)
        .await
    {
        Ok(t) => t,
        Err(p) => return Checked::failed(Problem::Waiting(p.reason(), p.to_string())),
    };
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
    let store = Store {
        base_url,
        version,
        token,
    };
    let transport = match Transport::new(store, ctx.budget(&store_key), retry) {
        Ok(t) => t,
        Err(e) => return Checked::failed(Problem::Waiting("Unreachable", e.to_string())),
    };
    let info = match shop_info(&transport).await {
        Ok(info) => info,
        Err(e) => return Checked::failed(decide::problem(e)),
    };
    let syncs = syncs_of(dest, ns, ctx);
    let problem = decide::missing_scopes(&info, syncs.iter().map(|s| (s.name_any(), &s.spec)));
    Checked {
        shop: Some(info),
        problem,
    }
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
