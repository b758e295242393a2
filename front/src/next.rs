//! `dlsym(RTLD_NEXT, name)` without the dynamic loader's lock (issue 17).
//!
//! The objects that follow this library in the loader's chain of link maps are
//! noted once ([`snapshot`]: `_dl_find_object` for this library's own map, then a
//! walk of `l_next` and of each object's dynamic section — loads only, no system
//! call, no lock), and a name is then looked up in their GNU hash tables, in that
//! order, by reading memory the loader mapped and no longer changes. Both are
//! async-signal-safe and safe in a fork child, and cost nothing until used: a
//! lookup touches the symbol and string tables of the object that defines the
//! name, which `dlsym` would touch too, but not the loader's own lookup code, its
//! lock or its error handling.
//!
//! As `dlsym` of an unversioned name finds, only a defined function (or
//! indirect function, whose resolver is run as the loader runs it) with the
//! default version or no version counts; a hidden (non-default) version does not.
//!
//! `_dl_find_object` (glibc 2.35) is the unwinder's lock-free lookup. The loader sets it up
//! before it runs any constructor (`_dl_find_object_init` at start, and
//! `_dl_find_object_update` in `dlopen` before the new objects' constructors), so
//! from any code of this library it places this library; should it not,
//! [`snapshot`] says so and the caller decides (`real` then uses `dlsym`).

use crate::c::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::*};

/// `struct link_map`'s public head (<link.h>).
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const c_char,
    l_ld: *const Dyn,
    l_next: *const LinkMap,
    l_prev: *const LinkMap,
}

/// `Elf64_Dyn`.
#[repr(C)]
struct Dyn {
    d_tag: i64,
    d_val: u64,
}

/// `Elf64_Sym`.
#[repr(C)]
struct Sym {
    st_name: u32,
    st_info: u8,
    st_other: u8,
    st_shndx: u16,
    st_value: u64,
    st_size: u64,
}

/// glibc's `struct dl_find_object` (x86-64), filled by `_dl_find_object`.
#[repr(C)]
struct DlFindObject {
    dlfo_flags: u64,
    dlfo_map_start: *mut c_void,
    dlfo_map_end: *mut c_void,
    dlfo_link_map: *const LinkMap,
    dlfo_eh_frame: *mut c_void,
    reserved: [u64; 7],
}

unsafe extern "C" {
    /// glibc >= 2.35: lock-free and async-signal-safe (the unwinder's lookup).
    fn _dl_find_object(pc: *mut c_void, result: *mut DlFindObject) -> c_int;
}

/// `_dl_find_object` of `pc`, if an object with a link map holds it.
fn find_object(pc: usize) -> Option<DlFindObject> {
    let mut found = DlFindObject {
        dlfo_flags: 0,
        dlfo_map_start: core::ptr::null_mut(),
        dlfo_map_end: core::ptr::null_mut(),
        dlfo_link_map: core::ptr::null(),
        dlfo_eh_frame: core::ptr::null_mut(),
        reserved: [0; 7],
    };
    // SAFETY: `found` is a valid out-pointer; the address is only looked up.
    let r = unsafe { _dl_find_object(pc as *mut c_void, &mut found) };
    (r == 0 && !found.dlfo_link_map.is_null()).then_some(found)
}

/// The loaded object an address lies in, as the loader knows it: its load bias
/// (`l_addr`, what `dl_iterate_phdr` calls `dlpi_addr`), the start and end of
/// its mapping, and its name (empty for the main program).
#[derive(Clone, Copy)]
pub struct Object {
    pub base: usize,
    pub map: (usize, usize),
    pub name: *const c_char,
}

/// The object `pc` lies in, found without a lock (`_dl_find_object`): safe in a
/// fork child and a signal handler, where `dl_iterate_phdr` could wait forever
/// on the loader's lock.
pub fn object_of(pc: usize) -> Option<Object> {
    let found = find_object(pc)?;
    // SAFETY: a link map the loader handed out; its first fields are the
    // public `struct link_map` of <link.h>.
    let map = unsafe { &*found.dlfo_link_map };
    Some(Object {
        base: map.l_addr,
        map: (found.dlfo_map_start as usize, found.dlfo_map_end as usize),
        name: map.l_name,
    })
}

