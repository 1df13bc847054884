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
use super::distributed::{Distribution, Transport, TransportExt};
use super::exchange::{SpikeExchange, SpinBarrier};
use super::partition::Partition;
use super::plan::BuildPlan;
use crate::error::{Error, Result};
use std::ops::Range;
use std::sync::Arc;

/// `parts + 1` bounds cutting `n` neurons into `parts` contiguous chunks.
fn split_bounds(n: usize, parts: usize) -> Vec<usize> {
    (0..=parts).map(|k| k * n / parts).collect()
}

/// Neurons per thread below which the automatic thread count (`threads = 0`) does
/// not split a network further: a step of fewer neurons takes about as long as the
/// synchronisation between threads.
pub const MIN_NEURONS_PER_THREAD: usize = 2000;

/// The partitions a network of `neurons` neurons runs on for `threads` requested
/// (0 = automatic: one per core, at most one per [`MIN_NEURONS_PER_THREAD`]
/// neurons). An explicit count is kept (results never depend on it), but there are
/// never more partitions than neurons.
pub fn partitions_for(neurons: usize, threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    choose_partitions(neurons, threads, cores, responsive_threads)
}

/// [`partitions_for`] on `cores` cores, with `probe(n)` the thread count up to `n`
/// whose threads get their cores.
fn choose_partitions(
    neurons: usize,
    threads: usize,
    cores: usize,
    probe: impl Fn(usize) -> usize,
) -> usize {
    let wanted = if threads == 0 {
        let by_size = cores.min(neurons / MIN_NEURONS_PER_THREAD);
        if by_size > 1 {
            probe(by_size)
        } else {
            by_size
        }
    } else {
        threads
    };
    wanted.min(neurons).max(1)
}

/// The largest thread count up to `n` (halving from `n`) whose threads meet at a
/// barrier quickly, measured as the best of 3 × 200 rounds after 50 of warm-up
/// (about 0.2 ms on idle cores): the
/// engine's threads meet once per step, so on a machine whose cores are busy with
/// other work each step would wait for a descheduled thread and 2 threads would
/// run several times slower than 1. 1 when no count is quick.
fn responsive_threads(n: usize) -> usize {
    const WARM_UP: u32 = 50;
    const ROUNDS: u32 = 200;
    const TRIES: usize = 3;
    /// Mean time per round above which the threads are not getting their cores.
    const SLOW_ROUND_US: f64 = 20.0;
    let mut k = n;
    while k > 1 {
        // The best of a few timed runs after a warm-up (the threads' start and a
        // passing hiccup must not count), each on threads that are already running.
        let barrier = SpinBarrier::new(k);
        let mut best_us = f64::INFINITY;
        std::thread::scope(|scope| {
            let total = WARM_UP + TRIES as u32 * ROUNDS;
            let barrier = &barrier;
            for _ in 1..k {
                scope.spawn(move || (0..total).for_each(|_| barrier.wait()));
            }
            (0..WARM_UP).for_each(|_| barrier.wait());
            for _ in 0..TRIES {
                let start = std::time::Instant::now();
                (0..ROUNDS).for_each(|_| barrier.wait());
                let us = start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64;
                best_us = best_us.min(us);
            }
        });
        if best_us < SLOW_ROUND_US {
            return k;
        }
        k /= 2;
    }
    1
}

/// The memory (bytes) the CPU backend estimates, before allocating anything, that
/// `plan` needs on `threads` worker threads (0 = automatic): synapse tables, the
/// columns in flight while one projection is transposed, ring buffers and state.
/// A build that would exceed 90% of the available memory is refused with this
/// figure.
pub fn estimate_memory_bytes(plan: &BuildPlan, threads: usize) -> f64 {
    let neurons: usize = plan.populations.iter().map(|p| p.spec.size).sum();
    memory::estimate(plan, partitions_for(neurons, threads)).0
}

/// The memory (bytes) one rank of a distributed run of `ranks` ranks with
/// `threads_per_rank` threads each estimates for its share of `plan` (see
/// [`estimate_memory_bytes`]).
pub fn estimate_memory_bytes_of_rank(
    plan: &BuildPlan,
    threads_per_rank: usize,
    ranks: usize,
) -> f64 {
    let per_rank = threads_per_rank.max(1);
    memory::estimate_owned(plan, per_rank * ranks.max(1), per_rank).0
}

/// Builds the CPU backend of `plan` for `threads` worker threads (see
/// [`partitions_for`]).
pub(super) fn cpu_backend(plan: &BuildPlan, threads: usize) -> Result<CpuBackend> {
    let neurons: usize = plan.populations.iter().map(|p| p.spec.size).sum();
    let n_parts = partitions_for(neurons, threads);
    memory::check(plan, n_parts)?;
    Ok(assemble(plan, n_parts, 0..n_parts, None))
}

