//! `spikelab run MODEL.toml`: build a model file, simulate it with a progress bar,
//! print per-population spike counts and rates, wall time and synaptic events per
//! second, and write spikes, rates, state traces and plots to an output directory.
//!
//! The run owns its output directory (`spikelab_core::io::OutputDir`): everything is
//! written beside it and renamed into place at the end, `summary.json` last, so a
//! killed run leaves the previous results and never a mix of two runs; a directory
//! Spikelab did not write is refused before the simulation starts.

use crate::plot::{self, RasterGroup, Series};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_core::engine::distributed::{Transport, TransportExt};
use spikelab_core::io::{write_atomic_with, Fnv1a, OutputDir};
use spikelab_core::monitor::MonitorSpec;
use spikelab_core::prelude::*;
use spikelab_core::recording::{write_recordings, SpikeFileFormat};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File format for recorded spikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpikeFormat {
    /// `time_ms,neuron` text.
    Csv,
    /// NumPy `(n, 2)` float64 array of `[time_ms, neuron]`.
    Npy,
}

/// Arguments of `spikelab run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Model file (TOML).
    pub model: PathBuf,
    /// Output directory (default: out/<model name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Simulated duration in ms (default: the model file's simulation.duration_ms).
    #[arg(long)]
    pub duration_ms: Option<f64>,
    /// Worker threads (default: the model file's; 0 = automatic: one per core, fewer
    /// for small networks or when cores are busy; the spikes never depend on it).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed (default: the model file's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start-up time (ms) simulated before the duration and left out of the summary's
    /// rates and ISI CVs (default: the model file's simulation.transient_ms).
    #[arg(long)]
    pub transient_ms: Option<f64>,
    /// Factor on every population's size, on top of the model file's [scale].
    #[arg(long)]
    pub scale_neurons: Option<f64>,
    /// Factor on every neuron's number of inputs, on top of the model file's [scale].
    #[arg(long)]
    pub scale_in_degree: Option<f64>,
    /// Format of the spike files.
    #[arg(long, value_enum, default_value_t = SpikeFormat::Csv)]
    pub format: SpikeFormat,
    /// Do not draw plots.
    #[arg(long)]
    pub no_plot: bool,
    /// Print only the summary (no progress bar).
    #[arg(long, short)]
    pub quiet: bool,
}

/// One population's activity in a [`RunSummary`].
#[derive(Debug, serde::Serialize)]
pub struct PopulationSummary {
    /// Population name.
    pub name: String,
    /// Neurons.
    pub neurons: usize,
    /// Spikes emitted.
    pub spikes: u64,
    /// Mean firing rate (Hz) after the transient.
    pub rate_hz: f64,
    /// Mean over the recorded neurons with at least two inter-spike intervals after
    /// the transient of their ISI coefficient of variation; None without any.
    pub isi_cv_mean: Option<f64>,
}

/// Summary of a finished run, also written as `summary.json`: what ran (model file
/// and its checksum, seed, threads, version) and what came out.
#[derive(Debug, serde::Serialize)]
pub struct RunSummary {
    /// Model file.
    pub model: String,
    /// FNV-1a 64 checksum of the model file's bytes.
    pub model_fnv1a64: String,
    /// Spikelab version.
    pub spikelab_version: String,
    /// Seed.
    pub seed: u64,
    /// Time step (ms).
    pub dt_ms: f64,
    /// Simulated time (ms), the transient included.
    pub simulated_ms: f64,
    /// Start-up time (ms) left out of the rates and ISI CVs.
    pub transient_ms: f64,
    /// Wall time of the simulation loop (s).
    pub wall_s: f64,
    /// Wall time to build the network (s).
    pub build_s: f64,
    /// Threads used.
    pub threads: usize,
    /// Synaptic events delivered.
    pub synaptic_events: u64,
    /// Synapses.
    pub synapses: u64,
    /// Memory the build estimated before allocating (MiB).
    pub estimated_mib: f64,
    /// Peak resident memory of the process (MiB; VmHWM), if the OS tells.
    pub peak_rss_mib: Option<f64>,
    /// Wall time per simulated second after the build (real-time factor).
    pub real_time_factor: f64,
    /// Per population: size, spikes, mean rate.
    pub populations: Vec<PopulationSummary>,
    /// In a distributed run (`mpirun -np N spikelab run`): the ranks and what each
    /// spent; absent in a single process. `peak_rss_mib` and `estimated_mib` above
    /// are then the sums over the ranks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedSummary>,
}

