//! Library side of the `spikelab` command line: each command is a module with an
//! `Args` struct (clap) and a function that does the work, so commands can be called
//! from tests and other programs. Plots and output files live here too.

#![warn(missing_docs)]

pub mod bench;
pub mod output;
pub mod plot;
pub mod run;
