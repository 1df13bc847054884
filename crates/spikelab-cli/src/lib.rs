//! Library side of the `spikelab` command line: each command is a module with an
//! `Args` struct (clap) and a function that does the work, so commands can be called
//! from tests and other programs. Plots and output files live here too.

#![warn(missing_docs)]

pub mod bench;
pub mod bench_train;
pub mod convert;
pub mod data;
pub mod plot;
pub mod run;
pub mod stdp;
pub mod surrogate;

/// `spikelab train ...` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum TrainCommand {
    /// Unsupervised STDP digit recognition (Diehl & Cook 2015) on MNIST.
    Stdp(stdp::TrainStdpArgs),
    /// Surrogate-gradient training (backpropagation through time) of a spiking
    /// network from layers (`--arch 784-1000-10`, `--arch 12C5-MP2-64C5-MP2-10`).
    Surrogate(Box<surrogate::SurrogateArgs>),
    /// A ReLU network (an ANN) with the same layers, for conversion: one step, analog
    /// input, cross-entropy on the logits (`--arch 32C5-AP2-64C5-AP2-128-10`).
    Ann(Box<convert::AnnArgs>),
    /// Hybrid fine-tuning (Rathi et al. 2020) of a converted network with surrogate
    /// gradients at small T, learning weights, leaks and thresholds.
    Hybrid(Box<convert::HybridArgs>),
}

/// `spikelab eval ...` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum EvalCommand {
    /// Test accuracy of a network trained with `spikelab train stdp`.
    Stdp(stdp::EvalStdpArgs),
    /// Test accuracy of a network trained with `spikelab train surrogate`, in the
    /// trainer and (`--engine`) exported to the event-driven engine.
    Surrogate(surrogate::EvalArgs),
}