/// Per-rank figures of a distributed run.
#[derive(Debug, serde::Serialize)]
pub struct DistributedSummary {
    /// Number of ranks (processes).
    pub ranks: usize,
    /// Threads of each rank.
    pub threads_per_rank: usize,
    /// Per rank: seconds spent exchanging spikes with the other ranks, waiting for
    /// them included (the rest of `wall_s` is its own computation).
    pub exchange_s: Vec<f64>,
    /// Per rank: peak resident memory (MiB), 0 where the OS does not tell.
    pub peak_rss_mib: Vec<f64>,
    /// Per rank: memory estimated before the build (MiB).
    pub estimated_mib: Vec<f64>,
}

/// Whether this process is a rank other than 0 of a distributed run: it prints
/// nothing (rank 0 prints the results, and every error reaches rank 0).
pub fn is_quiet_rank() -> bool {
    QUIET_RANK.load(std::sync::atomic::Ordering::Relaxed)
}

static QUIET_RANK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Number of ranks and this process's rank when an MPI launcher (`mpirun`,
/// `mpiexec`, `srun`) started it, from the environment it sets.
pub fn launcher_ranks() -> Option<(usize, usize)> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok()?.parse::<usize>().ok())
    };
    let size = var(&[
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMIX_SIZE",
        "SLURM_NTASKS",
    ])?;
    let rank = var(&[
        "OMPI_COMM_WORLD_RANK",
        "PMI_RANK",
        "PMIX_RANK",
        "SLURM_PROCID",
    ])
    .unwrap_or(0);
    Some((size, rank))
}