const DT_NULL: i64 = 0;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_VERSYM: i64 = 0x6fff_fff0;
const STT_FUNC: u8 = 2;
const STT_GNU_IFUNC: u8 = 10;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
/// `versym`'s bit for a hidden (non-default) version.
const VERSYM_HIDDEN: u16 = 0x8000;

/// The link map of the first object after this one, once noted.
static FIRST: AtomicPtr<LinkMap> = AtomicPtr::new(core::ptr::null_mut());
/// How many objects followed this one when noted; [`NOT_YET`] before.
static COUNT: AtomicUsize = AtomicUsize::new(NOT_YET);
const NOT_YET: usize = usize::MAX;

/// Notes the objects that follow this library, once (start-up calls it; a
/// lookup before that does): how many, or None if they cannot serve as
/// `RTLD_NEXT` — the loader cannot place this library, an object has no GNU hash
/// table (every linker of the last fifteen years makes one; glibc's objects
/// always have it), or libc is not among them. None is not remembered: a later
/// call looks again. Racing callers store the same values.
///
/// libc follows this library in the chain when it is loaded with the program,
/// preloaded or needed, as it must be to interpose; not when a program
/// `dlopen`s it (libc is loaded by then), where `dlsym(RTLD_NEXT, …)` searches
/// the library's own dependencies instead. The check looks up a libc function
/// the library imports, so the loader has looked it up already.
///
/// Only the chain is walked, each object's dynamic section read and that one
/// name looked up, all of which loading did already: no page is touched that
/// loading did not touch.
pub fn snapshot() -> Option<usize> {
    let n = COUNT.load(Acquire);
    if n != NOT_YET {
        return Some(n);
    }
    // Any address inside this library.
    let found = find_object(snapshot as fn() -> Option<usize> as usize)?;
    // SAFETY: the loader's link map of this library.
    OWN_NAME.store(unsafe { (*found.dlfo_link_map).l_name }.cast_mut(), Relaxed);
    let mut n = 0;
    // SAFETY: this library's link map, and the maps that follow it, are the
    // loader's, valid while their objects are loaded (see `lookup` on unloading);
    // their dynamic sections are mapped.
    let first = unsafe {
        let first = (*found.dlfo_link_map).l_next;
        let mut m = first;
        while !m.is_null() {
            tables(&*m)?;
            n += 1;
            m = (*m).l_next;
        }
        first
    };
    // SAFETY: the `n` maps just walked.
    if unsafe { search(first, n, c"__errno_location") }? == 0 {
        return None;
    }
    FIRST.store(first.cast_mut(), Relaxed);
    COUNT.store(n, Release);
    Some(n)
}

/// This library's file name as the loader has it (`l_name`), noted by
/// [`snapshot`]; null before.
static OWN_NAME: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

/// This library's file name as the loader has it (`l_name`, NUL-terminated),
/// if the loader can place it: as [`snapshot`] noted it, else looked up now.
pub fn own_name() -> Option<*const c_char> {
    let p = OWN_NAME.load(Relaxed);
    if !p.is_null() {
        return Some(p);
    }
    object_of(own_name as fn() -> Option<*const c_char> as usize)
        .map(|o| o.name)
        .filter(|n| !n.is_null())
}

/// An object's tables: its base and the addresses of its symbol, string, GNU
/// hash and version tables (versym 0 if it has none).
#[derive(Clone, Copy)]
struct Tables {
    base: usize,
    symtab: usize,
    strtab: usize,
    hash: usize,
    versym: usize,
}

