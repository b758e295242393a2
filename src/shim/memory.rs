//! Reading and writing the program's buffers without ever faulting (SPEC §2.2
//! row 5). A NULL, `(char*)1`, an unmapped or `PROT_NONE` page, or a buffer whose
//! tail crosses into one, is reported as unreadable — never a `SIGSEGV`.
//!
//! Two ways, both safe. A buffer that lies in the calling thread's own stack,
//! between the current stack pointer and the stack's top, is mapped by definition
//! (it holds the frames of the calls we are inside), so it is read or written
//! directly: the common case of `int one = 1; setsockopt(…, &one, …)` costs no
//! system call. Anything else is copied by the kernel with `process_vm_readv`/
//! `process_vm_writev` on our own process, which checks every byte's mapping and
//! answers `EFAULT` instead of faulting. The caller's `errno` is preserved.

use crate::shim::errno;
use libc::{c_void, iovec};

/// Learns the main thread's stack bounds at start-up, without a system call that
/// reads /proc or allocates (`pthread_getattr_np` does both for the main thread,
/// which a first call from a signal handler could not afford).
///
/// The top is glibc's `__libc_stack_end`, the stack pointer the program started
/// with: everything between a frame of ours and it is mapped (the frames of the
/// calls we are inside). The bottom only serves to tell whether the stack pointer
/// is on this stack at all (not on a signal's alternate stack): the kernel keeps
/// the stack's growth area, `RLIMIT_STACK` below the top, free of other mappings.
pub fn main_stack() -> Option<(usize, usize)> {
    // SAFETY: glibc defines `__libc_stack_end` (a `void *`) in every process and
    // sets it before any constructor runs.
    unsafe extern "C" {
        static __libc_stack_end: *const c_void;
    }
    // SAFETY: as above; only the pointer's value is read.
    let top = unsafe { __libc_stack_end } as usize;
    if top == 0 {
        return None;
    }
    let (soft, _) = wsd_front::sys::getrlimit(wsd_front::c::RLIMIT_STACK).ok()?;
    // An unlimited stack still gets at most the largest gap the kernel reserves.
    let size = soft.min(128 << 20) as usize;
    Some((top.saturating_sub(size), top))
}

/// This thread's stack bounds from `pthread_getattr_np`; (MAX, 0), which no
/// address is within, if they cannot be had.
pub fn this_thread_stack() -> (usize, usize) {
    let mut bounds = (usize::MAX, 0);
    // SAFETY: an all-zero attr is what pthread_getattr_np initialises; the base and
    // size it reports describe this thread's mapped stack.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            let mut base: *mut c_void = std::ptr::null_mut();
            let mut size: usize = 0;
            if libc::pthread_attr_getstack(&attr, &mut base, &mut size) == 0 && !base.is_null() {
                bounds = (base as usize, base as usize + size);
            }
            libc::pthread_attr_destroy(&mut attr);
        }
    }
    bounds
}

/// The program's memory as one thread may reach it: its stack's bounds, for the
/// direct path (see the module's docs). Made by `thread::Guard::memory`.
#[derive(Clone, Copy)]
pub struct Memory {
    low: usize,
    top: usize,
}

impl Memory {
    pub fn new((low, top): (usize, usize)) -> Memory {
        Memory { low, top }
    }

    /// Is `[ptr, ptr + len)` inside the live part of this thread's stack: at or
    /// above our own frame and below the stack's top? (The stack pointer must
    /// itself be in the thread's stack: on a signal's alternate stack nothing is
    /// assumed.)
    #[inline(always)]
    fn on_live_stack(self, ptr: usize, len: usize) -> bool {
        let marker = 0u8;
        let sp = std::hint::black_box(&marker) as *const u8 as usize;
        self.low <= sp && sp <= ptr && ptr.checked_add(len).is_some_and(|end| end <= self.top)
    }

    /// Do the `len` bytes at `ptr` lie in the live part of this thread's stack
    /// (readable and writable without a system call)?
    #[inline(always)]
    pub fn on_stack(self, ptr: *const c_void, len: usize) -> bool {
        self.on_live_stack(ptr as usize, len)
    }

    /// The `N` bytes at `ptr`, if all of them are readable.
    #[inline(always)]
    pub fn read<const N: usize>(self, ptr: *const c_void) -> Option<[u8; N]> {
        self.read_on_stack(ptr).or_else(|| {
            let mut buf = [0u8; N];
            copy(buf.as_mut_ptr().cast(), ptr.cast_mut(), N, false).then_some(buf)
        })
    }