/// `spikelab run` as the command line calls it: a single process, or, when an MPI
/// launcher started several, this rank of a distributed run (with the feature
/// `mpi`; without it, several ranks are refused rather than run N times).
pub fn run_command(args: &RunArgs) -> Result<()> {
    match launcher_ranks() {
        Some((ranks, rank)) if ranks > 1 => {
            if rank != 0 {
                QUIET_RANK.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            run_mpi(args, ranks)
        }
        _ => run(args).map(|_| ()),
    }
}

#[cfg(feature = "mpi")]
fn run_mpi(args: &RunArgs, _ranks: usize) -> Result<()> {
    use spikelab_core::engine::distributed::mpi::MpiTransport;
    let world = MpiTransport::init()
        .context("cannot initialise MPI with serialized threading (MPI_THREAD_SERIALIZED)")?;
    let world: std::sync::Arc<dyn Transport> = std::sync::Arc::new(world);
    let result = run_distributed(args, world.clone()).map(|_| ());
    if let Err(e) = &result {
        // Every error has reached rank 0 (see `agree`): it prints it now, before
        // the ranks part, since the launcher may stop every rank once one has
        // exited with an error.
        if world.rank() == 0 {
            eprintln!("error: {}", crate::error_message(e));
        }
        QUIET_RANK.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    // The ranks part together.
    world.gather_strings("");
    result
}

#[cfg(not(feature = "mpi"))]
fn run_mpi(_args: &RunArgs, ranks: usize) -> Result<()> {
    anyhow::bail!(
        "started as {ranks} MPI ranks, but this spikelab was built without MPI; build it with `cargo build --release --features mpi` (needs a system MPI, e.g. Debian's libopenmpi-dev), or run one process"
    )
}

/// Runs `spikelab run` in this process.
pub fn run(args: &RunArgs) -> Result<RunSummary> {
    run_on(args, None)
}

/// Runs `spikelab run` as one rank of a distributed run over `transport`: every
/// rank calls this with the same arguments; rank 0 writes the outputs (the same files
/// as a single process) and prints, and returns the summary on every rank.
pub fn run_distributed(
    args: &RunArgs,
    transport: std::sync::Arc<dyn Transport>,
) -> Result<RunSummary> {
    run_on(args, Some(transport))
}

/// The same outcome on every rank: `result` where every rank succeeded, else the
/// first failed rank's error (its own, or named by rank on the others).
fn agree<T>(comm: &dyn Transport, result: Result<T>) -> Result<T> {
    match comm.first_failure(result.as_ref().err().map(|e| format!("{e:#}"))) {
        Some((rank, message)) if rank != comm.rank() => Err(anyhow::anyhow!(
            "rank {rank} of {}: {message}",
            comm.ranks()
        )),
        _ => result,
    }
}

/// The model file with the command line's changes, its bytes and (on rank 0) the
/// staged output directory.
fn prepare(args: &RunArgs, lead: bool) -> Result<(NetworkSpec, Vec<u8>, Option<OutputDir>)> {
    let mut spec = NetworkSpec::load(&args.model)?;
    let model_bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    if let Some(d) = args.duration_ms {
        spec.simulation.duration_ms = d;
    }
    if let Some(s) = args.seed {
        spec.simulation.seed = s;
    }
    if let Some(t) = args.threads {
        spec.simulation.threads = t;
    }
    if let Some(t) = args.transient_ms {
        spec.simulation.transient_ms = t;
    }
    if args.scale_neurons.is_some() || args.scale_in_degree.is_some() {
        let scale = spikelab_core::scale::ScaleSpec {
            neurons: args.scale_neurons.unwrap_or(1.0),
            in_degree: args.scale_in_degree.unwrap_or(1.0),
        };
        spec.scale_by(&scale, "--scale")?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if lead && launcher_ranks().is_none_or(|(n, _)| n <= 1) && spec.simulation.threads > cores {
        eprintln!(
            "warning: {} threads on {cores} cores: the threads wait for each other at every step, so this is slower than {cores} (the spikes are the same); use --threads 0 to choose automatically",
            spec.simulation.threads
        );
    }
    // Without spike monitors, record every neuron population so there is a raster.
    if !spec
        .monitors
        .iter()
        .any(|m| matches!(m, MonitorSpec::Spikes { .. }))
    {
        for p in &spec.populations {
            if !p.neuron.is_source() {
                spec.monitors.push(MonitorSpec::Spikes {
                    population: p.name.clone(),
                    neurons: NeuronSelection::All,
                });
            }
        }
    }
    // Validated here, so that a mistake is reported before the output is staged.
    spec.plan()?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let stem = args
            .model
            .file_stem()
            .map_or("run".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("out").join(stem)
    });
    // The output path is checked (and staged) before the long work.
    let out = if lead {
        Some(OutputDir::begin(&out_dir)?)
    } else {
        None
    };
    Ok((spec, model_bytes, out))
}

fn run_on(args: &RunArgs, comm: Option<std::sync::Arc<dyn Transport>>) -> Result<RunSummary> {
    let lead = comm.as_ref().is_none_or(|c| c.rank() == 0);
    let prepared = prepare(args, lead);
    let (spec, model_bytes, out) = match &comm {
        Some(c) => agree(c.as_ref(), prepared)?,
        None => prepared?,
    };
    // One plan validates the network, gives the memory estimate and is built.
    let plan = spec.plan()?;
    let threads = spec.simulation.threads;
    let t0 = Instant::now();
    let (mut sim, estimated_mib) = match &comm {
        None => (
            Simulator::from_plan(&plan, threads)?,
            spikelab_core::engine::estimate_memory_bytes(&plan, threads) / 1048576.0,
        ),
        Some(c) => {
            let sim = Simulator::from_plan_distributed(&plan, threads, c.clone())?;
            let mine = spikelab_core::engine::estimate_memory_bytes_of_rank(
                &plan,
                sim.partitions(),
                c.ranks(),
            );
            (sim, mine / 1048576.0)
        }
    };
    drop(plan);
    let build_s = t0.elapsed().as_secs_f64();
    let build_s = comm.as_ref().map_or(build_s, |c| c.max_f64(build_s));
    let estimated_per_rank = comm
        .as_ref()
        .map(|c| c.gather_f64(estimated_mib))
        .unwrap_or_default();
    let estimated_mib = if comm.is_some() {
        estimated_per_rank.iter().sum()
    } else {
        estimated_mib
    };
    let dt = spec.simulation.dt_ms;
    let transient_steps = (spec.simulation.transient_ms / dt).round() as u64;
    let steps = transient_steps + (spec.simulation.duration_ms / dt).round() as u64;

    let at_transient = simulate(
        &mut sim,
        steps,
        transient_steps,
        estimated_mib,
        args,
        &spec,
        comm.as_deref(),
    )?;

    let wall_s = sim.stats().wall_s;
    let wall_s = comm.as_ref().map_or(wall_s, |c| c.max_f64(wall_s));
    let sim_ms = sim.time_ms();
    let measured_s = ((steps - transient_steps) as f64 * dt * 1e-3).max(1e-12);
    let events = sim.synaptic_events();
    let cvs = isi_cv_means(&sim, transient_steps)?;
    let pops: Vec<PopulationSummary> = sim
        .populations()
        .iter()
        .zip(&sim.stats().spikes)
        .zip(&at_transient)
        .map(|((p, &n), &before)| PopulationSummary {
            name: p.name.clone(),
            neurons: p.size,
            spikes: n,
            rate_hz: (n - before) as f64 / p.size as f64 / measured_s,
            isi_cv_mean: cvs
                .iter()
                .find(|(name, _)| *name == p.name)
                .and_then(|c| c.1),
        })
        .collect();

    let distributed = comm.as_ref().map(|c| DistributedSummary {
        ranks: c.ranks(),
        threads_per_rank: sim.partitions(),
        exchange_s: c.gather_f64(sim.exchange_seconds().unwrap_or(0.0)),
        peak_rss_mib: c.gather_f64(peak_resident_mib().unwrap_or(0.0)),
        estimated_mib: estimated_per_rank,
    });
    let peak_rss_mib = match &distributed {
        Some(d) => Some(d.peak_rss_mib.iter().sum()),
        None => peak_resident_mib(),
    };
    let summary = RunSummary {
        model: args.model.display().to_string(),
        model_fnv1a64: Fnv1a::of(&model_bytes),
        spikelab_version: env!("CARGO_PKG_VERSION").into(),
        seed: spec.simulation.seed,
        dt_ms: sim.dt_ms(),
        simulated_ms: sim_ms,
        transient_ms: transient_steps as f64 * dt,
        wall_s,
        build_s,
        threads: sim.partitions(),
        synaptic_events: events,
        synapses: sim.projections().iter().map(|p| p.synapses as u64).sum(),
        estimated_mib,
        peak_rss_mib,
        real_time_factor: wall_s / (sim_ms * 1e-3).max(1e-12),
        populations: pops,
        distributed,
    };
    let Some(out) = out else {
        // Another rank: rank 0 writes and prints.
        return Ok(summary);
    };
    write_outputs(&sim, &spec, out.path(), args)?;
    // The summary last: a directory with a summary is complete.
    write_atomic_with(&out.path().join("summary.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        Ok::<(), anyhow::Error>(())
    })?;
    let dir = out.commit()?;
    // Printed only now: with stdout a closed pipe (`spikelab run m.toml | head -1`)
    // the process may end at any line below, and the results are already in place.
    println!(
        "{} — {:.1} ms simulated with dt {} ms on {}",
        args.model.display(),
        sim_ms,
        sim.dt_ms(),
        workers(&sim, comm.as_deref())
    );
    if summary.transient_ms > 0.0 {
        println!(
            "rates and ISI CVs over the last {:.1} ms (after a {:.1} ms transient)",
            sim_ms - summary.transient_ms,
            summary.transient_ms
        );
    }
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>8}",
        "population", "neurons", "spikes", "rate (Hz)", "ISI CV"
    );
    for p in &summary.populations {
        println!(
            "{:<16} {:>10} {:>12} {:>12.2} {:>8}",
            p.name,
            p.neurons,
            p.spikes,
            p.rate_hz,
            p.isi_cv_mean.map_or("-".into(), |c| format!("{c:.2}"))
        );
    }
    let neuron_updates: u64 =
        sim.populations().iter().map(|p| p.size as u64).sum::<u64>() * sim.stats().steps;
    println!(
        "build {:.3} s, simulation {:.3} s wall ({:.4} s per simulated second), {:.3e} synaptic events ({:.3e}/s), {:.3e} neuron updates/s",
        build_s,
        wall_s,
        wall_s / (sim_ms * 1e-3).max(1e-12),
        events as f64,
        events as f64 / wall_s.max(1e-12),
        neuron_updates as f64 / wall_s.max(1e-12)
    );

    if let Some(peak) = summary.peak_rss_mib {
        println!(
            "memory: peak {:.0} MiB resident ({:.2} bytes per synapse), estimated {:.0} MiB before the build",
            peak,
            peak * 1048576.0 / (summary.synapses.max(1) as f64),
            summary.estimated_mib
        );
    }
    if let Some(d) = &summary.distributed {
        let per_rank: Vec<String> = d
            .exchange_s
            .iter()
            .enumerate()
            .map(|(r, s)| format!("rank {r} {s:.3} s"))
            .collect();
        println!(
            "spike exchange between the ranks (waiting included): {}",
            per_rank.join(", ")
        );
    }
    println!("results in {}", dir.display());
    Ok(summary)
}

