//! `spikelab train lsm`: a liquid state machine on a UCR/UEA time-series problem —
//! maps arguments (or a TOML configuration) to `spikelab_train::lsm::session`, draws
//! progress bars, prints the figures, and plots the confusion matrix, the readout's
//! leave-one-out curve and a raster of the liquid's response to one test series.

use crate::plot::{self, RasterGroup, Series};
use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_train::lsm::session::{self, LsmReport, LsmSession};
use spikelab_train::lsm::{
    LiquidStateMachine, LsmConfig, LsmMonitor, ReadoutKind, SeriesEncoding, SlowSynapses, Topology,
};
use std::path::PathBuf;
use std::sync::Mutex;

/// Arguments of `spikelab train lsm`.
#[derive(Args, Debug)]
pub struct LsmArgs {
    /// Folder of the UCR/UEA `.ts` files (e.g. ../shared/data/ucr).
    #[arg(long)]
    pub data: PathBuf,
    /// Problem name: `<name>_TRAIN.ts` and `<name>_TEST.ts` in `--data`.
    #[arg(long, default_value = "JapaneseVowels")]
    pub series: String,
    /// Output directory (machine, metrics, figures).
    #[arg(long, default_value = "out/lsm")]
    pub out: PathBuf,
    /// A TOML file with the whole configuration (`spikelab_train::lsm::LsmConfig`:
    /// `[liquid]`, `[arrangement]`, `[encoding]`, `[state]`, `[readout]`, ...); the
    /// options below then only override what they name.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Excitatory neurons per liquid (inhibitory: a quarter as many).
    #[arg(long)]
    pub neurons: Option<usize>,
    /// Liquids side by side (or stacked with `--stacked`).
    #[arg(long)]
    pub liquids: Option<usize>,
    /// Stack the liquids: each drives the next (a deep LSM).
    #[arg(long)]
    pub stacked: bool,
    /// Give each liquid only its share of the input channels.
    #[arg(long)]
    pub partition_inputs: bool,
    /// Recurrence: distance (the default: Maass et al. 2002, neurons on a 3-D grid,
    /// nearby pairs connected more often) or random (a probability per type).
    #[arg(long, value_parser = ["random", "distance"])]
    pub topology: Option<String>,
    /// Input encoding of the series: population, delta, rate.
    #[arg(long)]
    pub encoding: Option<String>,
    /// Milliseconds per series step.
    #[arg(long)]
    pub frame_ms: Option<f64>,
    /// Readout: ridge (strength by leave-one-out unless --alpha) or logistic.
    #[arg(long)]
    pub readout: Option<String>,
    /// Regularisation strength of the readout.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Points per series at which liquid states are read.
    #[arg(long)]
    pub state_points: Option<usize>,
    /// Add slow E→E synapses with STDP; the liquid adapts to the training series for
    /// `--adapt-epochs` passes before its states are read.
    #[arg(long)]
    pub plastic_slow: bool,
    /// Passes over the training series with STDP on (with --plastic-slow).
    #[arg(long)]
    pub adapt_epochs: Option<usize>,
    /// Use only the first N training series.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Seed of the liquid and of the input draws.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads for the liquid runs (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Replace a machine already in --out.
    #[arg(long)]
    pub force: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

impl LsmArgs {
    /// The configuration: the file (or defaults) with the options applied.
    pub fn config(&self) -> Result<LsmConfig> {
        let mut c: LsmConfig = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid LSM configuration", p.display()))?
            }
            None => LsmConfig::default(),
        };
        if let Some(n) = self.neurons {
            c.liquid.excitatory = n;
            c.liquid.inhibitory = (n / 4).max(1);
        }
        if let Some(l) = self.liquids {
            c.arrangement.liquids = l;
        }
        c.arrangement.stacked |= self.stacked;
        c.arrangement.partition_inputs |= self.partition_inputs;
        match self.topology.as_deref() {
            Some("distance") => c.liquid.topology = Topology::maass(),
            Some("random") => c.liquid.topology = Topology::random(),
            _ => {}
        }
        if let Some(e) = &self.encoding {
            c.encoding = SeriesEncoding::named(e)?;
        }
        if let Some(f) = self.frame_ms {
            c.frame_ms = f;
        }
        if self.readout.is_some() || self.alpha.is_some() {
            let name = self.readout.as_deref().unwrap_or(match c.readout {
                ReadoutKind::Ridge { .. } => "ridge",
                ReadoutKind::Logistic { .. } => "logistic",
            });
            c.readout = ReadoutKind::named(name, self.alpha)?;
        }
        if let Some(p) = self.state_points {
            c.state.points = p;
        }
        if self.plastic_slow {
            c.liquid.slow = Some(SlowSynapses {
                stdp: Some(spikelab_core::plasticity::stdp::Stdp {
                    a_plus: 0.005,
                    a_minus: 0.006,
                    tau_plus_ms: 20.0,
                    tau_minus_ms: 20.0,
                    w_min: 0.0,
                    w_max: 1.0,
                    weight_dependence: Default::default(),
                    pairing: Default::default(),
                }),
                ..SlowSynapses::default()
            });
        }
        if let Some(e) = self.adapt_epochs {
            c.adapt_epochs = e;
        }
        if let Some(s) = self.seed {
            c.seed = s;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Progress bars per phase.
struct Bars {
    quiet: bool,
    current: Mutex<Option<(String, ProgressBar)>>,
}

impl LsmMonitor for Bars {
    fn progress(&self, phase: &str, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        let mut cur = self.current.lock().expect("progress lock");
        let fresh = cur
            .as_ref()
            .is_none_or(|(p, b)| p != phase || b.is_finished());
        if fresh {
            if let Some((_, b)) = cur.take() {
                b.finish();
            }
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
                )
                .expect("valid template"),
            );
            b.set_prefix(phase.to_string());
            *cur = Some((phase.to_string(), b));
        }
        let (_, b) = cur.as_ref().expect("set above");
        b.set_position(done as u64);
        if done == total {
            b.finish();
        }
    }
}

