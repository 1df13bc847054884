//! Error type shared by the whole core crate: every problem with input from outside
//! (model files, parameters, sizes) is reported here with the field it concerns.

use std::path::PathBuf;

/// Result alias used across spikelab-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while describing, building or running a network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of a model description has a value outside its allowed range.
    #[error("invalid value for `{field}`: {message}")]
    InvalidField {
        /// Dotted path of the field, e.g. `population[exc].neuron.tau_m_ms`.
        field: String,
        /// What is wrong and which values are allowed.
        message: String,
    },
    /// A name refers to nothing (unknown population, receptor, variable ...).
    #[error("unknown {kind} `{name}` in `{field}`{}", hint_list(.known))]
    UnknownName {
        /// What kind of thing was looked up (population, receptor, ...).
        kind: &'static str,
        /// The name that was not found.
        name: String,
        /// Field in which the name appeared.
        field: String,
        /// The names that would have been accepted.
        known: Vec<String>,
    },
    /// The network would not fit in memory.
    #[error("the network needs about {needed_mib:.0} MiB ({what}) but only {available_mib:.0} MiB are available; reduce sizes or connection probability")]
    TooLarge {
        /// Estimated requirement in MiB.
        needed_mib: f64,
        /// Estimated available memory in MiB.
        available_mib: f64,
        /// What dominates the estimate.
        what: String,
    },
    /// A model file could not be parsed.
    #[error("cannot parse {path}: {message}")]
    Parse {
        /// File that failed.
        path: PathBuf,
        /// Parser message (includes the line and the field).
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A run-time request that cannot be served (e.g. recording a variable a model lacks).
    #[error("{0}")]
    Invalid(String),
    /// Another rank of a distributed run failed (its message).
    #[error("rank {rank} of {ranks}: {message}")]
    Distributed {
        /// The first rank that failed.
        rank: usize,
        /// Number of ranks.
        ranks: usize,
        /// Its error.
        message: String,
    },
}

fn hint_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!("; known: {}", known.join(", "))
    }
}

impl Error {
    /// Shorthand for [`Error::InvalidField`].
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Checks that `value` is finite and strictly positive.
pub fn check_positive(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("must be a finite number > 0 (got {value})"),
        ))
    }
}

/// Checks that `value` is finite and not negative.
pub fn check_non_negative(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("must be a finite number >= 0 (got {value})"),
        ))
    }
}

/// Checks that `value` is finite.
pub fn check_finite(field: &str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("must be a finite number (got {value})"),
        ))
    }
}

/// Checks that `value` is a probability in [0, 1].
pub fn check_probability(field: &str, value: f64) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::field(
            field,
            format!("must be a probability in [0, 1] (got {value})"),
        ))
    }
}
