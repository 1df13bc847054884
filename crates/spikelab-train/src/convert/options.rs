//! Options of the conversion: how `λ` is taken from the activations
//! ([`Normalization`]), where it goes ([`ScaleMode`]), what becomes of max pooling
//! ([`MaxPoolMode`]) and of the output layer ([`ConvertedOutput`]), all gathered in
//! [`ConvertOptions`].

use crate::bptt::encode::Encoding;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};

/// How the scale `λ` of a layer is taken from its activations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Normalization {
    /// The largest activation (Diehl et al. 2015).
    Max,
    /// The `p`-th percentile of the non-zero activations (Rueckauer et al. 2017).
    Percentile {
        /// Percentile in (0, 100].
        p: f64,
    },
}

impl Normalization {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "max, p<percentile> (e.g. p99.9)";

    /// Parses `max` or `p99.9`.
    pub fn parse(s: &str) -> Result<Self> {
        if s == "max" {
            return Ok(Normalization::Max);
        }
        let bad = || {
            Error::field(
                "norm",
                format!("unknown normalisation `{s}`; known: {}", Self::NAMES),
            )
        };
        let p: f64 = s
            .strip_prefix('p')
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        let n = Normalization::Percentile { p };
        n.validate()?;
        Ok(n)
    }

    /// Checks the percentile.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Normalization::Percentile { p } if !(p > 0.0 && p <= 100.0) => Err(Error::field(
                "norm",
                format!("the percentile must be in (0, 100] (got {p})"),
            )),
            _ => Ok(()),
        }
    }
}

/// Where the normalisation goes (the two are the same network for IF neurons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMode {
    /// Weights and biases divided by `λ_l` (times `λ_{l−1}`), thresholds 1.
    #[default]
    Weights,
    /// Weights times `λ_{l−1}`, thresholds `λ_l` (layer-wise threshold balancing).
    Thresholds,
    /// Spike-based layer-wise threshold balancing (Sengupta et al. 2019): the ANN's
    /// weights; layer by layer, the threshold is the maximum (or percentile) of the
    /// input current the layer receives in the spiking network whose earlier layers are
    /// already balanced, over `balance_steps` steps of `balance_samples` samples.
    Spikes,
}

impl ScaleMode {
    /// Parses `weights` or `thresholds`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "weights" => Ok(ScaleMode::Weights),
            "thresholds" => Ok(ScaleMode::Thresholds),
            "spikes" => Ok(ScaleMode::Spikes),
            _ => Err(Error::field(
                "scale",
                format!("unknown scale mode `{s}`; known: weights, thresholds, spikes"),
            )),
        }
    }
}

/// What becomes of max pooling (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxPoolMode {
    /// Max pooling of the spikes at every step (an OR of the window).
    #[default]
    Spikes,
    /// Average pooling instead.
    Avg,
}

impl MaxPoolMode {
    /// Parses `spikes` or `avg`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "spikes" | "or" => Ok(MaxPoolMode::Spikes),
            "avg" => Ok(MaxPoolMode::Avg),
            _ => Err(Error::field(
                "max_pool",
                format!("unknown max-pool mode `{s}`; known: spikes, avg"),
            )),
        }
    }
}

/// The output layer of the converted network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvertedOutput {
    /// A non-leaky integrator (readout with β = 1); the largest summed membrane wins.
    #[default]
    Membrane,
    /// IF neurons; the largest spike count wins.
    Spikes,
}

impl ConvertedOutput {
    /// Parses `membrane` or `spikes`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "membrane" => Ok(ConvertedOutput::Membrane),
            "spikes" => Ok(ConvertedOutput::Spikes),
            _ => Err(Error::field(
                "output",
                format!("unknown output `{s}`; known: membrane, spikes"),
            )),
        }
    }
}

/// Options of [`convert`](crate::convert::convert()).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertOptions {
    /// How `λ` is taken from the activations.
    pub normalization: Normalization,
    /// Weights or thresholds.
    pub scale: ScaleMode,
    /// Max pooling.
    pub max_pool: MaxPoolMode,
    /// Output layer.
    pub output: ConvertedOutput,
    /// Training samples used for the activation statistics.
    pub calibration_samples: usize,
    /// Samples per forward pass while calibrating.
    pub batch_size: usize,
    /// Input encoding of the spiking network (spike-based balancing runs it).
    pub encoding: Encoding,
    /// Time steps of spike-based balancing.
    pub balance_steps: usize,
    /// Training samples of spike-based balancing.
    pub balance_samples: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            normalization: Normalization::Percentile { p: 99.9 },
            scale: ScaleMode::Weights,
            max_pool: MaxPoolMode::Spikes,
            output: ConvertedOutput::Membrane,
            calibration_samples: 10_000,
            batch_size: 256,
            encoding: Encoding::Direct,
            balance_steps: 64,
            balance_samples: 1000,
        }
    }
}
