//! [`EncoderSpec`]: every encoder under one serde enum, for model and training files
//! (`[encoder] kind = "latency"`, `t_max_ms = 20.0`, ...) and for command-line choices
//! by name.

use super::{BernoulliRate, Error, Result};
use super::{
    Burst, Decoder, Encoder, GaussianPopulation, Latency, LatencyMapping, LogTemporal, Phase,
    PoissonRate, RankOrder, Saccades, SpikeTrains, TemporalSwitch, TimeGrid,
};
use serde::{Deserialize, Serialize};

/// Any encoder, tagged by `kind`. Fields left out take the encoder's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EncoderSpec {
    /// [`PoissonRate`]: Poisson process in continuous time.
    Poisson(PoissonRate),
    /// [`BernoulliRate`]: one Bernoulli trial per step.
    Bernoulli(BernoulliRate),
    /// [`Latency`]: time to first spike (linear or log).
    Latency(Latency),
    /// [`RankOrder`]: order of the spikes.
    RankOrder(RankOrder),
    /// [`LogTemporal`]: binary-weighted spike times.
    LogTemporal(LogTemporal),
    /// [`TemporalSwitch`]: time between two neurons' spikes.
    TemporalSwitch(TemporalSwitch),
    /// [`Phase`]: binary-weighted phases, repeated every period.
    Phase(Phase),
    /// [`Burst`]: spike count and interval of a burst.
    Burst(Burst),
    /// [`GaussianPopulation`]: Gaussian receptive fields for scalars.
    Population(GaussianPopulation),
    /// [`Saccades`]: event-camera recording of a moving static image.
    Saccades(Saccades),
}

impl EncoderSpec {
    /// Names accepted for `kind` and by [`EncoderSpec::by_name`].
    pub const NAMES: &'static str = "poisson, bernoulli (alias rate), latency, latency_log, rank_order, log_temporal, temporal_switch, phase, burst, population, saccades";

    /// The encoder `name` with its default parameters (`rate` = `bernoulli`,
    /// `latency_log` = latency with the logarithmic map, τ = 5 ms, θ = 0.05).
    pub fn by_name(name: &str) -> Result<Self> {
        Ok(match name {
            "poisson" => EncoderSpec::Poisson(PoissonRate::default()),
            "bernoulli" | "rate" => EncoderSpec::Bernoulli(BernoulliRate::default()),
            "latency" => EncoderSpec::Latency(Latency::default()),
            "latency_log" => EncoderSpec::Latency(Latency {
                mapping: LatencyMapping::Log,
                threshold: 0.05,
                ..Latency::default()
            }),
            "rank_order" => EncoderSpec::RankOrder(RankOrder::default()),
            "log_temporal" => EncoderSpec::LogTemporal(LogTemporal::default()),
            "temporal_switch" => EncoderSpec::TemporalSwitch(TemporalSwitch::default()),
            "phase" => EncoderSpec::Phase(Phase::default()),
            "burst" => EncoderSpec::Burst(Burst::default()),
            "population" => EncoderSpec::Population(GaussianPopulation::default()),
            "saccades" => EncoderSpec::Saccades(Saccades::default()),
            _ => {
                return Err(Error::UnknownName {
                    kind: "encoder",
                    name: name.to_string(),
                    field: "encoder.kind".into(),
                    known: Self::NAMES
                        .split(", ")
                        .map(|s| s.split(' ').next().unwrap_or(s).to_string())
                        .collect(),
                })
            }
        })
    }

