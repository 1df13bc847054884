//! Library side of the `spikelab` command line: each command is a module with an
//! `Args` struct (clap) and a function that does the work, so commands can be called
//! from tests and other programs. Plots and output files live here too.

#![warn(missing_docs)]

pub mod bench;
pub mod bench_train;
pub mod convert;
pub mod data;
pub mod lsm;
pub mod nir;
pub mod plot;
pub mod run;
pub mod stdp;
pub mod surrogate;

/// Paths of the shared data the tests read.
#[cfg(test)]
pub(crate) mod test_data {
    use std::path::PathBuf;

    /// `../shared/data/ucr` (JapaneseVowels, BasicMotions, GunPoint); panics with the
    /// path when JapaneseVowels is missing.
    pub fn ucr_dir() -> PathBuf {
        let ucr = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ucr");
        assert!(
            ucr.join("JapaneseVowels_TRAIN.ts").is_file(),
            "JapaneseVowels not found in {}",
            ucr.display()
        );
        ucr
    }
}

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
    /// A liquid state machine (Maass et al. 2002) on a UCR/UEA time-series problem:
    /// a fixed spiking liquid on the engine, a trained linear readout.
    Lsm(Box<lsm::LsmArgs>),
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

/// The message for a negative number given to an option (`--duration-ms -5`,
/// `--seed=-1`), which clap would report as an unknown argument or an invalid digit:
/// no option of `spikelab` takes a negative number. None when `args` (the command
/// line without the program name) has no such value.
pub fn negative_number_message(args: &[String]) -> Option<String> {
    let negative = |v: &str| v.starts_with('-') && v[1..].parse::<f64>().is_ok();
    let mut previous: Option<&str> = None;
    for arg in args {
        if let Some((flag, value)) = arg.split_once('=') {
            if flag.starts_with("--") && negative(value) {
                return Some(message_for(flag, value));
            }
        }
        if let Some(flag) = previous.filter(|p| p.starts_with("--") && !p.contains('=')) {
            if negative(arg) {
                return Some(message_for(flag, arg));
            }
        }
        previous = Some(arg);
    }
    None
}

fn message_for(flag: &str, value: &str) -> String {
    format!("invalid value for `{flag}`: {value}; allowed: a number >= 0 (no spikelab option takes a negative number)")
}

#[cfg(test)]
mod tests {
    use super::negative_number_message;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn negative_numbers_get_a_message_naming_the_option() {
        let m = negative_number_message(&args("run m.toml --duration-ms -5")).unwrap();
        assert!(
            m.contains("`--duration-ms`: -5") && m.contains(">= 0"),
            "{m}"
        );
        let m = negative_number_message(&args("train surrogate --seed=-1")).unwrap();
        assert!(m.contains("`--seed`: -1"), "{m}");
        let m = negative_number_message(&args("run m.toml --lr -1e-3")).unwrap();
        assert!(m.contains("-1e-3"), "{m}");
        assert!(negative_number_message(&args("run m.toml --duration-ms 5 -q")).is_none());
        assert!(negative_number_message(&args("run m.toml --quiet -x")).is_none());
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message
/// already contains (our error types print their underlying I/O error themselves).
pub fn error_message(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}
