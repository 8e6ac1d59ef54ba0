//! The rows of a plan as `shopsync plan` shows them. By default a bounded sample of each kind of change (and of
//! the removals, rejections and unknown outcomes) with exact counts, so a plan of a million new rows stays small
//! in memory and in print; with `--all-rows`, every change, spilled to disk while planning and streamed from
//! there into the output.
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use super::progress::PlanProgress;
use crate::core::plan::{Change, ChangeKind, ChangeSink, PlanSummary};
use crate::core::source::{RowSet, StreamRequest, Warehouse, WarehouseError};
use crate::state::SpilledChanges;

/// Changes of one kind held beyond the sample, for rows whose key turns out duplicated later (their change is
/// retracted): up to this many retractions among the first rows of a kind still leave a full sample.
const RETRACTION_MARGIN: usize = 1024;

/// A [`ChangeSink`] that keeps the first changes of each kind only; the plan's counters stay exact.
#[derive(Debug)]
pub struct SampleSink {
    keep: usize,
    held: BTreeMap<u32, Change>,
    pushed: [usize; 3],
    next: u32,
}

impl SampleSink {
    /// Keeps the first `samples` changes of each kind (plus a margin, see [`RETRACTION_MARGIN`]).
    pub fn new(samples: usize) -> Self {
        SampleSink {
            keep: samples.saturating_add(RETRACTION_MARGIN),
            held: BTreeMap::new(),
            pushed: [0; 3],
            next: 0,
        }
    }

    /// The first `samples` surviving changes of each kind, in plan order.
    pub fn into_sample(self, samples: usize) -> Vec<Change> {
        let mut shown = [0usize; 3];
        self.held
            .into_values()
            .filter(|c| {
                let n = &mut shown[slot(c.kind)];
                *n += 1;
                *n <= samples
            })
            .collect()
    }
}

fn slot(kind: ChangeKind) -> usize {
    match kind {
        ChangeKind::Added => 0,
        ChangeKind::Changed => 1,
        ChangeKind::Retried => 2,
    }
}

impl ChangeSink for SampleSink {
    type Error = std::convert::Infallible;

    fn push(&mut self, change: Change) -> Result<(), Self::Error> {
        let pushed = &mut self.pushed[slot(change.kind)];
        if *pushed < self.keep {
            *pushed += 1;
            self.held.insert(self.next, change);
        }
        self.next = self.next.saturating_add(1);
        Ok(())
    }

    fn retract(&mut self, number: u32) -> Result<(), Self::Error> {
        // The kind's count of held changes stays: a later change must not take the place of an earlier one.
        self.held.remove(&number);
        Ok(())
    }
}

/// The changes a printed plan holds.
#[derive(Debug)]
pub enum Rows {
    /// A sample (every change when there are few).
    Sample(Vec<Change>),
    /// Every change, read back from the spill file as it is printed.
    All(SpilledChanges),
}

impl Rows {
    /// The changes of one kind, at most `limit` of them (`None`: all), in plan order.
    pub fn of_kind(
        &self,
        kind: ChangeKind,
        limit: Option<usize>,
    ) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Change>> + '_>> {
        let limit = limit.unwrap_or(usize::MAX);
        Ok(match self {
            Rows::Sample(changes) => Box::new(
                changes
                    .iter()
                    .filter(move |c| c.kind == kind)
                    .take(limit)
                    .map(|c| Ok(c.clone())),
            ),
            Rows::All(spilled) => Box::new(
                spilled
                    .iter()?
                    .filter(move |c| c.as_ref().map_or(true, |c| c.kind == kind))
                    .take(limit)
                    .map(|c| c.map_err(anyhow::Error::from)),
            ),
        })
    }
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Rows::Sample(changes) => changes.serialize(serializer),
            Rows::All(spilled) => {
                // Streamed: the output never holds more than one change.
                let mut seq = serializer.serialize_seq(Some(spilled.len()))?;
                for change in spilled.iter().map_err(S::Error::custom)? {
                    seq.serialize_element(&change.map_err(S::Error::custom)?)?;
                }
                seq.end()
            }
        }
    }
}

/// How many of each list a printed plan left out (zero everywhere with `--all-rows`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Omitted {
    /// Changes to send (added, changed, retried).
    pub changes: u64,
    /// Removals.
    pub removed: u64,
    /// Rejected rows.
    pub rejections: u64,
    /// Keys whose outcome is unknown.
    pub unknown_outcome: u64,
}

impl Omitted {
    /// Whether nothing was left out.
    pub fn is_none(&self) -> bool {
        *self == Omitted::default()
    }
}

/// Exact counts of a plan, taken before its lists are cut to samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows seen.
    pub rows: u64,
    /// Changes of kind added.
    pub added: u64,
    /// Changes of kind changed.
    pub changed: u64,
    /// Changes of kind retried.
    pub retried: u64,
    /// Removals that delete the record.
    pub deleted: u64,
    /// Removals that only forget the key.
    pub forgotten: u64,
    /// Rejected rows.
    pub rejected: u64,
}

impl Counts {
    /// The counts of `summary` (before [`cut`]).
    pub fn of(summary: &PlanSummary) -> Counts {
        let deleted = summary.removed.iter().filter(|r| r.delete).count() as u64;
        let s = summary.stats;
        Counts {
            rows: s.rows,
            added: s.added,
            changed: s.changed,
            retried: s.retried,
            deleted,
            forgotten: summary.removed.len() as u64 - deleted,
            rejected: s.rejected,
        }
    }

