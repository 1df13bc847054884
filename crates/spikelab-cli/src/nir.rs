//! `spikelab nir export|import|show`: networks to and from NIR files (the
//! Neuromorphic Intermediate Representation of snnTorch, Norse, Sinabs, Rockpool,
//! Lava and SpiNNaker2). The work is in `spikelab_train::nir`; this module maps
//! arguments and prints.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use spikelab_train::bptt::options::parse_reset;
use spikelab_train::nir::export::ExportOptions;
use spikelab_train::nir::import::{ImportOptions, Imported};
use spikelab_train::nir::{engine, workflow, Discretisation, NirGraph};
use std::path::PathBuf;

/// `spikelab nir ...` subcommands.
#[derive(Subcommand, Debug)]
pub enum NirCommand {
    /// Write a trained network (`--model`) or a simulator model file (`--network`) as
    /// a NIR graph.
    Export(ExportArgs),
    /// Read a NIR graph as a trainer model (for `eval surrogate`, its `--engine`
    /// export, `train surrogate --init` and `nir export`).
    Import(ImportArgs),
    /// Print the nodes, edges and metadata of a NIR file.
    Show(ShowArgs),
}

/// Arguments of `spikelab nir export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A trained model: a run directory holding model.safetensors, or a model file.
    #[arg(long, conflicts_with = "network", required_unless_present = "network")]
    pub model: Option<PathBuf>,
    /// A simulator model file (TOML) of LIF / IF populations.
    #[arg(long)]
    pub network: Option<PathBuf>,
    /// The NIR file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Time step of one trainer step in ms (`--model`; simulator networks use their
    /// own).
    #[arg(long, default_value_t = 1.0)]
    pub dt_ms: f64,
    /// How a decay β maps to a time constant: euler (τ = dt/(1−β), snnTorch's) or
    /// exact (τ = −dt/ln β).
    #[arg(long, default_value = "euler")]
    pub discretisation: String,
}

/// Arguments of `spikelab nir import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The NIR file.
    pub file: PathBuf,
    /// Output directory (model.safetensors is written there).
    #[arg(long)]
    pub out: PathBuf,
    /// Time step in ms (default: the graph's own, else inferred from τ/R of its
    /// neurons as snnTorch writes them).
    #[arg(long)]
    pub dt_ms: Option<f64>,
    /// euler or exact (default: the graph's own, else euler).
    #[arg(long)]
    pub discretisation: Option<String>,
    /// Reset of the spiking layers: subtract or zero (default: as the graph says, else
    /// zero, NIR's own; snnTorch's Leaky resets by subtraction unless told otherwise).
    #[arg(long)]
    pub reset: Option<String>,
    /// Time steps per sample (default: the graph's, else 25).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Input encoding as `train surrogate --encoding` (default: the graph's, else
    /// rate).
    #[arg(long)]
    pub encoding: Option<String>,
    /// Replace a model in the output directory.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `spikelab nir show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The NIR file.
    pub file: PathBuf,
}

/// Runs a `spikelab nir` subcommand.
pub fn run(cmd: &NirCommand) -> Result<()> {
    match cmd {
        NirCommand::Export(a) => export(a).map(|_| ()),
        NirCommand::Import(a) => import(a).map(|_| ()),
        NirCommand::Show(a) => {
            let g = NirGraph::read(&a.file)?;
            print!("{}", workflow::describe(&g));
            Ok(())
        }
    }
}

/// Runs `spikelab nir export`; returns the graph written.
pub fn export(a: &ExportArgs) -> Result<NirGraph> {
    let (graph, notes) = if let Some(model) = &a.model {
        let opts = ExportOptions {
            dt_ms: a.dt_ms,
            discretisation: Discretisation::parse(&a.discretisation)?,
        };
        let r = workflow::export_model_file(model, &a.out, &opts)
            .with_context(|| format!("cannot export {}", model.display()))?;
        (r.graph, r.notes)
    } else if let Some(network) = &a.network {
        let r = engine::export_network_file(network, &a.out)
            .with_context(|| format!("cannot export {}", network.display()))?;
        (r.graph, r.notes)
    } else {
        bail!("pass --model (a trained network) or --network (a simulator model file)");
    };
    for n in &notes {
        println!("note: {n}");
    }
    println!(
        "wrote {} ({} nodes, {} edges)",
        a.out.display(),
        graph.nodes.len(),
        graph.edges.len()
    );
    Ok(graph)
}

/// Runs `spikelab nir import`; returns the imported network.
pub fn import(a: &ImportArgs) -> Result<Imported> {
    let opts = ImportOptions {
        dt_ms: a.dt_ms,
        discretisation: a
            .discretisation
            .as_deref()
            .map(Discretisation::parse)
            .transpose()?,
        reset: a.reset.as_deref().map(parse_reset).transpose()?,
        steps: a.steps,
        encoding: a.encoding.clone(),
    };
    let imported = workflow::import_file(&a.file, &a.out, &opts, a.force)
        .with_context(|| format!("cannot import {}", a.file.display()))?;
    for n in &imported.notes {
        println!("note: {n}");
    }
    print!("{}", imported.net.summary());
    println!(
        "dt {} ms ({}), {} steps; wrote {}",
        imported.dt_s * 1e3,
        imported.discretisation.name(),
        imported.config.steps,
        workflow::imported_model_path(&a.out).display()
    );
    Ok(imported)
}