/// `spikelab train lsm`.
pub fn train(args: &LsmArgs) -> Result<LsmReport> {
    let config = args.config()?;
    let s = LsmSession {
        data: args.data.clone(),
        series: args.series.clone(),
        out: args.out.clone(),
        config,
        threads: args.threads,
        train_limit: args.train_limit,
        force: args.force,
    };
    let bars = Bars {
        quiet: args.quiet,
        current: Mutex::new(None),
    };
    let (machine, report) = session::run(&s, &bars)?;
    if let Some((_, b)) = bars.current.lock().expect("progress lock").take() {
        b.finish_and_clear();
    }
    print_report(&report);
    figures(&s, &machine, &report)?;
    println!("wrote {}", s.out.display());
    Ok(report)
}

fn print_report(r: &LsmReport) {
    let f = &r.fit;
    println!(
        "{}: {} liquid neurons, states of {} values; {} training and {} test series",
        r.problem, r.neurons, r.state_len, r.train_samples, r.test_samples
    );
    println!(
        "liquid: mean rate {:.1} Hz, class separation {:.3}, {:.1} s for the training runs",
        f.mean_rate_hz, f.separation, f.liquid_s
    );
    match f.readout.loo_accuracy {
        Some(loo) => println!(
            "readout: alpha {:.3e}, leave-one-out accuracy {loo:.2} %, train accuracy {:.2} %",
            f.readout.alpha, f.train_accuracy
        ),
        None => println!(
            "readout: alpha {:.3e}, train accuracy {:.2} %",
            f.readout.alpha, f.train_accuracy
        ),
    }
    println!("test accuracy: {:.2} %", r.test.accuracy);
}

