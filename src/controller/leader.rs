//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas only one runs syncs.
//!
//! The state store's per-sync lock already keeps two runs of one sync apart; the Lease keeps a standby replica
//! from even trying, and lets it take over within one lease duration when the leader dies.
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::{PostParams, ResourceExt};

/// How a replica takes and keeps the Lease.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The Lease's namespace (the controller's own).
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease lasts without renewal.
    pub duration: Duration,
    /// How often the holder renews it (and a standby retries).
    pub renew_every: Duration,
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// This replica holds the Lease.
    Leading,
    /// Another replica holds an unexpired Lease.
    Following(String),
}

/// Takes or renews the Lease once. Optimistic concurrency (the Lease's resourceVersion) makes two replicas
/// racing for an expired Lease end with exactly one holder.
pub async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<LeaseState, kube::Error> {
    let now = Utc::now();
    let micro = MicroTime(
        jiff::Timestamp::from_microsecond(now.timestamp_micros())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    );
    let seconds = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(current) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(micro.clone()),
                renew_time: Some(micro),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(LeaseState::Leading),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(LeaseState::Following(String::new())),
            Err(e) => Err(e),
        };
    };
    let spec = current.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let ours = holder == cfg.identity;
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(secs)) => {
            let renewed_micros = renewed.0.as_microsecond();
            renewed_micros + i64::from(secs) * 1_000_000 < now.timestamp_micros()
        }
        _ => true,
    };
    if !ours && !holder.is_empty() && !expired {
        return Ok(LeaseState::Following(holder));
    }
    let mut next = current.clone();
    let transitions = spec.lease_transitions.unwrap_or(0);
    next.spec = Some(LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(seconds),
        acquire_time: if ours {
            spec.acquire_time.clone()
        } else {
            Some(micro.clone())
        },
        renew_time: Some(micro),
        lease_transitions: Some(if ours { transitions } else { transitions + 1 }),
        ..spec
    });
    match api
        .replace(&current.name_any(), &PostParams::default(), &next)
        .await
    {
        Ok(_) => Ok(LeaseState::Leading),
        // Someone else wrote it first: they lead.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(LeaseState::Following(holder)),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up (on graceful shutdown) so a standby takes over at once instead of after expiry.
pub async fn release(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<(), kube::Error> {
    let Some(mut current) = api.get_opt(&cfg.name).await? else {
        return Ok(());
    };
    let Some(spec) = current.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    api.replace(&cfg.name, &PostParams::default(), &current)
        .await
        .map(|_| ())
}

/// Waits until this replica leads, retrying every `renew_every`.
pub async fn acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<(), kube::Error> {
    let mut logged = String::new();
    loop {
        match try_acquire(api, cfg).await {
            Ok(LeaseState::Leading) => {
                tracing::info!(lease = %cfg.name, identity = %cfg.identity, "leading");
                return Ok(());
            }
            Ok(LeaseState::Following(holder)) => {
                if holder != logged {
                    tracing::info!(lease = %cfg.name, %holder, "standing by: another replica leads");
                    logged = holder;
                }
            }
            Err(e) => {
                tracing::warn!(lease = %cfg.name, error = %e, "cannot read or take the lease")
            }
        }
        tokio::time::sleep(cfg.renew_every).await;
    }
}

/// Renews the Lease until it is lost: returns when another replica took it, or when renewals failed for
/// longer than the lease lasts (then another replica may already lead, so this one must stop).
pub async fn hold(api: &Api<Lease>, cfg: &LeaseConfig) -> String {
    let mut last_ok = std::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.renew_every).await;
        match try_acquire(api, cfg).await {
            Ok(LeaseState::Leading) => last_ok = std::time::Instant::now(),
            Ok(LeaseState::Following(holder)) => {
                return format!("replica {holder:?} took the lease");
            }
            Err(e) => {
                tracing::warn!(lease = %cfg.name, error = %e, "lease renewal failed");
                if last_ok.elapsed() >= cfg.duration {
                    return format!("could not renew the lease for {:?}: {e}", cfg.duration);
                }
            }
        }
    }
}