/// Builds this rank's part of the CPU backend of `plan` in a distributed run: the
/// network is cut into `ranks × threads` partitions as one process with that many
/// threads would cut it, and this rank builds only its own `threads` of them.
/// `threads = 0` gives each rank its share of the cores. The ranks agree on the
/// thread count and on the memory check (ranks on one host share its memory), so
/// that either every rank builds or every rank fails with the same error.
pub(super) fn cpu_backend_distributed(
    plan: &BuildPlan,
    threads: usize,
    transport: Arc<dyn Transport>,
) -> Result<CpuBackend> {
    let neurons: usize = plan.populations.iter().map(|p| p.spec.size).sum();
    let ranks = transport.ranks();
    let wanted = if threads == 0 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / ranks.min(cores)).min(neurons / ranks.max(1) / MIN_NEURONS_PER_THREAD)
    } else {
        threads
    };
    let per_rank = transport.min_usize(wanted.max(1));
    let n_parts = ranks * per_rank;
    let fits = if n_parts > neurons {
        Err(Error::field(
            "ranks",
            format!("{ranks} ranks × {per_rank} threads are more partitions than the network's {neurons} neurons; use fewer ranks or threads"),
        ))
    } else {
        Ok(())
    };
    transport.agree(fits)?;
    // Every rank's estimate, summed over the ranks of each host.
    let (bytes, what) = memory::estimate_owned(plan, n_parts, per_rank);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let hosts = transport.gather_strings(host.trim());
    let all_bytes = transport.gather_f64(bytes);
    let me = transport.rank();
    let on_my_host: f64 = (0..ranks)
        .filter(|&r| hosts[r] == hosts[me])
        .map(|r| all_bytes[r])
        .sum();
    let sharing = hosts.iter().filter(|h| **h == hosts[me]).count();
    let what = if sharing > 1 {
        format!("{sharing} ranks on this host; this rank's largest part: {what}")
    } else {
        what
    };
    transport.agree(memory::check_bytes(on_my_host, &what))?;
    let owned = me * per_rank..(me + 1) * per_rank;
    let dist = Distribution::new(transport, per_rank);
    Ok(assemble(plan, n_parts, owned, Some(dist)))
}

/// The CPU backend of `plan` cut into `n_parts` partitions, of which it holds
/// `owned`.
fn assemble(
    plan: &BuildPlan,
    n_parts: usize,
    owned: Range<usize>,
    dist: Option<Distribution>,
) -> CpuBackend {
    let bounds: Vec<Vec<usize>> = plan
        .populations
        .iter()
        .map(|p| split_bounds(p.spec.size, n_parts))
        .collect();
    let part_pops = populations::build(plan, &bounds, owned.clone());
    let (part_projs, mut synapse_counts) = projections::build(plan, &bounds, owned.clone());
    if let Some(d) = &dist {
        for c in &mut synapse_counts {
            *c = d.transport.sum_u64(*c as u64) as usize;
        }
    }
    let has_plasticity = plan.projections.iter().any(|p| p.rule.is_some());
    let mut partitions: Vec<Partition> = part_pops
        .into_iter()
        .zip(part_projs)
        .zip(owned)
        .map(|((pops, projections), index)| Partition {
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
    CpuBackend::from_parts(plan, bounds, partitions, exchange, synapse_counts, dist)
}

#[cfg(test)]
mod partition_tests {
    use super::{choose_partitions, responsive_threads, MIN_NEURONS_PER_THREAD};

    #[test]
    fn small_networks_are_not_split_and_no_partition_is_empty() {
        let all = |n: usize| n;
        assert_eq!(choose_partitions(150, 0, 8, all), 1);
        assert_eq!(choose_partitions(MIN_NEURONS_PER_THREAD - 1, 0, 8, all), 1);
        assert_eq!(choose_partitions(1_000_000, 0, 8, all), 8);
        assert_eq!(choose_partitions(3 * MIN_NEURONS_PER_THREAD, 0, 8, all), 3);
        // Busy cores: the probe's answer.
        assert_eq!(choose_partitions(1_000_000, 0, 8, |_| 2), 2);
        // Explicit counts are kept (the results do not depend on them) but capped at
        // one neuron per partition; the probe is not asked.
        let never = |_: usize| -> usize { panic!("probed") };
        assert_eq!(choose_partitions(150, 3, 2, never), 3);
        assert_eq!(choose_partitions(150, 1000, 2, never), 150);
        assert_eq!(choose_partitions(0, 4, 2, never), 1);
    }

    #[test]
    fn the_probe_answers_between_one_and_the_count_asked() {
        let t = std::time::Instant::now();
        let k = responsive_threads(2);
        assert!((1..=2).contains(&k));
        assert!(t.elapsed().as_secs_f64() < 5.0);
    }
}
