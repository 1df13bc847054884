//! The `spikelab` command line: parses arguments and calls library functions.

use clap::{Parser, Subcommand};
use spikelab_cli::{
    bench, convert, data, lsm, nir, run, stdp, surrogate, EvalCommand, TrainCommand,
};

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
    /// Data sets: download (`data fetch`), statistics and spike-encoding plots (`data show`).
    Data(data::DataArgs),
    /// Train a network (`train stdp`, `train surrogate`, `train ann`, `train hybrid`,
    /// `train lsm`).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Evaluate a trained network (`eval stdp`, `eval surrogate`).
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Convert a ReLU network trained with `train ann` to an IF spiking network;
    /// accuracy and synaptic operations vs time steps.
    Convert(Box<convert::ConvertArgs>),
    /// Networks to and from NIR files (the Neuromorphic Intermediate Representation
    /// of snnTorch, Norse, Sinabs, Lava, SpiNNaker2): `nir export`, `nir import`,
    /// `nir show`.
    #[command(subcommand)]
    Nir(nir::NirCommand),
}

/// Large heap blocks start on a cache line (the training kernels' vector loads).
#[global_allocator]
static ALLOC: spikelab_train::nn::alloc::CacheLineAligned =
    spikelab_train::nn::alloc::CacheLineAligned;

/// Keeps freed memory in the process (glibc): training allocates and frees the same
/// large buffers every batch, and giving them back to the system would make every
/// batch page-fault them in again.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

fn main() {
    // Die quietly on a closed pipe (`spikelab ... | head`) like other Unix tools,
    // instead of panicking inside println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let shown = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            let argv: Vec<String> = std::env::args().skip(1).collect();
            match spikelab_cli::negative_number_message(&argv).filter(|_| !shown) {
                Some(message) => {
                    eprintln!("error: {message}");
                    std::process::exit(2);
                }
                None => e.exit(),
            }
        }
    };
    let result = match &cli.command {
        Command::Run(args) => run::run_command(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Data(args) => data::run(args),
        Command::Train(TrainCommand::Stdp(args)) => stdp::train(args),
        Command::Eval(EvalCommand::Stdp(args)) => stdp::eval(args),
        Command::Train(TrainCommand::Surrogate(args)) => surrogate::train(args).map(|_| ()),
        Command::Eval(EvalCommand::Surrogate(args)) => surrogate::eval(args).map(|_| ()),
        Command::Train(TrainCommand::Ann(args)) => convert::train_ann(args).map(|_| ()),
        Command::Train(TrainCommand::Lsm(args)) => lsm::train(args).map(|_| ()),
        Command::Train(TrainCommand::Hybrid(args)) => convert::train_hybrid(args).map(|_| ()),
        Command::Convert(args) => convert::convert_cmd(args).map(|_| ()),
        Command::Nir(cmd) => nir::run(cmd),
    };
    if let Err(e) = result {
        // Every error of a distributed run reaches rank 0, which prints it once.
        if !run::is_quiet_rank() {
            eprintln!("error: {}", spikelab_cli::error_message(&e));
        }
        std::process::exit(1);
    }
}
