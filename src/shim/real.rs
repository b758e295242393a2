//! The real libc functions, for the engine: the same list and the same code as
//! the front's (`wsd_front::real`, which says how they are found), expanded
//! here with the `libc` crate's types. The engine's slots find their functions
//! through the front (`front::adopt` hands `wsd_front::real` the front's
//! lookup), so that both reach the definitions after the front, which is where
//! `RTLD_NEXT` is for the program. In the `wsd` tool and the test binaries,
//! where no front runs, they are found from this object.
#![allow(clippy::missing_safety_doc)]

use libc::{
    c_int, c_uint, c_void, iovec, mmsghdr, msghdr, off_t, off64_t, size_t, sockaddr, socklen_t, ssize_t,
    timespec,
};

wsd_front::libc_functions!(wsd_front::real_functions);

pub use wsd_front::real::{closefrom, fcntl, fcntl64};
