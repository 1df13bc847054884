//! The NIR workflows, file to file, as the CLI (`spikelab nir export|import|show`) and
//! Python call them: a saved model to a `.nir` file, a `.nir` file to a model directory
//! that `eval surrogate`, `train surrogate --init` and `nir export` take, and a summary
//! of a graph.

use super::export::{export_network, ExportOptions, ExportReport};
use super::graph::{NirGraph, Op};
use super::import::{import_graph, ImportOptions, Imported};
use crate::bptt::evaluation::model_file;
use crate::bptt::io::{TensorFile, MODEL_FORMAT};
use crate::bptt::session::MODEL_FILE;
use crate::bptt::trainer::{load_model, EpochRecord};
use spikelab_core::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Exports the model file `model` (or `model.safetensors` in a run directory) to the
/// NIR file `out`.
pub fn export_model_file(model: &Path, out: &Path, opts: &ExportOptions) -> Result<ExportReport> {
    let m = load_model(&model_file(model))?;
    let report = export_network(&m.net, &m.config, opts)?;
    report.graph.write(out)?;
    Ok(report)
}

/// The model file an import into `out_dir` writes.
pub fn imported_model_path(out_dir: &Path) -> PathBuf {
    out_dir.join(MODEL_FILE)
}

/// Reads the NIR file `nir` and writes the network as a model in `out_dir`; refuses to
/// replace a model there unless `force`.
pub fn import_file(
    nir: &Path,
    out_dir: &Path,
    opts: &ImportOptions,
    force: bool,
) -> Result<Imported> {
    let path = imported_model_path(out_dir);
    if path.exists() && !force {
        return Err(Error::Invalid(format!(
            "{} exists; pass --force to replace it",
            path.display()
        )));
    }
    let graph = NirGraph::read(nir)?;
    let imported = import_graph(&graph, opts)?;
    save_imported(&imported, &path, nir)?;
    Ok(imported)
}

/// Writes an imported network as a model file (no history: it was not trained here).
pub fn save_imported(imported: &Imported, path: &Path, source: &Path) -> Result<()> {
    let mut f = TensorFile::new(MODEL_FORMAT);
    f.network(&imported.net);
    f.json("spikelab.config", &imported.config);
    f.json::<[EpochRecord]>("spikelab.history", &[]);
    f.meta("spikelab.nir_source", source.display().to_string());
    f.meta("spikelab.nir_dt_s", imported.dt_s.to_string());
    f.write(path)
}

/// One line per node of `g` (subgraphs indented), then its edges and metadata keys.
pub fn describe(g: &NirGraph) -> String {
    let mut out = String::new();
    describe_into(g, 0, &mut out);
    out
}

fn shape_of(op: &Op) -> String {
    let dims = |s: &[usize]| {
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("×")
    };
    match op {
        Op::Input { shape } | Op::Output { shape } => dims(shape),
        Op::Affine { weight, .. } | Op::Linear { weight } => {
            format!("weight {}", dims(&weight.shape))
        }
        Op::Conv1d { weight, .. } | Op::Conv2d { weight, .. } => {
            format!("weight {}", dims(&weight.shape))
        }
        Op::SumPool2d(p) | Op::AvgPool2d(p) => format!(
            "kernel {}, stride {}",
            dims(&p.kernel_size),
            dims(&p.stride)
        ),
        Op::Flatten {
            start_dim, end_dim, ..
        } => format!("dims {start_dim}..{end_dim}"),
        Op::Lif { tau, .. } | Op::Li { tau, .. } => {
            let t = tau.data.first().copied().unwrap_or(f64::NAN);
            format!("{} neurons, tau {} ms", tau.len(), t * 1e3)
        }
        Op::CubaLif {
            tau_mem, tau_syn, ..
        }
        | Op::CubaLi {
            tau_mem, tau_syn, ..
        } => format!(
            "{} neurons, tau_mem {} ms, tau_syn {} ms",
            tau_mem.len(),
            tau_mem.data.first().copied().unwrap_or(f64::NAN) * 1e3,
            tau_syn.data.first().copied().unwrap_or(f64::NAN) * 1e3
        ),
        Op::If { r, .. } | Op::I { r } => format!("{} neurons", r.len()),
        Op::Scale { scale } => format!("{} values", scale.len()),
        Op::Delay { delay } => format!("{} delays", delay.len()),
        Op::Threshold { threshold } => format!("{} values", threshold.len()),
        Op::Graph(g) => format!("{} nodes", g.nodes.len()),
    }
}

fn describe_into(g: &NirGraph, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for (name, n) in &g.nodes {
        out.push_str(&format!(
            "{pad}{name}: {} ({})\n",
            n.op.type_name(),
            shape_of(&n.op)
        ));
        if let Op::Graph(sub) = &n.op {
            describe_into(sub, depth + 1, out);
        }
    }
    let edges: Vec<String> = g.edges.iter().map(|(a, b)| format!("{a} → {b}")).collect();
    out.push_str(&format!("{pad}edges: {}\n", edges.join(", ")));
    if !g.metadata.is_empty() {
        out.push_str(&format!(
            "{pad}metadata: {}\n",
            g.metadata.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
}
