//! Synaptic receptors of a population: the kinetics that turn arriving spikes (summed
//! weights from the ring buffers) into the current or conductance a neuron model sees,
//! and short-term plasticity of projections ([`stp`]).
//!
//! A population declares its receptors by name; a projection targets one of them.
//! Excitatory and inhibitory inputs of one receptor are summed in its ring buffer
//! (current receptors take weights of either sign; conductances are >= 0 and inhibit
//! through a low reversal potential). Each step, for every receptor, the engine adds
//! the arrivals of this step to the receptor state, adds the receptor's output to the
//! [`DriveBuffers`], and advances the state by one step (see [`Receptor::step`]).
//!
//! ## Kinetics (response to one spike of weight `w` arriving at t = 0)
//!
//! ```text
//! exponential                 g(t) = w · exp(−t/τ)                          (peak w at t = 0)
//! alpha                       g(t) = w · (t/τ) · exp(1 − t/τ)               (peak w at t = τ)
//! difference_of_exponentials  g(t) = w · N · (exp(−t/τ_d) − exp(−t/τ_r))   (peak w at t_p)
//!                             t_p = τ_d τ_r/(τ_d − τ_r) · ln(τ_d/τ_r),  N = 1/(exp(−t_p/τ_d) − exp(−t_p/τ_r))
//! ```
//!
//! `tau_ms` is the decay time constant τ (τ_d), `tau_rise_ms` the rise time constant τ_r
//! of the difference of exponentials. All three are normalised to a **peak equal to
//! the weight**, as NEST's `*_alpha` and `*_beta` models and Brian2's usual alpha and
//! bi-exponential synapses do (so a weight is a peak current or peak conductance). The
//! state is propagated exactly from step to step.
//!
//! ## What the neuron sees
//!
//! The output is the value at the start of the step, held constant over the step (so
//! alpha and difference-of-exponential responses start one step after the arrival,
//! from zero, as their continuous forms do). For neuron models that integrate their
//! linear membrane exactly (LIF, escape-noise LIF with current input), current
//! receptors of every kinetics are instead pre-scaled so that the membrane integral of
//! the continuously decaying current over the step is exact (Rotter & Diesmann 1999;
//! NEST `iaf_psc_exp` / `iaf_psc_alpha`): the receptor hands the model the constant
//! current that gives the same membrane increment as the exact time course.
//!
//! ## Units
//!
//! Weights and outputs are in the target model's units: for `lif`/`escape_lif`
//! currents in mV (R·I) and conductances relative to the leak conductance; for `if`,
//! `adex` and `hh` currents in pA and conductances in nS; for `izhikevich` the paper's
//! dimensionless current (mV/ms) and conductances per mV. Delta receptors jump v by
//! the weight in mV.
//!
//! ## NMDA Mg²⁺ block
//!
//! A conductance receptor with `mg_mm` set is multiplied by the voltage-dependent block
//! of Jahr & Stevens (1990), `B(v) = 1 / (1 + [Mg²⁺]/3.57 mM · exp(−0.062 v/mV))`,
//! evaluated at the membrane potential at the start of the step (see [`mg_block`]).
//!
//! ## Presets
//!
//! `preset = "ampa" | "nmda" | "gaba_a" | "gaba_b"` fills type, kinetics, time
//! constants, reversal potential and Mg²⁺ block with literature values (see
//! [`ReceptorPreset`]); fields written next to the preset override it.
//!
//! References: Rotter & Diesmann (1999) Biol Cybern 81:381; Jahr & Stevens (1990)
//! J Neurosci 10:3178; Brunel & Wang (2001) J Comput Neurosci 11:63; Hill & Tononi
//! (2005) J Neurophysiol 93:1671; Roth & van Rossum (2009) in Computational Modeling
//! Methods for Neuroscientists, ch. 6.

mod preset;
mod receptor;
pub mod stp;

