//! `shopsync plan`: what a run would do, computed from the warehouse and the state; nothing is written.
//!
//! With `--base REF` it is a review of a spec change: the specs at REF against the working tree, field by field,
//! risky changes first, then the data-level effect of each added or changed sync. The data-level part needs the
//! warehouse and the state; when either cannot be reached the review still reports the spec-level part and says
//! why the rest was skipped.
use std::collections::BTreeSet;
use std::process::ExitCode;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use super::plan_rows::{CountingWarehouse, Counts, Omitted, PlanOut, Rows, SampleSink};
use super::progress::PlanProgress;
use super::{git, specs};
use crate::core::adopt::AdoptionState;
use crate::core::config::SyncConfig;
use crate::core::drift::RecordState;
use crate::core::engine;
use crate::core::mapping;
use crate::core::plan::ChangeKind;
use crate::core::plan::Rebaseline;
use crate::core::redact::Redactor;
use crate::core::review::{
    self, Kind, ResourceChange, ResourceId, Risk, Status, ValueChange, value_changes,
};
use crate::core::state::{Ownership, StateStore};
use crate::live::{AdoptionCheck, LiveCheck, LiveError};
use crate::shopify::{CostBudget, RetryPolicy, Transport};
use crate::state::{PostgresStateStore, SpillSink, SqliteStateStore};
use crate::warehouse::SqlWarehouse;

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// For a terminal.
    Text,
    /// For a pull-request comment.
    Markdown,
    /// For tools.
    Json,
}

/// Arguments of `shopsync plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    specs: specs::SpecArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 0 when nothing would change, 1 when changes are pending, 2 on errors.
    #[arg(long)]
    check: bool,
    /// Sample rows shown per kind of change (and of removals and rejections), in every format; the counts
    /// stay exact.
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// Show every row instead of samples, in every format (streamed from a spill file: a plan of millions of
    /// rows prints millions of lines). Before and after values are shown for the first --samples changed rows.
    #[arg(long)]
    all_rows: bool,
    /// Review the change from this git revision (branch, tag or commit) to the working tree: spec-level
    /// differences and risks, and the data-level effect of the added and changed syncs.
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// Read the state from this PostgreSQL URL (the controller's state store) instead of the SQLite file.
    #[arg(long, value_name = "URL", env = "SHOPSYNC_STATE_URL")]
    state_url: Option<String>,
    /// Report spec-level changes only: neither the warehouse nor the state is read.
    #[arg(long, conflicts_with = "live")]
    no_data: bool,
    /// Also read what Shopify holds now for the records the syncs manage (products and customers) and compare
    /// it, field by field, with what each sync last applied and what the warehouse wants: in sync, update,
    /// drift (changed in Shopify), conflict (changed on both sides) or missing (deleted in Shopify). New rows get
    /// an adoption report: which match an existing record (and by which key), which create one, which conflict.
    #[arg(long)]
    live: bool,
}

/// One record to update, with what Shopify last accepted and what would be sent.
#[derive(Debug, Serialize)]
struct Update {
    key: String,
    shopify_id: Option<String>,
    /// How the sync came to know the record (created, matched).
    ownership: Option<Ownership>,
    /// Why the row is sent again.
    reason: String,
    /// False when the state holds no values for the key (synced before values were kept): only `after` is known.
    before_known: bool,
    fields: Vec<ValueChange>,
}

/// The live comparison of one sync (`--live`).
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum LiveReport {
    /// Every record with a Shopify id compared.
    Compared(Box<LiveCheck>),
    /// The object cannot be read back.
    NotSupported { reason: String },
    /// Shopify (or the state) could not be read; the plan above is the ordinary one.
    Failed { reason: String },
}

impl LiveReport {
    fn pending(&self) -> bool {
        matches!(self, LiveReport::Compared(c) if c.counts.drifted_records() > 0)
    }
}

/// The adoption report of one sync's new rows (`--live`).
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum AdoptionReport {
    /// Every new row classified.
    Reported(Box<AdoptionCheck>),
    /// The sync's rows are not matched to existing records (another object, customers by id).
    NotApplicable { reason: String },
    /// Shopify could not be read.
    Failed { reason: String },
}

impl AdoptionReport {
    fn pending(&self) -> bool {
        matches!(self, AdoptionReport::Reported(a) if a.adoption.counts.conflicts + a.adoption.counts.no_key > 0)
    }
}

/// The data-level part for one sync.
#[derive(Debug, Serialize)]
#[serde(tag = "data", rename_all = "snake_case")]
enum Data {
    Planned {
        plan: Box<PlanOut>,
        /// Sample updates with their before and after values.
        updates: Vec<Update>,
        /// How many entries of the plan's lists are not shown (only present when some are not).
        #[serde(skip_serializing_if = "Omitted::is_none")]
        omitted: Omitted,
    },
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Serialize)]
struct SyncReport {
    sync: String,
    target: String,
    /// Whether keys that left the model are deleted from the store (otherwise they are only forgotten).
    deletes: bool,
    /// `Observe` for an observe-only sync: a run would write nothing.
    management_policy: String,
    #[serde(flatten)]
    data: Data,
    /// The comparison with what Shopify holds (`--live`).
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<LiveReport>,
    /// Which new rows match a record the store already holds, which create one, which conflict (`--live`).
    #[serde(skip_serializing_if = "Option::is_none")]
    adoption: Option<AdoptionReport>,
    /// The sync's mode (what a match or a create means for it).
    #[serde(skip)]
    mode: String,
}

