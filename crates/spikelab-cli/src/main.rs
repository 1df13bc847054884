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

/// Keeps freed memory in the process (glibc): training allocates and frees the same
/// large buffers every batch, and returning them to the system would make every batch
/// page-fault them in again.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only changes allocator tuning parameters; called before any
    // other thread exists.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() {
    keep_freed_memory();
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
