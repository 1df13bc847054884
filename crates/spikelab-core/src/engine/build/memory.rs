//! Build stage 1: the memory estimate. Before anything is allocated, the synapse
//! tables, ring buffers and state the plan needs are estimated and compared with the
//! memory the OS says is available.

use crate::engine::plan::BuildPlan;
use crate::engine::table::RingBuffer;
use crate::error::{Error, Result};

/// Bytes per synapse of a rule generated for the whole network and then split by
/// target: the whole projection's rows (target, weight, delay: 10 bytes) exist
/// beside the tables while it is split.
const BYTES_PER_SYNAPSE_SPLIT: f64 = 2.0 * 10.0;
/// Bytes per synapse of a target-major rule's table: target and weight.
const BYTES_PER_SYNAPSE_TABLE: f64 = 8.0;
/// Bytes of a delay group (first synapse u32, delay u16).
const BYTES_PER_GROUP: f64 = 6.0;
/// Bytes per synapse of the columns a target-major partition draws before it
/// transposes them (source, weight, delay), and per column (three vectors).
const BYTES_PER_COLUMN_SYNAPSE: f64 = 10.0;
const BYTES_PER_COLUMN: f64 = 72.0;
/// Bytes of neuron state assumed per neuron.
const BYTES_PER_NEURON: f64 = 64.0;

/// Memory the network may use, in bytes, and what limits it: the tightest of the
/// memory the OS has available (`MemAvailable`), the address space left under the
/// process's limit (`ulimit -v`) and the memory left in its control group (a
/// container's limit); None when none of them is known.
pub(crate) fn available_memory() -> Option<(f64, &'static str)> {
    [
        meminfo_available().map(|b| (b, "available memory")),
        address_space_left().map(|b| (b, "address-space limit (ulimit -v)")),
        cgroup_left().map(|b| (b, "control-group memory limit")),
    ]
    .into_iter()
    .flatten()
    .min_by(|a, b| a.0.total_cmp(&b.0))
}

fn meminfo_available() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// The soft `RLIMIT_AS` less the address space in use and a reserve for the worker
/// threads' stacks and allocator arenas (which count against the limit).
fn address_space_left() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let limit = parse_address_space_limit(&limits)?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used_kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let reserve = cores * 72.0 * 1048576.0;
    Some((limit - used_kib * 1024.0 - reserve).max(0.0))
}

/// The soft limit of `Max address space` in `/proc/self/limits` text (None when
/// unlimited).
fn parse_address_space_limit(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    let soft = line
        .trim_start_matches("Max address space")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// The memory limit of the process's control group less its usage (cgroup v2, or
/// v1's memory controller).
fn cgroup_left() -> Option<f64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let candidates: Vec<(String, String)> = if controllers.is_empty() {
            vec![
                (
                    format!("/sys/fs/cgroup{path}/memory.max"),
                    format!("/sys/fs/cgroup{path}/memory.current"),
                ),
                (
                    "/sys/fs/cgroup/memory.max".into(),
                    "/sys/fs/cgroup/memory.current".into(),
                ),
            ]
        } else if controllers.split(',').any(|c| c == "memory") {
            vec![
                (
                    format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"),
                    format!("/sys/fs/cgroup/memory{path}/memory.usage_in_bytes"),
                ),
                (
                    "/sys/fs/cgroup/memory/memory.limit_in_bytes".into(),
                    "/sys/fs/cgroup/memory/memory.usage_in_bytes".into(),
                ),
            ]
        } else {
            continue;
        };
        for (limit, usage) in candidates {
            if let Some(left) = cgroup_values(&limit, &usage) {
                return Some(left);
            }
        }
    }
    None
}

/// `limit - usage` from two cgroup files; None for "max" or an effectively
/// unlimited value.
fn cgroup_values(limit: &str, usage: &str) -> Option<f64> {
    let limit: f64 = std::fs::read_to_string(limit).ok()?.trim().parse().ok()?;
    if limit >= 2f64.powi(60) {
        return None;
    }
    let usage: f64 = std::fs::read_to_string(usage)
        .ok()
        .and_then(|u| u.trim().parse().ok())
        .unwrap_or(0.0);
    Some((limit - usage).max(0.0))
}