impl SyncReport {
    fn new(config: &SyncConfig, data: Data) -> SyncReport {
        SyncReport {
            sync: config.id.clone(),
            target: config.target.to_string(),
            deletes: config.deletes(),
            management_policy: config.management.to_string(),
            data,
            live: None,
            adoption: None,
            mode: config.mode.to_string(),
        }
    }
}

/// Everything `plan` reports, in every format.
#[derive(Debug, Serialize)]
struct Report {
    /// The base revision, for a review.
    base: Option<String>,
    /// Risky changes, most severe first.
    risks: Vec<Risk>,
    /// Spec-level changes (only for a review).
    resources: Vec<ResourceChange>,
    /// The data-level plan of each sync planned.
    syncs: Vec<SyncReport>,
    /// Something the reader must know about the data-level part (no state yet, state unreachable, ...).
    notes: Vec<String>,
}

impl Report {
    fn pending(&self) -> bool {
        !self.resources.is_empty()
            || self.syncs.iter().any(|s| match &s.data {
                Data::Planned { plan, .. } => !plan.empty,
                Data::Skipped { .. } => false,
            })
            || self
                .syncs
                .iter()
                .any(|s| s.live.as_ref().is_some_and(LiveReport::pending))
            || self
                .syncs
                .iter()
                .any(|s| s.adoption.as_ref().is_some_and(AdoptionReport::pending))
    }
}

