//! Distribution over processes (DESIGN.md idea 4: the partition is the unit of
//! distribution). A [`Transport`] is the one collective the engine needs — every rank
//! gathers every rank's buffer of `u32`s — and everything else (sums, maxima, the
//! agreement on an error) is built on it here. MPI implements it behind the cargo
//! feature `mpi` ([`mpi::MpiTransport`]); [`local_group`] implements it between
//! threads of one process, for tests and for running ranks side by side.
//!
//! A distributed run cuts every population into `ranks × threads` partitions exactly
//! as one process with that many threads would; rank `r` builds and steps partitions
//! `r·T .. (r+1)·T` and, after every step, the ranks gather each other's spikes into
//! the same spike exchange a single process fills by itself. The spikes, and
//! therefore every recording, are bitwise those of a single process.

use crate::error::{Error, Result};
use std::sync::{Arc, Barrier, Mutex};

/// The collective operations between the ranks of a distributed run.
///
/// Every rank must call the same operations in the same order (they are
/// collectives); the engine and [`crate::engine::Simulator`] do so as long as every
/// rank makes the same calls on its simulator.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn ranks(&self) -> usize;
    /// Gathers every rank's `local` buffer on every rank: afterwards `out` holds the
    /// buffers in rank order and `counts[r]` the length of rank `r`'s.
    fn all_gather(&self, local: &[u32], out: &mut Vec<u32>, counts: &mut Vec<usize>);
}

/// Collectives built on [`Transport::all_gather`].
pub trait TransportExt: Transport {
    /// Every rank's `value`, in rank order.
    fn gather_f64(&self, value: f64) -> Vec<f64> {
        let bits = value.to_bits();
        let (mut out, mut counts) = (Vec::new(), Vec::new());
        self.all_gather(&[bits as u32, (bits >> 32) as u32], &mut out, &mut counts);
        out.chunks_exact(2)
            .map(|w| f64::from_bits(w[0] as u64 | (w[1] as u64) << 32))
            .collect()
    }

    /// The sum of every rank's `value`.
    fn sum_u64(&self, value: u64) -> u64 {
        let (mut out, mut counts) = (Vec::new(), Vec::new());
        self.all_gather(&[value as u32, (value >> 32) as u32], &mut out, &mut counts);
        out.chunks_exact(2)
            .map(|w| w[0] as u64 | (w[1] as u64) << 32)
            .sum()
    }

