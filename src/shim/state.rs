//! The library's process-wide state: the configuration, the SAN segment (attached
//! on first need), this process's references to endpoint records and the faults
//! it dealt with, and who this process is (pid, identity, a vfork child or not).
//! `startup` builds the state; everything above reads it.

use crate::config::Config;
use crate::san::layout::{self, DEFAULT_CAPACITY};
use crate::san::{EndpointRef, Segment, SegmentError, reap};
use crate::shim::{front, net};
use crate::wsd_log;
use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::*};

pub struct Shim {
    pub config: Config,
    /// The program's short name, for endpoint records and report rows.
    pub comm: [u8; 16],
    /// The program's name as rules match it (the basename of argv[0]).
    pub program: String,
    /// Could any TCP socket of this program reach the SAN? (Candidates exist.)
    pub routable: bool,
    san: OnceCell<Result<Attached, SegmentError>>,
}

/// The attached segment and, per record, this process's references to it:
/// `tag << 32 | descriptors`, so a fork child knows which endpoints it holds.
pub struct Attached {
    pub seg: Segment,
    refs: Box<[AtomicU64]>,
    /// Per record, the faults this process has dealt with (SPEC §7): the number
    /// of the last one a data call answered in the low 32 bits, of the last one
    /// the watcher acted on in the high 32.
    faults: Box<[AtomicU64]>,
}

/// The state, once set up (see `startup`): null before, never freed after.
static SHIM: AtomicPtr<Shim> = AtomicPtr::new(std::ptr::null_mut());

/// Stands in for an error that cannot happen (the cell was just set).
static NEVER: SegmentError = SegmentError::Missing;

/// The state, if it has been set up.
#[inline(always)]
pub fn shim() -> Option<&'static Shim> {
    // SAFETY: non-null only once a `Shim` was published, and it is never freed.
    unsafe { SHIM.load(Acquire).as_ref() }
}

/// Publishes a state built by `startup`, unless another thread published one
/// first (then this one is dropped): the state, and whether it is `built`.
pub fn publish(built: Shim) -> (&'static Shim, bool) {
    let built = Box::into_raw(Box::new(built));
    match SHIM.compare_exchange(std::ptr::null_mut(), built, AcqRel, Acquire) {
        // SAFETY: just published, never freed.
        Ok(_) => (unsafe { &*built }, true),
        Err(winner) => {
            // SAFETY: `built` was never shared; `winner` is published for good and
            // non-null (the exchange failed on it).
            unsafe {
                drop(Box::from_raw(built));
                (&*winner, false)
            }
        }
    }
}

impl Shim {
    /// The state of a program named `program` (for the rules) under `config`.
    pub fn new(config: Config, program: String) -> Shim {
        Shim {
            routable: config.could_route(&program),
            config,
            comm: comm(),
            program,
            san: OnceCell::new(),
        }
    }

    /// Attaches the segment if it exists (start-up's take-back, which must not
    /// create one): true if it was attached now.
    pub fn attach_existing(&self) -> bool {
        Segment::open(&self.config.san).is_ok_and(|seg| self.san.set(Ok(Attached::new(seg))).is_ok())
    }

    /// The SAN segment, opened or created on first use. A segment that cannot be
    /// used is reported once and stays unusable for this process.
    ///
    /// Never blocks: threads that race to attach each build a mapping, one is kept
    /// and the others are unmapped (a blocking once-cell could leave a fork child
    /// waiting forever for a thread that the fork did not copy).
    pub fn san(&self) -> Result<&Attached, &SegmentError> {
        if let Some(r) = self.san.get() {
            return r.as_ref();
        }
        let r = Segment::open_or_create(&self.config.san, DEFAULT_CAPACITY).map(|seg| {
            // First use in this process: reclaim some of what dead processes left
            // (a bounded pass: attaching costs the same whatever the table holds).
            seg.reap_some();
            Attached::new(seg)
        });
        let failed = r.as_ref().err().cloned();
        if self.san.set(r).is_ok()
            && let Some(e) = failed
        {
            wsd_log!(
                Warn,
                "SAN segment {:?} cannot be used: {e}; SAN calls answer WSAENETDOWN and new sockets stay plain TCP",
                self.config.san
            );
        }
        self.san.get().map_or(Err(&NEVER), Result::as_ref)
    }

