//! Where in the program a call was made (issue 16's call sites): the return
//! addresses of the program's frames above the library's own, and which loaded
//! module (executable or shared object) each lies in — its path, its GNU
//! build-id and the address's offset from the module's load base — so that the
//! tool can name the place after the process has exited.
//!
//! Only for the first call a report row meets from a new place (`sites`): the
//! stack is walked with the unwinder the library links in (`_Unwind_Backtrace`)
//! and the modules are listed with `dl_iterate_phdr`, both of which may take the
//! loader's lock; never from a signal handler's call. Nothing here allocates.

use libc::{c_int, c_void};

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

/// What `dl_iterate_phdr` is asked: the module of each address.
struct Find<'a> {
    addrs: &'a [usize],
    found: [Option<Module>; DEPTH],
}

/// `dl_iterate_phdr`'s callback: the module of each address asked.
///
/// # Safety
/// Called by the loader with a valid `info`, and `arg` pointing to a [`Find`].
unsafe extern "C" fn each_module(info: *mut libc::dl_phdr_info, _size: usize, arg: *mut c_void) -> c_int {
    // SAFETY: the loader passes a valid `dl_phdr_info` for the call, and `arg`
    // is the `Find` that `modules_of` passed.
    let (info, find) = unsafe { (&*info, &mut *arg.cast::<Find<'_>>()) };
    let base = info.dlpi_addr as usize;
    // SAFETY: the loader's program headers of this module, `dlpi_phnum` of them.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let (mut lo, mut hi) = (usize::MAX, 0);
    for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD) {
        lo = lo.min(base + ph.p_vaddr as usize);
        hi = hi.max(base + (ph.p_vaddr + ph.p_memsz) as usize);
    }
    for (i, &a) in find.addrs.iter().enumerate() {
        if find.found[i].is_none() && a >= lo && a < hi {
            let mut m = Module {
                base,
                build_id: [0; 20],
                build_id_len: 0,
                name: info.dlpi_name,
            };
            for ph in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
                // SAFETY: a loaded PT_NOTE segment of this module: mapped,
                // readable, `p_memsz` bytes.
                let notes = unsafe {
                    std::slice::from_raw_parts((base + ph.p_vaddr as usize) as *const u8, ph.p_memsz as usize)
                };
                if let Some(id) = gnu_build_id(notes) {
                    let n = id.len().min(20);
                    m.build_id[..n].copy_from_slice(&id[..n]);
                    m.build_id_len = n as u8;
                    break;
                }
            }
            find.found[i] = Some(m);
        }
    }
    0
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
    let mut find = Find {
        addrs: &addrs[..n],
        found: [None; DEPTH],
    };
    // SAFETY: `each_module` only reads what the loader passes and writes `find`,
    // which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each_module), (&mut find as *mut Find<'_>).cast()) };
    let mut modules = Modules { list: [None; DEPTH] };
    let mut frames = [Frame::default(); DEPTH];
    for i in 0..n {
        let Some(m) = find.found[i] else { continue };
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
            offset: (addrs[i] - m.base) as u64,
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
