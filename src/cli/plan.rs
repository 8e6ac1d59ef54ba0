//! `shopsync plan`: what a run would do, computed from the warehouse and the state; nothing is written.
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use super::specs;
use crate::core::diff::{ChangeKind, Plan};
use crate::core::engine;
use crate::state::SqliteStateStore;
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
    /// Sample rows shown per kind of change.
    #[arg(long, default_value_t = 5)]
    samples: usize,
}

/// Plans every sync and prints the result.
pub async fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let syncs = specs::load(&args.specs.paths, &args.specs.only)?;
    // A missing state file is read as empty, without creating it: plan leaves no trace.
    let scratch = tempfile::tempdir()?;
    let path = if args.specs.state.exists() {
        args.specs.state.clone()
    } else {
        scratch.path().join("empty.db")
    };
    let state = SqliteStateStore::open(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let mut plans = Vec::new();
    for s in &syncs {
        let warehouse = SqlWarehouse::from_url(&s.config.id, &s.warehouse_url)?;
        let plan = engine::plan(&warehouse, &state, &s.config)
            .await
            .with_context(|| format!("planning {}", s.config.id))?;
        plans.push((s.config.id.clone(), s.config.target.to_string(), plan));
    }
    let pending = plans.iter().any(|(_, _, p)| !p.is_empty());
    match args.format {
        Format::Json => {
            let out: Vec<_> = plans
                .iter()
                .map(|(id, target, p)| json!({ "sync": id, "target": target, "plan": p }))
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => {
            for (id, target, p) in &plans {
                print_text(id, target, p, args.samples);
            }
        }
        Format::Markdown => print_markdown(&plans, args.samples),
    }
    Ok(if args.check && pending {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn counts(p: &Plan) -> (usize, usize, usize, usize, u64) {
    (
        p.of_kind(ChangeKind::Added).count(),
        p.of_kind(ChangeKind::Changed).count(),
        p.of_kind(ChangeKind::Retried).count(),
        p.summary.removed.len(),
        p.summary.stats.rejected,
    )
}

fn print_text(id: &str, target: &str, p: &Plan, samples: usize) {
    let (added, changed, retried, removed, rejected) = counts(p);
    println!(
        "{id} ({target}): {} rows; {added} to add, {changed} to change, {retried} to retry, {removed} left the model, {rejected} rejected",
        p.summary.stats.rows
    );
    if p.summary.rebaseline {
        println!(
            "  no state yet: every row is matched by its key and upserted; nothing is deleted"
        );
    }
    if let Some(r) = &p.summary.refused_deletes {
        println!("  deletes refused: {}", r.reason);
    }
    for kind in [ChangeKind::Added, ChangeKind::Changed, ChangeKind::Retried] {
        for c in p.of_kind(kind).take(samples) {
            println!(
                "  {:<8} {}  {}",
                format!("{kind:?}").to_lowercase(),
                c.key,
                serde_json::Value::Object(c.fields.clone())
            );
        }
    }
    for r in p.summary.removed.iter().take(samples) {
        println!(
            "  removed  {}  {}",
            r.key,
            r.shopify_id.as_deref().unwrap_or("(never created)")
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
}

fn print_markdown(plans: &[(String, String, Plan)], samples: usize) {
    println!("### shopsync plan\n");
    println!("| sync | target | rows | add | change | retry | removed | rejected |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (id, target, p) in plans {
        let (a, c, r, d, j) = counts(p);
        println!(
            "| `{id}` | {target} | {} | {a} | {c} | {r} | {d} | {j} |",
            p.summary.stats.rows
        );
    }
    for (id, _, p) in plans {
        if p.is_empty() {
            continue;
        }
        println!("\n<details><summary><code>{id}</code></summary>\n");
        if let Some(r) = &p.summary.refused_deletes {
            println!("**Deletes refused:** {}\n", r.reason);
        }
        for c in p.changes.iter().take(samples) {
            println!(
                "- {:?} `{}`: `{}`",
                c.kind,
                c.key,
                serde_json::Value::Object(c.fields.clone())
            );
        }
        for r in p.summary.removed.iter().take(samples) {
            println!("- removed `{}`", r.key);
        }
        println!("\n</details>");
    }
}
