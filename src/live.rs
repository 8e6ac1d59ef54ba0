//! Live comparison: the plan, the last applied values the state keeps and what Shopify holds now, record by
//! record and field by field. `shopsync plan --live`, the drift checks of runs (`spec.drift`) and observe-only
//! syncs (`spec.managementPolicy: Observe`) all use [`check`]; the classification itself is pure
//! ([`crate::core::drift`]). `plan --live` also gives the adoption report of new rows ([`adoption`]; the
//! classification is [`crate::core::adopt`]).
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::core::adopt::{self, Adoption, AdoptionState, Found, Identifier, RowIdentifiers};
use crate::core::config::{DriftPolicy, MappingTarget, SyncConfig, Target};
use crate::core::drift::{
    self, Compared, DriftCounts, DriftSummary, RecordDrift, RecordInput, RecordState,
};
use crate::core::engine::{self, EngineError};
use crate::core::plan::{ChangeKind, Plan};
use crate::core::source::Warehouse;
use crate::core::state::{
    FieldValues, Ownership, RowHash, SnapshotChange, SnapshotEntry, StateError, StateStore,
};
use crate::shopify::ops::documents::SetMutation;
use crate::shopify::ops::{live, lookup};
use crate::shopify::{ShopifyError, Transport};

/// Last applied values read from the state per statement.
const VALUES_CHUNK: usize = 1000;

/// Why a live comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The sync's object cannot be read back.
    #[error("{0}")]
    Unsupported(String),
    /// Planning failed (warehouse, state, mapping).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// Shopify could not be read.
    #[error("reading Shopify: {0}")]
    Shopify(#[from] ShopifyError),
}

/// What a live comparison found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveCheck {
    /// The plan against the state (what a run would send).
    #[serde(skip)]
    pub plan: Plan,
    /// The fields compared and those that cannot be.
    pub compared: Compared,
    /// Counts over every record with a Shopify id.
    pub counts: DriftCounts,
    /// Every record that is not in sync, by key.
    pub records: Vec<RecordDrift>,
    /// Requests sent to Shopify.
    pub requests: u64,
    /// Query cost points Shopify charged.
    pub cost_points: f64,
    /// How long reading Shopify took.
    #[serde(serialize_with = "seconds")]
    pub read_time: Duration,
    /// Snapshot entries and last applied values of the drifted records (what a policy acts on).
    #[serde(skip)]
    drifted: HashMap<String, (SnapshotEntry, Option<FieldValues>)>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Compares `sync`'s records three ways: the warehouse (through a plan), the state's last applied values and
