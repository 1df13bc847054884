//! `spikelab eval`: evaluates a trained model on the test split of a dataset with the
//! trainer (placeholder: engine evaluation follows).

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `spikelab eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model file or run directory.
    #[arg(long)]
    pub model: PathBuf,
}

/// Runs `spikelab eval`.
pub fn eval(_a: &EvalArgs) -> Result<()> {
    Ok(())
}