/// The tables of the object `m` describes: Some(None) if it has none to search
/// (no dynamic section or no symbols), None if it has symbols but no GNU hash
/// table to find them by.
///
/// # Safety
/// `m` is a loaded object's link map.
unsafe fn tables(m: &LinkMap) -> Option<Option<Tables>> {
    if m.l_ld.is_null() {
        return Some(None);
    }
    let base = m.l_addr;
    // The loader relocates these in place where the dynamic section is writable;
    // a read-only one (the vDSO's) keeps link-time values, which lie below the
    // base of an object loaded at a bias (a fixed-address executable has base 0
    // and needs no fix either way).
    let fix = |p: u64| {
        if (p as usize) < base {
            p as usize + base
        } else {
            p as usize
        }
    };
    let (mut symtab, mut strtab, mut hash, mut versym) = (0, 0, 0, 0);
    let mut d = m.l_ld;
    // SAFETY: the dynamic section is mapped and ends with DT_NULL.
    unsafe {
        while (*d).d_tag != DT_NULL {
            match (*d).d_tag {
                DT_SYMTAB => symtab = fix((*d).d_val),
                DT_STRTAB => strtab = fix((*d).d_val),
                DT_GNU_HASH => hash = fix((*d).d_val),
                DT_VERSYM => versym = fix((*d).d_val),
                _ => {}
            }
            d = d.add(1);
        }
    }
    if symtab == 0 || strtab == 0 {
        return Some(None);
    }
    (hash != 0).then_some(Some(Tables {
        base,
        symtab,
        strtab,
        hash,
        versym,
    }))
}

/// The next definition of the function `name` after this library: Some(its
/// address), Some(0) if no object after this one defines it, None if the
/// objects cannot be searched ([`snapshot`]).
///
/// The objects are searched in the chain's order, as noted (objects added to
/// the chain later, by `dlopen`, are not searched). The search stops at the
/// first that defines the name: for libc's functions, libc, which is loaded
/// with the program and never unloaded. (Only a name no object before it
/// defines would lead on to an object an earlier constructor `dlopen`ed, which
/// could have been unloaded since: `real` asks only for names glibc 2.35,
/// the oldest that can load this library, defines.)
pub fn lookup(name: &core::ffi::CStr) -> Option<usize> {
    let n = snapshot()?;
    // SAFETY: the `n` link maps that followed this library's when `snapshot`
    // walked them, as above.
    unsafe { search(FIRST.load(Relaxed), n, name) }
}

/// [`lookup`] in the `n` objects from `first` on.
///
/// # Safety
/// `first` and the `n - 1` maps after it are loaded objects' link maps.
unsafe fn search(first: *const LinkMap, n: usize, name: &core::ffi::CStr) -> Option<usize> {
    let bytes = name.to_bytes();
    let h = bytes
        .iter()
        .fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(u32::from(c)));
    let mut m = first;
    for _ in 0..n {
        // SAFETY: one of the caller's `n` link maps.
        let t = unsafe { tables(&*m) }?;
        // SAFETY: the tables of a loaded object, as its dynamic section gives them.
        if let Some(v) = t.and_then(|t| unsafe { find(h, bytes, &t) }) {
            return Some(v);
        }
        // SAFETY: as above.
        m = unsafe { (*m).l_next };
    }
    Some(0)
}

/// Is the NUL-terminated string at `s` exactly `name`? Reads no further than
/// `name`'s length plus one byte, or the string's own end.
///
/// # Safety
/// `s` points to a NUL-terminated string.
unsafe fn same_name(s: *const u8, name: &[u8]) -> bool {
    for (i, &c) in name.iter().enumerate() {
        // SAFETY: every byte up to and including the string's NUL is readable,
        // and a NUL ends the comparison (`name` has none).
        if unsafe { *s.add(i) } != c {
            return false;
        }
    }
    // SAFETY: all of `name`'s length matched non-NUL bytes, so this byte is the
    // string's NUL at the latest.
    unsafe { *s.add(name.len()) == 0 }
}

