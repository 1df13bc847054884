//! Library side of the `spikelab` command line: each command is a module with an
//! `Args` struct (clap) and a function that does the work, so commands can be called
//! from tests and other programs. Plots and output files live here too.

#![warn(missing_docs)]

pub mod bench;
pub mod data;
pub mod output;
pub mod plot;
pub mod run;
pub mod stdp;

/// `spikelab train ...` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum TrainCommand {
    /// Unsupervised STDP digit recognition (Diehl & Cook 2015) on MNIST.
    Stdp(stdp::TrainStdpArgs),
}

/// `spikelab eval ...` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum EvalCommand {
    /// Test accuracy of a network trained with `spikelab train stdp`.
    Stdp(stdp::EvalStdpArgs),
}
