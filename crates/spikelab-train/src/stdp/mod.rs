//! Unsupervised learning with STDP on the event-driven engine: the Diehl & Cook (2015)
//! digit-recognition network, its training loop with checkpoints, label assignment and
//! classification, and the train/evaluate workflow in an output directory ([`session`]).

pub mod diehl_cook;

pub use diehl_cook::{DiehlCook, DiehlCookConfig};
pub mod session;
pub mod train;