    /// The segment if it has been attached already (no attach attempt).
    #[inline]
    pub fn san_if_attached(&self) -> Option<&Attached> {
        self.san.get().and_then(|r| r.as_ref().ok())
    }
}

impl Attached {
    fn new(seg: Segment) -> Attached {
        // Zeroed memory from the allocator (`vec!` of zeros asks for fresh zeroed
        // pages, not written here), so a large capacity costs memory only for the
        // endpoints this process holds.
        let zeros = || {
            let z = Box::into_raw(vec![0u64; seg.capacity() as usize].into_boxed_slice());
            // SAFETY: AtomicU64 has the size, alignment and representation of u64,
            // so the allocation is a valid [AtomicU64] of the same length, owned
            // by the new box alone.
            unsafe { Box::from_raw(z as *mut [AtomicU64]) }
        };
        Attached {
            refs: zeros(),
            faults: zeros(),
            seg,
        }
    }

    /// Claims the delivery of fault `seq` on record `index` to a data call of
    /// this process: true for the one call that answers it.
    pub fn claim_delivery(&self, index: u32, seq: u32) -> bool {
        self.claim_fault(index, seq, 0)
    }

    /// Has this process answered fault `seq` on record `index` already?
    pub fn delivered(&self, index: u32, seq: u32) -> bool {
        self.fault_seen(index, seq, 0)
    }

    /// Has this process acted on the kernel socket of record `index` for fault
    /// `seq` already?
    pub fn acted(&self, index: u32, seq: u32) -> bool {
        self.fault_seen(index, seq, 32)
    }

    /// Is fault `seq` the one in the half (`shift`) of record `index`'s word?
    fn fault_seen(&self, index: u32, seq: u32, shift: u32) -> bool {
        self.faults
            .get(index as usize)
            .is_none_or(|w| (w.load(Acquire) >> shift) as u32 == seq)
    }

    /// Claims acting on the kernel socket of record `index` for fault `seq`
    /// (the watcher, or the data call that answers first): true for one.
    pub fn claim_action(&self, index: u32, seq: u32) -> bool {
        self.claim_fault(index, seq, 32)
    }

    fn claim_fault(&self, index: u32, seq: u32, shift: u32) -> bool {
        let Some(w) = self.faults.get(index as usize) else {
            return false;
        };
        w.fetch_update(AcqRel, Acquire, |v| {
            ((v >> shift) as u32 != seq).then(|| v & !(0xffff_ffff << shift) | u64::from(seq) << shift)
        })
        .is_ok()
    }

    /// Does this process hold `ep` already (through some descriptor)?
    pub fn holds(&self, ep: EndpointRef) -> bool {
        self.refs.get(ep.index as usize).is_some_and(|slot| {
            let v = slot.load(Acquire);
            (v >> 32) as u32 == ep.tag && v & 0xffff_ffff != 0
        })
    }

    /// One more descriptor of this process refers to `ep`.
    pub fn take_ref(&self, ep: EndpointRef) {
        let Some(slot) = self.refs.get(ep.index as usize) else {
            return;
        };
        let _ = slot.fetch_update(AcqRel, Acquire, |v| {
            Some(if (v >> 32) as u32 == ep.tag && v & 0xffff_ffff != 0 {
                v + 1
            } else {
                u64::from(ep.tag) << 32 | 1
            })
        });
    }

    /// One descriptor fewer refers to `ep`; the last one lets the process's hold go.
    pub fn drop_ref(&self, ep: EndpointRef) {
        let Some(slot) = self.refs.get(ep.index as usize) else {
            return;
        };
        let r = slot.fetch_update(AcqRel, Acquire, |v| {
            ((v >> 32) as u32 == ep.tag && v & 0xffff_ffff != 0).then(|| v - 1)
        });
        if r.is_ok_and(|v| v & 0xffff_ffff == 1) {
            let (pid, me) = identity();
            self.seg.release(ep, me, pid);
        }
    }

    /// The endpoints this process holds, and their per-record slots (below the
    /// segment's high-water mark: records above it were never handed out).
    fn held(&self) -> impl Iterator<Item = (EndpointRef, &AtomicU64)> {
        let high = self.seg.high_water();
        self.refs[..high.min(self.refs.len())]
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                let v = slot.load(Acquire);
                (v & 0xffff_ffff != 0).then_some((
                    EndpointRef {
                        index: index as u32,
                        tag: (v >> 32) as u32,
                    },
                    slot,
                ))
            })
    }
}

