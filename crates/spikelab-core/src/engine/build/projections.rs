//! Build stage 3: projections. Synapses come from random streams keyed per row, so
//! the result does not depend on the partitioning. A target-major rule (in-degree,
//! total number) is generated partition by partition, each partition drawing only
//! the columns of its own targets and transposing them into its table — no copy of
//! the whole projection ever exists, which is what lets a 300-million-synapse network
//! build in about 9 bytes per synapse. Other rules are generated once for the whole
//! network and split by target. Each table then gets the column index, plasticity
//! state, normalisation and short-term plasticity that the projection asks for.

use crate::connectivity::{generate, generate_columns, GenerateRequest};
use crate::engine::partition::ProjChunk;
use crate::engine::plan::{BuildPlan, ProjectionPlan};
use crate::engine::plastic::{self, ColumnIndex, PlasticState};
use crate::engine::table::SynapseTable;
use crate::synapse::stp::StpState;
use std::ops::Range;

/// The chunks of every projection for the partitions `owned` (`out[k -
/// owned.start][proj]`) and the number of synapses of each projection in them.
pub(super) fn build(
    plan: &BuildPlan,
    bounds: &[Vec<usize>],
    owned: Range<usize>,
) -> (Vec<Vec<ProjChunk>>, Vec<usize>) {
    let mut part_projs: Vec<Vec<ProjChunk>> = owned.clone().map(|_| Vec::new()).collect();
    let mut synapse_counts = Vec::with_capacity(plan.projections.len());
    for (k, p) in plan.projections.iter().enumerate() {
        let n_src = plan.populations[p.source].spec.size;
        let req = GenerateRequest {
            rule: &p.spec.connectivity,
            weight: &p.spec.weight,
            delay_ms: &p.delay_ms,
            dt_ms: plan.dt_ms,
            n_src,
            n_tgt: plan.populations[p.target].spec.size,
            same: p.source == p.target,
            seed: plan.seed,
            projection: k,
        };
        let b = &bounds[p.target];
        if p.spec.connectivity.is_target_major() {
            let mut count = 0;
            for (list, part) in part_projs.iter_mut().zip(owned.clone()) {
                let columns = generate_columns(&req, b[part], b[part + 1]);
                let table = SynapseTable::from_columns(&columns, n_src);
                drop(columns);
                count += table.len();
                list.push(chunk(plan, k, p, table, b[part], b[part + 1], n_src));
            }
            synapse_counts.push(count);
            continue;
        }
        let rows = generate(&req);
        let mut count = 0;
        for (list, part) in part_projs.iter_mut().zip(owned.clone()) {
            let table = SynapseTable::from_rows(&rows, b[part] as u32, b[part + 1] as u32);
            count += table.len();
            list.push(chunk(plan, k, p, table, b[part], b[part + 1], n_src));
        }
        synapse_counts.push(count);
    }
    (part_projs, synapse_counts)
}

/// The part of projection `k` ending on target neurons `lo..hi`.
fn chunk(
    plan: &BuildPlan,
    k: usize,
    p: &ProjectionPlan,
    mut table: SynapseTable,
    lo: usize,
    hi: usize,
    n_src: usize,
) -> ProjChunk {
    let cols = p.rule.is_some().then(|| ColumnIndex::new(&table, hi - lo));
    if let Some(n) = &p.spec.normalization {
        plastic::normalize(&mut table, hi - lo, n.total as f32);
    }
    let plastic = p
        .rule
        .clone()
        .map(|r| Box::new(PlasticState::new(r, &table, hi - lo, k, plan.seed, lo)));
    ProjChunk {
        source: p.source,
        target: p.target,
        receptor: p.receptor,
        table,
        cols,
        plastic,
        reward_source: p.reward_source,
        pending_reward: 0.0,
        normalize_every: p.normalize_every,
        stp: p
            .spec
            .stp
            .as_ref()
            .map(|s| StpState::new(s, n_src, plan.dt_ms)),
    }
}
