//! The MPI transport (cargo feature `mpi`): [`super::Transport`] over a system MPI
//! through rsmpi. Gathering is `MPI_Allgather` of the counts followed by
//! `MPI_Allgatherv` of the buffers.

use super::Transport;
use ::mpi::datatype::PartitionMut;
use ::mpi::environment::Universe;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;
use ::mpi::Threading;

/// The world communicator of an initialised MPI; MPI is finalised when it is dropped.
pub struct MpiTransport {
    // Dropped after `world` (field order): finalises MPI.
    world: SimpleCommunicator,
    _universe: Universe,
    rank: usize,
    ranks: usize,
    /// Counts and displacements of the last gather, reused (no allocation per step).
    scratch: std::sync::Mutex<(Vec<i32>, Vec<i32>)>,
}

impl std::fmt::Debug for MpiTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiTransport")
            .field("rank", &self.rank)
            .field("ranks", &self.ranks)
            .finish()
    }
}

// SAFETY: MPI is initialised with `Threading::Serialized` (checked in `init`): any
// thread may call it as long as no two do at once, and the engine calls the transport
// only from the thread that steps worker 0 (one call at a time, `&self` collectives
// never overlap because every caller holds the simulator mutably or runs them in
// sequence).
unsafe impl Send for MpiTransport {}
// SAFETY: as above.
unsafe impl Sync for MpiTransport {}

impl MpiTransport {
    /// Initialises MPI; None when it was already initialised (or cannot be) or the
    /// library does not provide serialized threading.
    pub fn init() -> Option<Self> {
        let (universe, threading) = ::mpi::initialize_with_threading(Threading::Serialized)?;
        if threading < Threading::Serialized {
            return None;
        }
        let world = universe.world();
        let (rank, ranks) = (world.rank() as usize, world.size() as usize);
        Some(MpiTransport {
            world,
            _universe: universe,
            rank,
            ranks,
            scratch: Default::default(),
        })
    }

    /// Aborts every rank with `code` (after an error this rank cannot share).
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl Transport for MpiTransport {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    fn all_gather(&self, local: &[u32], out: &mut Vec<u32>, counts: &mut Vec<usize>) {
        let mut scratch = self.scratch.lock().expect("no gather panicked");
        let (n, displs) = &mut *scratch;
        n.resize(self.ranks, 0);
        let mine = i32::try_from(local.len()).expect("fewer than 2^31 words per exchange");
        self.world.all_gather_into(&mine, &mut n[..]);
        displs.clear();
        let mut at = 0i32;
        for &c in n.iter() {
            displs.push(at);
            at += c;
        }
        out.clear();
        out.resize(at as usize, 0);
        {
            let mut part = PartitionMut::new(&mut out[..], &n[..], &displs[..]);
            self.world.all_gather_varcount_into(local, &mut part);
        }
        counts.clear();
        counts.extend(n.iter().map(|&c| c as usize));
    }
}
