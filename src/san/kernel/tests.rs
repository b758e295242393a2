//! Unit test of what the kernel says: a real connection asked about by cookie,
//! by address pair, from another namespace, and held at another descriptor.

use super::*;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

fn cookie(fd: i32) -> u64 {
    let mut v = 0u64;
    let mut len = 8 as libc::socklen_t;
    // SAFETY: valid out-pointers of the sizes given.
    unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, 57, (&mut v as *mut u64).cast(), &mut len) };
    v
}

#[test]
fn the_kernel_tells_open_from_gone() {
    let k = Kernel::open().expect("a sock_diag socket");
    let ns = k.netns();
    assert_ne!(ns, 0);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let (cl, cp) = (c.local_addr().unwrap(), c.peer_addr().unwrap());
    let ck = cookie(c.as_raw_fd());
    assert_eq!(k.fate(ns, ck, Some(cl), Some(cp)), Fate::Open(TCP_ESTABLISHED));
    assert_eq!(
        k.fate(ns, 0, Some(cl), Some(cp)),
        Fate::Open(TCP_ESTABLISHED),
        "by address pair alone"
    );
    assert_eq!(
        k.fate(ns, ck + 1000, Some(cl), Some(cp)),
        Fate::Gone,
        "another socket's cookie"
    );
    assert_eq!(
        k.fate(ns, cookie(l.as_raw_fd()), l.local_addr().ok(), None),
        Fate::Open(TCP_LISTEN)
    );
    assert_eq!(
        k.fate(ns + 1, ck, Some(cl), Some(cp)),
        Fate::Unknown,
        "another namespace"
    );
    // The server end closes first (orderly): the client is in CLOSE_WAIT, and
    // still there.
    let (sl, sp) = (s.local_addr().unwrap(), s.peer_addr().unwrap());
    drop(s);
    let f = k.fate(ns, 0, Some(cl), Some(cp));
    assert_eq!(f, Fate::Open(8), "CLOSE_WAIT");
    let _ = (sl, sp);
    // This process holds the client socket, at its descriptor and at a dup.
    let ino = |fd: i32| {
        // SAFETY: an all-zero stat is valid; fstat only writes into it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid out-pointer.
        unsafe { libc::fstat(fd, &mut st) };
        st.st_ino
    };
    let me = std::process::id();
    let cino = ino(c.as_raw_fd());
    assert_eq!(holds(me, c.as_raw_fd(), cino), Some(true));
    assert_eq!(holds(me, 9999, cino), Some(true), "found at another descriptor");
    drop(c);
    assert_eq!(holds(me, -1, cino), Some(false));
    // The client's side is an orphan or gone once closed: gone either way.
    assert_eq!(k.fate(ns, ck, Some(cl), Some(cp)), Fate::Gone);
    drop(l);
}
