//! Where in the program a call was made (issue 16's call sites): the return
//! addresses of the program's frames above the library's own, and which loaded
//! module (executable or shared object) each lies in — its path, its GNU
//! build-id and the address's offset from the module's load base — so that the
//! tool can name the place after the process has exited.
//!
//! Only for the first call a report row meets from a new place (`sites`): the
//! stack is walked with the unwinder the library links in (`_Unwind_Backtrace`,
//! which finds frames' unwind tables with glibc's lock-free `_dl_find_object`)
//! and each frame's module is found with `_dl_find_object` too, not with
//! `dl_iterate_phdr`, whose lock a fork child can find held forever by a thread
//! of its parent. Never from a signal handler's call. Nothing here allocates.

use libc::{c_int, c_void};
use wsd_front::next;

/// Frames kept per call site.
pub const DEPTH: usize = crate::san::layout::SITE_FRAMES;

/// A return address as the tool needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Index into [`Modules`] (0 = unknown; entries start at 1).
    pub module: u16,
    /// The address minus the module's load base (`dlpi_addr`).
    pub offset: u64,
}

/// A module a frame lies in.
#[derive(Clone, Copy)]
pub struct Module {
    pub base: usize,
    /// The GNU build-id (up to 20 bytes) and its length (0: none).
    pub build_id: [u8; 20],
    pub build_id_len: u8,
    /// `dlpi_name`: empty for the main program, else the path it was loaded as.
    pub name: *const libc::c_char,
}

/// The modules that the frames of one capture lie in (at most [`DEPTH`]).
#[derive(Clone, Copy)]
pub struct Modules {
    pub list: [Option<Module>; DEPTH],
}

type UnwindTrace = extern "C" fn(ctx: *mut c_void, arg: *mut c_void) -> c_int;