    /// A spec from a parameter file's text (TOML: `kind = "..."` and the encoder's
    /// fields; fields left out take the encoder's defaults), validated; `source` names
    /// the file in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let spec: EncoderSpec = toml::from_str(text).map_err(|e| {
            Error::field(
                "encoder",
                format!(
                    "cannot parse {source}: {} (kinds: {})",
                    e.message().trim_end(),
                    Self::NAMES
                ),
            )
        })?;
        spec.validate("encoder")?;
        Ok(spec)
    }

    /// The spec with its time parameters fitted to the window `grid` (a latency
    /// window of the whole grid, ranks and bits one step apart, a temporal-switch
    /// window of the whole grid, ...) and, for saccades, to `width × height` images:
    /// what the encoders chosen by name use in `spikelab data show` and in training.
    pub fn fitted_to(mut self, grid: &TimeGrid, width: usize, height: usize) -> Self {
        let last = ((grid.n_steps.max(2) - 1) as f64 * grid.dt_ms).max(grid.dt_ms);
        match &mut self {
            EncoderSpec::Latency(l) => l.t_max_ms = last,
            EncoderSpec::RankOrder(r) => r.interval_ms = grid.dt_ms,
            EncoderSpec::LogTemporal(l) => l.bit_interval_ms = grid.dt_ms,
            EncoderSpec::TemporalSwitch(t) => t.window_ms = last,
            EncoderSpec::Phase(p) => p.phase_ms = grid.dt_ms,
            EncoderSpec::Population(p) => p.t_max_ms = last,
            EncoderSpec::Saccades(s) => {
                s.width = width;
                s.height = height;
                s.saccade_ms = grid.duration_ms() / 3.0;
                s.frame_ms = grid.dt_ms.min(s.saccade_ms / 10.0);
            }
            EncoderSpec::Burst(b) => {
                b.isi_min_ms = b.isi_min_ms.max(grid.dt_ms);
                b.isi_max_ms = b.isi_max_ms.max(4.0 * grid.dt_ms);
            }
            EncoderSpec::Poisson(_) | EncoderSpec::Bernoulli(_) => {}
        }
        self
    }

    /// The encoder behind the spec.
    pub fn encoder(&self) -> &dyn Encoder {
        match self {
            EncoderSpec::Poisson(e) => e,
            EncoderSpec::Bernoulli(e) => e,
            EncoderSpec::Latency(e) => e,
            EncoderSpec::RankOrder(e) => e,
            EncoderSpec::LogTemporal(e) => e,
            EncoderSpec::TemporalSwitch(e) => e,
            EncoderSpec::Phase(e) => e,
            EncoderSpec::Burst(e) => e,
            EncoderSpec::Population(e) => e,
            EncoderSpec::Saccades(e) => e,
        }
    }

    /// Its decoder, where decoding makes sense (all but saccades).
    pub fn decoder(&self) -> Option<&dyn Decoder> {
        Some(match self {
            EncoderSpec::Poisson(e) => e,
            EncoderSpec::Bernoulli(e) => e,
            EncoderSpec::Latency(e) => e,
            EncoderSpec::RankOrder(e) => e,
            EncoderSpec::LogTemporal(e) => e,
            EncoderSpec::TemporalSwitch(e) => e,
            EncoderSpec::Phase(e) => e,
            EncoderSpec::Burst(e) => e,
            EncoderSpec::Population(e) => e,
            EncoderSpec::Saccades(_) => return None,
        })
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        match self {
            EncoderSpec::Poisson(e) => e.validate(field),
            EncoderSpec::Bernoulli(e) => e.validate(field),
            EncoderSpec::Latency(e) => e.validate(field),
            EncoderSpec::RankOrder(e) => e.validate(field),
            EncoderSpec::LogTemporal(e) => e.validate(field),
            EncoderSpec::TemporalSwitch(e) => e.validate(field),
            EncoderSpec::Phase(e) => e.validate(field),
            EncoderSpec::Burst(e) => e.validate(field),
            EncoderSpec::Population(e) => e.validate(field),
            EncoderSpec::Saccades(e) => e.validate(field),
        }
    }
}

