//! The descriptors a message's `SCM_RIGHTS` control messages carry (SPEC §5),
//! walked as glibc's `CMSG_FIRSTHDR`/`CMSG_NXTHDR` walk them: the front asks
//! whether a received message carried any (to load the engine), the engine
//! follows each one (`shim::net::scm_rights`).

use crate::c::c_int;

/// `struct cmsghdr`'s size: length (a word), level, type.
const HEADER: usize = 16;
const SOL_SOCKET: c_int = 1;
const SCM_RIGHTS: c_int = 1;

/// Calls `f` with each descriptor of the `SCM_RIGHTS` control messages in the
/// `len` bytes at `control`.
///
/// # Safety
/// `control` is null, or `len` readable bytes of control messages the kernel
/// has just accepted (`sendmsg`) or filled in (`recvmsg`).
pub unsafe fn scm_rights(control: usize, len: usize, mut f: impl FnMut(c_int)) {
    if control == 0 || len < HEADER {
        return;
    }
    let end = control.saturating_add(len);
    // The word, or the i32, at `at` (unaligned: the program's buffer need not
    // be); every `at` below lies inside `control .. end`, checked first.
    // SAFETY: as just said, readable bytes of the control buffer.
    let word = |at: usize| unsafe { (at as *const usize).read_unaligned() };
    // SAFETY: as above.
    let int = |at: usize| unsafe { (at as *const c_int).read_unaligned() };
    let mut c = control;
    loop {
        let cmsg_len = word(c);
        if int(c + 8) == SOL_SOCKET && int(c + 12) == SCM_RIGHTS {
            // As many descriptors as the header says, and no more than the
            // buffer holds (the program may change it after the call).
            let said = c.saturating_add(cmsg_len).min(end);
            let data = c + HEADER;
            for i in 0..said.saturating_sub(data) / size_of::<c_int>() {
                f(int(data + i * size_of::<c_int>()));
            }
        }
        if cmsg_len < HEADER {
            return;
        }
        let next = c.saturating_add(cmsg_len.next_multiple_of(8));
        if next.saturating_add(HEADER) > end || next.saturating_add(word(next).next_multiple_of(8)) > end {
            return;
        }
        c = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The descriptors `scm_rights` finds in `len` bytes of `buf`.
    fn found(buf: &[u64], len: usize) -> Vec<c_int> {
        let mut v = Vec::new();
        // SAFETY: `len` bytes of `buf`, readable.
        unsafe { scm_rights(buf.as_ptr() as usize, len, |fd| v.push(fd)) };
        v
    }

    #[test]
    fn the_descriptors_of_every_scm_rights_message_as_glibc_walks_them() {
        // Credentials (12 bytes of data, padded to 32), then two descriptors,
        // built with libc's CMSG macros.
        let mut buf = [0u64; 16];
        // SAFETY: an all-zero msghdr is a valid value.
        let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_control = buf.as_mut_ptr().cast();
        // SAFETY: arithmetic only.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(12) + libc::CMSG_SPACE(8) } as usize;
        // SAFETY: the headers lie inside `buf`, as CMSG_SPACE counted.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_CREDENTIALS;
            (*c).cmsg_len = libc::CMSG_LEN(12) as usize;
            let c = libc::CMSG_NXTHDR(&msg, c);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(8) as usize;
            libc::CMSG_DATA(c).cast::<[c_int; 2]>().write_unaligned([7, 9]);
        }
        let len = msg.msg_controllen;
        assert_eq!(found(&buf, len), [7, 9]);
        // Cut inside the second message's data: the second header no longer fits
        // as its length says, so glibc's walk stops before it.
        assert_eq!(found(&buf, len - 4), []);
        assert_eq!(found(&buf, 8), []);
        assert_eq!(found(&buf, 0), []);
        // SAFETY: a null buffer is never read.
        unsafe { scm_rights(0, 64, |_| panic!("read a null buffer")) };
    }
}
