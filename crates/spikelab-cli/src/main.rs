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
    /// Benchmarks that print speed figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() {
    // Die quietly on a closed pipe (`spikelab ... | head`) like other Unix tools,
    // instead of panicking inside println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => run::run(args).map(|_| ()),
        Command::Bench(cmd) => bench::run(cmd),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