pub use preset::ReceptorPreset;
pub use receptor::{exact_alpha_scales, exact_current_scale, mg_block, Receptor};

use crate::error::{check_finite, check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// What a receptor delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceptorKind {
    /// A current (in the neuron model's current unit).
    Current,
    /// A conductance with a reversal potential (in the model's conductance unit).
    Conductance,
    /// An instantaneous jump of the membrane potential by the weight (mV).
    Delta,
}

/// Time course of a receptor's response to one spike (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kinetics {
    /// Jump by the weight, then exponential decay with `tau_ms`.
    #[default]
    Exponential,
    /// Alpha function `w (t/τ) e^{1−t/τ}` with τ = `tau_ms`, peak `w` at t = τ.
    Alpha,
    /// Difference of exponentials with rise `tau_rise_ms` and decay `tau_ms`,
    /// normalised to peak `w`.
    DifferenceOfExponentials,
}

impl Kinetics {
    /// Names accepted in model files.
    pub const NAMES: &'static str = "exponential, alpha, difference_of_exponentials";
}

/// A receptor as written in a model file (`[[population.receptor]]`).
///
/// In a model file `type` may be left out when `preset` is given; the preset's values
/// are filled in and explicit fields override them (the spec keeps the resolved
/// values, so writing it back gives the same receptor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ReceptorFile")]
pub struct ReceptorSpec {
    /// Name used by projections (`receptor = "exc"`).
    pub name: String,
    /// current, conductance or delta.
    #[serde(rename = "type")]
    pub kind: ReceptorKind,
    /// Kinetics (default exponential); ignored for delta receptors.
    pub kinetics: Kinetics,
    /// Decay time constant (ms); required unless `type = "delta"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tau_ms: Option<f64>,
    /// Rise time constant (ms) of `difference_of_exponentials`, below `tau_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tau_rise_ms: Option<f64>,
    /// Reversal potential (mV); required for conductance receptors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_rev_mv: Option<f64>,
    /// Extracellular Mg²⁺ concentration (mM) of a voltage-dependent NMDA block
    /// (Jahr & Stevens 1990); conductance receptors only. No block when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mg_mm: Option<f64>,
    /// State variable a delta receptor adds the weight to (default the membrane
    /// potential `v`, blocked while refractory). With `variable` the weight is added
    /// to that variable at the start of the arrival step whatever the neuron's state,
    /// as Brian2's `on_pre = "g_e += w"`; the only way synapses reach an equation
    /// model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

/// The model-file form of a receptor, before the preset is applied.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceptorFile {
    name: String,
    #[serde(default)]
    preset: Option<ReceptorPreset>,
    #[serde(default, rename = "type")]
    kind: Option<ReceptorKind>,
    #[serde(default)]
    kinetics: Option<Kinetics>,
    #[serde(default)]
    tau_ms: Option<f64>,
    #[serde(default)]
    tau_rise_ms: Option<f64>,
    #[serde(default)]
    e_rev_mv: Option<f64>,
    #[serde(default)]
    mg_mm: Option<f64>,
    #[serde(default)]
    variable: Option<String>,
}

impl TryFrom<ReceptorFile> for ReceptorSpec {
    type Error = String;
    fn try_from(f: ReceptorFile) -> std::result::Result<Self, String> {
        let base = match f.preset {
            Some(p) => p.spec(&f.name),
            None => {
                let kind = f.kind.ok_or_else(|| {
                    format!(
                        "receptor `{}` needs `type` (current, conductance or delta) or a `preset` ({})",
                        f.name,
                        ReceptorPreset::NAMES
                    )
                })?;
                ReceptorSpec {
                    name: f.name.clone(),
                    kind,
                    kinetics: Kinetics::Exponential,
                    tau_ms: None,
                    tau_rise_ms: None,
                    e_rev_mv: None,
                    mg_mm: None,
                    variable: None,
                }
            }
        };
        Ok(ReceptorSpec {
            name: f.name,
            kind: f.kind.unwrap_or(base.kind),
            kinetics: f.kinetics.unwrap_or(base.kinetics),
            tau_ms: f.tau_ms.or(base.tau_ms),
            tau_rise_ms: f.tau_rise_ms.or(base.tau_rise_ms),
            e_rev_mv: f.e_rev_mv.or(base.e_rev_mv),
            mg_mm: f.mg_mm.or(base.mg_mm),
            variable: f.variable.or(base.variable),
        })
    }
}

