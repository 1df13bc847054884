//! Receptor presets: literature defaults for the four main receptor types, used by
//! `preset = "..."` in `[[population.receptor]]` (explicit fields override them).
//!
//! | preset   | type        | kinetics                   | τ_rise | τ_decay | E_rev   | Mg²⁺ block | source |
//! |----------|-------------|----------------------------|--------|---------|---------|------------|--------|
//! | `ampa`   | conductance | exponential                | –      | 2 ms    | 0 mV    | –          | Brunel & Wang 2001 |
//! | `nmda`   | conductance | difference_of_exponentials | 2 ms   | 100 ms  | 0 mV    | 1 mM       | Brunel & Wang 2001; block Jahr & Stevens 1990 |
//! | `gaba_a` | conductance | exponential                | –      | 5 ms    | −70 mV  | –          | Brunel & Wang 2001 |
//! | `gaba_b` | conductance | difference_of_exponentials | 60 ms  | 200 ms  | −90 mV  | –          | Hill & Tononi 2005 (NEST `ht_neuron`) |
//!
//! Brunel & Wang (2001) model NMDA with a saturating second-order scheme; the preset
//! uses its rise and decay time constants in a (non-saturating) difference of
//! exponentials, normalised to peak 1 like every kinetics here.
//!
//! References: Brunel & Wang (2001) J Comput Neurosci 11:63; Jahr & Stevens (1990)
//! J Neurosci 10:3178; Hill & Tononi (2005) J Neurophysiol 93:1671.

use super::{Kinetics, ReceptorKind, ReceptorSpec};
use serde::{Deserialize, Serialize};

/// A receptor type with literature parameters (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceptorPreset {
    /// AMPA: fast excitatory conductance.
    Ampa,
    /// NMDA: slow excitatory conductance with Mg²⁺ block.
    Nmda,
    /// GABA_A: fast inhibitory (Cl⁻) conductance.
    GabaA,
    /// GABA_B: slow inhibitory (K⁺) conductance.
    GabaB,
}

impl ReceptorPreset {
    /// Names accepted in model files.
    pub const NAMES: &'static str = "ampa, nmda, gaba_a, gaba_b";

    /// The receptor called `name` with this preset's values.
    pub fn spec(self, name: &str) -> ReceptorSpec {
        let (kinetics, tau_rise_ms, tau_ms, e_rev_mv, mg_mm) = match self {
            ReceptorPreset::Ampa => (Kinetics::Exponential, None, 2.0, 0.0, None),
            ReceptorPreset::Nmda => (
                Kinetics::DifferenceOfExponentials,
                Some(2.0),
                100.0,
                0.0,
                Some(1.0),
            ),
            ReceptorPreset::GabaA => (Kinetics::Exponential, None, 5.0, -70.0, None),
            ReceptorPreset::GabaB => (
                Kinetics::DifferenceOfExponentials,
                Some(60.0),
                200.0,
                -90.0,
                None,
            ),
        };
        ReceptorSpec {
            name: name.into(),
            kind: ReceptorKind::Conductance,
            kinetics,
            tau_ms: Some(tau_ms),
            tau_rise_ms,
            e_rev_mv: Some(e_rev_mv),
            mg_mm,
            variable: None,
        }
    }
}