/// Per spike-monitored population, the mean ISI CV over its recorded neurons with at
/// least two intervals among the spikes from step `from_step` on.
fn isi_cv_means(sim: &Simulator, from_step: u64) -> Result<Vec<(String, Option<f64>)>> {
    let dt = sim.dt_ms();
    let mut out = Vec::new();
    for rec in &sim.recordings().spikes {
        let size = sim
            .populations()
            .iter()
            .find(|p| p.name == rec.population)
            .map_or(0, |p| p.size);
        let (times, neurons): (Vec<f64>, Vec<u32>) = rec
            .steps
            .iter()
            .zip(&rec.neurons)
            .filter(|(&s, _)| s >= from_step)
            .map(|(&s, &n)| (s as f64 * dt, n))
            .unzip();
        let cvs = spikelab_core::analysis::isi_cv(&times, &neurons, size)?;
        let valid: Vec<f64> = cvs.into_iter().filter(|c| c.is_finite()).collect();
        let mean = (!valid.is_empty()).then(|| valid.iter().sum::<f64>() / valid.len() as f64);
        out.push((rec.population.clone(), mean));
    }
    Ok(out)
}

/// Peak resident memory of this process (MiB; VmHWM), if the OS tells.
fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Resident memory of this process (MiB), if the OS tells.
fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// "2 thread(s)" in one process, "3 ranks × 2 thread(s)" in a distributed run.
fn workers(sim: &Simulator, comm: Option<&dyn Transport>) -> String {
    match comm {
        Some(c) => format!("{} ranks × {} thread(s)", c.ranks(), sim.partitions()),
        None => format!("{} thread(s)", sim.partitions()),
    }
}

