//! What the front's constructor knows of a SAN segment: where its file is and
//! which names are valid (SPEC §6.2's `WSD_SAN`; `config` checks names with
//! this too, so the two cannot disagree).

/// A segment's file is this prefix and its name.
pub const PATH_PREFIX: &[u8] = b"/dev/shm/wsd.";

/// The longest valid name.
pub const NAME_MAX: usize = 64;

/// Is `name` a valid segment name: 1 to 64 of `A-Z a-z 0-9 - _ .`, not
/// starting with a dot?
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name[0] != b'.'
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The NUL-terminated path of segment `name` in `buf`, if `name` is valid.
pub fn path<'a>(
    name: &[u8],
    buf: &'a mut [u8; PATH_PREFIX.len() + NAME_MAX + 1],
) -> Option<&'a core::ffi::CStr> {
    if !valid_name(name) {
        return None;
    }
    buf.fill(0);
    buf[..PATH_PREFIX.len()].copy_from_slice(PATH_PREFIX);
    buf[PATH_PREFIX.len()..PATH_PREFIX.len() + name.len()].copy_from_slice(name);
    core::ffi::CStr::from_bytes_until_nul(buf).ok()
}
