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
//! x86-64 only, as the whole front is (its `vfork`, its option trampolines and
//! these numbers are x86-64's).

use crate::c::{c_int, c_long, c_uint, c_void};

/// The system call `n` with six word arguments: the kernel's answer, a negative
/// error number on failure.
///
/// # Safety
/// The arguments must be what system call `n` expects (pointers valid for what
/// it reads and writes).
#[inline(always)]
unsafe fn syscall6(n: c_long, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    {
        let ret: isize;
        // SAFETY: the `syscall` instruction with the kernel's calling convention
        // (number in rax, arguments in rdi, rsi, rdx, r10, r8, r9; rcx and r11
        // clobbered); the caller vouches for the arguments. Memory is not marked
        // untouched: the kernel may write through pointer arguments.
        unsafe {
            core::arch::asm!(
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
}

/// A system call's answer: the value, or the error number.
fn answer(r: isize) -> Result<usize, c_int> {
    if (-4095..0).contains(&r) {
        Err(-r as c_int)
    } else {
        Ok(r as usize)
    }
}

/// System call numbers (x86-64).
mod nr {
    use crate::c::c_long;
    pub const CLOSE: c_long = 3;
    pub const FSTAT: c_long = 5;
    pub const MMAP: c_long = 9;
    pub const GETPID: c_long = 39;
    pub const CLOSE_RANGE: c_long = 436;
    pub const OPENAT: c_long = 257;
    pub const PREAD64: c_long = 17;
    pub const WRITE: c_long = 1;
    pub const GETCWD: c_long = 79;
    pub const PRLIMIT64: c_long = 302;
    pub const KILL: c_long = 62;
    pub const EXIT_GROUP: c_long = 231;
    pub const RT_SIGPROCMASK: c_long = 14;
    pub const PROCESS_VM_WRITEV: c_long = 311;
    pub const KCMP: c_long = 312;
}

/// This process's pid.
pub fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments.
    unsafe { syscall6(nr::GETPID, 0, 0, 0, 0, 0, 0) as u32 }
}

/// The kernel's `struct stat` (x86-64).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pad: i32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    times: [i64; 6],
    reserved: [i64; 3],
}

/// `fstat(fd)`.
pub fn fstat(fd: c_int) -> Result<Stat, c_int> {
    // SAFETY: an all-zero stat is valid; the kernel writes into it.
    let mut st: Stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer of the kernel's `struct stat`.
    answer(unsafe { syscall6(nr::FSTAT, fd as usize, &raw mut st as usize, 0, 0, 0, 0) })?;
    Ok(st)
}

/// Which open file `fd` is, as one nonzero word (device and inode), 0 if it is
/// not open: how the log knows standard error is still what it was at start.
pub fn file_identity(fd: c_int) -> u64 {
    match fstat(fd) {
        Ok(st) => (st.st_dev ^ st.st_ino.rotate_left(32)) | 1,
        Err(_) => 0,
    }
}

/// This process's limit `resource` (`RLIMIT_*`): (soft, hard).
pub fn getrlimit(resource: c_uint) -> Result<(u64, u64), c_int> {
    let mut lim = [0u64; 2];
    // SAFETY: prlimit64 on this process (pid 0), no new limit, `lim` a valid
    // out-pointer of the kernel's `struct rlimit64` (two u64s).
    answer(unsafe {
        syscall6(
            nr::PRLIMIT64,
            0,
            resource as usize,
            0,
            lim.as_mut_ptr() as usize,
            0,
            0,
        )
    })?;
    Ok((lim[0], lim[1]))
}

/// A fresh private anonymous mapping of `bytes`, readable and writable, with
/// no swap reserved: zero pages until written.
pub fn map_anonymous(bytes: usize) -> Result<*mut c_void, c_int> {
    const PROT_READ_WRITE: usize = 0x1 | 0x2;
    const MAP_PRIVATE_ANONYMOUS_NORESERVE: usize = 0x02 | 0x20 | 0x4000;
    // SAFETY: a new mapping at an address the kernel picks; no memory of ours
    // is touched.
    let r = answer(unsafe {
        syscall6(
            nr::MMAP,
            0,
            bytes,
            PROT_READ_WRITE,
            MAP_PRIVATE_ANONYMOUS_NORESERVE,
            usize::MAX, // fd -1
            0,
        )
    })?;
    Ok(r as *mut c_void)
}

/// `open(path, flags)`: the new descriptor.
pub fn open(path: &core::ffi::CStr, flags: c_int) -> Result<c_int, c_int> {
    const AT_FDCWD: isize = -100;
    // SAFETY: `path` is NUL-terminated; no mode is needed without O_CREAT.
    let r = answer(unsafe {
        syscall6(
            nr::OPENAT,
            AT_FDCWD as usize,
            path.as_ptr() as usize,
            flags as usize,
            0,
            0,
            0,
        )
    })?;
    Ok(r as c_int)
}

/// `pread(fd, buf, offset)`: how many bytes were read.
pub fn pread(fd: c_int, buf: &mut [u8], offset: u64) -> Result<usize, c_int> {
    // SAFETY: `buf` is writable for its length.
    answer(unsafe {
        syscall6(
            nr::PREAD64,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            offset as usize,
            0,
            0,
        )
    })
}

/// `write(fd, bytes)`, once, the answer ignored (for a last word on standard
/// error).
pub fn write(fd: c_int, bytes: &[u8]) {
    // SAFETY: `bytes` is readable for its length.
    unsafe {
        syscall6(
            nr::WRITE,
            fd as usize,
            bytes.as_ptr() as usize,
            bytes.len(),
            0,
            0,
            0,
        )
    };
}

/// `getcwd` into `buf`: the length written, NUL included.
pub fn getcwd(buf: &mut [u8]) -> Result<usize, c_int> {
    // SAFETY: `buf` is writable for its length.
    answer(unsafe { syscall6(nr::GETCWD, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0, 0) })
}

/// `close(fd)`, the answer ignored (the descriptor is gone either way).
pub fn close(fd: c_int) {
    // SAFETY: an integer argument.
    unsafe { syscall6(nr::CLOSE, fd as usize, 0, 0, 0, 0, 0) };
}

/// Blocks the signals a handler could run on in this thread: all but glibc's
/// own two (32 and 33, which `pthread_cancel` and `setuid` in another thread
/// wait on), the faults this thread itself would raise (`SIGILL`, `SIGTRAP`,
/// `SIGBUS`, `SIGFPE`, `SIGSEGV`, `SIGSYS`: blocked, the kernel would kill the
/// process rather than run the program's handler), and those the kernel never
/// blocks. The mask it had, for [`restore_signals`].
pub fn block_signals() -> u64 {
    const SIG_SETMASK: usize = 2;
    let keep = [4u32, 5, 7, 8, 11, 31, 32, 33]
        .iter()
        .fold(0u64, |m, &s| m | 1 << (s - 1));
    let all: u64 = !keep;
    let mut old: u64 = 0;
    // SAFETY: valid pointers to 8-byte signal sets, and their size.
    unsafe {
        syscall6(
            nr::RT_SIGPROCMASK,
            SIG_SETMASK,
            &raw const all as usize,
            &raw mut old as usize,
            8,
            0,
            0,
        )
    };
    old
}

/// Gives this thread back the signal mask [`block_signals`] returned.
pub fn restore_signals(old: u64) {
    const SIG_SETMASK: usize = 2;
    // SAFETY: a valid pointer to an 8-byte signal set, and its size.
    unsafe {
        syscall6(
            nr::RT_SIGPROCMASK,
            SIG_SETMASK,
            &raw const old as usize,
            0,
            8,
            0,
            0,
        )
    };
}

/// Writes `bytes` at `to` in this process's memory if it is writable there,
/// without faulting if it is not (the kernel copies, or answers `EFAULT`).
pub fn write_memory(to: usize, bytes: &[u8]) -> bool {
    #[repr(C)]
    struct Iovec {
        base: usize,
        len: usize,
    }
    let local = Iovec {
        base: bytes.as_ptr() as usize,
        len: bytes.len(),
    };
    let remote = Iovec {
        base: to,
        len: bytes.len(),
    };
    // SAFETY: one local vector over `bytes`, readable; the remote one is the
    // kernel's to check, which answers EFAULT rather than fault.
    let r = unsafe {
        syscall6(
            nr::PROCESS_VM_WRITEV,
            getpid() as usize,
            &raw const local as usize,
            1,
            &raw const remote as usize,
            1,
            0,
        )
    };
    r == bytes.len() as isize
}

/// Do processes `a` and `b` share their memory (`kcmp(KCMP_VM)`)? None if the
/// kernel would not say.
pub fn same_memory(a: u32, b: u32) -> Option<bool> {
    const KCMP_VM: usize = 1;
    // SAFETY: integer arguments.
    match answer(unsafe { syscall6(nr::KCMP, a as usize, b as usize, KCMP_VM, 0, 0, 0) }) {
        Ok(r) => Some(r == 0),
        Err(_) => None,
    }
}

/// Ends the process as `abort` does (`SIGABRT`), without libc.
pub fn abort() -> ! {
    const SIGABRT: usize = 6;
    // SAFETY: integer arguments; the process ends here.
    unsafe {
        syscall6(nr::KILL, getpid() as usize, SIGABRT, 0, 0, 0, 0);
        syscall6(nr::EXIT_GROUP, 127, 0, 0, 0, 0, 0);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}

/// `close_range(first, last, flags)`.
pub fn close_range(first: c_uint, last: c_uint, flags: c_uint) -> Result<usize, c_int> {
    // SAFETY: integer arguments.
    answer(unsafe {
        syscall6(
            nr::CLOSE_RANGE,
            first as usize,
            last as usize,
            flags as usize,
            0,
            0,
            0,
        )
    })
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
        if let (Ok(a), Ok(b)) = (fstat(2), nix_fstat(2)) {
            assert_eq!((a.st_dev, a.st_ino, a.st_mode), b);
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
        let mut b = [0u8; 4];
        assert_eq!(pread(fd, &mut b, 0), Ok(0));
        close(fd);
        assert_eq!(size_of::<Stat>(), size_of::<libc::stat>());
        let mut cwd = [0u8; 4096];
        let n = getcwd(&mut cwd).expect("getcwd");
        let here = std::env::current_dir().unwrap();
        assert_eq!(&cwd[..n - 1], here.as_os_str().as_encoded_bytes());
        assert_eq!(close_range(1 << 30, 1 << 30, 0), Ok(0));
    }

    fn nix_fstat(fd: c_int) -> Result<(u64, u64, u32), c_int> {
        // SAFETY: an all-zero stat is valid; libc writes into it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer.
        match unsafe { libc::fstat(fd, &mut st) } {
            0 => Ok((st.st_dev, st.st_ino, st.st_mode)),
            _ => Err(-1),
        }
    }
}
