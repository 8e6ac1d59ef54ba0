//! `shopsync emulator`: run the local Shopify Admin API.
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::emulator::seed::Fixture;
use crate::emulator::{Emulator, Plan};

/// Arguments of `shopsync emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8085")]
    pub listen: SocketAddr,
    /// Rate-limit plan: standard, advanced, plus, enterprise, or BUCKET/RESTORE (e.g. 2000/100).
    #[arg(long, default_value = "standard")]
    pub plan: String,
    /// Access token clients must send in X-Shopify-Access-Token.
    #[arg(
        long,
        env = "SHOPSYNC_EMULATOR_TOKEN",
        default_value = "shpat_emulator"
    )]
    pub token: String,
    /// Seed fixture (YAML or JSON).
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Shop domain.
    #[arg(long, default_value = "emulator.myshopify.com")]
    pub shop: String,
    /// Disable rate limiting (benchmarks).
    #[arg(long)]
    pub no_throttle: bool,
}

/// Runs the emulator until the process is stopped.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let plan: Plan = args.plan.parse()?;
    let mut builder = Emulator::builder()
        .plan(plan)
        .token(args.token)
        .shop(args.shop)
        .throttling(!args.no_throttle);
    if let Some(path) = &args.seed {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading seed fixture {}", path.display()))?;
        builder = builder.seed(Fixture::parse(&bytes, &path.display().to_string())?);
    }
    let running = builder.start(args.listen).await?;
    eprintln!(
        "shopsync emulator: {} for shop {} (plan {:?})",
        running.base_url(),
        running.shop_domain(),
        plan
    );
    running.wait().await?;
    Ok(())
}