impl ReceptorSpec {
    /// An exponential current receptor.
    pub fn current_exp(name: &str, tau_ms: f64) -> Self {
        ReceptorSpec {
            name: name.into(),
            kind: ReceptorKind::Current,
            kinetics: Kinetics::Exponential,
            tau_ms: Some(tau_ms),
            tau_rise_ms: None,
            e_rev_mv: None,
            mg_mm: None,
            variable: None,
        }
    }
    /// An exponential conductance receptor.
    pub fn conductance_exp(name: &str, tau_ms: f64, e_rev_mv: f64) -> Self {
        ReceptorSpec {
            kind: ReceptorKind::Conductance,
            e_rev_mv: Some(e_rev_mv),
            ..Self::current_exp(name, tau_ms)
        }
    }
    /// A delta (voltage-jump) receptor.
    pub fn delta(name: &str) -> Self {
        ReceptorSpec {
            kind: ReceptorKind::Delta,
            tau_ms: None,
            ..Self::current_exp(name, 1.0)
        }
    }
    /// A delta receptor adding each weight to state variable `variable` (see
    /// [`ReceptorSpec::variable`]).
    pub fn onto_variable(name: &str, variable: &str) -> Self {
        ReceptorSpec {
            variable: Some(variable.into()),
            ..Self::delta(name)
        }
    }
    /// A receptor with the literature values of `preset` (see [`ReceptorPreset`]).
    pub fn preset(name: &str, preset: ReceptorPreset) -> Self {
        preset.spec(name)
    }
    /// The same receptor with alpha kinetics (time constant `tau_ms` kept).
    pub fn alpha(mut self) -> Self {
        self.kinetics = Kinetics::Alpha;
        self.tau_rise_ms = None;
        self
    }
    /// The same receptor with difference-of-exponentials kinetics rising with
    /// `tau_rise_ms` (decay `tau_ms` kept).
    pub fn with_rise_ms(mut self, tau_rise_ms: f64) -> Self {
        self.kinetics = Kinetics::DifferenceOfExponentials;
        self.tau_rise_ms = Some(tau_rise_ms);
        self
    }
    /// The same receptor with an NMDA Mg²⁺ block at `mg_mm` mM.
    pub fn with_mg_block(mut self, mg_mm: f64) -> Self {
        self.mg_mm = Some(mg_mm);
        self
    }

    /// Number of state variables per neuron (the first is the output g or I).
    pub fn state_len(&self) -> usize {
        match (self.kind, self.kinetics) {
            (ReceptorKind::Delta, _) => 0,
            (_, Kinetics::Exponential) => 1,
            (_, Kinetics::Alpha | Kinetics::DifferenceOfExponentials) => 2,
        }
    }