/// The address of `name` (hash `h`) in one object, if it defines it.
///
/// # Safety
/// `t` describes a loaded object's GNU hash table, symbols and strings.
unsafe fn find(h: u32, name: &[u8], t: &Tables) -> Option<usize> {
    let Tables {
        base,
        symtab,
        strtab,
        hash,
        versym,
    } = *t;
    // SAFETY: the GNU hash table's layout (header, bloom words, buckets, chains)
    // indexes symbols of `symtab` and names in `strtab`, as the caller promises;
    // every index read is bounded by the table's own counts.
    unsafe {
        let w = hash as *const u32;
        let (nbuckets, symoffset, bloom_size, shift) = (*w, *w.add(1), *w.add(2), *w.add(3));
        if nbuckets == 0 || bloom_size == 0 {
            return None;
        }
        let bloom = w.add(4) as *const u64;
        let word = *bloom.add(((h / 64) % bloom_size) as usize);
        let mask = 1u64 << (h % 64) | 1u64 << ((h >> shift) % 64);
        if word & mask != mask {
            return None;
        }
        let buckets = bloom.add(bloom_size as usize) as *const u32;
        let chain = buckets.add(nbuckets as usize);
        let mut i = *buckets.add((h % nbuckets) as usize);
        if i < symoffset {
            return None;
        }
        loop {
            let ch = *chain.add((i - symoffset) as usize);
            if ch | 1 == h | 1 {
                let s = &*(symtab as *const Sym).add(i as usize);
                let ty = s.st_info & 0xf;
                let bind = s.st_info >> 4;
                let hidden = versym != 0 && *(versym as *const u16).add(i as usize) & VERSYM_HIDDEN != 0;
                if s.st_shndx != 0
                    && (ty == STT_FUNC || ty == STT_GNU_IFUNC)
                    && (bind == STB_GLOBAL || bind == STB_WEAK)
                    && !hidden
                    && same_name((strtab + s.st_name as usize) as *const u8, name)
                {
                    let addr = base + s.st_value as usize;
                    if ty == STT_GNU_IFUNC {
                        // As the loader does on x86-64: the resolver takes no argument.
                        let resolver: unsafe extern "C" fn() -> usize = core::mem::transmute(addr);
                        return Some(resolver());
                    }
                    return Some(addr);
                }
            }
            if ch & 1 != 0 {
                return None;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function `real` resolves: the lock-free lookup finds what
    /// `dlsym(RTLD_NEXT, …)` finds from the same object.
    #[test]
    fn finds_what_dlsym_finds() {
        let names = [
            "setsockopt",
            "getsockopt",
            "socket",
            "connect",
            "listen",
            "accept",
            "accept4",
            "close",
            "dup",
            "dup2",
            "dup3",
            "close_range",
            "sendmsg",
            "recvmsg",
            "read",
            "readv",
            "recv",
            "recvfrom",
            "recvmmsg",
            "write",
            "writev",
            "send",
            "sendto",
            "sendmmsg",
            "sendfile",
            "sendfile64",
            "__read_chk",
            "__recv_chk",
            "__recvfrom_chk",
            "fcntl",
            "fcntl64",
            "closefrom",
            // An indirect function (its resolver is run), with a hidden older
            // version (memcpy@GLIBC_2.2.5) beside the default one.
            "memcpy",
        ];
        assert!(snapshot().is_some_and(|n| n > 0));
        for n in names {
            let c = std::ffi::CString::new(n).unwrap();
            // SAFETY: a NUL-terminated name and the RTLD_NEXT pseudo-handle.
            let d = unsafe { libc::dlsym(libc::RTLD_NEXT, c.as_ptr()) } as usize;
            assert_ne!(d, 0, "{n}");
            assert_eq!(lookup(&c), Some(d), "{n}");
        }
        assert_eq!(lookup(c"wsd_no_such_function"), Some(0));
        // A prefix of a name, and a name with a defined one as its prefix.
        assert_eq!(lookup(c"setsockop"), Some(0));
        assert_eq!(lookup(c"setsockoptx"), Some(0));
    }
}