unsafe extern "C" {
    fn _Unwind_Backtrace(trace: UnwindTrace, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
}

/// The unwinder's state while it walks: the addresses so far.
struct Walk {
    addrs: [usize; 32],
    n: usize,
}

extern "C" fn one_frame(ctx: *mut c_void, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Walk` that `capture` passed, alive for the walk.
    let w = unsafe { &mut *arg.cast::<Walk>() };
    // SAFETY: a context the unwinder is walking.
    let ip = unsafe { _Unwind_GetIP(ctx) };
    if ip == 0 || w.n == w.addrs.len() {
        return 5; // _URC_END_OF_STACK: stop.
    }
    w.addrs[w.n] = ip;
    w.n += 1;
    0 // _URC_NO_REASON: go on.
}

/// The return addresses of the program's frames, innermost first, starting at
/// `first` (the return address into the program of the call the library
/// interposed): the walk's own frames, inside the library, are skipped. When
/// the walk does not reach `first` (a frame without unwind tables), `first`
/// alone.
pub fn program_frames(first: usize) -> ([usize; DEPTH], usize) {
    let mut w = Walk { addrs: [0; 32], n: 0 };
    // SAFETY: `one_frame` only stores into `w`, which outlives the walk.
    unsafe { _Unwind_Backtrace(one_frame, (&mut w as *mut Walk).cast()) };
    let mut out = [0usize; DEPTH];
    out[0] = first;
    let Some(at) = w.addrs[..w.n].iter().position(|&a| a == first) else {
        return (out, usize::from(first != 0));
    };
    let rest = &w.addrs[at..w.n];
    let n = rest.len().min(DEPTH);
    out[..n].copy_from_slice(&rest[..n]);
    (out, n)
}

/// The module `addr` lies in, found without a lock (`next::object_of`): its
/// load base, name, and GNU build-id, read from its ELF header and program
/// headers in memory (the mapping's start holds the header of every object the
/// loader maps; anything else is taken for an object without a build-id).
fn module_of(addr: usize) -> Option<Module> {
    let o = next::object_of(addr)?;
    let mut m = Module {
        base: o.base,
        build_id: [0; 20],
        build_id_len: 0,
        name: o.name,
    };
    if let Some(id) = build_id_in_memory(o.map) {
        let n = id.len().min(20);
        m.build_id[..n].copy_from_slice(&id[..n]);
        m.build_id_len = n as u8;
    }
    Some(m)
}

/// The build-id of the ELF object mapped at `start..end`, from its `PT_NOTE`
/// segments; every read is checked to lie inside the mapping.
fn build_id_in_memory((start, end): (usize, usize)) -> Option<&'static [u8]> {
    let within = |at: usize, len: usize| at >= start && at.checked_add(len).is_some_and(|e| e <= end);
    if !within(start, 64) {
        return None;
    }
    // SAFETY: the first 64 bytes of the mapping, checked to lie inside it; the
    // loader keeps the mapping while the object is loaded (a frame of the
    // calling thread's stack is in it).
    let header = unsafe { std::slice::from_raw_parts(start as *const u8, 64) };
    if &header[..4] != b"\x7fELF" || header[4] != 2 {
        return None;
    }
    let word = |b: &[u8], at: usize, n: usize| -> usize {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&b[at..at + n]);
        u64::from_le_bytes(v) as usize
    };
    let (phoff, phentsize, phnum) = (word(header, 32, 8), word(header, 54, 2), word(header, 56, 2));
    if phentsize < 56 || !within(start + phoff, phentsize * phnum) {
        return None;
    }
    // The load bias: the first PT_LOAD's address in the file's own space maps
    // to `start`.
    let ph = |i: usize| {
        // SAFETY: program header `i < phnum`, checked to lie inside the mapping.
        unsafe { std::slice::from_raw_parts((start + phoff + i * phentsize) as *const u8, 56) }
    };
    let first_load = (0..phnum)
        .map(ph)
        .find(|p| word(p, 0, 4) as u32 == libc::PT_LOAD)?;
    let bias = start.wrapping_sub(word(first_load, 16, 8) & !0xfff);
    for p in (0..phnum)
        .map(ph)
        .filter(|p| word(p, 0, 4) as u32 == libc::PT_NOTE)
    {
        let (at, len) = (bias.wrapping_add(word(p, 16, 8)), word(p, 40, 8));
        if !within(at, len) {
            continue;
        }
        // SAFETY: a note segment checked to lie inside the mapping.
        let notes = unsafe { std::slice::from_raw_parts(at as *const u8, len) };
        if let Some(id) = gnu_build_id(notes) {
            return Some(id);
        }
    }
    None
}

/// The GNU build-id note's bytes among `notes` (an ELF note segment).
fn gnu_build_id(notes: &[u8]) -> Option<&[u8]> {
    let word = |at: usize| -> Option<usize> {
        let b = notes.get(at..at + 4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let align = |n: usize| (n + 3) & !3;
    let mut at = 0;
    while at + 12 <= notes.len() {
        let (namesz, descsz, kind) = (word(at)?, word(at + 4)?, word(at + 8)?);
        let name = notes.get(at + 12..at + 12 + namesz)?;
        let desc_at = at + 12 + align(namesz);
        let desc = notes.get(desc_at..desc_at + descsz)?;
        if kind == 3 && name == b"GNU\0" {
            return Some(desc);
        }
        at = desc_at + align(descsz);
    }
    None
}

/// The modules `addrs` lie in, and each address as a [`Frame`] (module indexes
/// into the returned list, from 1; 0 where no module holds the address).
pub fn modules_of(addrs: &[usize]) -> ([Frame; DEPTH], Modules) {
    let n = addrs.len().min(DEPTH);
    let mut modules = Modules { list: [None; DEPTH] };
    let mut frames = [Frame::default(); DEPTH];
    for i in 0..n {
        let Some(m) = module_of(addrs[i]) else { continue };
        // One entry per module: frames in the same module share it.
        let slot = match modules
            .list
            .iter()
            .position(|x| x.is_some_and(|x| x.base == m.base))
        {
            Some(s) => s,
            None => {
                let s = modules.list.iter().position(Option::is_none).unwrap_or(DEPTH - 1);
                modules.list[s] = Some(m);
                s
            }
        };
        frames[i] = Frame {
            module: slot as u16 + 1,
            offset: addrs[i].wrapping_sub(m.base) as u64,
        };
    }
    (frames, modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_id_note_is_found_among_others() {
        let mut notes = Vec::new();
        // An ABI tag note first (type 1), then the build-id (type 3).
        for (kind, desc) in [(1u32, vec![0u8, 0, 0, 0, 3, 0, 0, 0]), (3, (1..=20).collect())] {
            notes.extend_from_slice(&4u32.to_ne_bytes());
            notes.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
            notes.extend_from_slice(&kind.to_ne_bytes());
            notes.extend_from_slice(b"GNU\0");
            notes.extend_from_slice(&desc);
        }
        assert_eq!(gnu_build_id(&notes), Some(&(1..=20).collect::<Vec<u8>>()[..]));
        assert_eq!(gnu_build_id(&notes[..20]), None);
    }

    #[test]
    fn an_address_of_this_program_is_found_in_its_module() {
        let here = an_address_of_this_program_is_found_in_its_module as fn() as usize;
        let (frames, modules) = modules_of(&[here]);
        let m = modules.list[0].expect("the test binary is a loaded module");
        assert_eq!(frames[0].module, 1);
        assert_eq!(frames[0].offset, (here - m.base) as u64);
        assert!(m.build_id_len > 0, "cargo's test binaries carry a build-id");
    }
}
