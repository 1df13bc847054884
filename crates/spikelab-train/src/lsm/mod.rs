//! Liquid state machines (Maass, Natschläger & Markram 2002): a fixed recurrent
//! spiking network — the liquid, simulated on the engine — turns an input series into
//! a high-dimensional trajectory of filtered spikes, and only a linear readout of that
//! state is trained.
//!
//! * [`liquid`]: the liquid as an engine network — heterogeneous E/I LIF groups,
//!   random or distance-based sparse recurrence, fast and optional slow (STDP-plastic)
//!   synapses, several liquids side by side (optionally partitioning the input) or
//!   stacked;
//! * [`input`]: real-valued series as input spikes (population, send-on-delta, rate);
//! * [`readout`]: ridge (strength by exact leave-one-out) and logistic readouts;
//! * [`machine`]: the [`LiquidStateMachine`] that runs samples, reads states, fits,
//!   predicts, measures class separation and saves itself;
//! * [`session`]: the `train lsm` workflow on a UCR/UEA problem, with its output
//!   directory.

pub mod input;
pub mod liquid;
pub mod machine;
pub mod readout;
pub mod session;

pub use input::SeriesEncoding;
pub use liquid::{Arrangement, LiquidConfig, SlowSynapses, Topology};
pub use machine::{LiquidStateMachine, LsmConfig, LsmMonitor, StateConfig};
pub use readout::ReadoutKind;
