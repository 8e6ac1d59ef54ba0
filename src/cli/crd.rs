//! `shopsync crd`: the CRDs, printed or written to a folder.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `shopsync crd`.
#[derive(Debug, clap::Args)]
pub struct CrdArgs {
    /// Write one file per CRD into this folder (as committed in crds/) instead of printing a YAML stream.
    #[arg(long, value_name = "DIR")]
    write_dir: Option<PathBuf>,
}

/// Prints or writes the CRDs.
pub fn run(args: CrdArgs) -> anyhow::Result<ExitCode> {
    match args.write_dir {
        None => print!("{}", crate::api::crds_yaml()?),
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, text) in crate::api::crd_files()? {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
