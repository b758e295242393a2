//! The engine, `libwsd_engine.so` beside the front: found, loaded and started
//! once, the first time a process needs it.
//!
//! Loading takes the loader's lock (`dlopen`), so it happens only where that is
//! safe: after the front's constructor, never in a `vfork` child (whose memory
//! is its parent's), and with every signal blocked in the loading thread, so
//! that no handler runs inside the load and calls in again. Threads that need
//! the engine at once each call `dlopen`, which gives them the same object, and
//! its start-up runs once (the engine's `wsd_engine_init`). The caller's
//! `errno` is left as it was.
//!
//! Should the engine not load (missing, or of another version), that is said
//! once on standard error and the program runs without the SAN: every call
//! passes straight to libc.

use crate::api::{self, Engine, Front};
use crate::c::{c_char, c_int, c_void};
use crate::{next, start, sys, table};
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering::*};

static ENGINE: AtomicPtr<Engine> = AtomicPtr::new(core::ptr::null_mut());

/// [`STATE`] values.
const NOT_READY: u8 = 0;
const READY: u8 = 1;
const FAILED: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(NOT_READY);

/// Threads loading the engine now.
static LOADING: AtomicUsize = AtomicUsize::new(0);

/// The working directory at start (NUL-terminated, in a page mapped for it), if
/// the front's name is relative: written by the constructor alone, before
/// [`READY`], and only read after. (Not a static buffer: a page of `.bss`
/// would cost every process a mapping and a page fault at load.)
static START_DIR: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
const PATH_MAX: usize = 4096;

/// `vfork` children running in this memory (the front's `vfork`), and the pid
/// of the process that called it.
pub static VFORKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
pub static VFORK_PARENT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

static FRONT: Front = Front {
    version: api::VERSION,
    table: &table::TABLE,
    table_len: &table::LEN,
    vforks: &VFORKS,
    stderr_id: &start::STDERR_ID,
    lookup: crate::real::lookup_c,
};

/// libc's `dlopen`, `dlsym` and `dlerror`, found on first use like the real
/// functions (`real::resolve`), not bound by the loader at start: every
/// process would pay for the lookups, and few load the engine.
fn dl<F: Copy>(slot: &AtomicUsize, name: &core::ffi::CStr) -> Option<F> {
    const { assert!(size_of::<F>() == size_of::<usize>()) };
    match crate::real::resolve(slot, name) {
        crate::real::ABSENT => None,
        // SAFETY: `p` is libc's function of that name, of type F (a function
        // pointer of its C signature, as the callers spell it).
        p => Some(unsafe { core::mem::transmute_copy::<usize, F>(&p) }),
    }
}
static DLOPEN: AtomicUsize = AtomicUsize::new(0);
static DLSYM: AtomicUsize = AtomicUsize::new(0);
static DLERROR: AtomicUsize = AtomicUsize::new(0);
type Dlopen = unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void;
type Dlsym = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;
type Dlerror = unsafe extern "C" fn() -> *const c_char;

/// The engine, if it is loaded.
#[inline(always)]
pub fn loaded() -> Option<&'static Engine> {
    // SAFETY: set once, to the engine's table, which lives as long as the process
    // (the engine is never unloaded).
    unsafe { ENGINE.load(Acquire).as_ref() }
}

/// Notes the working directory if the front's own file name (`next::own_name`,
/// which the constructor's snapshot found) is relative (the constructor).
pub fn note_own_path() {
    let Some(name) = next::own_name() else {
        return;
    };
    // SAFETY: the loader's NUL-terminated name of this object.
    if unsafe { *name } != b'/' as c_char
        && let Ok(page) = sys::map_anonymous(PATH_MAX)
    {
        // SAFETY: a fresh mapping of PATH_MAX bytes, ours alone.
        let buf = unsafe { core::slice::from_raw_parts_mut(page.cast::<u8>(), PATH_MAX) };
        if sys::getcwd(buf).is_ok() {
            START_DIR.store(buf.as_mut_ptr(), Release);
        }
    }
}

/// The constructor has run: loading may happen from now on.
pub fn ready() {
    STATE.store(READY, Release);
}

/// The engine, loaded now if it is not yet and may be.
#[cold]
#[inline(never)]
pub fn load() -> Option<&'static Engine> {
    if let Some(e) = loaded() {
        return Some(e);
    }
    if STATE.load(Acquire) != READY || in_vfork_child() {
        return None;
    }
    let errno = crate::errno::get();
    let mask = sys::block_signals();
    LOADING.fetch_add(1, AcqRel);
    let e = open();
    LOADING.fetch_sub(1, AcqRel);
    sys::restore_signals(mask);
    crate::errno::set(errno);
    e
}

