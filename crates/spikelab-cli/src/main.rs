//! The `spikelab` command line: parses arguments and calls library functions.

use clap::{Parser, Subcommand};
use spikelab_cli::{bench, run};

/// Spikelab: simulate and train spiking neural networks.
#[derive(Parser, Debug)]
#[command(name = "spikelab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a model file and write spikes, rates and plots.
    Run(run::RunArgs),
    /// Time a reference network (wall s per simulated s, updates/s, events/s).
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => run::run(args).map(|_| ()),
        Command::Bench(args) => bench::bench(args).map(|_| ()),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