    /// The `N` bytes at `ptr` if they lie in the live stack (read without a
    /// system call); None otherwise, whether or not they are readable.
    #[inline(always)]
    pub fn read_on_stack<const N: usize>(self, ptr: *const c_void) -> Option<[u8; N]> {
        // SAFETY: the bytes lie in the live part of this thread's stack, which is
        // mapped readable and writable.
        self.on_live_stack(ptr as usize, N)
            .then(|| unsafe { std::ptr::read_unaligned(ptr.cast::<[u8; N]>()) })
    }

    /// Writes `bytes` at `ptr`; false (and nothing written) if not all are writable.
    #[inline(always)]
    pub fn write(self, ptr: *mut c_void, bytes: &[u8]) -> bool {
        self.write_on_stack(ptr, bytes) || copy(bytes.as_ptr().cast_mut().cast(), ptr, bytes.len(), true)
    }

    /// Writes `bytes` at `ptr` if they go to the live stack (without a system
    /// call); false, and nothing written, otherwise.
    #[inline(always)]
    pub fn write_on_stack(self, ptr: *mut c_void, bytes: &[u8]) -> bool {
        if !self.on_live_stack(ptr as usize, bytes.len()) {
            return false;
        }
        // SAFETY: as in `read_on_stack`: mapped, writable, and the program handed
        // it to us to be written. (The 4-byte case, every option's size, is one
        // store rather than a call to memmove.)
        unsafe {
            match <[u8; 4]>::try_from(bytes) {
                Ok(word) => std::ptr::write_unaligned(ptr.cast::<[u8; 4]>(), word),
                Err(_) => std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.cast::<u8>(), bytes.len()),
            }
        }
        true
    }
}

fn copy(local: *mut c_void, remote: *mut c_void, len: usize, write: bool) -> bool {
    if remote.is_null() {
        return false;
    }
    let local = iovec {
        iov_base: local,
        iov_len: len,
    };
    let remote = iovec {
        iov_base: remote,
        iov_len: len,
    };
    let sys = if write {
        libc::SYS_process_vm_writev
    } else {
        libc::SYS_process_vm_readv
    };
    let _errno = errno::keep();
    // `syscall` is variadic: every argument is passed as a full machine word.
    let one: libc::c_ulong = 1;
    let flags: libc::c_ulong = 0;
    // SAFETY: both iovecs are valid for the call; the kernel validates `remote` and
    // copies nothing from or to an address that is not mapped with the access asked.
    let n = unsafe {
        let pid = libc::c_long::from(libc::getpid());
        libc::syscall(
            sys,
            pid,
            &local as *const iovec,
            one,
            &remote as *const iovec,
            one,
            flags,
        )
    };
    n == len as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Memory {
        Memory::new(this_thread_stack())
    }

    fn read<const N: usize>(p: *const c_void) -> Option<[u8; N]> {
        memory().read(p)
    }

    fn write(p: *mut c_void, bytes: &[u8]) -> bool {
        memory().write(p, bytes)
    }

    fn on_live_stack(p: usize, len: usize) -> bool {
        memory().on_live_stack(p, len)
    }

    #[test]
    fn good_and_bad_pointers() {
        let v: i32 = 0x1234_5678;
        assert_eq!(read::<4>((&v as *const i32).cast()), Some(v.to_ne_bytes()));
        assert_eq!(read::<4>(std::ptr::null()), None);
        assert_eq!(read::<4>(std::ptr::dangling::<c_void>()), None, "(char*)1");
        let mut out = 0i32;
        assert!(write((&mut out as *mut i32).cast(), &7i32.to_ne_bytes()));
        assert_eq!(out, 7);
        assert!(!write(8 as *mut c_void, &[1, 2, 3, 4]));
    }

    #[test]
    fn stack_buffers_take_the_direct_path_and_others_do_not() {
        let v: i32 = 41;
        let p = (&v as *const i32) as usize;
        assert!(on_live_stack(p, 4), "a caller's local is on the live stack");
        let heap = Box::new(5i32);
        assert!(!on_live_stack((&*heap as *const i32) as usize, 4));
        assert!(!on_live_stack(usize::MAX - 2, 4), "no overflow");
        let mut out = [0u8; 4];
        assert!(write(out.as_mut_ptr().cast(), &9i32.to_ne_bytes()));
        assert_eq!(i32::from_ne_bytes(out), 9);
    }

    #[test]
    fn protected_page_and_tail_crossing_are_unreadable() {
        // SAFETY: fresh anonymous mapping of two pages; the second is made PROT_NONE.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ) as *mut u8;
            assert_ne!(p.cast(), libc::MAP_FAILED);
            libc::mprotect(p.add(page).cast(), page, libc::PROT_NONE);
            assert!(read::<4>(p.add(page - 4).cast()).is_some());
            assert!(read::<4>(p.add(page - 2).cast()).is_none());
            assert!(read::<4>(p.add(page).cast()).is_none());
            libc::munmap(p.cast(), 2 * page);
        }
    }
}
