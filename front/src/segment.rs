//! What the front's constructor knows of a SAN segment: where its file is and
//! which names are valid (SPEC §6.2's `WSD_SAN`; `config` checks names with
//! this too, so the two cannot disagree).

/// A segment's file is this prefix and its name.
pub const PATH_PREFIX_STR: &str = "/dev/shm/wsd.";
pub const PATH_PREFIX: &[u8] = PATH_PREFIX_STR.as_bytes();

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

/// "WSD-SAN" and a format byte: the first 8 bytes of every segment.
pub const MAGIC: u64 = u64::from_le_bytes(*b"WSD-SAN\x01");
/// Bumped whenever anything in a segment changes meaning or place (the
/// engine's `san::layout`, which takes it from here).
pub const LAYOUT_VERSION: u32 = 9;
/// Where the header keeps the layout version (a u32), the segment's size and
/// the holder map's offset (u64s): `san::layout::Header`, whose field offsets
/// are asserted to be these.
pub const VERSION_AT: u64 = 8;
pub const TOTAL_SIZE_AT: u64 = 24;
pub const HOLDER_MAP_AT: u64 = 104;
/// The holder map: one bit per pid below 2^22 (Linux's largest `pid_max`),
/// set when a process becomes a holder of an endpoint (it made the socket, a
/// fork gave it one, it took one over), so that a new image of that pid knows
/// in two reads whether it may have SAN sockets to take back. A bit is cleared
/// only by its own pid's start-up after it found nothing; a stale bit (a
/// holder that exited and whose pid came back) costs that process a look.
pub const HOLDER_MAP_BYTES: usize = 1 << 19;

/// The byte of the holder map that holds `pid`'s bit, and the bit.
pub const fn holder_bit(pid: u32) -> (usize, u8) {
    ((pid as usize >> 3) % HOLDER_MAP_BYTES, 1 << (pid & 7))
}

/// May the process `pid` hold SAN sockets listed in the segment open at `fd`?
/// Only if the file is a segment of this layout, its holder map where the
/// layout puts it (at its end), and `pid`'s bit set there: two reads, no
/// mapping. Nothing can be taken back from a segment this library cannot use
/// (another version's, a corrupt one, not a segment at all): it is refused and
/// reported when the program first needs the SAN, not at every start.
pub fn may_hold(fd: crate::c::c_int, pid: u32) -> bool {
    let mut head = [0u8; 112];
    if crate::sys::pread(fd, &mut head, 0) != Ok(head.len()) {
        return false;
    }
    let word = |at: u64, n: usize| {
        head[at as usize..at as usize + n]
            .iter()
            .rev()
            .fold(0u64, |w, &b| w << 8 | u64::from(b))
    };
    let map = word(HOLDER_MAP_AT, 8);
    if word(0, 8) != MAGIC
        || word(VERSION_AT, 4) != u64::from(LAYOUT_VERSION)
        || map.checked_add(HOLDER_MAP_BYTES as u64) != Some(word(TOTAL_SIZE_AT, 8))
    {
        return false;
    }
    let (byte, bit) = holder_bit(pid);
    let mut b = [0u8];
    match crate::sys::pread(fd, &mut b, map + byte as u64) {
        Ok(1) => b[0] & bit != 0,
        _ => false,
    }
}
