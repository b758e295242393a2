//! System calls made from the library's own text, not through libc: for
//! start-up, which runs in every process the library is preloaded into.
//!
//! A libc wrapper is a few instructions, but the first call to one touches its
//! page of libc's text, and a page the program itself never uses costs a page
//! fault — on a virtual machine 4 to 25 µs, 1 to 2 % of `/bin/true` each (issue
//! 17's study). `fstat`, `getrlimit`, `mmap`, `getpid` and `open` are such
//! wrappers for most programs. These make the same system calls with the
//! `syscall` instruction here. They leave `errno` alone: a failure is returned
//! as the error number.
//!
//! x86-64 only (the library's one target, as for its own `vfork`); elsewhere
//! they fall back to libc's `syscall`.

use libc::{c_int, c_long};

/// The system call `n` with six word arguments: the kernel's answer, a negative
/// error number on failure.
///
/// # Safety
/// The arguments must be what system call `n` expects (pointers valid for what
/// it reads and writes).
#[inline(always)]
unsafe fn syscall6(n: c_long, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    #[cfg(target_arch = "x86_64")]
    {
        let ret: isize;
        // SAFETY: the `syscall` instruction with the kernel's calling convention
        // (number in rax, arguments in rdi, rsi, rdx, r10, r8, r9; rcx and r11
        // clobbered); the caller vouches for the arguments. Memory is not marked
        // untouched: the kernel may write through pointer arguments.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                in("r10") d,
                in("r8") e,
                in("r9") f,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: as the caller promises.
        let r = unsafe { libc::syscall(n, a, b, c, d, e, f) } as isize;
        if r == -1 {
            -(crate::shim::errno::get() as isize)
        } else {
            r
        }
    }
}

/// A system call's answer: the value, or the error number.
fn answer(r: isize) -> Result<usize, c_int> {
    if (-4095..0).contains(&r) {
        Err(-r as c_int)
    } else {
        Ok(r as usize)
    }
}

/// This process's pid.
pub fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments.
    unsafe { syscall6(libc::SYS_getpid, 0, 0, 0, 0, 0, 0) as u32 }
}

/// `fstat(fd)`.
pub fn fstat(fd: c_int) -> Result<libc::stat, c_int> {
    // SAFETY: an all-zero stat is valid; the kernel writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer of the kernel's `struct stat`.
    answer(unsafe { syscall6(libc::SYS_fstat, fd as usize, &raw mut st as usize, 0, 0, 0, 0) })?;
    Ok(st)
}

/// This process's limit `resource` (`RLIMIT_*`): (soft, hard).
pub fn getrlimit(resource: libc::__rlimit_resource_t) -> Result<(u64, u64), c_int> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit64 on this process (pid 0), no new limit, `lim` a valid
    // out-pointer of the kernel's `struct rlimit64` (two u64s on x86-64).
    answer(unsafe {
        syscall6(
            libc::SYS_prlimit64,
            0,
            resource as usize,
            0,
            &raw mut lim as usize,
            0,
            0,
        )
    })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// A fresh private anonymous mapping of `bytes`, readable and writable, with
/// no swap reserved: zero pages until written.
pub fn map_anonymous(bytes: usize) -> Result<*mut libc::c_void, c_int> {
    // SAFETY: a new mapping at an address the kernel picks; no memory of ours
    // is touched.
    let r = answer(unsafe {
        syscall6(
            libc::SYS_mmap,
            0,
            bytes,
            (libc::PROT_READ | libc::PROT_WRITE) as usize,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE) as usize,
            usize::MAX, // fd -1
            0,
        )
    })?;
    Ok(r as *mut libc::c_void)
}

/// `open(path, flags)`: the new descriptor.
pub fn open(path: &std::ffi::CStr, flags: c_int) -> Result<c_int, c_int> {
    // SAFETY: `path` is NUL-terminated; no mode is needed without O_CREAT.
    let r = answer(unsafe {
        syscall6(
            libc::SYS_openat,
            libc::AT_FDCWD as isize as usize,
            path.as_ptr() as usize,
            flags as usize,
            0,
            0,
            0,
        )
    })?;
    Ok(r as c_int)
}

/// `close(fd)`, the answer ignored (the descriptor is gone either way).
pub fn close(fd: c_int) {
    // SAFETY: an integer argument.
    unsafe { syscall6(libc::SYS_close, fd as usize, 0, 0, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_answers_as_libc() {
        // SAFETY: getpid has no preconditions.
        assert_eq!(getpid(), unsafe { libc::getpid() } as u32);
        let st = fstat(0).or_else(|_| fstat(1)).or_else(|_| fstat(2));
        if let Ok(st) = st {
            assert_ne!(st.st_mode, 0);
        }
        assert_eq!(fstat(-1).err(), Some(libc::EBADF));
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(getrlimit(libc::RLIMIT_NOFILE), Ok((lim.rlim_cur, lim.rlim_max)));
        assert_eq!(getrlimit(1000).err(), Some(libc::EINVAL));
        let p = map_anonymous(1 << 20).expect("mmap");
        // SAFETY: the mapping is 1 MiB, readable and writable, zero-filled.
        unsafe {
            assert_eq!(*(p as *const u64).add(1000), 0);
            *(p as *mut u64).add(1000) = 7;
            libc::munmap(p, 1 << 20);
        }
        assert_eq!(
            open(c"/nonexistent/wsd", libc::O_RDONLY).err(),
            Some(libc::ENOENT)
        );
        let fd = open(c"/dev/null", libc::O_RDONLY | libc::O_CLOEXEC).expect("open /dev/null");
        assert!(fd >= 0);
        assert!(fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR));
        close(fd);
    }
}
