//! `spikelab bench <benchmark>`: builds a reference network, simulates it without
//! monitors and prints wall time per simulated second, neuron updates per second and
//! synaptic events per second. Each benchmark is one function returning a
//! [`BenchReport`]; the networks are the model files in `examples/`, compiled in.

use anyhow::Result;
use clap::{Args, Subcommand};
use spikelab_core::prelude::*;
use std::path::Path;
use std::time::Instant;

/// The COBAHH model file (Brette et al. 2007, benchmark 3).
const COBA_HH: &str = include_str!("../../../examples/coba_hh.toml");

/// Arguments of `spikelab bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmark to run.
    #[command(subcommand)]
    pub benchmark: Benchmark,
}

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum Benchmark {
    /// COBAHH (Brette et al. 2007, benchmark 3): 4000 Hodgkin–Huxley neurons with
    /// exponential conductances, p = 2 %, dt = 0.1 ms (examples/coba_hh.toml).
    #[command(name = "coba_hh", alias = "coba-hh")]
    CobaHh(BenchOptions),
}

/// Options shared by every benchmark.
#[derive(Args, Debug, Clone)]
pub struct BenchOptions {
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Simulated duration (ms).
    #[arg(long, default_value_t = 1000.0)]
    pub duration_ms: f64,
    /// Seed of the network.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What a benchmark measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Benchmark name.
    pub name: String,
    /// Worker threads.
    pub threads: usize,
    /// Simulated time (ms).
    pub simulated_ms: f64,
    /// Wall time to build the network (s).
    pub build_s: f64,
    /// Wall time of the simulation loop (s).
    pub wall_s: f64,
    /// Wall seconds per simulated second.
    pub wall_s_per_simulated_s: f64,
    /// Neuron updates per wall second.
    pub neuron_updates_per_s: f64,
    /// Synaptic events per wall second.
    pub synaptic_events_per_s: f64,
    /// Mean rate of each population (name, Hz).
    pub rates_hz: Vec<(String, f64)>,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {:.0} ms simulated on {} thread(s), build {:.3} s",
            self.name, self.simulated_ms, self.threads, self.build_s
        )?;
        writeln!(
            f,
            "  wall time per simulated second  {:.4} s",
            self.wall_s_per_simulated_s
        )?;
        writeln!(
            f,
            "  neuron updates per second       {:.3e}",
            self.neuron_updates_per_s
        )?;
        writeln!(
            f,
            "  synaptic events per second      {:.3e}",
            self.synaptic_events_per_s
        )?;
        let rates: Vec<String> = self
            .rates_hz
            .iter()
            .map(|(n, r)| format!("{n} {r:.2} Hz"))
            .collect();
        write!(f, "  mean rates                      {}", rates.join(", "))
    }
}

/// Runs `spikelab bench` and prints the report.
pub fn bench(args: &BenchArgs) -> Result<BenchReport> {
    let report = match &args.benchmark {
        Benchmark::CobaHh(opts) => coba_hh(opts)?,
    };
    println!("{report}");
    Ok(report)
}

/// The COBAHH benchmark (examples/coba_hh.toml).
pub fn coba_hh(opts: &BenchOptions) -> Result<BenchReport> {
    let spec = NetworkSpec::from_toml_str(COBA_HH, Path::new("examples/coba_hh.toml"))?;
    time_network("coba_hh", spec, opts)
}

/// Builds `spec` without its monitors with the options' threads, seed and duration,
/// simulates it and measures.
pub fn time_network(name: &str, mut spec: NetworkSpec, opts: &BenchOptions) -> Result<BenchReport> {
    spec.monitors.clear();
    spec.simulation.seed = opts.seed;
    spec.simulation.duration_ms = opts.duration_ms;
    let t0 = Instant::now();
    let mut sim = Simulator::build_with_threads(&spec, opts.threads)?;
    let build_s = t0.elapsed().as_secs_f64();
    sim.run_ms(opts.duration_ms);
    let wall_s = sim.stats().wall_s.max(1e-12);
    let sim_s = (sim.time_ms() * 1e-3).max(1e-12);
    let neurons: u64 = sim.populations().iter().map(|p| p.size as u64).sum();
    let rates_hz = sim
        .populations()
        .iter()
        .zip(&sim.stats().spikes)
        .filter(|(p, _)| !p.is_source)
        .map(|(p, &n)| (p.name.clone(), n as f64 / p.size as f64 / sim_s))
        .collect();
    Ok(BenchReport {
        name: name.into(),
        threads: sim.partitions(),
        simulated_ms: sim.time_ms(),
        build_s,
        wall_s,
        wall_s_per_simulated_s: wall_s / sim_s,
        neuron_updates_per_s: (neurons * sim.stats().steps) as f64 / wall_s,
        synaptic_events_per_s: sim.synaptic_events() as f64 / wall_s,
        rates_hz,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coba_hh_benchmark_runs_and_is_active() {
        let r = coba_hh(&BenchOptions {
            threads: 2,
            duration_ms: 20.0,
            seed: 1,
        })
        .unwrap();
        assert_eq!(r.threads, 2);
        assert!((r.simulated_ms - 20.0).abs() < 1e-9);
        assert!(r.neuron_updates_per_s > 0.0 && r.synaptic_events_per_s > 0.0);
        // The initial conductances make most neurons fire a rebound spike at once.
        assert!(r.rates_hz.iter().all(|(_, hz)| *hz > 5.0), "{r}");
        assert!(r.to_string().contains("wall time per simulated second"));
    }
}
