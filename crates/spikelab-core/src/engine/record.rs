//! Recording, the same for every backend: the monitors' records built from the plan,
//! and the [`Recorder`] a backend calls after each step with that step's spikes
//! (spike and rate monitors, spike counters). State monitors are sampled by the
//! backend and merged into their records by the simulator.

use super::backend::StepSpikes;
use super::plan::{BuildPlan, MonitorPlanKind};
use super::RunStats;
use crate::monitor::{RateRecord, Recordings, SpikeRecord, StateRecord};

/// A monitor and the record it fills.
#[derive(Debug)]
pub(crate) enum Mon {
    Spikes {
        pop: usize,
        mask: Option<Vec<bool>>,
        rec: usize,
    },
    /// Values are sampled by the backend (probe index `probe`), merged later.
    State {
        every: u64,
        rec: usize,
        probe: usize,
    },
    Rate {
        pop: usize,
        rec: usize,
    },
}

/// The monitors of `plan` and their empty records; state monitors are probes
/// `0, 1, …` in plan order.
pub(crate) fn monitors(plan: &BuildPlan) -> (Vec<Mon>, Recordings) {
    let mut monitors = Vec::with_capacity(plan.monitors.len());
    let mut recordings = Recordings::default();
    let mut probes = 0;
    for m in &plan.monitors {
        let pi = m.population;
        let p = plan.populations[pi].spec;
        match &m.kind {
            MonitorPlanKind::Spikes { neurons } => {
                let neurons = neurons.indices(p.size);
                let mask = (neurons.len() != p.size).then(|| {
                    let mut mask = vec![false; p.size];
                    for &i in &neurons {
                        mask[i as usize] = true;
                    }
                    mask
                });
                monitors.push(Mon::Spikes {
                    pop: pi,
                    mask,
                    rec: recordings.spikes.len(),
                });
                recordings.spikes.push(SpikeRecord {
                    population: p.name.clone(),
                    recorded_neurons: neurons.len(),
                    ..Default::default()
                });
            }
            MonitorPlanKind::State {
                neurons,
                every_steps,
                ..
            } => {
                let crate::monitor::MonitorSpec::State { variables, .. } = m.spec else {
                    unreachable!("a state plan comes from a state monitor")
                };
                monitors.push(Mon::State {
                    every: *every_steps,
                    rec: recordings.states.len(),
                    probe: probes,
                });
                probes += 1;
                recordings.states.push(StateRecord {
                    population: p.name.clone(),
                    variables: variables.clone(),
                    neurons: neurons.indices(p.size),
                    every_steps: *every_steps,
                    ..Default::default()
                });
            }
            MonitorPlanKind::Rate { bin_steps } => {
                monitors.push(Mon::Rate {
                    pop: pi,
                    rec: recordings.rates.len(),
                });
                recordings.rates.push(RateRecord {
                    population: p.name.clone(),
                    size: p.size,
                    bin_steps: *bin_steps,
                    counts: Vec::new(),
                });
            }
        }
    }
    (monitors, recordings)
}

/// Records spikes, rates and counters after each step; a backend calls
/// [`Recorder::record`] once per computed step.
pub struct Recorder<'a> {
    monitors: &'a [Mon],
    recordings: &'a mut Recordings,
    stats: &'a mut RunStats,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(
        monitors: &'a [Mon],
        recordings: &'a mut Recordings,
        stats: &'a mut RunStats,
    ) -> Self {
        Recorder {
            monitors,
            recordings,
            stats,
        }
    }

    /// Records the spikes of step `t`.
    pub fn record<S: StepSpikes>(&mut self, t: u64, spikes: &S) {
        for (pop, count) in self.stats.spikes.iter_mut().enumerate() {
            *count += spikes.count(pop);
        }
        for m in self.monitors {
            match m {
                Mon::Spikes { pop, mask, rec } => {
                    let r = &mut self.recordings.spikes[*rec];
                    spikes.for_each_chunk(*pop, |lo, local| {
                        for &i in local {
                            let g = i + lo;
                            if mask.as_ref().is_none_or(|m| m[g as usize]) {
                                r.steps.push(t);
                                r.neurons.push(g);
                            }
                        }
                    });
                }
                Mon::Rate { pop, rec } => {
                    let r = &mut self.recordings.rates[*rec];
                    let bin = (t / r.bin_steps) as usize;
                    if r.counts.len() <= bin {
                        r.counts.resize(bin + 1, 0);
                    }
                    r.counts[bin] += spikes.count(*pop);
                }
                Mon::State { .. } => {}
            }
        }
    }
}
