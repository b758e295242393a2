//! The library's process-wide state: the configuration, the SAN segment (attached
//! on first need), this process's references to endpoint records, and start-up.
//!
//! Start-up runs from `libwsd.so`'s constructor, which only that library has
//! (`preload/lib.rs`): the `wsd` tool and the Rust test binaries carry these
//! exports too, but never start, so only a loaded `libwsd.so` interposes. Until
//! start-up has published the descriptor table, every hook passes straight to libc.

use crate::config::{Config, LogLevel};
use crate::san::layout::{self, DEFAULT_CAPACITY};
use crate::san::{EndpointRef, Segment, SegmentError, reap};
use crate::shim::{fdtable, log, real};
use crate::wsd_log;
use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering::*};

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

/// The state, once set up (see [`start`]): null before, never freed after.
static SHIM: AtomicPtr<Shim> = AtomicPtr::new(std::ptr::null_mut());

/// [`START`] values: how far start-up has gone.
const START_NOT_RUN: u8 = 0;
const START_ARMED: u8 = 1;
const START_FAILED: u8 = 2;
/// Set by the constructor (armed), or failed for good when the environment or the
/// descriptor table cannot be used (said once in the log).
static START: AtomicU8 = AtomicU8::new(START_NOT_RUN);

/// Stands in for an error that cannot happen (the cell was just set).
static NEVER: SegmentError = SegmentError::Missing;

/// The state, if it has been set up.
#[inline(always)]
pub fn shim() -> Option<&'static Shim> {
    // SAFETY: non-null only once a `Shim` was published, and it is never freed.
    unsafe { SHIM.load(Acquire).as_ref() }
}

/// The state, set up now if this is the first need of it: the first TCP socket,
/// or the first direct provider call. Never blocks: threads that race here each
/// build a state, one is published and the others are dropped.
pub fn shim_or_start() -> Option<&'static Shim> {
    if let Some(s) = shim() {
        return Some(s);
    }
    // Not before the constructor (or in the `wsd` tool), not after a failure, and
    // not in a vfork child, whose memory is its parent's.
    if START.load(Acquire) != START_ARMED || in_vm_sharing_child() {
        return None;
    }
    let built = Box::into_raw(Box::new(set_up()?));
    match SHIM.compare_exchange(std::ptr::null_mut(), built, AcqRel, Acquire) {
        Ok(_) => {
            // SAFETY: just published, never freed.
            let shim = unsafe { &*built };
            // Counting lanes are given back at thread exit from now on.
            crate::shim::thread::enable_lanes();
            if log::enabled(LogLevel::Debug) {
                wsd_log!(Debug, "started: mode {}", shim.config.mode.name());
            }
            Some(shim)
        }
        Err(winner) => {
            // SAFETY: `built` was never shared; `winner` is published for good.
            unsafe {
                drop(Box::from_raw(built));
                winner.as_ref()
            }
        }
    }
}

