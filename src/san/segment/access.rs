//! Who may use a segment: its owner, when it is `0600`; its owner or any
//! process one of whose groups (`getegid`, `getgroups`) is the file's group, when
//! it is exactly `0660`. Nothing looser: a mode with any bit for others, a set-id
//! or sticky bit, group read without write, or group access for a group the
//! process is not in, is refused with the modes it expected ([`check_access`]);
//! and when the kernel refused to open it, what the file says ([`no_access`]).

use super::{GROUP_MODE, PRIVATE_MODE, SegmentError};
use std::ffi::CStr;

/// May this process use a segment owned by `uid`, of group `gid`, with
/// permission bits `mode`? Its owner may, when it is `0600` or `0660`; a member
/// of its group may, when it is exactly `0660`; nobody may otherwise.
pub(super) fn check_access(uid: u32, gid: u32, mode: u32) -> Result<(), SegmentError> {
    // SAFETY: geteuid has no preconditions.
    let mine = uid == unsafe { libc::geteuid() };
    if mode == GROUP_MODE {
        return if mine || in_my_groups(gid) {
            Ok(())
        } else {
            Err(SegmentError::ForeignGroup { gid })
        };
    }
    if !mine {
        return Err(SegmentError::ForeignOwner { uid, mode });
    }
    if mode != PRIVATE_MODE {
        return Err(SegmentError::BadMode { mode });
    }
    Ok(())
}

/// Is `gid` this process's effective group or one of its supplementary groups?
/// Asked of the kernel each time (a server may have changed them since), into a
/// buffer on the stack for up to 256 groups.
fn in_my_groups(gid: u32) -> bool {
    // SAFETY: getegid has no preconditions.
    if unsafe { libc::getegid() } == gid {
        return true;
    }
    let mut groups = [0 as libc::gid_t; 256];
    // SAFETY: `groups` has room for the number of entries passed.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    if let Ok(n) = usize::try_from(n) {
        return groups[..n.min(groups.len())].contains(&gid);
    }
    // More than fit on the stack.
    // SAFETY: a count of 0 only asks how many there are.
    let count = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    let mut all = vec![0 as libc::gid_t; usize::try_from(count).unwrap_or(0)];
    // SAFETY: `all` has room for the number of entries passed.
    let n = unsafe { libc::getgroups(all.len() as i32, all.as_mut_ptr()) };
    usize::try_from(n).is_ok_and(|n| all[..n.min(all.len())].contains(&gid))
}

/// Why `open` of `path` was denied: the file's owner, group and mode, as far as
/// this process may see them (the file itself is not opened).
pub(super) fn no_access(path: &CStr) -> SegmentError {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` a valid out-pointer; the link
    // itself is looked at, never followed.
    let r = unsafe { libc::fstatat(libc::AT_FDCWD, path.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return SegmentError::Os {
            what: "open",
            errno: libc::EACCES,
        };
    }
    SegmentError::NoAccess {
        uid: st.st_uid,
        gid: st.st_gid,
        mode: st.st_mode & 0o7777,
    }
}
