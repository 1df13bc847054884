//! Reference networks built in code, shared by tests, benchmarks and the command line:
//! the Vogels–Abbott COBA/CUBA benchmark networks (Brette et al. 2007) at any size and
//! the Brunel (2000) sparse network. The model files in `examples/` describe the same
//! networks; a test checks that they agree.

use crate::connectivity::Connectivity;
use crate::monitor::MonitorSpec;
use crate::network::{NetworkSpec, NeuronSpec, PopulationSpec, ProjectionSpec};
use crate::neuron::{lif::Lif, Integration};
use crate::poisson_input::{InputProcess, PoissonInputSpec};
use crate::selection::NeuronSelection;
use crate::synapse::ReceptorSpec;
use crate::value::Value;

/// Which Vogels–Abbott variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synapses {
    /// Conductance-based exponential synapses (the COBA benchmark).
    Conductance,
    /// Current-based exponential synapses (the CUBA benchmark).
    Current,
}

/// How neurons are wired.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wiring {
    /// Every pair with probability p (the original: p = 0.02 for 4000 neurons).
    Probability(f64),
    /// Every neuron receives exactly `exc` excitatory and `inh` inhibitory inputs
    /// (scales to large networks at constant input statistics; 64 + 16 matches
    /// p = 0.02 at 4000 neurons).
    InDegree {
        /// Excitatory inputs per neuron.
        exc: usize,
        /// Inhibitory inputs per neuron.
        inh: usize,
    },
}

/// The Vogels & Abbott (2005) network of `n` LIF neurons (80 % excitatory) as in the
/// Brian2 COBA / CUBA benchmarks: tau_m 20 ms, threshold −50 mV, reset −60 mV,
/// refractory 5 ms, dt 0.1 ms, v0 ~ N(−55 mV, 5 mV).
///
/// * COBA: rest −60 mV, drive 20 mV, conductances 5 ms / 10 ms with reversal 0 mV /
///   −80 mV and weights 0.6 / 6.7 (units of the leak conductance); forward Euler as in
///   the reference run.
/// * CUBA: rest −49 mV, currents 5 ms / 10 ms with weights 1.62 mV / −9 mV; exact
///   integration.
///
/// Spikes of both populations are monitored.
pub fn vogels_abbott(
    n: usize,
    synapses: Synapses,
    wiring: Wiring,
    duration_ms: f64,
    seed: u64,
) -> NetworkSpec {
    let n_exc = n * 4 / 5;
    let n_inh = n - n_exc;
    let (lif, receptors, w_exc, w_inh) = match synapses {
        Synapses::Conductance => (
            Lif {
                tau_m_ms: 20.0,
                v_rest_mv: -60.0,
                v_reset_mv: -60.0,
                v_thresh_mv: -50.0,
                t_ref_ms: 5.0,
                i_bias_mv: 20.0,
                integration: Integration::Euler,
                ..Lif::default()
            },
            vec![
                ReceptorSpec::conductance_exp("e", 5.0, 0.0),
                ReceptorSpec::conductance_exp("i", 10.0, -80.0),
            ],
            0.6,
            6.7,
        ),
        Synapses::Current => (
            Lif {
                tau_m_ms: 20.0,
                v_rest_mv: -49.0,
                v_reset_mv: -60.0,
                v_thresh_mv: -50.0,
                t_ref_ms: 5.0,
                ..Lif::default()
            },
            vec![
                ReceptorSpec::current_exp("e", 5.0),
                ReceptorSpec::current_exp("i", 10.0),
            ],
            1.62,
            -9.0,
        ),
    };
    let pop = |name: &str, size: usize| {
        let mut p = PopulationSpec::new(name, size, NeuronSpec::Lif(lif.clone()))
            .with_initial("v", Value::normal(-55.0, 5.0));
        p.receptors = receptors.clone();
        p
    };
    let mut net = NetworkSpec::new(0.1, duration_ms)
        .seed(seed)
        .population(pop("exc", n_exc))
        .population(pop("inh", n_inh));
    for (src, rec, w) in [("exc", "e", w_exc), ("inh", "i", w_inh)] {
        for tgt in ["exc", "inh"] {
            let rule = match wiring {
                Wiring::Probability(p) => Connectivity::FixedProbability {
                    p,
                    allow_self: true,
                },
                Wiring::InDegree { exc, inh } => Connectivity::FixedInDegree {
                    k: if src == "exc" { exc } else { inh },
                    allow_self: true,
                },
            };
            net = net.projection(ProjectionSpec::new(src, tgt, rec, rule, w).with_delay_ms(0.1));
        }
    }
    for p in ["exc", "inh"] {
        net = net.monitor(MonitorSpec::Spikes {
            population: p.into(),
            neurons: NeuronSelection::All,
        });
    }
    net
}

/// Brunel (2000) sparse network of delta-synapse LIF neurons driven by independent
/// Poisson input (C_E external sources per neuron as a summed `poisson_input`):
/// `n_exc` excitatory and `n_exc / 4` inhibitory neurons, in-degree
/// ε = 0.1 from each population, J = 0.1 mV, relative inhibition `g`, external rate
/// `eta` × ν_thr, delay 1.5 ms, tau_m 20 ms, threshold 20 mV, reset 10 mV,
/// refractory 2 ms (rest at 0 mV). `g = 5, eta = 2` is the asynchronous-irregular
/// regime (Brunel 2000, Fig. 8C).
pub fn brunel(n_exc: usize, g: f64, eta: f64, duration_ms: f64, seed: u64) -> NetworkSpec {
    let n_inh = n_exc / 4;
    let c_exc = n_exc / 10;
    let c_inh = n_inh / 10;
    let j = 0.1;
    let (tau_m, theta) = (20.0, 20.0);
    let nu_thr_hz = theta / (j * c_exc as f64 * tau_m) * 1000.0;
    let lif = Lif {
        tau_m_ms: tau_m,
        v_rest_mv: 0.0,
        v_reset_mv: 10.0,
        v_thresh_mv: theta,
        t_ref_ms: 2.0,
        ..Lif::default()
    };
    let pop = |name: &str, size: usize| {
        PopulationSpec::new(name, size, NeuronSpec::Lif(lif.clone()))
            .with_receptor(ReceptorSpec::delta("syn"))
            .with_initial("v", Value::uniform(0.0, theta))
    };
    let mut net = NetworkSpec::new(0.1, duration_ms)
        .seed(seed)
        .population(pop("exc", n_exc))
        .population(pop("inh", n_inh));
    for tgt in ["exc", "inh"] {
        net = net
            .projection(
                ProjectionSpec::new(
                    "exc",
                    tgt,
                    "syn",
                    Connectivity::FixedInDegree {
                        k: c_exc,
                        allow_self: false,
                    },
                    j,
                )
                .with_delay_ms(1.5),
            )
            .projection(
                ProjectionSpec::new(
                    "inh",
                    tgt,
                    "syn",
                    Connectivity::FixedInDegree {
                        k: c_inh,
                        allow_self: false,
                    },
                    -g * j,
                )
                .with_delay_ms(1.5),
            );
    }
    for tgt in ["exc", "inh"] {
        net.poisson_inputs.push(PoissonInputSpec {
            target: tgt.into(),
            receptor: "syn".into(),
            sources: c_exc as u64,
            rate_hz: eta * nu_thr_hz,
            weight: j,
            neurons: NeuronSelection::All,
            process: InputProcess::Poisson,
        });
    }
    for p in ["exc", "inh"] {
        net = net.monitor(MonitorSpec::Spikes {
            population: p.into(),
            neurons: NeuronSelection::All,
        });
    }
    net
}
