//! Why a segment cannot be used ([`SegmentError`]), each reason said as the
//! library's warnings and the tool's messages say it.

use crate::san::layout::LAYOUT_VERSION;
use std::ffi::CStr;
use std::fmt;

/// The modes a segment may have, as refusals name them.
const EXPECTED_MODES: &str = "expected 0600 owned by this user, or 0660 of one of its groups";

/// Why a segment cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentError {
    Missing,
    Exists,
    NotRegularFile,
    Symlink,
    ForeignOwner {
        uid: u32,
        mode: u32,
    },
    BadMode {
        mode: u32,
    },
    /// `0660` of a group this process is not in, and owned by another user.
    ForeignGroup {
        gid: u32,
    },
    /// The kernel would not let this process open it (`EACCES`): what the file
    /// says about owner, group and permissions.
    NoAccess {
        uid: u32,
        gid: u32,
        mode: u32,
    },
    BadSize {
        size: u64,
    },
    BadMagic,
    BadVersion {
        found: u32,
    },
    BadGeometry,
    BadCapacity {
        capacity: u32,
    },
    Os {
        what: &'static str,
        errno: i32,
    },
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SegmentError::*;
        match self {
            Missing => write!(f, "no such segment"),
            Exists => write!(f, "the segment already exists"),
            NotRegularFile => write!(f, "not a regular shared-memory object"),
            Symlink => write!(f, "is a symbolic link; refusing to follow it"),
            ForeignOwner { uid, mode } => write!(
                f,
                "owned by uid {uid}, not by this user, permissions {mode:04o} ({EXPECTED_MODES})"
            ),
            BadMode { mode } => write!(f, "permissions {mode:04o}, {EXPECTED_MODES}"),
            ForeignGroup { gid } => write!(
                f,
                "permissions 0660 of group {gid}, which this process is not in ({EXPECTED_MODES})"
            ),
            NoAccess { uid, gid, mode } => write!(
                f,
                "permission denied: owned by uid {uid}, group {gid}, permissions {mode:04o} \
                 ({EXPECTED_MODES})"
            ),
            BadSize { size } => write!(f, "size {size} bytes does not match its header"),
            BadMagic => write!(f, "not a wsd segment (bad magic)"),
            BadVersion { found } => write!(
                f,
                "made by another version of wsd (layout {found}, this wsd uses {LAYOUT_VERSION}); \
                 replace it with `wsd san destroy` once no program uses it (the next program \
                 creates it anew)"
            ),
            BadGeometry => write!(f, "header geometry is corrupt"),
            BadCapacity { capacity } => {
                write!(f, "{}", crate::san::layout::capacity_rule(i128::from(*capacity)))
            }
            Os { what, errno } => {
                write!(f, "{what}: ")?;
                write_os_error(f, *errno)
            }
        }
    }
}

/// What `std::io::Error` says of `errno` ("Permission denied (os error 13)"),
/// without allocating: the library writes refusals from inside a hook.
fn write_os_error(f: &mut fmt::Formatter<'_>, errno: i32) -> fmt::Result {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: `buf` is valid for its length; the XSI strerror_r (the libc crate's
    // binding on glibc) writes a NUL-terminated message into it, or fails.
    let r = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    let text = if r == 0 {
        // SAFETY: on success `buf` holds a NUL-terminated string (zeroed beyond it).
        unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().ok()
    } else {
        None
    };
    write!(f, "{} (os error {errno})", text.unwrap_or("Unknown error"))
}

impl std::error::Error for SegmentError {}
