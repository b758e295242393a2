//! Reading and writing the program's buffers without ever faulting (SPEC §2.2
//! row 5). A NULL, `(char*)1`, an unmapped or `PROT_NONE` page, or a buffer whose
//! tail crosses into one, is reported as unreadable — never a `SIGSEGV`.
//!
//! The copy is made by the kernel with `process_vm_readv`/`process_vm_writev` on
//! our own process, which checks every byte's mapping and answers `EFAULT` instead
//! of faulting. The caller's `errno` is preserved.

use libc::{c_void, iovec};

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
    // SAFETY: __errno_location returns this thread's errno.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: errno is a valid thread-local int.
    let saved = unsafe { *errno };
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
    // SAFETY: as above.
    unsafe { *errno = saved };
    n == len as i64
}

/// The `N` bytes at `ptr`, if all of them are readable.
pub fn read<const N: usize>(ptr: *const c_void) -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    copy(buf.as_mut_ptr().cast(), ptr.cast_mut(), N, false).then_some(buf)
}

/// Writes `bytes` at `ptr`; false (and nothing written) if not all are writable.
pub fn write(ptr: *mut c_void, bytes: &[u8]) -> bool {
    copy(bytes.as_ptr().cast_mut().cast(), ptr, bytes.len(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
