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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surrogate::tests::write_toy_mnist;
    use crate::surrogate::{eval, train, EvalArgs, SurrogateArgs};
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(subcommand)]
        nir: NirCommand,
    }
    #[derive(Parser)]
    struct Train {
        #[command(flatten)]
        args: SurrogateArgs,
    }
    #[derive(Parser)]
    struct Eval {
        #[command(flatten)]
        args: EvalArgs,
    }

    fn nir_cmd(v: &[&str]) -> NirCommand {
        Cmd::try_parse_from(std::iter::once("x").chain(v.iter().copied()))
            .unwrap()
            .nir
    }

    /// train → nir export → nir import → the same evaluation → fine-tuning with --init.
    #[test]
    fn a_trained_network_goes_through_nir_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_toy_mnist(d, 320, 100);
        let s = |p: &std::path::Path| p.display().to_string();
        let (data, run, net, back, tuned) = (
            s(d),
            s(&d.join("run")),
            s(&d.join("net.nir")),
            s(&d.join("back")),
            s(&d.join("tuned")),
        );
        let common = [
            "--data", &data, "--steps", "8", "--batch", "16", "--lr", "0.005", "--quiet",
        ];
        let mut v = vec!["x", "--arch", "64-32-4", "--epochs", "2", "--out", &run];
        v.extend(common);
        train(&Train::try_parse_from(v).unwrap().args).unwrap();
        let NirCommand::Export(ea) = nir_cmd(&["export", "--model", &run, "--out", &net]) else {
            unreachable!()
        };
        let graph = export(&ea).unwrap();
        assert_eq!(graph.nodes.len(), 7, "{:?}", graph.nodes.keys());
        let NirCommand::Import(ia) = nir_cmd(&["import", &net, "--out", &back]) else {
            unreachable!()
        };
        import(&ia).unwrap();
        // A second import into the same place is refused without --force.
        let e = format!("{:#}", import(&ia).unwrap_err());
        assert!(e.contains("--force"), "{e}");
        let evaluate = |model: &str| {
            let a = Eval::try_parse_from(["x", "--model", model, "--data", &data])
                .unwrap()
                .args;
            eval(&a).unwrap().trainer
        };
        let (a, b) = (evaluate(&run), evaluate(&back));
        assert!(a.accuracy > 50.0, "{}", a.accuracy);
        assert_eq!(a.accuracy, b.accuracy);
        assert_eq!(a.predictions, b.predictions);
        // The imported model runs on the event-driven engine with its predictions.
        let a = Eval::try_parse_from([
            "x", "--model", &back, "--data", &data, "--engine", "--limit", "40",
        ])
        .unwrap()
        .args;
        let report = eval(&a).unwrap();
        let engine = report.engine.expect("engine evaluation");
        assert_eq!(
            engine.predictions,
            report.trainer.predictions[..40].to_vec()
        );
        // Fine-tuning the imported model starts from its weights.
        let mut v = vec!["x", "--init", &back, "--epochs", "1", "--out", &tuned];
        v.extend(common);
        let t = train(&Train::try_parse_from(v).unwrap().args).unwrap();
        let acc = t.state.history.last().unwrap().test_accuracy.unwrap();
        assert!(acc > 50.0, "{acc}");
        run_show(&net);
    }

    fn run_show(path: &str) {
        run(&nir_cmd(&["show", path])).unwrap();
    }

    #[test]
    fn simulator_networks_export_or_say_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cuba.nir").display().to_string();
        let cuba = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/vogels_abbott_cuba.toml"
        );
        let NirCommand::Export(a) = nir_cmd(&["export", "--network", cuba, "--out", &out]) else {
            unreachable!()
        };
        let e = format!("{:#}", export(&a).unwrap_err());
        assert!(e.contains("one synaptic time constant"), "{e}");
        assert!(!std::path::Path::new(&out).exists(), "no partial file");
        let e = Cmd::try_parse_from(["x", "export", "--out", &out])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--model") || e.contains("--network"), "{e}");
    }
}