/// Opens and starts the engine.
fn open() -> Option<&'static Engine> {
    let mut path = [0u8; PATH_MAX];
    let Some(len) = engine_path(&mut path) else {
        return failed(&[
            b"cannot tell where libwsd.so is, to load ",
            api::ENGINE_FILE.as_bytes(),
        ]);
    };
    let (Some(dlopen), Some(dlsym)) = (dl::<Dlopen>(&DLOPEN, c"dlopen"), dl::<Dlsym>(&DLSYM, c"dlsym"))
    else {
        return failed(&[b"this libc has no dlopen"]);
    };
    // SAFETY: a NUL-terminated path.
    let h = unsafe { dlopen(path.as_ptr().cast(), crate::c::RTLD_NOW | crate::c::RTLD_LOCAL) };
    if h.is_null() {
        return failed(&[b"cannot load ", &path[..len], b": ", last_dl_error()]);
    }
    // SAFETY: a handle dlopen returned, and a NUL-terminated name.
    let init = unsafe { dlsym(h, api::ENGINE_INIT.as_ptr()) };
    if init.is_null() {
        return failed(&[&path[..len], b" is not wsd's engine"]);
    }
    // SAFETY: the engine's `wsd_engine_init` has this signature (api::ENGINE_INIT).
    let init: unsafe extern "C" fn(*const Front) -> *const Engine = unsafe { core::mem::transmute(init) };
    // SAFETY: FRONT lives as long as the process.
    let e = unsafe { init(&FRONT) };
    if e.is_null() {
        return failed(&[&path[..len], b" is another version's engine than this libwsd.so"]);
    }
    ENGINE.store(e.cast_mut(), Release);
    loaded()
}

/// Says once, on standard error, why the engine did not load; the program runs
/// without the SAN. (Unless another thread loaded it meanwhile: then this
/// thread's failure, say for want of a descriptor, costs nothing; nor while
/// another thread is still loading it.)
#[cold]
fn failed(parts: &[&[u8]]) -> Option<&'static Engine> {
    if let Some(e) = loaded() {
        return Some(e);
    }
    // Another thread may yet succeed: this call goes to libc, and nothing is
    // said or given up.
    if LOADING.load(Acquire) > 1 {
        return None;
    }
    if STATE.compare_exchange(READY, FAILED, AcqRel, Acquire).is_ok() {
        let mut line = [0u8; 1024];
        let mut n = 0;
        for p in [b"wsd: ".as_slice()]
            .iter()
            .chain(parts)
            .chain(&[b"; the program runs without the SAN\n".as_slice()])
        {
            let take = p.len().min(line.len() - n);
            line[n..n + take].copy_from_slice(&p[..take]);
            n += take;
        }
        sys::write(2, &line[..n]);
    }
    None
}

/// `dlerror()`'s message, as bytes.
fn last_dl_error() -> &'static [u8] {
    let Some(dlerror) = dl::<Dlerror>(&DLERROR, c"dlerror") else {
        return b"unknown error";
    };
    // SAFETY: dlerror returns null or a NUL-terminated message that stays valid
    // until the next dl call on this thread.
    unsafe {
        let e = dlerror();
        if e.is_null() {
            return b"unknown error";
        }
        core::ffi::CStr::from_ptr(e).to_bytes()
    }
}

/// The engine's path in `buf`, NUL-terminated: the directory of the front's
/// own file (made absolute with the working directory at start), and the
/// engine's file name. Its length without the NUL.
fn engine_path(buf: &mut [u8; PATH_MAX]) -> Option<usize> {
    let name = next::own_name()?;
    // SAFETY: the loader's NUL-terminated name of this object.
    let name = unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes();
    // The directory, with its final slash ("/" for a front at the root).
    let dir = &name[..name.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)];
    let mut n = 0;
    let mut put = |bytes: &[u8]| -> Option<()> {
        let end = n + bytes.len();
        buf.get_mut(n..end)?.copy_from_slice(bytes);
        n = end;
        Some(())
    };
    if name.first() != Some(&b'/') {
        let cwd = START_DIR.load(Acquire);
        if cwd.is_null() {
            return None;
        }
        // SAFETY: PATH_MAX bytes written once by the constructor, before READY.
        let cwd = unsafe { core::slice::from_raw_parts(cwd, PATH_MAX) };
        put(&cwd[..cwd.iter().position(|&b| b == 0)?])?;
        put(b"/")?;
    }
    put(dir)?;
    put(api::ENGINE_FILE.as_bytes())?;
    put(b"\0")?;
    Some(n - 1)
}

/// Are we a `vfork` child, running in our parent's memory? Only asked while
/// a `vfork` child runs (or a fork copied a count from a parent one ran in:
/// the kernel then says the memory is not shared; if it will not say, no).
fn in_vfork_child() -> bool {
    if VFORKS.load(Acquire) == 0 {
        return false;
    }
    let (me, parent) = (sys::getpid(), VFORK_PARENT.load(Acquire));
    me != parent && sys::same_memory(me, parent) != Some(false)
}

/// Resolves the loader's functions now (the constructor, when the front was
/// `dlopen`ed and the lock-free lookup cannot serve: see `real`).
pub fn resolve_own() {
    crate::real::resolve(&DLOPEN, c"dlopen");
    crate::real::resolve(&DLSYM, c"dlsym");
    crate::real::resolve(&DLERROR, c"dlerror");
}
