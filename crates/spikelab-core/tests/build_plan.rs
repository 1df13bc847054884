//! The build plan and the backend seam: validation resolves names and prepares every
//! model once, the CPU builder uses the plan's prepared models as they are, and a
//! simulator runs on any [`Backend`].

use spikelab_core::connectivity::SynapseRows;
use spikelab_core::engine::backend::{Backend, StepSpikes};
use spikelab_core::engine::plan::{BuildPlan, MonitorPlanKind, StateVariable};
use spikelab_core::engine::record::Recorder;
use spikelab_core::neuron::{Drive, UpdateContext};
use spikelab_core::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn network() -> NetworkSpec {
    NetworkSpec::new(0.1, 50.0)
        .seed(3)
        .population(PopulationSpec::new(
            "in",
            40,
            NeuronSpec::Poisson(PoissonSource::constant(200.0)),
        ))
        .population(
            PopulationSpec::new("out", 12, NeuronSpec::Lif(Lif::default()))
                .with_receptor(ReceptorSpec::current_exp("exc", 5.0)),
        )
        .projection(
            ProjectionSpec::new(
                "in",
                "out",
                "exc",
                Connectivity::FixedProbability {
                    p: 0.5,
                    allow_self: true,
                },
                3.0,
            )
            .with_delay_ms(Value::uniform(0.1, 2.0)),
        )
        .monitor(MonitorSpec::Spikes {
            population: "out".into(),
            neurons: NeuronSelection::All,
        })
        .monitor(MonitorSpec::State {
            population: "out".into(),
            variables: vec!["v".into(), "g_exc".into()],
            neurons: NeuronSelection::All,
            every_ms: Some(1.0),
        })
}

#[test]
fn plan_resolves_names_and_prepares_models() {
    let spec = network();
    let plan = spec.plan().unwrap();
    assert!(plan.populations[0].model.is_none());
    assert!(plan.populations[1].model.is_some());
    assert_eq!(plan.populations[1].max_delay_steps, 20);
    let p = &plan.projections[0];
    assert_eq!((p.source, p.target, p.receptor), (0, 1, 0));
    assert_eq!(p.name, "in->out");
    let MonitorPlanKind::State {
        variables,
        every_steps,
        ..
    } = &plan.monitors[1].kind
    else {
        panic!("second monitor records state")
    };
    assert_eq!(
        variables,
        &[StateVariable::Neuron(0), StateVariable::Receptor(0)]
    );
    assert_eq!(*every_steps, 10);
}

static PREPARES: AtomicUsize = AtomicUsize::new(0);

/// Wraps a model and counts `prepare` calls.
#[derive(Debug)]
struct Counting(Box<dyn NeuronModel>);

impl NeuronModel for Counting {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn state_names(&self) -> &'static [&'static str] {
        self.0.state_names()
    }
    fn default_initial_state(&self) -> Vec<f64> {
        self.0.default_initial_state()
    }
    fn exact_membrane_tau_ms(&self) -> Option<f64> {
        self.0.exact_membrane_tau_ms()
    }
    fn prepare(&mut self, field: &str, dt_ms: f64, has_conductance: bool) -> Result<()> {
        PREPARES.fetch_add(1, Ordering::SeqCst);
        self.0.prepare(field, dt_ms, has_conductance)
    }
    fn update(
        &self,
        state: &mut [Vec<f32>],
        drive: &Drive,
        ctx: &mut UpdateContext,
        spikes: &mut Vec<u32>,
    ) {
        self.0.update(state, drive, ctx, spikes)
    }
    fn clone_box(&self) -> Box<dyn NeuronModel> {
        Box::new(Counting(self.0.clone_box()))
    }
}

#[test]
fn builder_runs_the_plans_prepared_models_without_preparing_again() {
    let spec = network();
    let mut want = Simulator::build_with_threads(&spec, 2).unwrap();
    want.run_ms(50.0);

    let mut plan = spec.plan().unwrap();
    let prepared = plan.populations[1].model.take().unwrap();
    plan.populations[1].model = Some(Box::new(Counting(prepared)));
    let mut sim = Simulator::from_plan(&plan, 2).unwrap();
    sim.run_ms(50.0);
    assert_eq!(
        PREPARES.load(Ordering::SeqCst),
        0,
        "the builder re-prepared"
    );
    assert!(!want.recordings().spikes[0].steps.is_empty());
    let (got, want) = (sim.recordings(), want.recordings());
    assert_eq!(got.spikes, want.spikes);
    assert_eq!(got.states[0].values, want.states[0].values);
    assert_eq!(got.states[0].steps, want.states[0].steps);
}