/// Estimated bytes of the network on `parts` partitions and a description of its
/// largest part. Target-major projections count their tables (8 bytes a synapse, 6
/// a delay group, a row pointer per source and partition) plus, once, the columns
/// of the largest partition's share in flight while it is transposed; other rules
/// count the whole projection's rows beside its tables.
pub(super) fn estimate(plan: &BuildPlan, parts: usize) -> (f64, String) {
    estimate_owned(plan, parts, parts)
}

/// [`estimate`] for a process that owns `owned` of the `parts` partitions (a rank of
/// a distributed run): its share of the tables, ring buffers and state, but the whole
/// rows of a rule that is generated for the whole network before it is split.
pub(super) fn estimate_owned(plan: &BuildPlan, parts: usize, owned: usize) -> (f64, String) {
    let mut bytes = 0.0f64;
    let mut biggest = (0.0, String::new());
    let mut in_flight = 0.0f64;
    let parts_f = parts.max(1) as f64;
    let share = owned.min(parts) as f64 / parts_f;
    for (k, p) in plan.projections.iter().enumerate() {
        let (n_src, n_tgt) = (
            plan.populations[p.source].spec.size,
            plan.populations[p.target].spec.size,
        );
        let m = p.spec.connectivity.expected_synapses(n_src, n_tgt);
        let b = if p.spec.connectivity.is_target_major() {
            let (lo, hi) = p.delay_ms.range();
            let span = if hi > lo {
                ((hi - lo) / plan.dt_ms).ceil() + 1.0
            } else {
                1.0
            };
            let groups = if span > 1.0 {
                m.min(n_src as f64 * parts_f * span)
            } else {
                0.0
            };
            let rows = 8.0 * (n_src as f64 + 1.0) * parts_f;
            let columns = m / parts_f * BYTES_PER_COLUMN_SYNAPSE
                + (n_tgt as f64 / parts_f) * BYTES_PER_COLUMN
                + 4.0 * n_src as f64 * span;
            in_flight = in_flight.max(columns);
            share * (m * BYTES_PER_SYNAPSE_TABLE + groups * BYTES_PER_GROUP + rows)
        } else {
            m * BYTES_PER_SYNAPSE_SPLIT * (1.0 + share) / 2.0
        };
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
    bytes += in_flight;
    for pop in &plan.populations {
        let p = pop.spec;
        let b = share
            * ((p.receptors.len() * RingBuffer::bytes_for(p.size, pop.max_delay_steps)) as f64
                + p.size as f64 * BYTES_PER_NEURON);
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
pub(super) fn check(plan: &BuildPlan, parts: usize) -> Result<()> {
    let (bytes, what) = estimate(plan, parts);
    check_bytes(bytes, &what)
}

/// Fails with [`Error::TooLarge`] when `bytes` (for `what`) exceed 90% of the
/// available memory.
pub(super) fn check_bytes(bytes: f64, what: &str) -> Result<()> {
    if let Some((avail, limit)) = available_memory() {
        if bytes > 0.9 * avail {
            return Err(Error::TooLarge {
                needed_mib: bytes / 1048576.0,
                available_mib: avail / 1048576.0,
                what: format!("{what}; limited by the {limit}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_space_limit_is_read_from_proc_limits() {
        let unlimited = "Limit                     Soft Limit           Hard Limit           Units\nMax address space         unlimited            unlimited            bytes\n";
        assert_eq!(parse_address_space_limit(unlimited), None);
        let limited = "Max cpu time              unlimited            unlimited            seconds\nMax address space         3072000000           unlimited            bytes\n";
        assert_eq!(parse_address_space_limit(limited), Some(3072000000.0));
        let (bytes, _) = available_memory().expect("Linux reports available memory");
        assert!(bytes > 0.0);
    }
}