/// Before a fork: the endpoints this process holds are held for the child too
/// until it settles (`after_fork_in_child`).
pub fn before_fork(att: &Attached) {
    for (ep, _) in att.held() {
        att.seg.hold_pending(ep);
    }
}

/// In a fork child: it is a process of its own (pid, identity, lanes), and holds
/// the endpoints its parent held.
pub fn after_fork_in_child() {
    IDENTITY.store(0, Release);
    own_memory();
    front::forget_vforks();
    crate::san::lanes::note_fork_child();
    if let Some(att) = shim().and_then(Shim::san_if_attached) {
        let (_, me) = identity();
        for (ep, slot) in att.held() {
            if !att.seg.settle_pending(ep, me) {
                slot.store(0, Release);
            }
        }
    }
}

/// The network namespace of socket `fd` (`SO_NETNS_COOKIE`). Asked once per
/// process and remembered: sockets a process makes live in its namespace. 0 when
/// the kernel would not say.
pub fn netns_of(fd: i32) -> u64 {
    static NETNS: AtomicU64 = AtomicU64::new(0);
    let known = NETNS.load(Relaxed);
    if known != 0 {
        return known;
    }
    let ns = net::netns_cookie(fd);
    NETNS.store(ns, Relaxed);
    ns
}

/// This process's pid and identity for holder slots (pid and start time, see
/// `layout::identity`), computed on first need (start-up does not read /proc) and
/// cached per pid so that a fork child computes its own.
///
/// The cache is cleared in a fork child (`after_fork_in_child`), so the common
/// case costs no system call; a process made without fork handlers (`vfork`,
/// `posix_spawn`) execs at once and starts afresh. Such a child, running in its
/// parent's memory, computes its identity without caching it there.
pub fn identity() -> (u32, u64) {
    let cached = IDENTITY.load(Acquire);
    if cached != 0 {
        return (layout::identity_pid(cached), cached);
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    match reap::process_stat(pid) {
        Ok(Some((start, _))) => {
            let identity = layout::identity(pid, start);
            if !in_vm_sharing_child() {
                IDENTITY.store(identity, Release);
            }
            (pid, identity)
        }
        // Not cached: the next call tries again. A start time of 0 means "unknown",
        // which no reaper takes for a sign of death.
        _ => (pid, layout::identity(pid, 0)),
    }
}

/// Are we a `vfork` child, running in our parent's memory? Then the descriptor
/// table and endpoint references we see are the parent's, while our descriptors
/// are our own: we must not change that state.
///
/// The front's own `vfork` counts the children running in this memory
/// (`front::vforks`): while there are none — always, in nearly every program —
/// the answer costs one load and no system call, on every socket's creation and
/// close. Only while one runs are the pids compared. (A child made by a raw
/// `clone(CLONE_VM)` system call rather than `vfork` is not seen there; glibc's
/// own `posix_spawn` makes one, but runs no hook in it.)
pub fn in_vm_sharing_child() -> bool {
    if front::vforks() == 0 {
        return false;
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    let own = OWN_PID.load(Acquire);
    own != 0 && own != pid
}

/// This process's identity once computed, 0 before (and in a fresh fork child).
static IDENTITY: AtomicU64 = AtomicU64::new(0);
/// The pid of the process whose memory this is: set at start-up and in a fork
/// child, so that a `vfork` child (another pid in the same memory) knows itself.
static OWN_PID: AtomicU32 = AtomicU32::new(0);

/// This process's pid as start-up or the fork handler learned it (no system
/// call); 0 before start-up.
#[inline]
pub fn own_pid() -> u32 {
    OWN_PID.load(Acquire)
}

/// Records this process's pid as the owner of its memory (start-up, fork child).
pub fn own_memory() {
    OWN_PID.store(wsd_front::sys::getpid(), Release);
}

/// The program's short name (the kernel's `comm`), NUL-padded, for endpoint
/// records and report rows.
pub fn comm() -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, into `out`.
    unsafe { libc::prctl(libc::PR_GET_NAME, out.as_mut_ptr()) };
    out
}
