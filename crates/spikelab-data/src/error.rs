//! Errors of the data crate: every failure names the file (or input) concerned and
//! says what was expected, so a truncated download or a wrong path is obvious.

use std::path::PathBuf;

/// Result alias of spikelab-data.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while reading, converting or downloading data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// A file's contents do not follow its format (truncated, bad header, ...).
    #[error("{source_name} is not a valid {format} file: {message}")]
    Format {
        /// The file (or "input" for bytes given directly).
        source_name: String,
        /// The expected format ("IDX", "N-MNIST event", "CSV event", ...).
        format: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Data set files are missing.
    #[error("{0}")]
    NotFound(String),
    /// A file's checksum differs from the published one.
    #[error("{file}: checksum mismatch (md5 {actual}, expected {expected}); the file is corrupt or incomplete")]
    Checksum {
        /// The file or URL checked.
        file: String,
        /// Published md5 (hex).
        expected: String,
        /// md5 of what was received (hex).
        actual: String,
    },
    /// A download failed on every mirror.
    #[error("cannot download {file}:\n{attempts}")]
    Download {
        /// File that could not be fetched.
        file: String,
        /// One line per mirror tried, with its error.
        attempts: String,
    },
    /// An argument is out of range (the message names it and the allowed values).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(
        source_name: impl Into<String>,
        format: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Error::Format {
            source_name: source_name.into(),
            format,
            message: message.into(),
        }
    }
}

impl From<spikelab_core::error::Error> for Error {
    fn from(e: spikelab_core::error::Error) -> Self {
        Error::Invalid(e.to_string())
    }
}