fn figures(s: &LsmSession, machine: &LiquidStateMachine, r: &LsmReport) -> Result<()> {
    let confusion: Vec<Vec<f64>> = r
        .test
        .confusion
        .iter()
        .map(|row| row.iter().map(|&v| v as f64).collect())
        .collect();
    plot::heatmap(
        &s.out.join("confusion.png"),
        &format!("{} test: {:.2} %", r.problem, r.test.accuracy),
        &confusion,
        "true class",
        "predicted class",
    )?;
    if !r.fit.readout.loo_curve.is_empty() {
        plot::lines(
            &s.out.join("readout_alpha.png"),
            "ridge readout: leave-one-out accuracy",
            "alpha",
            "accuracy (%)",
            &[Series {
                label: "leave-one-out",
                points: &r.fit.readout.loo_curve,
            }],
            true,
        )?;
    }
    // The liquid's response to the first test series.
    let (_, test) = session::load_data(s)?;
    if let Some(first) = test.samples.first() {
        let run = machine.sample_run(first)?;

        let times: Vec<Vec<f64>> = run
            .liquid
            .iter()
            .map(|rec| {
                rec.steps
                    .iter()
                    .map(|&t| t as f64 * machine.config.dt_ms)
                    .collect()
            })
            .collect();
        let mut groups = vec![RasterGroup {
            label: "input",
            times_ms: &run.input.times_ms,
            neurons: &run.input.neurons,
            size: machine.channels * machine.config.encoding.per_channel(),
        }];
        for ((rec, pop), t) in run
            .liquid
            .iter()
            .zip(&machine.built.populations)
            .zip(&times)
        {
            groups.push(RasterGroup {
                label: &pop.name,
                times_ms: t,
                neurons: &rec.neurons,
                size: pop.size,
            });
        }
        plot::raster(
            &s.out.join("liquid_raster.png"),
            &format!(
                "liquid response to test series 0 (class {})",
                r.class_names[first.label as usize]
            ),
            &groups,
            run.duration_ms,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: LsmArgs,
    }

    fn parse(extra: &[&str]) -> LsmArgs {
        let mut v = vec!["x".to_string()];
        v.extend(extra.iter().map(|s| s.to_string()));
        Cmd::try_parse_from(v).unwrap().args
    }

    #[test]
    fn japanese_vowels_with_the_default_liquid_reaches_ninety_percent() {
        let ucr = crate::test_data::ucr_dir();
        let dir = tempfile::tempdir().unwrap();
        let data = ucr.display().to_string();
        let out = dir.path().join("lsm").display().to_string();
        let args = parse(&["--data", &data, "--out", &out, "--quiet"]);
        let report = train(&args).unwrap();
        // 96.8 % measured with the default seed; the issue asks for >= 90 %.
        assert!(
            report.test.accuracy >= 90.0,
            "LSM on JapaneseVowels: {} %",
            report.test.accuracy
        );
        for f in [
            "lsm.safetensors",
            "metrics.json",
            "config.json",
            "confusion.png",
            "readout_alpha.png",
            "liquid_raster.png",
        ] {
            assert!(dir.path().join("lsm").join(f).is_file(), "{f} missing");
        }
        // Not overwritten without --force; options are checked with their names.
        let e = train(&args).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        let bad = parse(&[
            "--data",
            &data,
            "--out",
            &out,
            "--encoding",
            "morse",
            "--force",
        ]);
        let e = train(&bad).unwrap_err().to_string();
        assert!(e.contains("encoding") && e.contains("population"), "{e}");
        let bad = parse(&["--data", &data, "--out", &out, "--frame-ms", "0", "--force"]);
        let e = train(&bad).unwrap_err().to_string();
        assert!(e.contains("frame_ms"), "{e}");
        // A configuration file: one liquid of 3 small ones, logistic readout.
        let toml_path = dir.path().join("lsm.toml");
        std::fs::write(
            &toml_path,
            "[liquid]\nexcitatory = 60\ninhibitory = 15\n[arrangement]\nliquids = 3\n[readout]\nkind = \"logistic\"\nalpha = 1.0\nmax_iterations = 100\n",
        )
        .unwrap();
        let cfg = parse(&[
            "--data",
            &data,
            "--config",
            &toml_path.display().to_string(),
        ])
        .config()
        .unwrap();
        assert_eq!(cfg.arrangement.liquids, 3);
        assert_eq!(cfg.liquid.excitatory, 60);
        std::fs::write(&toml_path, "[liquid]\nexcitatory = 60\nneurons = 3\n").unwrap();
        let e = parse(&[
            "--data",
            &data,
            "--config",
            &toml_path.display().to_string(),
        ])
        .config()
        .unwrap_err();
        assert!(format!("{e:#}").contains("neurons"), "{e:#}");
    }
}