    /// Checks the parameters; `field` prefixes messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.name.is_empty() {
            return Err(Error::field(format!("{field}.name"), "must not be empty"));
        }
        if let Some(mg) = self.mg_mm {
            if self.kind != ReceptorKind::Conductance {
                return Err(Error::field(
                    format!("{field}.mg_mm"),
                    "the Mg2+ block applies to conductance receptors only",
                ));
            }
            check_non_negative(&format!("{field}.mg_mm"), mg)?;
        }
        if self.variable.is_some() && self.kind != ReceptorKind::Delta {
            return Err(Error::field(
                format!("{field}.variable"),
                "applies to delta receptors only (`type = \"delta\"`): the weight is added to the variable",
            ));
        }
        match self.kind {
            ReceptorKind::Delta => {
                if self.tau_ms.is_some() || self.e_rev_mv.is_some() || self.tau_rise_ms.is_some() {
                    return Err(Error::field(
                        field,
                        "a delta receptor takes no tau_ms, tau_rise_ms or e_rev_mv",
                    ));
                }
            }
            ReceptorKind::Current | ReceptorKind::Conductance => {
                let tau = self.tau_ms.ok_or_else(|| {
                    Error::field(
                        format!("{field}.tau_ms"),
                        "is required (decay time constant in ms, > 0)",
                    )
                })?;
                check_positive(&format!("{field}.tau_ms"), tau)?;
                match (self.kinetics, self.tau_rise_ms) {
                    (Kinetics::DifferenceOfExponentials, None) => {
                        return Err(Error::field(
                            format!("{field}.tau_rise_ms"),
                            "is required for difference_of_exponentials (rise time constant in ms, 0 < tau_rise_ms < tau_ms)",
                        ))
                    }
                    (Kinetics::DifferenceOfExponentials, Some(r)) => {
                        check_positive(&format!("{field}.tau_rise_ms"), r)?;
                        if r >= tau * (1.0 - 1e-6) {
                            return Err(Error::field(
                                format!("{field}.tau_rise_ms"),
                                format!("must be below tau_ms ({r} >= {tau}); for equal time constants use kinetics = \"alpha\""),
                            ));
                        }
                    }
                    (_, Some(_)) => {
                        return Err(Error::field(
                            format!("{field}.tau_rise_ms"),
                            "only difference_of_exponentials kinetics has a rise time constant",
                        ))
                    }
                    (_, None) => {}
                }
                if self.kind == ReceptorKind::Conductance {
                    let e = self.e_rev_mv.ok_or_else(|| {
                        Error::field(
                            format!("{field}.e_rev_mv"),
                            "is required for a conductance receptor (reversal potential in mV)",
                        )
                    })?;
                    check_finite(&format!("{field}.e_rev_mv"), e)?;
                } else if self.e_rev_mv.is_some() {
                    return Err(Error::field(
                        format!("{field}.e_rev_mv"),
                        "only conductance receptors have a reversal potential",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Per-step input buffers of a population chunk, filled by the receptors.
#[derive(Clone, Debug, Default)]
pub struct DriveBuffers {
    /// Summed current-type input.
    pub current: Vec<f32>,
    /// Σ g over conductance receptors.
    pub g_sum: Vec<f32>,
    /// Σ g·E over conductance receptors.
    pub g_rev: Vec<f32>,
    /// Σ of delta-receptor jumps.
    pub jump: Vec<f32>,
    /// Whether any receptor is conductance-based.
    pub has_conductance: bool,
    /// Whether any receptor is a delta receptor.
    pub has_jump: bool,
}

impl DriveBuffers {
    /// Buffers for `n` neurons.
    pub fn new(n: usize, has_conductance: bool, has_jump: bool) -> Self {
        DriveBuffers {
            current: vec![0.0; n],
            g_sum: if has_conductance {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            g_rev: if has_conductance {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            jump: if has_jump { vec![0.0; n] } else { Vec::new() },
            has_conductance,
            has_jump,
        }
    }
    /// Zeroes every buffer.
    pub fn clear(&mut self) {
        self.current.fill(0.0);
        self.g_sum.fill(0.0);
        self.g_rev.fill(0.0);
        self.jump.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_requires_tau_and_reversal() {
        let mut r = ReceptorSpec::conductance_exp("e", 5.0, 0.0);
        assert!(r.validate("p.receptor[e]").is_ok());
        r.e_rev_mv = None;
        let e = r.validate("p.receptor[e]").unwrap_err().to_string();
        assert!(e.contains("e_rev_mv"), "{e}");
        let mut c = ReceptorSpec::current_exp("i", -1.0);
        assert!(c.validate("x").unwrap_err().to_string().contains("tau_ms"));
        c.tau_ms = None;
        assert!(c.validate("x").is_err());
    }

    #[test]
    fn validation_of_rise_time_and_mg_block_names_the_field() {
        let ok = ReceptorSpec::conductance_exp("n", 100.0, 0.0)
            .with_rise_ms(2.0)
            .with_mg_block(1.0);
        assert!(ok.validate("r").is_ok());
        let e = ReceptorSpec::conductance_exp("n", 100.0, 0.0)
            .with_rise_ms(100.0)
            .validate("r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.tau_rise_ms") && e.contains("alpha"), "{e}");
        let mut missing = ok.clone();
        missing.tau_rise_ms = None;
        assert!(missing
            .validate("r")
            .unwrap_err()
            .to_string()
            .contains("tau_rise_ms"));
        let e = ReceptorSpec::current_exp("c", 5.0)
            .with_mg_block(1.0)
            .validate("r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.mg_mm"), "{e}");
        let e = ReceptorSpec::conductance_exp("n", 5.0, 0.0)
            .with_mg_block(-1.0)
            .validate("r")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.mg_mm"), "{e}");
        let mut alpha_with_rise = ReceptorSpec::current_exp("c", 5.0).alpha();
        alpha_with_rise.tau_rise_ms = Some(1.0);
        assert!(alpha_with_rise.validate("r").is_err());
    }

    #[derive(Deserialize, Serialize)]
    struct Wrap {
        receptor: Vec<ReceptorSpec>,
    }

    fn parse(text: &str) -> std::result::Result<Vec<ReceptorSpec>, String> {
        toml::from_str::<Wrap>(text)
            .map(|w| w.receptor)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn presets_fill_fields_and_explicit_fields_override() {
        let r = parse(
            r#"
[[receptor]]
name = "nmda"
preset = "nmda"
[[receptor]]
name = "slow_ampa"
preset = "ampa"
tau_ms = 5.0
[[receptor]]
name = "gaba_b"
preset = "gaba_b"
"#,
        )
        .unwrap();
        assert_eq!(r[0], ReceptorSpec::preset("nmda", ReceptorPreset::Nmda));
        assert_eq!(r[0].kind, ReceptorKind::Conductance);
        assert_eq!(r[0].kinetics, Kinetics::DifferenceOfExponentials);
        assert_eq!(r[0].mg_mm, Some(1.0));
        assert_eq!(r[1].tau_ms, Some(5.0));
        assert_eq!(
            r[1].e_rev_mv,
            ReceptorSpec::preset("a", ReceptorPreset::Ampa).e_rev_mv
        );
        assert_eq!(r[2].e_rev_mv, Some(-90.0));
        for x in &r {
            x.validate("r").unwrap();
        }
        // Written back without the preset, the resolved values read the same.
        let text = toml::to_string(&Wrap {
            receptor: r.clone(),
        })
        .unwrap();
        assert_eq!(parse(&text).unwrap(), r);
    }

    #[test]
    fn bad_receptor_files_say_what_is_wrong() {
        let e = parse("[[receptor]]\nname = \"x\"\ntau_ms = 5.0\n").unwrap_err();
        assert!(e.contains("needs `type`") && e.contains("gaba_a"), "{e}");
        let e = parse("[[receptor]]\nname = \"x\"\npreset = \"glutamate\"\n").unwrap_err();
        assert!(e.contains("glutamate") && e.contains("nmda"), "{e}");
        let e = parse("[[receptor]]\nname = \"x\"\npreset = \"ampa\"\ntau = 2\n").unwrap_err();
        assert!(e.contains("tau"), "{e}");
        let e = parse("[[receptor]]\nname = \"x\"\ntype = \"current\"\nkinetics = \"beta\"\n")
            .unwrap_err();
        assert!(e.contains("beta"), "{e}");
    }
}