    /// Changes to send.
    pub fn changes(&self) -> u64 {
        self.added + self.changed + self.retried
    }
}

/// Cuts the summary's lists to `samples` entries each; answers how many were left out of each.
pub fn cut(summary: &mut PlanSummary, samples: usize) -> Omitted {
    fn keep<T>(list: &mut Vec<T>, samples: usize) -> u64 {
        let left = list.len().saturating_sub(samples) as u64;
        list.truncate(samples);
        list.shrink_to_fit();
        left
    }
    Omitted {
        changes: 0,
        removed: keep(&mut summary.removed, samples),
        rejections: keep(&mut summary.rejections, samples),
        unknown_outcome: keep(&mut summary.unknown_outcome, samples),
    }
}

/// A plan as `shopsync plan` prints it: its changes (a sample, or all of them), its summary with the lists cut
/// to samples, and the exact counts. Serialises in the shape of [`crate::core::plan::Plan`].
#[derive(Debug, Serialize)]
pub struct PlanOut {
    /// Records to send, in row order (a sample unless every row was asked for).
    pub changes: Rows,
    /// Removals, rejections and counters.
    #[serde(flatten)]
    pub summary: PlanSummary,
    /// Counts before the lists were cut.
    #[serde(skip)]
    pub counts: Counts,
    /// Whether a run would do nothing at all.
    #[serde(skip)]
    pub empty: bool,
}

impl PlanOut {
    /// The plan of `summary` and `changes`, with the summary's lists cut to `samples` unless `all` rows are
    /// shown; answers what was left out as well.
    pub fn new(
        mut summary: PlanSummary,
        changes: Rows,
        samples: usize,
        all: bool,
    ) -> (PlanOut, Omitted) {
        let counts = Counts::of(&summary);
        let empty = counts.changes() == 0
            && summary.removed.is_empty()
            && summary.refused_deletes.is_none()
            && summary.unknown_outcome.is_empty()
            && summary.rejections.is_empty();
        let omitted = if all {
            Omitted::default()
        } else {
            let shown = match &changes {
                Rows::Sample(c) => c.len() as u64,
                Rows::All(c) => c.len() as u64,
            };
            Omitted {
                changes: counts.changes().saturating_sub(shown),
                ..cut(&mut summary, samples)
            }
        };
        let plan = PlanOut {
            changes,
            summary,
            counts,
            empty,
        };
        (plan, omitted)
    }
}

/// A warehouse whose row streams count the rows they yield into a [`PlanProgress`].
pub struct CountingWarehouse<'a> {
    inner: &'a dyn Warehouse,
    progress: Arc<PlanProgress>,
}

impl<'a> CountingWarehouse<'a> {
    /// Counts the rows of `inner`'s streams into `progress`.
    pub fn new(inner: &'a dyn Warehouse, progress: Arc<PlanProgress>) -> Self {
        CountingWarehouse { inner, progress }
    }
}

impl Warehouse for CountingWarehouse<'_> {
    fn stream<'a>(
        &'a self,
        request: &'a StreamRequest,
    ) -> BoxFuture<'a, Result<RowSet, WarehouseError>> {
        Box::pin(async move {
            let rowset = self.inner.stream(request).await?;
            let progress = self.progress.clone();
            let rows = rowset.rows.inspect(move |_| progress.read(1)).boxed();
            Ok(RowSet {
                columns: rowset.columns,
                rows,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::state::RowHash;

    fn change(kind: ChangeKind, key: &str) -> Change {
        Change {
            kind,
            key: key.into(),
            hash: RowHash::default(),
            previous_hash: None,
            shopify_id: None,
            idempotency_key: None,
            fields: serde_json::Map::new(),
            source: None,
            ownership: None,
        }
    }

    #[test]
    fn the_sample_is_the_first_survivors_of_each_kind_in_plan_order() {
        let mut sink = SampleSink::new(2);
        let kinds = [
            ChangeKind::Added,
            ChangeKind::Changed,
            ChangeKind::Added,
            ChangeKind::Added,
            ChangeKind::Retried,
            ChangeKind::Added,
        ];
        for (i, k) in kinds.iter().enumerate() {
            sink.push(change(*k, &format!("k{i}"))).unwrap();
        }
        // The second row's key turned out duplicated.
        sink.retract(2).unwrap();
        let keys: Vec<String> = sink.into_sample(2).into_iter().map(|c| c.key).collect();
        assert_eq!(keys, ["k0", "k1", "k3", "k4"]);
    }

    #[test]
    fn a_large_plan_holds_a_bounded_number_of_changes() {
        let mut sink = SampleSink::new(5);
        for i in 0..100_000 {
            sink.push(change(ChangeKind::Added, &i.to_string()))
                .unwrap();
        }
        assert_eq!(sink.held.len(), 5 + RETRACTION_MARGIN);
        assert_eq!(sink.into_sample(5).len(), 5);
    }

    #[test]
    fn cutting_counts_what_was_left_out() {
        let mut summary = PlanSummary {
            unknown_outcome: (0..7).map(|i| i.to_string()).collect(),
            ..PlanSummary::default()
        };
        let omitted = cut(&mut summary, 5);
        assert_eq!(omitted.unknown_outcome, 2);
        assert_eq!(summary.unknown_outcome.len(), 5);
        assert_eq!(omitted.removed, 0);
    }
}