    /// The largest of every rank's `value`.
    fn max_f64(&self, value: f64) -> f64 {
        self.gather_f64(value)
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The smallest of every rank's `value`.
    fn min_usize(&self, value: usize) -> usize {
        let (mut out, mut counts) = (Vec::new(), Vec::new());
        self.all_gather(
            &[value.min(u32::MAX as usize) as u32],
            &mut out,
            &mut counts,
        );
        out.into_iter().min().unwrap_or(0) as usize
    }

    /// Every rank's `text`, in rank order.
    fn gather_strings(&self, text: &str) -> Vec<String> {
        let bytes = text.as_bytes();
        let mut local = vec![bytes.len() as u32];
        local.extend(
            bytes
                .chunks(4)
                .map(|c| c.iter().rev().fold(0u32, |a, &b| a << 8 | b as u32)),
        );
        let (mut out, mut counts) = (Vec::new(), Vec::new());
        self.all_gather(&local, &mut out, &mut counts);
        let mut strings = Vec::with_capacity(counts.len());
        let mut at = 0;
        for &c in &counts {
            let words = &out[at..at + c];
            at += c;
            let len = words[0] as usize;
            let bytes: Vec<u8> = words[1..]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .take(len)
                .collect();
            strings.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        strings
    }

    /// The first rank that failed and its message, the same on every rank, given
    /// this rank's error message (None on success).
    fn first_failure(&self, mine: Option<String>) -> Option<(usize, String)> {
        // A leading mark tells an error from success even with an empty message.
        let all = self.gather_strings(&mine.map_or(String::new(), |m| format!("!{m}")));
        all.into_iter()
            .enumerate()
            .find(|(_, m)| !m.is_empty())
            .map(|(rank, m)| (rank, m[1..].to_string()))
    }

    /// The same outcome on every rank: `result` where every rank succeeded, else an
    /// error naming the first rank that failed and its message (so that one clear
    /// message reaches the user and every rank stops).
    fn agree<T>(&self, result: Result<T>) -> Result<T> {
        match self.first_failure(result.as_ref().err().map(ToString::to_string)) {
            // This rank's own error keeps its kind; the others learn of it.
            Some((rank, _)) if rank == self.rank() => result,
            None => result,
            Some((rank, message)) => Err(Error::Distributed {
                rank,
                ranks: self.ranks(),
                message,
            }),
        }
    }
}

impl<T: Transport + ?Sized> TransportExt for T {}

/// `n` transports joined to each other inside this process: give one to each of `n`
/// threads, each building its own simulator of the same plan, and together they run
/// as `n` ranks would under MPI.
pub fn local_group(n: usize) -> Vec<Arc<dyn Transport>> {
    let n = n.max(1);
    let shared = Arc::new(LocalShared {
        buffers: Mutex::new(vec![Vec::new(); n]),
        barrier: Barrier::new(n),
    });
    (0..n)
        .map(|rank| {
            Arc::new(LocalTransport {
                rank,
                ranks: n,
                shared: shared.clone(),
            }) as Arc<dyn Transport>
        })
        .collect()
}

#[derive(Debug)]
struct LocalShared {
    buffers: Mutex<Vec<Vec<u32>>>,
    barrier: Barrier,
}

/// One rank of a [`local_group`].
#[derive(Debug)]
struct LocalTransport {
    rank: usize,
    ranks: usize,
    shared: Arc<LocalShared>,
}

impl Transport for LocalTransport {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    fn all_gather(&self, local: &[u32], out: &mut Vec<u32>, counts: &mut Vec<usize>) {
        {
            let mut b = self.shared.buffers.lock().expect("no rank panicked");
            b[self.rank].clear();
            b[self.rank].extend_from_slice(local);
        }
        self.shared.barrier.wait();
        {
            let b = self.shared.buffers.lock().expect("no rank panicked");
            out.clear();
            counts.clear();
            for buf in b.iter() {
                out.extend_from_slice(buf);
                counts.push(buf.len());
            }
        }
        // Nobody overwrites a buffer before every rank has read them all.
        self.shared.barrier.wait();
    }
}

/// How a distributed backend takes part: its transport, the partitions each rank
/// owns, and the time it spent exchanging.
#[derive(Debug)]
pub(crate) struct Distribution {
    pub transport: Arc<dyn Transport>,
    /// Partitions per rank: rank `r` owns `r·per_rank .. (r+1)·per_rank`.
    pub per_rank: usize,
    /// Seconds spent in spike exchange (waiting for the other ranks included).
    pub exchange_s: f64,
    send: Vec<u32>,
    received: Vec<u32>,
    counts: Vec<usize>,
}

impl Distribution {
    pub fn new(transport: Arc<dyn Transport>, per_rank: usize) -> Self {
        Distribution {
            transport,
            per_rank,
            exchange_s: 0.0,
            send: Vec::new(),
            received: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// The partitions this rank owns.
    pub fn owned(&self) -> std::ops::Range<usize> {
        let r = self.transport.rank();
        r * self.per_rank..(r + 1) * self.per_rank
    }

    /// Gathers every rank's spikes of one step: `local(k)` gives owned partition `k`'s
    /// spike lists (one per population), `remote(k)` the lists to fill for another
    /// rank's partition `k`.
    pub fn exchange<'a>(
        &mut self,
        mut local: impl FnMut(usize) -> &'a [Vec<u32>],
        mut remote: impl FnMut(usize) -> &'a mut [Vec<u32>],
    ) {
        let start = std::time::Instant::now();
        self.send.clear();
        for k in self.owned() {
            for spikes in local(k) {
                self.send.push(spikes.len() as u32);
                self.send.extend_from_slice(spikes);
            }
        }
        self.transport
            .all_gather(&self.send, &mut self.received, &mut self.counts);
        let me = self.transport.rank();
        let mut at = 0;
        for (rank, &count) in self.counts.iter().enumerate() {
            if rank == me {
                at += count;
                continue;
            }
            for k in rank * self.per_rank..(rank + 1) * self.per_rank {
                for spikes in remote(k).iter_mut() {
                    let n = self.received[at] as usize;
                    spikes.clear();
                    spikes.extend_from_slice(&self.received[at + 1..at + 1 + n]);
                    at += 1 + n;
                }
            }
        }
        self.exchange_s += start.elapsed().as_secs_f64();
    }
}

#[cfg(feature = "mpi")]
pub mod mpi;

#[cfg(test)]
mod tests {
    use super::*;

    fn on_ranks<T: Send>(n: usize, f: impl Fn(Arc<dyn Transport>) -> T + Sync) -> Vec<T> {
        let group = local_group(n);
        std::thread::scope(|s| {
            let f = &f;
            let handles: Vec<_> = group.into_iter().map(|t| s.spawn(move || f(t))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn collectives_gather_in_rank_order() {
        let got = on_ranks(3, |t| {
            let r = t.rank();
            let (mut out, mut counts) = (Vec::new(), Vec::new());
            t.all_gather(&vec![r as u32; r + 1], &mut out, &mut counts);
            (
                out,
                counts,
                t.sum_u64((1u64 << 40) + r as u64),
                t.max_f64(r as f64 * 0.5),
                t.min_usize(10 - r),
                t.gather_strings(&"é".repeat(r)),
            )
        });
        for g in &got {
            assert_eq!(g.0, vec![0, 1, 1, 2, 2, 2]);
            assert_eq!(g.1, vec![1, 2, 3]);
            assert_eq!(g.2, 3 * (1u64 << 40) + 3);
            assert_eq!(g.3, 1.0);
            assert_eq!(g.4, 8);
            assert_eq!(g.5, vec!["".to_string(), "é".into(), "éé".into()]);
        }
    }

    #[test]
    fn an_error_on_one_rank_reaches_every_rank() {
        let got = on_ranks(3, |t| {
            let mine: Result<u32> = if t.rank() == 1 {
                Err(Error::Invalid("out of paper".into()))
            } else {
                Ok(7)
            };
            t.agree(mine).map_err(|e| e.to_string())
        });
        assert_eq!(got[1], Err("out of paper".into()));
        for r in [0, 2] {
            let e = got[r].clone().unwrap_err();
            assert!(
                e.contains("rank 1 of 3") && e.contains("out of paper"),
                "{e}"
            );
        }
        let fine = on_ranks(2, |t| t.agree(Ok(t.rank())).unwrap());
        assert_eq!(fine, vec![0, 1]);
    }
}
