//! Build stage 4: the CPU part of the monitors. Spike and rate monitors need nothing
//! from a partition (the simulator records them from each step's spikes, see
//! `engine/record.rs`); every state monitor becomes one probe per partition that
//! samples the partition's own recorded neurons.

use crate::engine::partition::{Partition, StateProbe};
use crate::engine::plan::{BuildPlan, MonitorPlanKind, StateVariable};

/// Adds the state probes of `plan`'s state monitors, in plan order, to every
/// partition.
pub(super) fn add_state_probes(
    plan: &BuildPlan,
    bounds: &[Vec<usize>],
    partitions: &mut [Partition],
) {
    for m in &plan.monitors {
        let MonitorPlanKind::State {
            neurons,
            variables,
            every_steps,
        } = &m.kind
        else {
            continue;
        };
        let pi = m.population;
        let neurons = neurons.indices(plan.populations[pi].spec.size);
        let vars: Vec<(bool, usize)> = variables
            .iter()
            .map(|v| match *v {
                StateVariable::Neuron(i) => (false, i),
                StateVariable::Receptor(i) => (true, i),
            })
            .collect();
        for part in partitions.iter_mut() {
            let (lo, hi) = (bounds[pi][part.index], bounds[pi][part.index + 1]);
            part.probes.push(StateProbe {
                pop: pi,
                every: *every_steps,
                local: neurons
                    .iter()
                    .map(|&g| g as usize)
                    .filter(|g| (lo..hi).contains(g))
                    .map(|g| g - lo)
                    .collect(),
                vars: vars.clone(),
                values: Vec::new(),
            });
        }
    }
}