/// A backend double: neuron `t mod size` of population 0 fires at step `t`.
#[derive(Debug, Default)]
struct Clockwork {
    size: u32,
    v: Vec<f32>,
}

struct OneSpike(u32);

impl StepSpikes for OneSpike {
    fn count(&self, pop: usize) -> u64 {
        u64::from(pop == 0)
    }
    fn for_each_chunk(&self, pop: usize, mut f: impl FnMut(u32, &[u32])) {
        if pop == 0 {
            f(self.0, &[0]);
        }
    }
}

impl Backend for Clockwork {
    fn build(plan: &BuildPlan, _threads: usize) -> Result<Self> {
        let size = plan.populations[0].spec.size;
        Ok(Clockwork {
            size: size as u32,
            v: vec![0.0; size],
        })
    }
    fn workers(&self) -> usize {
        1
    }
    fn synapse_count(&self, _proj: usize) -> usize {
        0
    }
    fn synaptic_events(&self) -> u64 {
        0
    }
    fn run_steps(&mut self, first_step: u64, n: u64, recorder: &mut Recorder<'_>) {
        for t in first_step..first_step + n {
            recorder.record(t, &OneSpike((t % self.size as u64) as u32));
        }
    }
    fn take_state_samples(&mut self, _probe: usize, _samples: usize, _out: &mut Vec<f32>) {}
    fn spikes_of_step(&self, _pop: usize, step: u64) -> Vec<u32> {
        vec![(step % self.size as u64) as u32]
    }
    fn state(&self, _pop: usize, _var: usize) -> Vec<f32> {
        self.v.clone()
    }
    fn set_state(&mut self, _pop: usize, _var: usize, values: &[f32]) {
        self.v = values.to_vec();
    }
    fn set_poisson_rates(&mut self, _pop: usize, _rates_hz: &[f64], _step: u64) {}
    fn set_spike_generator(&mut self, _pop: usize, _spikes: &SpikeGenerator, _step: u64) {}
    fn set_neuron_model(&mut self, _pop: usize, _model: &dyn NeuronModel) {}
    fn set_plasticity_enabled(&mut self, _proj: usize, _enabled: bool) {}
    fn reward(&mut self, _proj: usize, _amount: f64) {}
    fn normalize_weights(&mut self, _proj: usize, _total: f64) {}
    fn set_weights(&mut self, _proj: usize, _weights: &[f32]) {}
    fn synapses(&self, _proj: usize) -> SynapseRows {
        SynapseRows::default()
    }
    fn reseed(&mut self, _key: u64, _step: u64) {}
    fn clear_synaptic_state(&mut self) {}
    fn reset(&mut self) {}
}

#[test]
fn simulator_runs_on_any_backend() {
    let spec = NetworkSpec::new(1.0, 10.0)
        .population(
            PopulationSpec::new("a", 4, NeuronSpec::Lif(Lif::default()))
                .with_receptor(ReceptorSpec::current_exp("exc", 5.0)),
        )
        .monitor(MonitorSpec::Spikes {
            population: "a".into(),
            neurons: NeuronSelection::All,
        })
        .monitor(MonitorSpec::Rate {
            population: "a".into(),
            bin_ms: 5.0,
        });
    let plan = spec.plan().unwrap();
    let backend = Clockwork::build(&plan, 0).unwrap();
    let mut sim = Simulator::with_backend(&plan, Box::new(backend));
    sim.run_steps(6);
    let r = sim.recordings();
    assert_eq!(r.spikes[0].steps, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(r.spikes[0].neurons, vec![0, 1, 2, 3, 0, 1]);
    assert_eq!(r.rates[0].counts, vec![5, 1]);
    assert_eq!(sim.stats().spikes, vec![6]);
    assert_eq!(sim.last_spikes(0), vec![1]);
    // The simulator checks arguments before the backend sees them.
    assert!(sim.set_state(0, "v", &[1.0; 3]).is_err());
    sim.set_state(0, "v", &[1.0; 4]).unwrap();
    assert_eq!(sim.state(0, "v").unwrap(), vec![1.0; 4]);
    assert!(sim.set_poisson_rates(0, &[1.0; 4]).is_err());
}