impl Encoder for EncoderSpec {
    fn name(&self) -> &'static str {
        self.encoder().name()
    }

    fn n_outputs(&self, n_inputs: usize) -> usize {
        self.encoder().n_outputs(n_inputs)
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, seed: u64, sample: u64) -> SpikeTrains {
        self.encoder().encode(values, grid, seed, sample)
    }

    fn encode_batch_f32(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        seed: u64,
        out: &mut [f32],
    ) -> Result<()> {
        self.encoder()
            .encode_batch_f32(inputs, n_inputs, samples, grid, seed, out)
    }

    fn encode_batch_u8(
        &self,
        inputs: &[f32],
        n_inputs: usize,
        samples: &[u64],
        grid: &TimeGrid,
        seed: u64,
        out: &mut [u8],
    ) -> Result<()> {
        self.encoder()
            .encode_batch_u8(inputs, n_inputs, samples, grid, seed, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [&str; 11] = [
        "poisson",
        "bernoulli",
        "latency",
        "latency_log",
        "rank_order",
        "log_temporal",
        "temporal_switch",
        "phase",
        "burst",
        "population",
        "saccades",
    ];

    #[test]
    fn every_named_encoder_has_valid_defaults_and_round_trips_through_toml() {
        for name in ALL {
            let spec = EncoderSpec::by_name(name).unwrap();
            spec.validate("encoder").unwrap();
            let text = toml::to_string(&spec).unwrap();
            let back: EncoderSpec = toml::from_str(&text).unwrap();
            assert_eq!(back, spec, "{name}: {text}");
        }
        let e = EncoderSpec::by_name("morse").unwrap_err().to_string();
        assert!(e.contains("morse") && e.contains("temporal_switch"), "{e}");
    }

    #[test]
    fn files_name_the_kind_and_unknown_fields_are_rejected() {
        let spec: EncoderSpec = toml::from_str(
            "kind = \"latency\"\nt_max_ms = 9.0\nmapping = \"log\"\nthreshold = 0.1",
        )
        .unwrap();
        match &spec {
            EncoderSpec::Latency(l) => {
                assert_eq!(l.t_max_ms, 9.0);
                assert_eq!(l.mapping, LatencyMapping::Log);
                assert_eq!(l.tau_ms, Latency::default().tau_ms);
            }
            other => panic!("parsed as {other:?}"),
        }
        let bad = toml::from_str::<EncoderSpec>("kind = \"poisson\"\nmax_rate = 3.0");
        assert!(bad.is_err());
    }

    /// For every encoder the dense batch tensor equals the per-sample spike trains
    /// binned on the grid, and the batch does not change a sample's spikes.
    #[test]
    fn batch_tensors_agree_with_per_sample_trains_for_every_encoder() {
        let grid = TimeGrid::new(40, 0.5).unwrap();
        for name in ALL {
            let spec = EncoderSpec::by_name(name).unwrap();
            let n_in = if name == "saccades" { 28 * 28 } else { 9 };
            let samples = [11u64, 2, 7];
            let inputs: Vec<f32> = (0..samples.len() * n_in)
                .map(|k| (k * 37 % 101) as f32 / 100.0)
                .collect();
            let n_out = spec.n_outputs(n_in);
            let mut dense = vec![0u8; grid.n_steps * samples.len() * n_out];
            spec.encode_batch_u8(&inputs, n_in, &samples, &grid, 42, &mut dense)
                .unwrap();
            let mut dense_f = vec![0f32; dense.len()];
            spec.encode_batch_f32(&inputs, n_in, &samples, &grid, 42, &mut dense_f)
                .unwrap();
            assert!(
                dense.iter().zip(&dense_f).all(|(&a, &b)| a as f32 == b),
                "{name}"
            );
            let mut total = 0;
            for (b, &key) in samples.iter().enumerate() {
                let trains = spec.encode(&inputs[b * n_in..(b + 1) * n_in], &grid, 42, key);
                let mut one = vec![0u8; grid.n_steps * n_out];
                trains.to_dense(&grid, &mut one).unwrap();
                for t in 0..grid.n_steps {
                    let row = (t * samples.len() + b) * n_out;
                    assert_eq!(
                        &one[t * n_out..(t + 1) * n_out],
                        &dense[row..row + n_out],
                        "{name} sample {b} step {t}"
                    );
                }
                total += one.iter().map(|&v| v as usize).sum::<usize>();
            }
            if name != "saccades" {
                assert!(total > 0, "{name} produced no spikes");
            }
        }
    }
}
