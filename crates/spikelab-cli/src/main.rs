//! The `spikelab` command line: parses arguments and calls library functions.

use clap::{Parser, Subcommand};
use spikelab_cli::{bench, eval, run, train};

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
    /// Train a network (methods: surrogate).
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// Evaluate a trained model on test data, in the trainer or on the engine.
    Eval(eval::EvalArgs),
    /// Benchmarks (train).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => run::run(args).map(|_| ()),
        Command::Train(cmd) => train::train(cmd),
        Command::Eval(args) => eval::eval(args).map(|_| ()),
        Command::Bench(cmd) => bench::bench(cmd),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
