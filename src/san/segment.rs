//! Opening, creating, validating and removing a SAN segment (SPEC §5): a POSIX
//! shared-memory object `/dev/shm/wsd.NAME`, mode `0600`, owned by the user — or,
//! shared with one group (SPEC §5 "Users"), mode `0660` of that group.
//!
//! Creation is atomic: the segment is built as an unnamed file (`O_TMPFILE`),
//! given its group and mode, and then its name with `linkat(2)`, so no process
//! ever maps a half-written one (or one with other permissions), and a creator
//! killed half-way leaves nothing behind. Opening refuses, with a reason, anything
//! it cannot trust: a symlink, another owner, other permissions, the wrong size, a
//! bad magic or layout version, or a geometry that does not add up. Nothing read
//! from the header is used before it is checked.
//!
//! This file owns the segment's life (open, create, map, destroy) and the
//! mapping's accessors (header, record, report row, lane, index word), where
//! every pointer into the shared memory is made; `access` says who may use a
//! segment, and `error` why one cannot be used ([`SegmentError`], with the
//! messages the library and the tool print).

mod access;
mod error;

pub use error::SegmentError;

use super::layout::{
    HEADER_SIZE, Header, LANES, LAYOUT_VERSION, MAGIC, MAX_CAPACITY, RECORD_SIZE, REPORT_ROWS, ROW_SIZE,
    Record, ReportRow, addr_buckets, holder_map_offset, key_buckets, lanes_offset, rows_offset, segment_size,
};
use access::{check_access, no_access};
use std::ffi::{CStr, CString};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

/// Where POSIX shared-memory objects live on Linux (what `shm_open` uses).
const SHM_DIR: &str = "/dev/shm";

/// The mode of a segment private to its owner.
pub const PRIVATE_MODE: u32 = 0o600;
/// The mode of a segment shared with its group (`wsd san create --group G`).
pub const GROUP_MODE: u32 = 0o660;

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The file path of segment `name` (validated by [`crate::config::valid_san_name`]).
pub fn path_of(name: &str) -> String {
    format!("{}{name}", wsd_front::segment::PATH_PREFIX_STR)
}

fn cpath(path: &str) -> Result<CString, SegmentError> {
    CString::new(path).map_err(|_| SegmentError::Os {
        what: "segment path",
        errno: libc::EINVAL,
    })
}

/// A mapped, validated segment.
pub struct Segment {
    base: *mut u8,
    len: usize,
    capacity: u32,
    name: String,
    /// The owner word of an index lock this process waited for until it gave up
    /// (its holder stopped, or the word is garbage): later calls that find the
    /// same owner do not wait for it again (see `san::index`). 0: none.
    pub(super) stuck_owner: std::sync::atomic::AtomicU64,
}

// SAFETY: the mapping is shared memory accessed only through atomics (`Header` and
// `Record` hold nothing else), so sharing it between threads is as safe as sharing
// those atomics.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

impl Segment {
    /// Opens segment `name`, creating it with `capacity` records if it does not exist.
    pub fn open_or_create(name: &str, capacity: u32) -> Result<Segment, SegmentError> {
        match Segment::open(name) {
            Err(SegmentError::Missing) => match Segment::create(name, capacity) {
                Err(SegmentError::Exists) => Segment::open(name),
                r => r,
            },
            r => r,
        }
    }

    /// Opens and validates an existing segment.
    pub fn open(name: &str) -> Result<Segment, SegmentError> {
        Segment::open_path(&cpath(&path_of(name))?, name)
    }

    /// [`Segment::open`] of a file the caller has opened read-write (and closes
    /// after), without allocating (the segment's name is left empty): for
    /// start-up, before the program runs, which opens the file itself.
    pub fn open_fd_unnamed(fd: i32) -> Result<Segment, SegmentError> {
        Segment::validate_and_map(fd, "")
    }