/// `s` seconds for a person (indicatif's `HumanDuration`: "9 seconds", "3 minutes").
fn human_s(s: f64) -> String {
    indicatif::HumanDuration(std::time::Duration::from_secs_f64(s.max(0.0))).to_string()
}

/// Runs `steps` steps: first a header (network size, threads, memory) on stderr,
/// then a short calibration and the estimated wall time, then chunks of about 0.2 s
/// with a progress bar and ETA on a terminal, or a progress line every 10 s (and at
/// the end) when stderr is not one. `--quiet` prints nothing.
fn simulate(
    sim: &mut Simulator,
    steps: u64,
    mark: u64,
    estimated_mib: f64,
    args: &RunArgs,
    spec: &NetworkSpec,
    comm: Option<&dyn Transport>,
) -> Result<Vec<u64>> {
    let dt = sim.dt_ms();
    let loud = !args.quiet && comm.is_none_or(|c| c.rank() == 0);
    if loud {
        let neurons: usize = sim.populations().iter().map(|p| p.size).sum();
        let synapses: usize = sim.projections().iter().map(|p| p.synapses).sum();
        eprintln!(
            "{}: {neurons} neurons, {synapses} synapses, {}; {:.1} ms in {steps} steps of {dt} ms{}",
            args.model.display(),
            workers(sim, comm),
            spec.simulation.duration_ms + spec.simulation.transient_ms,
            resident_mib().map_or(String::new(), |m| format!("; {m:.0} MiB in use (estimated {estimated_mib:.0} MiB)"))
        );
    }
    let mut at_mark = (mark == 0).then(|| sim.stats().spikes.clone());
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = if loud && tty {
        let b = ProgressBar::new(steps);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(500));
        b
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let mut last_line = Instant::now();
    let mut estimated = false;
    let mut chunk = 1u64;
    let mut done = 0u64;
    while done < steps {
        // Chunks stop at the mark (the end of the transient) to count its spikes.
        let until = if done < mark { mark } else { steps };
        let n = chunk.min(until - done);
        let t = Instant::now();
        sim.run_steps(n);
        done += n;
        if done == mark {
            at_mark = Some(sim.stats().spikes.clone());
        }
        // Every rank takes the same chunks (the state samples are gathered per chunk).
        let took = t.elapsed().as_secs_f64();
        let took = comm.map_or(took, |c| c.max_f64(took));
        // Chunks of about 0.2 s: the bar moves and Ctrl-C is felt at least 5 times a
        // second, at a negligible cost per chunk.
        if took < 0.1 {
            chunk = (chunk * 2).min(1 << 24);
        } else if took > 0.4 && chunk > 1 {
            chunk /= 2;
        }
        let elapsed = start.elapsed().as_secs_f64();
        if loud && !estimated && (elapsed >= 0.2 || done == steps) && done < steps {
            estimated = true;
            let total = elapsed * steps as f64 / done as f64;
            bar.suspend(|| {
                eprintln!(
                    "estimated wall time {} (from the first {done} steps)",
                    human_s(total)
                )
            });
        }
        bar.set_position(done);
        bar.set_message(format!("{:.0} ms simulated", sim.time_ms()));
        if loud && !tty && (last_line.elapsed().as_secs_f64() >= 10.0 || done == steps) {
            last_line = Instant::now();
            let left = elapsed * (steps - done) as f64 / done.max(1) as f64;
            eprintln!(
                "progress: {:.0}% ({:.1} ms simulated, {} elapsed, ETA {})",
                100.0 * done as f64 / steps.max(1) as f64,
                sim.time_ms(),
                human_s(elapsed),
                human_s(left)
            );
        }
    }
    bar.finish_and_clear();
    Ok(at_mark.unwrap_or_else(|| sim.stats().spikes.clone()))
}