/// Plans every sync (or reviews a change) and prints the result.
pub async fn run(args: PlanArgs, redactor: &Redactor) -> anyhow::Result<ExitCode> {
    let docs = specs::read_valid(&args.specs.paths)?;
    let found = specs::find(&docs, &args.specs.only, redactor)?;
    let mut report = Report {
        base: args.base.clone(),
        risks: Vec::new(),
        resources: Vec::new(),
        syncs: Vec::new(),
        notes: Vec::new(),
    };
    let to_plan: Vec<&specs::FoundSync> = match &args.base {
        None => {
            if found.is_empty() {
                bail!("{}", specs::none_found(&args.specs.only));
            }
            found.iter().collect()
        }
        Some(base) => {
            let before = git::documents_at(base, &args.specs.paths)?;
            let selected = |id: &ResourceId| {
                id.kind != Kind::ShopifySync
                    || args.specs.only.is_empty()
                    || args.specs.only.contains(&id.name)
            };
            let mut base_specs = specs::specs_of(&before);
            let mut head_specs = specs::specs_of(&docs);
            base_specs.retain(|id, _| selected(id));
            head_specs.retain(|id, _| selected(id));
            let r = review::review(&base_specs, &head_specs);
            // A sync is planned when it, or the destination it writes to, was added or changed.
            let touched: BTreeSet<&ResourceId> = r
                .changes
                .iter()
                .filter(|c| c.status != Status::Removed)
                .map(|c| &c.resource)
                .collect();
            let planned = found
                .iter()
                .filter(|f| {
                    let dest = ResourceId {
                        kind: Kind::ShopifyDestination,
                        namespace: f.resource.namespace.clone(),
                        name: head_specs
                            .get(&f.resource)
                            .and_then(|s| s.pointer("/destinationRef/name"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    };
                    touched.contains(&f.resource) || touched.contains(&dest)
                })
                .collect();
            report.risks = r.risks;
            report.resources = r.changes;
            planned
        }
    };
    plan_data(&args, &to_plan, &mut report, redactor).await;
    let limit = (!args.all_rows).then_some(args.samples);
    match args.format {
        Format::Json => {
            // Written as it is serialised: with --all-rows the changes stream from their spill file.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_json::to_writer_pretty(&mut out, &report)?;
            std::io::Write::write_all(&mut out, b"\n")?;
            std::io::Write::flush(&mut out)?;
        }
        Format::Text => print_text(&report, limit)?,
        Format::Markdown => print_markdown(&report, limit)?,
    }
    Ok(if args.check && report.pending() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Opens the state for reading; a missing SQLite file reads as empty without being created (plan leaves no
/// trace). Returns the store, a note for the reader when there is no state, and the scratch folder to keep.
async fn open_state(
    args: &PlanArgs,
    redactor: &Redactor,
) -> anyhow::Result<(
    Box<dyn StateStore>,
    Option<String>,
    Option<tempfile::TempDir>,
)> {
    if let Some(url) = &args.state_url {
        redactor.add_url(url);
        let store = PostgresStateStore::connect(url)
            .await
            .context("connecting to the PostgreSQL state store (--state-url)")?;
        return Ok((Box::new(store), None, None));
    }
    if args.specs.state.exists() {
        let store = SqliteStateStore::open(&args.specs.state)
            .await
            .with_context(|| format!("opening {}", args.specs.state.display()))?;
        return Ok((Box::new(store), None, None));
    }
    let scratch = tempfile::tempdir()?;
    let store = SqliteStateStore::open(&scratch.path().join("empty.db")).await?;
    let note = format!(
        "no state at {}: every row reads as new and is matched by its key; nothing is deleted",
        args.specs.state.display()
    );
    Ok((Box::new(store), Some(note), Some(scratch)))
}

async fn plan_data(
    args: &PlanArgs,
    syncs: &[&specs::FoundSync],
    report: &mut Report,
    redactor: &Redactor,
) {
    let skip_all = |report: &mut Report, reason: String| {
        for s in syncs {
            report.syncs.push(SyncReport::new(
                &s.config,
                Data::Skipped {
                    reason: reason.clone(),
                },
            ));
        }
    };
    if syncs.is_empty() {
        return;
    }
    if args.no_data {
        skip_all(
            report,
            "--no-data: the warehouse and the state were not read".into(),
        );
        return;
    }
    let (state, note, _scratch) = match open_state(args, redactor).await {
        Ok(s) => s,
        Err(e) => {
            skip_all(report, format!("the state could not be read: {e:#}"));
            return;
        }
    };
    report.notes.extend(note);
    // One cost budget per store, as a run shares it: the live reads of several syncs draw on the same bucket.
    let mut budgets: HashMap<String, Arc<CostBudget>> = HashMap::new();
    for s in syncs {
        let transport = if args.live {
            let budget = budgets
                .entry(s.store_key.clone())
                .or_insert_with(|| Arc::new(CostBudget::new()))
                .clone();
            Some(
                s.store
                    .as_ref()
                    .map_err(|e| format!("the store cannot be reached: {e}"))
                    .and_then(|store| {
                        Transport::new(store.clone(), budget, RetryPolicy::default())
                            .map_err(|e| format!("the Shopify client cannot be built: {e}"))
                    }),
            )
        } else {
            None
        };
        let mut live = None;
        let mut adoption = None;
        let shown = Shown {
            samples: args.samples,
            all_rows: args.all_rows,
        };
        let data = match plan_one(
            state.as_ref(),
            s,
            shown,
            transport,
            (&mut live, &mut adoption),
            redactor,
        )
        .await
        {
            Ok((plan, updates, omitted)) => {
                report.risks.extend(review::data_risks(
                    &s.resource,
                    plan.summary
                        .refused_deletes
                        .as_ref()
                        .map(|r| r.reason.as_str()),
                ));
                observe_to_manage(&mut report.risks, &s.resource, &plan);
                Data::Planned {
                    plan: Box::new(plan),
                    updates,
                    omitted,
                }
            }
            Err(reason) => Data::Skipped { reason },
        };
        let mut sync = SyncReport::new(&s.config, data);
        sync.live = live;
        sync.adoption = adoption;
        report.syncs.push(sync);
    }
    report
        .risks
        .sort_by(|a, b| (a.kind, &a.resource).cmp(&(b.kind, &b.resource)));
}

/// Adds the counts of `plan` to a switch from Observe to Manage of `resource`: what its first managed run
/// would write.
fn observe_to_manage(risks: &mut [Risk], resource: &ResourceId, plan: &PlanOut) {
    let c = counts(plan);
    for r in risks
        .iter_mut()
        .filter(|r| r.kind == review::RiskKind::ObserveToManage && &r.resource == resource)
    {
        r.message = format!(
            "managementPolicy turns from Observe to Manage: the next run writes {} record(s) to the store ({} to \
             add, {} to change, {} to retry, {} to delete)",
            c.added + c.changed + c.retried + c.deleted,
            c.added,
            c.changed,
            c.retried,
            c.deleted
        );
    }
}

/// How many of a plan's rows are shown: a sample of each kind, or every row.
#[derive(Debug, Clone, Copy)]
struct Shown {
    samples: usize,
    all_rows: bool,
}

/// The plan of one sync (its changes sampled, or all of them spilled to disk), its sample updates and what
/// its lists leave out, or why it could not be made. With a `transport` (`--live`), the plan comes with the
/// comparison with what Shopify holds, put in `live` (that comparison holds the sync's changes in memory), and
/// the adoption report of its new rows, put in `adoption`.
async fn plan_one(
    state: &dyn StateStore,
    s: &specs::FoundSync,
    shown: Shown,
    transport: Option<Result<Transport, String>>,
    (live, adoption): (&mut Option<LiveReport>, &mut Option<AdoptionReport>),
    redactor: &Redactor,
) -> Result<(PlanOut, Vec<Update>, Omitted), String> {
    let Shown { samples, all_rows } = shown;
    let url = s
        .warehouse_url
        .as_ref()
        .map_err(|e| format!("the warehouse URL is unknown: {e}"))?;
    let warehouse = SqlWarehouse::from_url(&s.config.id, url)
        .map_err(|e| format!("the warehouse cannot be used: {e}"))?;
    let checked = match transport {
        None => None,
        Some(Err(reason)) => {
            *adoption = Some(AdoptionReport::Failed {
                reason: reason.clone(),
            });
            *live = Some(LiveReport::Failed { reason });
            None
        }
        Some(Ok(t)) => match crate::live::check(&warehouse, state, &t, &s.config).await {
            Ok(mut c) => {
                let plan = std::mem::take(&mut c.plan);
                *adoption = Some(match crate::live::adoption(&t, &s.config, &plan).await {
                    Ok(mut a) => {
                        if !all_rows {
                            a.sample(samples);
                        }
                        AdoptionReport::Reported(Box::new(a))
                    }
                    Err(LiveError::Unsupported(reason)) => AdoptionReport::NotApplicable { reason },
                    Err(e) => AdoptionReport::Failed {
                        reason: redactor.redact_owned(e.to_string()),
                    },
                });
                *live = Some(LiveReport::Compared(Box::new(c)));
                Some(plan)
            }
            Err(LiveError::Unsupported(reason)) => {
                *adoption = Some(AdoptionReport::NotApplicable {
                    reason: reason.clone(),
                });
                *live = Some(LiveReport::NotSupported { reason });
                None
            }
            Err(LiveError::Engine(e)) => return Err(format!("planning failed: {e}")),
            Err(e) => {
                let reason = redactor.redact_owned(e.to_string());
                *adoption = Some(AdoptionReport::Failed {
                    reason: reason.clone(),
                });
                *live = Some(LiveReport::Failed { reason });
                None
            }
        },
    };
    let progress = std::sync::Arc::new(PlanProgress::for_stderr(&s.config.id));
    let counted = CountingWarehouse::new(&warehouse, progress.clone());
    let planned = if let Some(plan) = checked {
        // The live comparison planned in memory; its changes are shown like a sample.
        Ok((plan.summary, Rows::Sample(plan.changes)))
    } else if all_rows {
        let sink = SpillSink::create(&std::env::temp_dir())
            .map_err(|e| format!("creating the spill file: {e}"))?;
        engine::plan_into(&counted, state, &s.config, sink)
            .await
            .map_err(|e| format!("planning failed: {e}"))
            .and_then(|(summary, sink)| {
                let spilled = sink
                    .finish()
                    .map_err(|e| format!("writing the spill file: {e}"))?;
                Ok((summary, Rows::All(spilled)))
            })
    } else {
        engine::plan_into(&counted, state, &s.config, SampleSink::new(samples))
            .await
            .map_err(|e| format!("planning failed: {e}"))
            .map(|(summary, sink)| (summary, Rows::Sample(sink.into_sample(samples))))
    };
    progress.finish();
    let (summary, rows) = planned?;
    let (plan, omitted) = PlanOut::new(summary, rows, samples, all_rows);
    // Rows re-sent with equal values were re-sent because the mapping (or the mode) changed.
    let spec_changed = state
        .baseline(&s.config.id)
        .await
        .map_err(|e| format!("reading the baseline: {e}"))?
        .and_then(|b| b.fingerprint)
        .is_some_and(|f| f != mapping::fingerprint(&s.config));
    let changed: Vec<_> = plan
        .changes
        .of_kind(ChangeKind::Changed, Some(samples))
        .map_err(|e| format!("reading the planned changes: {e}"))?
        .collect::<anyhow::Result<_>>()
        .map_err(|e| format!("reading the planned changes: {e}"))?;
    let keys: Vec<String> = changed.iter().map(|c| c.key.clone()).collect();
    let before: std::collections::HashMap<String, _> = state
        .values(&s.config.id, &keys)
        .await
        .map_err(|e| format!("reading the last values: {e}"))?
        .into_iter()
        .collect();
    let updates = changed
        .into_iter()
        .map(|c| {
            let previous = before.get(&c.key);
            let fields = match previous {
                Some(b) => value_changes(b, &c.fields),
                None => value_changes(&serde_json::Map::new(), &c.fields),
            };
            Update {
                key: c.key.clone(),
                shopify_id: c.shopify_id.clone(),
                ownership: c.ownership,
                reason: review::change_reason(&fields, previous.is_some(), spec_changed),
                before_known: previous.is_some(),
                fields,
            }
        })
        .collect();
    Ok((plan, updates, omitted))
}

fn counts(p: &PlanOut) -> Counts {
    p.counts
}

/// What a plan's re-baseline means for the reader, when it re-baselines.
fn rebaseline_text(p: &PlanOut) -> Option<&'static str> {
    Some(match p.summary.rebaseline_reason.as_ref()? {
        Rebaseline::NoState => {
            "re-baseline (no state yet): every row is matched by its key; nothing will be deleted in this run"
        }
        Rebaseline::IdentityChanged => {
            "re-baseline (the primary key, match key or target changed): every row is matched again; nothing \
             will be deleted in this run"
        }
    })
}

/// How a removal is carried out, with the record's ownership.
fn removal_text(r: &crate::core::plan::Removal) -> String {
    match (r.delete, r.shopify_id.as_deref()) {
        (true, Some(id)) => format!("{id} ({}; deleted)", r.ownership),
        (false, Some(id)) => format!("{id} ({}; kept in Shopify, forgotten)", r.ownership),
        (_, None) => "(no record; forgotten)".into(),
    }
}

/// A value for one line: compact JSON, cut at 60 characters; a missing value is "(not sent)".
fn short(v: Option<&Value>) -> String {
    short_or(v, "(not sent)")
}

/// A spec field for one line; a missing field is "(absent)".
fn spec_value(v: Option<&Value>) -> String {
    short_or(v, "(absent)")
}

fn short_or(v: Option<&Value>, missing: &str) -> String {
    let Some(v) = v else {
        return missing.into();
    };
    if v.is_null() {
        // A NULL is sent to clear the field.
        return "(cleared)".into();
    }
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

fn status_sign(status: Status) -> &'static str {
    match status {
        Status::Added => "+",
        Status::Removed => "-",
        Status::Changed => "~",
    }
}

fn print_text(report: &Report, limit: Option<usize>) -> anyhow::Result<()> {
    if let Some(base) = &report.base {
        println!("shopsync plan: {base} -> working tree");
        if report.resources.is_empty() {
            println!("no spec changes");
        }
        if !report.risks.is_empty() {
            println!("\nRISKS ({}):", report.risks.len());
            for r in &report.risks {
                println!("  ! {}: {}", r.resource, r.message);
            }
        }
        if !report.resources.is_empty() {
            println!("\nSpec changes:");
            for c in &report.resources {
                println!("  {} {}", status_sign(c.status), c.resource);
                for f in &c.fields {
                    println!(
                        "      {}: {} -> {}",
                        f.path,
                        spec_value(f.before.as_ref()),
                        spec_value(f.after.as_ref())
                    );
                }
            }
        }
        if !report.syncs.is_empty() {
            println!("\nData:");
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    for s in &report.syncs {
        print_sync_text(s, limit)?;
    }
    Ok(())
}

fn print_sync_text(s: &SyncReport, limit: Option<usize>) -> anyhow::Result<()> {
    let (p, updates, omitted) = match &s.data {
        Data::Skipped { reason } => {
            println!(
                "{} ({}): data-level plan skipped: {reason}",
                s.sync, s.target
            );
            return Ok(());
        }
        Data::Planned {
            plan,
            updates,
            omitted,
        } => (plan, updates, omitted),
    };
    let c = counts(p);
    println!(
        "{} ({}): {} rows; {} to add, {} to change, {} to retry, {} to delete, {} left the model (kept in \
         Shopify), {} rejected",
        s.sync, s.target, c.rows, c.added, c.changed, c.retried, c.deleted, c.forgotten, c.rejected
    );
    if let Some(text) = rebaseline_text(p) {
        println!("  {text}");
    }
    if let Some(r) = &p.summary.refused_deletes {
        println!(
            "  delete guard trips: {}; the run would delete nothing and fail",
            r.reason
        );
    }
    if p.summary.stats.kept > 0 {
        println!(
            "  {} changed row(s) not written: insert mode never updates a record",
            p.summary.stats.kept
        );
    }
    for c in p.changes.of_kind(ChangeKind::Added, limit)? {
        let c = c?;
        println!(
            "  add      {}  {}",
            c.key,
            short(Some(&Value::Object(c.fields)))
        );
    }
    for u in updates {
        println!(
            "  change   {}: {}{}",
            u.key,
            u.reason,
            u.ownership.map(|o| format!(" [{o}]")).unwrap_or_default()
        );
        for f in &u.fields {
            println!(
                "             {}: {} -> {}",
                f.field,
                short(f.before.as_ref()),
                short(f.after.as_ref())
            );
        }
    }
    if limit.is_none() {
        // Every row: the changed rows past the sample, without their before values.
        for c in p
            .changes
            .of_kind(ChangeKind::Changed, None)?
            .skip(updates.len())
        {
            let c = c?;
            println!(
                "  change   {}  {}",
                c.key,
                short(Some(&Value::Object(c.fields)))
            );
        }
    }
    for c in p.changes.of_kind(ChangeKind::Retried, limit)? {
        let c = c?;
        println!(
            "  retry    {}  {}",
            c.key,
            short(Some(&Value::Object(c.fields)))
        );
    }
    let samples = limit.unwrap_or(usize::MAX);
    for r in p.summary.removed.iter().take(samples) {
        println!(
            "  {:<8} {}  {}",
            if r.delete { "delete" } else { "forget" },
            r.key,
            removal_text(r)
        );
    }
    for r in p.summary.rejections.iter().take(samples) {
        println!(
            "  rejected {}: {}",
            r.key.as_deref().unwrap_or("(no key)"),
            r.message
        );
    }
    for k in p.summary.unknown_outcome.iter().take(samples) {
        println!("  unknown  {k}: sent earlier, outcome never recorded; will not be resent");
    }
    if let Some(text) = omitted_text(omitted) {
        println!("  {text}");
    }
    if s.management_policy == "Observe" {
        println!("  managementPolicy Observe: a run records this and writes nothing");
    }
    if let Some(live) = &s.live {
        print_live_text(live, samples);
    }
    if let Some(adoption) = &s.adoption {
        print_adoption_text(adoption, &s.mode);
    }
    Ok(())
}

/// What a row's state means for the first run, given the sync's mode.
fn adoption_effect(state: AdoptionState, mode: &str) -> &'static str {
    match (state, mode) {
        (AdoptionState::Match, "insert") => "exists; mode insert leaves it alone",
        (AdoptionState::Match, _) => "adopted: the run updates it",
        (AdoptionState::Create, "update") => "no record; mode update rejects the row",
        (AdoptionState::Create, _) => "the run creates it",
        (AdoptionState::Conflict, _) => "review before the first run",
        (AdoptionState::NoKey, _) => "nothing to match by; the row is rejected",
    }
}

fn print_adoption_text(adoption: &AdoptionReport, mode: &str) {
    let a = match adoption {
        AdoptionReport::NotApplicable { .. } => return,
        AdoptionReport::Failed { reason } => {
            println!("  adoption: not reported: {reason}");
            return;
        }
        AdoptionReport::Reported(a) => a,
    };
    let c = &a.adoption.counts;
    if c.rows == 0 {
        return;
    }
    println!(
        "  adoption: {} new row(s) matched by {}: {} match an existing record, {} create one, {} in conflict, \
         {} with no {} to match by ({} request(s), {} cost points, {:.2}s)",
        c.rows,
        a.adoption.matching.by.field(),
        c.matched,
        c.created,
        c.conflicts,
        c.no_key,
        a.adoption.matching.by.field(),
        a.requests,
        a.cost_points,
        a.read_time.as_secs_f64()
    );
    for r in &a.adoption.rows {
        let target = match (&r.shopify_id, &r.value) {
            (Some(id), Some(v)) => format!("{} {v:?} is {id}", r.by.field()),
            (None, Some(v)) => format!("{} {v:?}", r.by.field()),
            _ => format!("no valid {}", r.by.field()),
        };
        println!(
            "  {:<8} {}  {target}: {}",
            r.state.as_str(),
            r.key,
            adoption_effect(r.state, mode)
        );
        for conflict in &r.conflicts {
            println!("             {}", conflict.text());
        }
    }
    if let Some(n) = a.omitted {
        println!(
            "  adoption: … {n} more match(es) and create(s) not shown (--all-rows shows every row)"
        );
    }
}

/// What a sampled plan does not show, with how to see it; `None` when everything is shown.
fn omitted_text(omitted: &Omitted) -> Option<String> {
    let total = omitted.changes + omitted.removed + omitted.rejections + omitted.unknown_outcome;
    (total > 0).then(|| {
        format!("… {total} more row(s) not shown (--samples N shows more, --all-rows every row)")
    })
}

fn print_live_text(live: &LiveReport, samples: usize) {
    let c = match live {
        LiveReport::NotSupported { reason } => {
            println!("  live: {reason}");
            return;
        }
        LiveReport::Failed { reason } => {
            println!("  live: comparison failed: {reason}");
            return;
        }
        LiveReport::Compared(c) => c,
    };
    let n = &c.counts;
    println!(
        "  live: {} record(s) compared with Shopify: {} in sync, {} to update, {} drifted, {} in conflict, {} \
         missing, {} unknown ({} request(s), {} cost points, {:.2}s)",
        n.checked,
        n.in_sync,
        n.update,
        n.drift,
        n.conflict,
        n.missing,
        n.unknown,
        c.requests,
        c.cost_points,
        c.read_time.as_secs_f64()
    );
    if !c.compared.not_compared.is_empty() {
        println!(
            "  live: not compared (cannot be read back): {}",
            c.compared.not_compared.join(", ")
        );
    }
    for state in [
        RecordState::Conflict,
        RecordState::Drift,
        RecordState::Missing,
        RecordState::Unknown,
    ] {
        for r in c.records.iter().filter(|r| r.state == state).take(samples) {
            match state {
                RecordState::Missing => println!(
                    "  {:<8} {}  {} was deleted in Shopify",
                    state.as_str(),
                    r.key,
                    r.shopify_id
                ),
                RecordState::Unknown => println!(
                    "  {:<8} {}  no last applied values in the state (synced before they were kept)",
                    state.as_str(),
                    r.key
                ),
                _ => {
                    println!("  {:<8} {}", state.as_str(), r.key);
                    for f in &r.fields {
                        println!(
                            "             {}: last applied {}, Shopify {}, warehouse {}",
                            f.field,
                            short(Some(&f.last_applied)),
                            short(Some(&f.shopify)),
                            short(Some(&f.warehouse))
                        );
                    }
                }
            }
        }
    }
}

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn print_markdown(report: &Report, limit: Option<usize>) -> anyhow::Result<()> {
    match &report.base {
        Some(base) => println!("### shopsync plan: `{}` → working tree\n", cell(base)),
        None => println!("### shopsync plan\n"),
    }
    if !report.risks.is_empty() {
        println!("> [!WARNING]\n> **{} risky change(s)**", report.risks.len());
        for r in &report.risks {
            println!("> - **{}**: {}", r.resource, cell(&r.message));
        }
        println!();
    }
    if report.base.is_some() && report.resources.is_empty() {
        println!("No spec changes.\n");
    }
    for note in &report.notes {
        println!("_Note: {}_\n", cell(note));
    }
    if !report.resources.is_empty() {
        println!("| resource | change | fields |");
        println!("|---|---|---:|");
        for c in &report.resources {
            println!(
                "| {} `{}/{}` | {} | {} |",
                c.resource.kind.as_str(),
                c.resource.namespace,
                c.resource.name,
                match c.status {
                    Status::Added => "added",
                    Status::Removed => "removed",
                    Status::Changed => "changed",
                },
                c.fields.len()
            );
        }
        println!();
    }
    if !report.syncs.is_empty() {
        println!("| sync | target | rows | add | change | retry | delete | leave | rejected |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for s in &report.syncs {
            match &s.data {
                Data::Planned { plan, .. } => {
                    let c = counts(plan);
                    println!(
                        "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
                        s.sync,
                        s.target,
                        c.rows,
                        c.added,
                        c.changed,
                        c.retried,
                        c.deleted,
                        c.forgotten,
                        c.rejected
                    );
                }
                Data::Skipped { .. } => {
                    println!("| `{}` | {} | skipped | | | | | | |", s.sync, s.target)
                }
            }
        }
        println!();
    }
    for c in report.resources.iter().filter(|c| !c.fields.is_empty()) {
        println!(
            "<details><summary>{} <code>{}/{}</code>: {} field(s) changed</summary>\n",
            c.resource.kind.as_str(),
            c.resource.namespace,
            c.resource.name,
            c.fields.len()
        );
        println!("| field | before | after |");
        println!("|---|---|---|");
        for f in &c.fields {
            println!(
                "| `{}` | `{}` | `{}` |",
                cell(&f.path),
                cell(&spec_value(f.before.as_ref())),
                cell(&spec_value(f.after.as_ref()))
            );
        }
        println!("\n</details>\n");
    }
    for s in &report.syncs {
        print_sync_markdown(s, limit)?;
    }
    print_live_markdown(report, limit.unwrap_or(usize::MAX));
    print_adoption_markdown(report);
    Ok(())
}

fn print_sync_markdown(s: &SyncReport, limit: Option<usize>) -> anyhow::Result<()> {
    let (p, updates, omitted) = match &s.data {
        Data::Skipped { reason } => {
            println!(
                "**`{}`: data-level plan skipped.** {}\n",
                s.sync,
                cell(reason)
            );
            return Ok(());
        }
        Data::Planned {
            plan,
            updates,
            omitted,
        } => (plan, updates, omitted),
    };
    if p.empty {
        return Ok(());
    }
    println!(
        "<details><summary>Data: <code>{}</code></summary>\n",
        s.sync
    );
    if let Some(text) = rebaseline_text(p) {
        println!("**{}**\n", cell(text));
    }
    if let Some(r) = &p.summary.refused_deletes {
        println!(
            "**Delete guard trips:** {}; the run would delete nothing and fail.\n",
            cell(&r.reason)
        );
    }
    for c in p.changes.of_kind(ChangeKind::Added, limit)? {
        let c = c?;
        println!(
            "- add `{}`: `{}`",
            c.key,
            cell(&short(Some(&Value::Object(c.fields))))
        );
    }
    for u in updates {
        let fields: Vec<String> = u
            .fields
            .iter()
            .map(|f| {
                format!(
                    "`{}`: `{}` → `{}`",
                    f.field,
                    cell(&short(f.before.as_ref())),
                    cell(&short(f.after.as_ref()))
                )
            })
            .collect();
        println!(
            "- change `{}` ({}): {}",
            u.key,
            cell(&u.reason),
            fields.join(", ")
        );
    }
    if limit.is_none() {
        for c in p
            .changes
            .of_kind(ChangeKind::Changed, None)?
            .skip(updates.len())
        {
            let c = c?;
            println!(
                "- change `{}`: `{}`",
                c.key,
                cell(&short(Some(&Value::Object(c.fields))))
            );
        }
    }
    for c in p.changes.of_kind(ChangeKind::Retried, limit)? {
        println!("- retry `{}`", c?.key);
    }
    let samples = limit.unwrap_or(usize::MAX);
    for r in p.summary.removed.iter().take(samples) {
        println!(
            "- {} `{}`: {}",
            if r.delete { "delete" } else { "leave" },
            r.key,
            cell(&removal_text(r))
        );
    }
    for r in p.summary.rejections.iter().take(samples) {
        println!(
            "- rejected `{}`: {}",
            r.key.as_deref().unwrap_or("(no key)"),
            cell(&r.message)
        );
    }
    if let Some(text) = omitted_text(omitted) {
        println!("\n_{}_", cell(&text));
    }
    println!("\n</details>\n");
    Ok(())
}

fn print_live_markdown(report: &Report, samples: usize) {
    let lives: Vec<(&SyncReport, &LiveReport)> = report
        .syncs
        .iter()
        .filter_map(|s| s.live.as_ref().map(|l| (s, l)))
        .collect();
    if lives.is_empty() {
        return;
    }
    println!("#### Live comparison with Shopify\n");
    println!(
        "| sync | checked | in sync | update | drift | conflict | missing | unknown | cost points |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (s, l) in &lives {
        match l {
            LiveReport::Compared(c) => {
                let n = &c.counts;
                println!(
                    "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
                    s.sync,
                    n.checked,
                    n.in_sync,
                    n.update,
                    n.drift,
                    n.conflict,
                    n.missing,
                    n.unknown,
                    c.cost_points
                );
            }
            LiveReport::NotSupported { reason } | LiveReport::Failed { reason } => {
                println!("| `{}` | {} | | | | | | | |", s.sync, cell(reason));
            }
        }
    }
    println!();
    for (s, l) in lives {
        let LiveReport::Compared(c) = l else { continue };
        let shown: Vec<_> = c
            .records
            .iter()
            .filter(|r| r.state != RecordState::Update)
            .take(samples)
            .collect();
        if shown.is_empty() {
            continue;
        }
        println!(
            "<details><summary>Drift: <code>{}</code></summary>\n",
            s.sync
        );
        println!("| key | state | field | last applied | Shopify | warehouse |");
        println!("|---|---|---|---|---|---|");
        for r in shown {
            if r.fields.is_empty() {
                println!("| `{}` | {} | | | | |", cell(&r.key), r.state.as_str());
            }
            for f in &r.fields {
                println!(
                    "| `{}` | {} | `{}` | `{}` | `{}` | `{}` |",
                    cell(&r.key),
                    r.state.as_str(),
                    cell(&f.field),
                    cell(&short(Some(&f.last_applied))),
                    cell(&short(Some(&f.shopify))),
                    cell(&short(Some(&f.warehouse)))
                );
            }
        }
        println!("\n</details>\n");
    }
}

fn print_adoption_markdown(report: &Report) {
    let reported: Vec<(&SyncReport, &AdoptionCheck)> = report
        .syncs
        .iter()
        .filter_map(|s| match &s.adoption {
            Some(AdoptionReport::Reported(a)) if a.adoption.counts.rows > 0 => Some((s, &**a)),
            _ => None,
        })
        .collect();
    let failed: Vec<(&SyncReport, &str)> = report
        .syncs
        .iter()
        .filter_map(|s| match &s.adoption {
            Some(AdoptionReport::Failed { reason }) => Some((s, reason.as_str())),
            _ => None,
        })
        .collect();
    if reported.is_empty() && failed.is_empty() {
        return;
    }
    println!("#### Adoption of existing records\n");
    println!("| sync | new rows | matched by | match | create | conflict | no key | cost points |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for (s, a) in &reported {
        let c = &a.adoption.counts;
        println!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            s.sync,
            c.rows,
            a.adoption.matching.by.field(),
            c.matched,
            c.created,
            c.conflicts,
            c.no_key,
            a.cost_points
        );
    }
    for (s, reason) in &failed {
        println!("| `{}` | {} | | | | | | |", s.sync, cell(reason));
    }
    println!();
    for (s, a) in reported {
        println!(
            "<details><summary>Adoption: <code>{}</code></summary>\n",
            s.sync
        );
        println!(
            "| key | state | {} | record | effect |",
            a.adoption.matching.by.field()
        );
        println!("|---|---|---|---|---|");
        for r in &a.adoption.rows {
            let mut effect = adoption_effect(r.state, &s.mode).to_string();
            for c in &r.conflicts {
                effect.push_str("; ");
                effect.push_str(&c.text());
            }
            println!(
                "| `{}` | {} | `{}` | {} | {} |",
                cell(&r.key),
                r.state.as_str(),
                cell(r.value.as_deref().unwrap_or("")),
                r.shopify_id.as_deref().map(cell).unwrap_or_default(),
                cell(&effect)
            );
        }
        if let Some(n) = a.omitted {
            println!(
                "\n_… {n} more match(es) and create(s) not shown (--all-rows shows every row)_"
            );
        }
        println!("\n</details>\n");
    }
}