    fn open_path(path: &CStr, name: &str) -> Result<Segment, SegmentError> {
        // SAFETY: `path` is a valid NUL-terminated string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(match last_errno() {
                libc::ENOENT => SegmentError::Missing,
                libc::ELOOP => SegmentError::Symlink,
                libc::EACCES => no_access(path),
                errno => SegmentError::Os { what: "open", errno },
            });
        }
        let r = Segment::validate_and_map(fd, name);
        close_fd(fd);
        r
    }

    fn validate_and_map(fd: i32, name: &str) -> Result<Segment, SegmentError> {
        // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open and `st` is a valid out-pointer.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(SegmentError::Os {
                what: "fstat",
                errno: last_errno(),
            });
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(SegmentError::NotRegularFile);
        }
        check_access(st.st_uid, st.st_gid, st.st_mode & 0o7777)?;
        let size = st.st_size as u64;
        if size < HEADER_SIZE as u64 || size > segment_size(MAX_CAPACITY) as u64 {
            return Err(SegmentError::BadSize { size });
        }
        let mut seg = Segment::map(fd, size as usize, name)?;
        // The only value used for indexing is set once it is known to fit the mapping.
        seg.capacity = seg.check_header(size)?;
        Ok(seg)
    }

    /// Checks the header against the mapping's `size`; returns the capacity.
    fn check_header(&self, size: u64) -> Result<u32, SegmentError> {
        let h = self.header();
        if h.magic.load(Acquire) != MAGIC {
            return Err(SegmentError::BadMagic);
        }
        let version = h.layout_version.load(Relaxed);
        if version != LAYOUT_VERSION {
            return Err(SegmentError::BadVersion { found: version });
        }
        if h.header_size.load(Relaxed) as usize != HEADER_SIZE
            || h.record_size.load(Relaxed) as usize != RECORD_SIZE
            || h.report_rows.load(Relaxed) != REPORT_ROWS
        {
            return Err(SegmentError::BadGeometry);
        }
        let capacity = h.capacity.load(Relaxed);
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(SegmentError::BadCapacity { capacity });
        }

        if h.total_size.load(Relaxed) != size || segment_size(capacity) as u64 != size {
            return Err(SegmentError::BadSize { size });
        }
        if h.key_buckets.load(Relaxed) != key_buckets(capacity)
            || h.addr_buckets.load(Relaxed) != addr_buckets(capacity)
            || h.holder_map.load(Relaxed) != holder_map_offset(capacity) as u64
        {
            return Err(SegmentError::BadGeometry);
        }
        Ok(capacity)
    }

    /// Creates segment `name`, private to this user (`0600`); fails with
    /// [`SegmentError::Exists`] if it exists.
    pub fn create(name: &str, capacity: u32) -> Result<Segment, SegmentError> {
        Segment::create_for(name, capacity, None)
    }

    /// Creates segment `name` shared with group `gid` (`0660`, that group), for
    /// programs that drop privileges to a user of that group; fails with
    /// [`SegmentError::Exists`] if it exists. A user who is not root may give it
    /// only to a group they are in (`chown(2)`).
    pub fn create_shared(name: &str, capacity: u32, gid: u32) -> Result<Segment, SegmentError> {
        Segment::create_for(name, capacity, Some(gid))
    }

    fn create_for(name: &str, capacity: u32, group: Option<u32>) -> Result<Segment, SegmentError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(SegmentError::BadCapacity { capacity });
        }
        let final_path = cpath(&path_of(name))?;
        let dir = cpath(SHM_DIR)?;
        // An unnamed file in the shared-memory directory: a process killed while
        // building it leaves nothing behind.
        // SAFETY: valid path; O_TMPFILE creates a new inode with no name.
        let fd = unsafe {
            libc::open(
                dir.as_ptr(),
                libc::O_RDWR | libc::O_TMPFILE | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd < 0 {
            return Err(SegmentError::Os {
                what: "create",
                errno: last_errno(),
            });
        }
        let tmp_path = cpath(&format!("/proc/self/fd/{fd}"))?;
        let r = Segment::build(fd, name, capacity, group, &tmp_path, &final_path);
        close_fd(fd);
        r
    }

    fn build(
        fd: i32,
        name: &str,
        capacity: u32,
        group: Option<u32>,
        tmp_path: &CString,
        final_path: &CString,
    ) -> Result<Segment, SegmentError> {
        let size = segment_size(capacity);
        // Group and mode are set while the file has no name: no other process can
        // open it before it has them.
        if let Some(gid) = group {
            // SAFETY: `fd` is open; fchown has no memory preconditions (-1: the
            // owner stays).
            if unsafe { libc::fchown(fd, libc::uid_t::MAX, gid) } != 0 {
                return Err(SegmentError::Os {
                    what: "chown",
                    errno: last_errno(),
                });
            }
        }
        let mode = if group.is_some() { GROUP_MODE } else { PRIVATE_MODE };
        // SAFETY: `fd` is open; fchmod and ftruncate have no memory preconditions.
        if unsafe { libc::fchmod(fd, mode) } != 0 || unsafe { libc::ftruncate(fd, size as i64) } != 0 {
            return Err(SegmentError::Os {
                what: "size",
                errno: last_errno(),
            });
        }
        let seg = Segment::map(fd, size, name)?;
        let h = seg.header();
        h.layout_version.store(LAYOUT_VERSION, Relaxed);
        h.header_size.store(HEADER_SIZE as u32, Relaxed);
        h.record_size.store(RECORD_SIZE as u32, Relaxed);
        h.capacity.store(capacity, Relaxed);
        h.report_rows.store(REPORT_ROWS, Relaxed);
        h.key_buckets.store(key_buckets(capacity), Relaxed);
        h.addr_buckets.store(addr_buckets(capacity), Relaxed);
        h.total_size.store(size as u64, Relaxed);
        h.holder_map.store(holder_map_offset(capacity) as u64, Relaxed);
        h.next_id.store(1, Relaxed);
        h.magic.store(MAGIC, Release);
        let mut seg = seg;
        seg.capacity = capacity;
        // SAFETY: both paths are valid; linkat of the /proc/self/fd link gives the
        // unnamed file its name, and fails rather than replace an existing one.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                tmp_path.as_ptr(),
                libc::AT_FDCWD,
                final_path.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked != 0 {
            return Err(match last_errno() {
                libc::EEXIST => SegmentError::Exists,
                errno => SegmentError::Os { what: "link", errno },
            });
        }
        Ok(seg)
    }

    fn map(fd: i32, len: usize, name: &str) -> Result<Segment, SegmentError> {
        // SAFETY: a fresh shared mapping of an open file; the kernel picks the address.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(SegmentError::Os {
                what: "mmap",
                errno: last_errno(),
            });
        }
        Ok(Segment {
            base: base.cast(),
            len,
            capacity: 0,
            name: name.to_string(),
            stuck_owner: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Removes segment `name`. Processes that have it mapped keep their mapping.
    pub fn destroy(name: &str) -> Result<(), SegmentError> {
        let path = cpath(&path_of(name))?;
        // SAFETY: valid path.
        if unsafe { libc::unlink(path.as_ptr()) } != 0 {
            return Err(match last_errno() {
                libc::ENOENT => SegmentError::Missing,
                errno => SegmentError::Os {
                    what: "unlink",
                    errno,
                },
            });
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `T` at `offset` in the mapping, for the tables the layout places
    /// there (the fault log, the story, the call sites and their modules).
    ///
    /// # Safety
    /// `offset .. offset + size_of::<T>()` lies inside the mapping (the
    /// geometry check covers the whole segment size), `offset` is aligned for
    /// `T`, and `T` is made of atomics, valid for any bit pattern.
    pub(super) unsafe fn at<T>(&self, offset: usize) -> &T {
        debug_assert!(offset + size_of::<T>() <= self.len && offset.is_multiple_of(align_of::<T>()));
        // SAFETY: as the caller promises.
        unsafe { &*self.base.add(offset).cast::<T>() }
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_SIZE bytes, page-aligned, and `Header`
        // is a repr(C) struct of atomics, valid for any bit pattern.
        unsafe { &*(self.base as *const Header) }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Record `index`, if it exists.
    pub fn record(&self, index: u32) -> Option<&Record> {
        if index >= self.capacity {
            return None;
        }
        let offset = HEADER_SIZE + index as usize * RECORD_SIZE;
        debug_assert!(offset + RECORD_SIZE <= self.len);
        // SAFETY: `capacity` was checked against the mapping's length, so the record
        // lies inside it; records are 8-aligned atomics valid for any bit pattern.
        Some(unsafe { &*(self.base.add(offset) as *const Record) })
    }

    /// Row `index` of the report table, if it exists.
    pub fn row(&self, index: u32) -> Option<&ReportRow> {
        if index >= REPORT_ROWS {
            return None;
        }
        let offset = rows_offset(self.capacity) + index as usize * ROW_SIZE;
        debug_assert!(offset + ROW_SIZE <= self.len);
        // SAFETY: the geometry check made `len` cover every row; rows are 8-aligned
        // atomics valid for any bit pattern.
        Some(unsafe { &*(self.base.add(offset) as *const ReportRow) })
    }

    /// The owner word of counting lane `lane` (1..LANES), if it exists.
    pub fn lane(&self, lane: u32) -> Option<&AtomicU64> {
        if lane == 0 || lane >= LANES {
            return None;
        }
        let offset = lanes_offset(self.capacity) + lane as usize * 8;
        debug_assert!(offset + 8 <= self.len);
        // SAFETY: the geometry check made `len` cover every lane word; 8-aligned
        // atomics valid for any bit pattern.
        Some(unsafe { &*(self.base.add(offset) as *const AtomicU64) })
    }

    /// The index of record `rec`, if it is one of this segment's records.
    pub fn index_of(&self, rec: &Record) -> Option<u32> {
        let at = (rec as *const Record as usize).checked_sub(self.base as usize + HEADER_SIZE)?;
        let index = u32::try_from(at / RECORD_SIZE).ok()?;
        (at % RECORD_SIZE == 0 && index < self.capacity).then_some(index)
    }

    /// The byte of the holder map that holds `pid`'s bit, and the bit
    /// (`wsd_front::segment::holder_bit`).
    fn holder_byte(&self, pid: u32) -> (&std::sync::atomic::AtomicU8, u8) {
        let (byte, bit) = wsd_front::segment::holder_bit(pid);
        let offset = holder_map_offset(self.capacity) + byte;
        debug_assert!(offset < self.len);
        // SAFETY: the geometry check made `len` cover the whole holder map; a
        // byte-sized atomic, valid for any bit pattern.
        (
            unsafe { &*(self.base.add(offset) as *const std::sync::atomic::AtomicU8) },
            bit,
        )
    }

    /// Notes that process `pid` holds an endpoint (its bit in the holder map,
    /// which the front's constructor of a new image of that pid reads).
    ///
    /// Always a read-modify-write, ordered with everything around it: the
    /// record it follows is live first, and a start-up that clears the bit
    /// and then scans sees one or the other.
    pub fn note_holder(&self, pid: u32) {
        let (byte, bit) = self.holder_byte(pid);
        byte.fetch_or(bit, SeqCst);
    }

    /// Clears `pid`'s bit in the holder map: that process's start-up found
    /// nothing of its own in the segment.
    pub fn forget_holder(&self, pid: u32) {
        let (byte, bit) = self.holder_byte(pid);
        byte.fetch_and(!bit, SeqCst);
    }

    /// Is `pid`'s bit set in the holder map?
    pub fn may_hold(&self, pid: u32) -> bool {
        let (byte, bit) = self.holder_byte(pid);
        byte.load(Relaxed) & bit != 0
    }

    /// The 4-byte word at `offset` (an index bucket).
    pub(super) fn word_at(&self, offset: usize) -> &std::sync::atomic::AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "index bucket outside the segment"
        );
        // SAFETY: inside the mapping (checked above) and 4-aligned (the mapping is
        // page-aligned); an atomic valid for any bit pattern.
        unsafe { &*(self.base.add(offset) as *const std::sync::atomic::AtomicU32) }
    }

    /// The records ever handed out (below the high-water mark; the rest have
    /// never been touched).
    pub fn records(&self) -> impl Iterator<Item = (u32, &Record)> {
        let high = self.header().high_water.load(Relaxed).min(self.capacity);
        (0..high).filter_map(|i| self.record(i).map(|r| (i, r)))
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping made in `map`, and no reference
        // into it outlives `self` (they borrow from it).
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

fn close_fd(fd: i32) {
    // The library's own `close` export would be found first; go to the kernel.
    // SAFETY: `fd` is a descriptor this module opened and no longer needs.
    unsafe { libc::syscall(libc::SYS_close, libc::c_long::from(fd)) };
}