/// The raster rows of a spike record: its neurons and the rows they occupy — the
/// neuron indices themselves when the recorded neurons are the first ones, else each
/// neuron's rank among the neurons that spiked (the recorded set is not kept).
fn recorded_rows(s: &spikelab_core::monitor::SpikeRecord) -> (Vec<u32>, usize) {
    let n = s.recorded_neurons.max(1);
    if s.neurons.iter().all(|&k| (k as usize) < n) {
        return (s.neurons.clone(), n);
    }
    let mut seen: Vec<u32> = s.neurons.clone();
    seen.sort_unstable();
    seen.dedup();
    let rank = |k: u32| seen.binary_search(&k).unwrap_or(0) as u32;
    (
        s.neurons.iter().map(|&k| rank(k)).collect(),
        n.max(seen.len()),
    )
}

fn write_outputs(sim: &Simulator, spec: &NetworkSpec, dir: &Path, args: &RunArgs) -> Result<()> {
    let dt = sim.dt_ms();
    let rec = sim.recordings();
    let format = match args.format {
        SpikeFormat::Csv => SpikeFileFormat::Csv,
        SpikeFormat::Npy => SpikeFileFormat::Npy,
    };
    write_recordings(rec, dt, dir, format)?;
    if !args.no_plot {
        let times: Vec<Vec<f64>> = rec.spikes.iter().map(|s| s.times_ms(dt)).collect();
        // Rows for the recorded neurons only (625 of 12,500 recorded fill the plot):
        // neurons numbered by rank among the recorded ones when they are a subset.
        let rows: Vec<(Vec<u32>, usize)> = rec.spikes.iter().map(recorded_rows).collect();
        let groups: Vec<RasterGroup> = rec
            .spikes
            .iter()
            .zip(&times)
            .zip(&rows)
            .map(|((s, t), (neurons, size))| RasterGroup {
                label: &s.population,
                times_ms: t,
                neurons,
                size: *size,
            })
            .collect();
        let title = format!(
            "{} — spike raster",
            args.model
                .file_stem()
                .map_or(String::new(), |s| s.to_string_lossy().into_owned())
        );
        plot::raster(&dir.join("raster.png"), &title, &groups, sim.time_ms())?;
        if !rec.rates.is_empty() {
            let pts: Vec<Vec<(f64, f64)>> = rec
                .rates
                .iter()
                .map(|r| {
                    let bin_ms = r.bin_steps as f64 * dt;
                    r.rates_hz(dt)
                        .iter()
                        .enumerate()
                        .map(|(k, &x)| (k as f64 * bin_ms, x))
                        .collect()
                })
                .collect();
            let series: Vec<Series> = rec
                .rates
                .iter()
                .zip(&pts)
                .map(|(r, p)| Series {
                    label: &r.population,
                    points: p,
                })
                .collect();
            let monitored: Vec<&str> = rec.rates.iter().map(|r| r.population.as_str()).collect();
            plot::lines(
                &dir.join("rates.png"),
                &format!(
                    "population rate ({} monitored: {})",
                    if monitored.len() == 1 {
                        "population"
                    } else {
                        "populations"
                    },
                    monitored.join(", ")
                ),
                "time (ms)",
                "rate (Hz)",
                &series,
                false,
            )?;
        }
        for (k, s) in rec.states.iter().enumerate() {
            for (vi, v) in s.variables.iter().enumerate() {
                let pts: Vec<Vec<(f64, f64)>> = (0..s.neurons.len().min(6))
                    .map(|n| {
                        s.steps
                            .iter()
                            .zip(s.trace(vi, n))
                            .map(|(&st, x)| (st as f64 * dt, x as f64))
                            .collect()
                    })
                    .collect();
                let labels: Vec<String> = s
                    .neurons
                    .iter()
                    .take(6)
                    .map(|n| format!("neuron {n}"))
                    .collect();
                let series: Vec<Series> = pts
                    .iter()
                    .zip(&labels)
                    .map(|(p, l)| Series {
                        label: l,
                        points: p,
                    })
                    .collect();
                let unit = spec
                    .populations
                    .iter()
                    .find(|p| p.name == s.population)
                    .map_or("", |p| p.state_unit(v));
                let axis = if unit.is_empty() {
                    v.clone()
                } else {
                    format!("{v} ({unit})")
                };
                plot::lines(
                    &dir.join(format!("state_{}_{k}_{v}.png", s.population)),
                    &format!("{} {v}", s.population),
                    "time (ms)",
                    &axis,
                    &series,
                    false,
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_rows_are_the_recorded_neurons() {
        let first = spikelab_core::monitor::SpikeRecord {
            population: "exc".into(),
            steps: vec![1, 2],
            neurons: vec![3, 600],
            recorded_neurons: 625,
        };
        assert_eq!(recorded_rows(&first), (vec![3, 600], 625));
        // A subset that is not the first neurons: ranks, still 625 rows.
        let spread = spikelab_core::monitor::SpikeRecord {
            neurons: vec![9000, 20, 9000, 12000],
            ..first
        };
        assert_eq!(recorded_rows(&spread), (vec![1, 0, 1, 2], 625));
    }

    fn args(model: &Path, out: &Path) -> RunArgs {
        RunArgs {
            model: model.to_path_buf(),
            out: Some(out.to_path_buf()),
            duration_ms: Some(20.0),
            threads: Some(1),
            seed: None,
            transient_ms: None,
            scale_neurons: None,
            scale_in_degree: None,
            format: SpikeFormat::Csv,
            no_plot: true,
            quiet: true,
        }
    }

    #[test]
    fn a_scaled_run_reports_rates_after_the_transient_and_its_memory() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pd");
        let a = RunArgs {
            duration_ms: Some(100.0),
            transient_ms: Some(50.0),
            scale_neurons: Some(0.01),
            threads: Some(2),
            ..args(&example("potjans_2014.toml"), &out)
        };
        let s = run(&a).unwrap();
        assert_eq!(s.transient_ms, 50.0);
        assert!((s.simulated_ms - 150.0).abs() < 1e-9);
        assert_eq!(s.populations.len(), 8);
        assert_eq!(s.populations[0].neurons, 207);
        // Full in-degrees at 1% of the neurons: about 3 million synapses.
        assert!(
            s.synapses > 2_500_000 && s.synapses < 3_500_000,
            "{}",
            s.synapses
        );
        assert!(s.estimated_mib > 0.0 && s.real_time_factor > 0.0);
        let json = std::fs::read_to_string(out.join("summary.json")).unwrap();
        assert!(json.contains("isi_cv_mean") && json.contains("peak_rss_mib"));
        let bad = RunArgs {
            scale_neurons: Some(-1.0),
            ..args(&example("potjans_2014.toml"), &dir.path().join("bad"))
        };
        let e = run(&bad).unwrap_err().to_string();
        assert!(e.contains("--scale.neurons"), "{e}");
    }

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_run_owns_its_directory_and_its_summary_traces_it() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let izh = example("izhikevich_2003.toml");
        let s = run(&args(&izh, &out)).unwrap();
        let first = files(&out);
        assert!(first.contains(&"summary.json".to_string()), "{first:?}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(
            json["model_fnv1a64"],
            Fnv1a::of(&std::fs::read(&izh).unwrap())
        );
        assert_eq!(json["seed"], s.seed);
        let pop = &json["populations"][0];
        assert!(pop["name"].is_string() && pop["neurons"].as_u64().unwrap() > 0);
        assert!(pop["spikes"].is_u64() && pop["rate_hz"].is_f64());
        // A file of an earlier run that this one does not write (another model's
        // population, say) does not survive the next run into the same directory.
        std::fs::write(out.join("spikes_other_model.csv"), b"time_ms,neuron\n").unwrap();
        run(&args(&example("vogels_abbott_cuba.toml"), &out)).unwrap();
        let second = files(&out);
        assert!(
            !second.contains(&"spikes_other_model.csv".to_string()),
            "{second:?}"
        );
        assert!(second.contains(&"summary.json".to_string()));
        // Nothing beside it but the directory itself (no staging left).
        assert_eq!(files(root.path()), ["out"]);
        // A directory of someone else's files is refused before simulating.
        let mine = root.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("notes.txt"), b"keep").unwrap();
        let e = run(&args(&izh, &mine)).unwrap_err().to_string();
        assert!(e.contains("did not write"), "{e}");
        assert_eq!(files(&mine), ["notes.txt"]);
    }
}
