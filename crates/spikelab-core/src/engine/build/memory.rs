//! Build stage 1: the memory estimate. Before anything is allocated, the synapse
//! tables, ring buffers and state the plan needs are estimated and compared with the
//! memory the OS says is available.

use crate::engine::plan::BuildPlan;
use crate::engine::table::RingBuffer;
use crate::error::{Error, Result};

/// Bytes per synapse assumed by the estimate (target, weight, delay and overhead).
const BYTES_PER_SYNAPSE: f64 = 2.0 * 10.0;
/// Bytes of neuron state assumed per neuron.
const BYTES_PER_NEURON: f64 = 64.0;

/// Available memory in bytes (MemAvailable), if the OS tells.
fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Estimated bytes of the network and a description of its largest part.
pub(super) fn estimate(plan: &BuildPlan) -> (f64, String) {
    let mut bytes = 0.0f64;
    let mut biggest = (0.0, String::new());
    for (k, p) in plan.projections.iter().enumerate() {
        let m = p.spec.connectivity.expected_synapses(
            plan.populations[p.source].spec.size,
            plan.populations[p.target].spec.size,
        );
        let b = m * BYTES_PER_SYNAPSE;
        bytes += b;
        if b > biggest.0 {
            biggest = (
                b,
                format!(
                    "projection[{}] with about {:.3e} synapses",
                    p.spec.name.clone().unwrap_or(k.to_string()),
                    m
                ),
            );
        }
    }
    for pop in &plan.populations {
        let p = pop.spec;
        let b = (p.receptors.len() * RingBuffer::bytes_for(p.size, pop.max_delay_steps)) as f64
            + p.size as f64 * BYTES_PER_NEURON;
        bytes += b;
        if b > biggest.0 {
            biggest = (
                b,
                format!("ring buffers and state of population[{}]", p.name),
            );
        }
    }
    (bytes, biggest.1)
}

/// Fails with [`Error::TooLarge`] when the estimate exceeds 90% of the available
/// memory.
pub(super) fn check(plan: &BuildPlan) -> Result<()> {
    let (bytes, what) = estimate(plan);
    if let Some(avail) = available_memory() {
        if bytes > 0.9 * avail {
            return Err(Error::TooLarge {
                needed_mib: bytes / 1048576.0,
                available_mib: avail / 1048576.0,
                what,
            });
        }
    }
    Ok(())
}