impl Shim {
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
        let high = self.seg.header().high_water.load(Acquire) as usize;
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

extern "C" fn before_fork() {
    let Some(shim) = shim() else { return };
    // Candidates are shared with the child: their values move to the segment.
    if shim.routable {
        for (fd, entry) in fdtable::entries() {
            if entry.role() == Some(crate::model::routing::Role::Candidate) && !entry.is_forked() {
                crate::shim::switch::publish_candidate(shim, fd, entry);
            }
        }
    }
    if let Some(att) = shim.san_if_attached() {
        for (ep, _) in att.held() {
            att.seg.hold_pending(ep);
        }
    }
}

extern "C" fn after_fork_in_child() {
    IDENTITY.store(0, Release);
    own_memory();
    crate::san::lanes::note_fork_child();
    crate::shim::thread::forget_lane_after_fork();
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
    let ns = crate::shim::net::netns_cookie(fd);
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
/// On x86-64 the library's own `vfork` counts the children running in this
/// memory ([`VFORKS`]): while there are none — always, in nearly every program —
/// the answer costs one load and no system call, on every socket's creation and
/// close. Only while one runs are the pids compared. (A child made by a raw
/// `clone(CLONE_VM)` system call rather than `vfork` is not seen there; glibc's
/// own `posix_spawn` makes one, but runs no hook in it.)
pub fn in_vm_sharing_child() -> bool {
    #[cfg(target_arch = "x86_64")]
    if VFORKS.load(Acquire) == 0 {
        return false;
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    let own = OWN_PID.load(Acquire);
    own != 0 && own != pid
}

/// `vfork` children running in this memory: raised by the library's `vfork`
/// before the system call, lowered in the parent when it returns (the child has
/// exec'd or exited by then). See `exports::vfork`.
pub static VFORKS: AtomicU64 = AtomicU64::new(0);

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
fn own_memory() {
    // SAFETY: getpid has no preconditions.
    OWN_PID.store(unsafe { libc::getpid() } as u32, Release);
}

/// The program's short name (the kernel's `comm`), NUL-padded, for endpoint
/// records and report rows.
pub fn comm() -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, into `out`.
    unsafe { libc::prctl(libc::PR_GET_NAME, out.as_mut_ptr()) };
    out
}

/// The basename of argv[0], which rules match against.
fn program_name() -> String {
    // SAFETY: glibc defines this variable (a `char *`) in every process.
    unsafe extern "C" {
        static program_invocation_short_name: *const libc::c_char;
    }
    // SAFETY: glibc sets this to a NUL-terminated string before any constructor runs.
    let p = unsafe { program_invocation_short_name };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated, as above.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// Start-up, from the constructor: only what must happen before the program runs,
/// and nothing that allocates or reads /proc, so that a program that never makes a
/// TCP socket pays next to nothing (scripts/bench, `/bin/true`). The environment is
/// read and the state built on first need ([`shim_or_start`]), or now when there
/// may be SAN sockets already: descriptors named in `WSD_FDS`, or ones this image
/// inherited across exec from a process that held them (the segment lists this
/// process as a holder).
pub fn start() {
    if START.load(Acquire) != START_NOT_RUN {
        return;
    }
    // Resolved now, not on first use: a first call from a signal handler or a fork
    // child must not have to take the loader's lock.
    real::resolve_all();
    own_memory();
    log::remember_stderr();
    crate::shim::memory::learn_main_stack();
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let table = fdtable::publish(lim.rlim_max.max(lim.rlim_cur).min(usize::MAX as u64) as usize);
    // SAFETY: the handlers only touch this library's state; the child's also reads
    // /proc/self/stat (glibc's fork leaves malloc usable in the child).
    unsafe { libc::pthread_atfork(Some(before_fork), None, Some(after_fork_in_child)) };
    START.store(START_ARMED, Release);
    if (!table || env_set(c"WSD_FDS") || inherited_san_sockets())
        && let Some(shim) = shim_or_start()
    {
        take_back(shim);
    }
}

/// Is the environment variable set (without allocating)?
fn env_set(name: &std::ffi::CStr) -> bool {
    // SAFETY: `name` is NUL-terminated; the environment is not being changed by the
    // program while its constructors run.
    unsafe { !libc::getenv(name.as_ptr()).is_null() }
}

/// Could this process hold SAN sockets already, inherited across exec? Only if
/// the segment `WSD_SAN` names lists its pid among an endpoint's holders (a fork
/// child becomes a holder before it execs). Looked at without allocating; a name
/// that is not valid, or a segment that cannot be used, answers yes: the full
/// start-up reports it.
fn inherited_san_sockets() -> bool {
    // SAFETY: as in `env_set`; a non-null result is a NUL-terminated string.
    let name = unsafe {
        let p = libc::getenv(c"WSD_SAN".as_ptr());
        if p.is_null() {
            c"default"
        } else {
            std::ffi::CStr::from_ptr(p)
        }
    };
    let mut path = [0u8; 128];
    let prefix = b"/dev/shm/wsd.";
    let name = name.to_bytes();
    if prefix.len() + name.len() >= path.len() || !crate::config::valid_san_name_bytes(name) {
        return true;
    }
    path[..prefix.len()].copy_from_slice(prefix);
    path[prefix.len()..prefix.len() + name.len()].copy_from_slice(name);
    // Zero-filled beyond the name, so NUL-terminated.
    let Ok(path) = std::ffi::CStr::from_bytes_until_nul(&path) else {
        return true;
    };
    match Segment::open_unnamed(path) {
        Err(SegmentError::Missing) => false,
        Err(_) => true,
        Ok(seg) => {
            let pid = OWN_PID.load(Acquire);
            seg.live()
                .any(|(_, rec)| rec.holder_identities().any(|h| layout::identity_pid(h) == pid))
        }
    }
}

/// The state from the environment: None (said once in the log) if it is not usable.
fn set_up() -> Option<Shim> {
    let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
    let failed = || {
        START
            .compare_exchange(START_ARMED, START_FAILED, AcqRel, Acquire)
            .is_ok()
    };
    let config = match Config::from_env(env, |path| std::fs::read_to_string(path)) {
        Ok(c) => c,
        Err(e) => {
            if failed() {
                // Said where the user asked for log lines, if that part was usable.
                let file = env("WSD_LOG_FILE").filter(|f| !f.is_empty() && e.var() != "WSD_LOG_FILE");
                log::configure(LogLevel::Warn, file.as_deref());
                wsd_log!(Error, "{e}; the program runs without the SAN");
            }
            return None;
        }
    };
    log::configure(config.log, config.log_file.as_deref());
    if !fdtable::published() {
        if failed() {
            wsd_log!(
                Error,
                "cannot map the descriptor table; the program runs without the SAN"
            );
        }
        return None;
    }
    let program = program_name();
    Some(Shim {
        routable: config.could_route(&program),
        config,
        comm: comm(),
        program,
        san: OnceCell::new(),
    })
}

/// At start-up, before the program runs: take back the SAN sockets this image
/// inherited across exec, and adopt `WSD_FDS`. Only then: a state built later,
/// at a thread's first TCP socket, has nothing to take back (start-up looked),
/// and looking then would race with other threads whose new SAN sockets' records
/// list this process too (a record not yet in the descriptor table would be let go).
fn take_back(shim: &Shim) {
    if let Ok(seg) = Segment::open(&shim.config.san)
        && shim.san.set(Ok(Attached::new(seg))).is_ok()
    {
        crate::shim::switch::readopt_after_exec(shim);
    }
    for &fd in &shim.config.fds {
        crate::shim::switch::adopt(shim, fd);
    }
}
