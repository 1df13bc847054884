//! # spikelab-core
//!
//! Units and time, seeded random streams, neuron / synapse models, spike sources,
//! encoders (data → spikes), current inputs, connectivity, the network description
//! (model files), plasticity rules (one file each) and the simulation engine — a
//! resolved build plan, a backend interface with the CPU backend as its first
//! implementation, and monitors. See `DESIGN.md` for the map.
//!
//! ```
//! use spikelab_core::prelude::*;
//!
//! let net = NetworkSpec::new(0.1, 100.0)
//!     .seed(1)
//!     .population(PopulationSpec::new("in", 100, NeuronSpec::Poisson(PoissonSource::constant(20.0))))
//!     .population(
//!         PopulationSpec::new("out", 10, NeuronSpec::Lif(Lif::default()))
//!             .with_receptor(ReceptorSpec::current_exp("exc", 5.0)),
//!     )
//!     .projection(ProjectionSpec::new("in", "out", "exc", Connectivity::AllToAll { allow_self: true }, 2.0))
//!     .monitor(MonitorSpec::Spikes { population: "out".into(), neurons: NeuronSelection::All });
//! let mut sim = Simulator::build(&net).unwrap();
//! sim.run_ms(100.0);
//! assert!(sim.recordings().spikes[0].steps.len() > 0);
//! ```

#![warn(missing_docs)]

pub mod analysis;
pub mod connectivity;
pub mod encoding;
pub mod engine;
pub mod equations;
pub mod error;
pub mod input;
pub mod io;
pub mod math;
pub mod monitor;
pub mod network;
pub mod neuron;
pub mod plasticity;
pub mod poisson_input;
pub mod presets;
pub mod recording;
pub mod rng;
pub mod scale;
pub mod selection;
pub mod source;
pub mod synapse;
pub mod value;

/// The names most programs need.
pub mod prelude {
    pub use crate::connectivity::Connectivity;
    pub use crate::encoding::{Decoder, Encoder, EncoderSpec, SpikeTrains, TimeGrid};
    pub use crate::engine::Simulator;
    pub use crate::error::{Error, Result};
    pub use crate::input::{CurrentSpec, Waveform};
    pub use crate::monitor::MonitorSpec;
    pub use crate::network::{
        NetworkSpec, NeuronSpec, PopulationSpec, ProjectionSpec, SimulationSpec,
    };
    pub use crate::neuron::adex::Adex;
    pub use crate::neuron::escape_lif::EscapeLif;
    pub use crate::neuron::hodgkin_huxley::HodgkinHuxley;
    pub use crate::neuron::izhikevich::{Izhikevich, IzhikevichBlend, IzhikevichPreset};
    pub use crate::neuron::{iaf::Iaf, lif::Lif, Integration, NeuronModel, ResetMode};
    pub use crate::selection::NeuronSelection;
    pub use crate::source::{PoissonSource, SpikeGenerator};
    pub use crate::synapse::stp::TsodyksMarkram;
    pub use crate::synapse::{Kinetics, ReceptorPreset, ReceptorSpec};
    pub use crate::value::Value;
}
