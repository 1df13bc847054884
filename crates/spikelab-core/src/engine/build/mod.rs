//! Building the CPU backend from a [`BuildPlan`], in stages that each own one module:
//!
//! 1. [`memory`]: estimate the memory and refuse a network that does not fit;
//! 2. [`populations`]: cut every population into one chunk per partition;
//! 3. [`projections`]: generate the synapses and split them by target;
//! 4. [`monitors`]: give every partition its state probes.
//!
//! The plan has already validated the network, resolved its names and prepared its
//! models and rules; nothing here looks a name up or prepares a model again.

mod memory;
mod monitors;
mod populations;
mod projections;

use super::cpu::CpuBackend;
use super::exchange::SpikeExchange;
use super::partition::Partition;
use super::plan::BuildPlan;
use crate::error::Result;

/// `parts + 1` bounds cutting `n` neurons into `parts` contiguous chunks.
fn split_bounds(n: usize, parts: usize) -> Vec<usize> {
    (0..=parts).map(|k| k * n / parts).collect()
}

/// Builds the CPU backend of `plan` for `threads` worker threads (0 = one per core).
pub(super) fn cpu_backend(plan: &BuildPlan, threads: usize) -> Result<CpuBackend> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let n_parts = threads.max(1);
    memory::check(plan)?;
    let bounds: Vec<Vec<usize>> = plan
        .populations
        .iter()
        .map(|p| split_bounds(p.spec.size, n_parts))
        .collect();
    let part_pops = populations::build(plan, &bounds);
    let (part_projs, synapse_counts) = projections::build(plan, &bounds);
    let has_plasticity = plan.projections.iter().any(|p| p.rule.is_some());
    let mut partitions: Vec<Partition> = part_pops
        .into_iter()
        .zip(part_projs)
        .enumerate()
        .map(|(index, (pops, projections))| Partition {
            index,
            pops,
            projections,
            bounds: bounds.clone(),
            probes: Vec::new(),
            has_plasticity,
            events: 0,
            dt_ms: plan.dt_ms,
        })
        .collect();
    monitors::add_state_probes(plan, &bounds, &mut partitions);
    let exchange = SpikeExchange::new(n_parts, plan.populations.len());
    Ok(CpuBackend::from_parts(
        plan,
        bounds,
        partitions,
        exchange,
        synapse_counts,
    ))
}