/// Shopify's current values (read through `transport`). Writes nothing.
pub async fn check(
    warehouse: &dyn Warehouse,
    state: &dyn StateStore,
    transport: &Transport,
    sync: &SyncConfig,
) -> Result<LiveCheck, LiveError> {
    let compared =
        drift::compared_fields(sync.target, &sync.mappings).map_err(LiveError::Unsupported)?;
    let Target::Object(object) = sync.target else {
        return Err(LiveError::Unsupported(format!(
            "live comparison not supported for {}",
            sync.target
        )));
    };
    let plan = engine::plan(warehouse, state, sync).await?;
    let changed: HashMap<&str, &crate::core::plan::Change> = plan
        .changes
        .iter()
        .filter(|c| c.kind != ChangeKind::Added)
        .map(|c| (c.key.as_str(), c))
        .collect();
    let leaving: HashSet<&str> = plan
        .summary
        .removed
        .iter()
        .map(|r| r.key.as_str())
        .collect();
    // The records the sync manages: those it has an id for and may write (insert mode's skipped records are
    // never written, so they cannot drift from anything). Keys leaving the model are the plan's business.
    let mut entries = Vec::new();
    if !plan.summary.rebaseline {
        let mut snapshot = state.snapshot(&sync.id);
        while let Some(entry) = snapshot.next().await {
            let entry = entry?;
            if entry.shopify_id.is_some()
                && entry.ownership != Ownership::Skipped
                && !leaving.contains(entry.key.as_str())
            {
                entries.push(entry);
            }
        }
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
    let mut last: HashMap<String, FieldValues> = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(VALUES_CHUNK) {
        last.extend(state.values(&sync.id, chunk).await?);
    }
    let mut ids: Vec<String> = entries
        .iter()
        .filter_map(|e| e.shopify_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    let started = Instant::now();
    let read = live::read(transport, object, &compared.fields, &ids).await?;
    let read_time = started.elapsed();
    let mut counts = DriftCounts::default();
    let mut records = Vec::new();
    let mut drifted = HashMap::new();
    for entry in entries {
        let Some(id) = entry.shopify_id.as_deref() else {
            continue;
        };
        let change = changed.get(entry.key.as_str());
        let record = drift::classify_record(
            &compared.fields,
            RecordInput {
                key: &entry.key,
                shopify_id: id,
                changed: change.is_some(),
                wanted: change.map(|c| &c.fields),
                last: last.get(&entry.key),
                live: read.records.get(id),
            },
        );
        counts.add(record.state);
        if record.state == RecordState::InSync {
            continue;
        }
        if record.state == RecordState::Drift {
            let values = last.remove(&entry.key);
            drifted.insert(entry.key.clone(), (entry, values));
        }
        records.push(record);
    }
    Ok(LiveCheck {
        plan,
        compared,
        counts,
        records,
        requests: read.requests,
        cost_points: read.cost_points,
        read_time,
        drifted,
    })
}

impl LiveCheck {
    /// The state changes that carry out `policy` for the drifted records: for overwrite, each drifted entry
    /// with its hash cleared, so the plan that follows sends the row again although it did not change; for
    /// adopt, Shopify's values recorded as the last applied ones. Report changes nothing.
    pub fn policy_changes(&self, policy: DriftPolicy) -> Vec<SnapshotChange> {
        let drifted = self
            .records
            .iter()
            .filter(|r| r.state == RecordState::Drift);
        match policy {
            DriftPolicy::Report => Vec::new(),
            DriftPolicy::Overwrite => drifted
                .filter_map(|r| self.drifted.get(&r.key))
                .map(|(entry, _)| {
                    SnapshotChange::Upsert(SnapshotEntry {
                        hash: RowHash::default(),
                        source: None,
                        ..entry.clone()
                    })
                })
                .collect(),
            DriftPolicy::Adopt => drifted
                .filter_map(|r| {
                    let (_, last) = self.drifted.get(&r.key)?;
                    Some(SnapshotChange::Values {
                        key: r.key.clone(),
                        fields: drift::adopt(last.as_ref()?, r, &self.compared.fields),
                    })
                })
                .collect(),
        }
    }

    /// The run report's summary of this check under `policy` (after its changes were committed).
    pub fn summary(&self, policy: DriftPolicy) -> DriftSummary {
        let acted = self
            .records
            .iter()
            .filter(|r| r.state == RecordState::Drift)
            .count() as u64;
        DriftSummary {
            policy,
            counts: self.counts,
            overwritten: if policy == DriftPolicy::Overwrite {
                acted
            } else {
                0
            },
            adopted: if policy == DriftPolicy::Adopt {
                acted
            } else {
                0
            },
            skipped: None,
            records: self
                .records
                .iter()
                .filter(|r| r.state != RecordState::Update)
                .take(DriftSummary::MAX_RECORDS)
                .cloned()
                .collect(),
            cost_points: self.cost_points,
        }
    }
}

/// The adoption report of a plan's new rows, with what reading Shopify cost.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdoptionCheck {
    /// The classification.
    #[serde(flatten)]
    pub adoption: Adoption,
    /// Rows of `adoption.rows` left out of the report (only present when some are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omitted: Option<u64>,
    /// Requests sent to Shopify.
    pub requests: u64,
    /// Query cost points Shopify charged.
    pub cost_points: f64,
    /// How long reading Shopify took.
    #[serde(serialize_with = "seconds")]
    pub read_time: Duration,
}

impl AdoptionCheck {
    /// Keeps every conflict and row without a key, and the first `samples` matches and creates.
    pub fn sample(&mut self, samples: usize) {
        let (mut matched, mut created, mut omitted) = (0, 0, 0u64);
        self.adoption.rows.retain(|r| {
            let n = match r.state {
                AdoptionState::Match => &mut matched,
                AdoptionState::Create => &mut created,
                _ => return true,
            };
            *n += 1;
            let keep = *n <= samples;
            if !keep {
                omitted += 1;
            }
            keep
        });
        self.omitted = (omitted > 0).then_some(omitted);
    }
}

/// The adoption report of `plan`'s new rows (see [`crate::core::adopt`]): which match a record the store holds,
/// by which identifier, which would create one, and which conflict. Looks the rows' identifiers up in Shopify
/// through `transport` (within the store's cost budget); writes nothing.
pub async fn adoption(
    transport: &Transport,
    sync: &SyncConfig,
    plan: &Plan,
) -> Result<AdoptionCheck, LiveError> {
    let mapped: Vec<&str> = sync
        .mappings
        .iter()
        .filter_map(|m| match &m.target {
            MappingTarget::Field(f) => Some(f.as_str()),
            MappingTarget::Metafield { .. } => None,
        })
        .collect();
    let matching =
        adopt::matching(sync.target, sync.match_key, &mapped).map_err(LiveError::Unsupported)?;
    let rows: Vec<RowIdentifiers> = plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Added && c.shopify_id.is_none())
        .map(|c| RowIdentifiers::of(&matching, &c.key, &c.fields))
        .collect();
    let asks = adopt::lookups(&matching, &rows);
    let mut found = Found::new();
    let started = Instant::now();
    let (mut requests, mut cost_points) = (0, 0.0);
    for kind in [Identifier::Handle, Identifier::Email, Identifier::Phone] {
        let values: Vec<&String> = asks
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| v)
            .collect();
        if values.is_empty() {
            continue;
        }
        let (mutation, field) = match kind {
            Identifier::Handle => (SetMutation::ProductSet, "handle"),
            Identifier::Email => (SetMutation::CustomerSet, "emailAddress"),
            Identifier::Phone => (SetMutation::CustomerSet, "phoneNumber"),
        };
        let identifiers: Vec<serde_json::Value> = values
            .iter()
            .map(|v| serde_json::json!({ field: v }))
            .collect();
        let finds = lookup::find_ids(transport, mutation, &identifiers).await?;
        requests += finds.requests;
        cost_points += finds.cost_points;
        for (v, id) in values.into_iter().zip(finds.ids) {
            if let Some(id) = id {
                found.insert((kind, v.clone()), id);
            }
        }
    }
    Ok(AdoptionCheck {
        adoption: adopt::classify(&matching, &rows, &found),
        omitted: None,
        requests,
        cost_points,
        read_time: started.elapsed(),
    })
}
