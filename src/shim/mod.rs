//! The interposer: everything that runs inside the program.
//!
//! Data flows one way: `exports` (the C symbols) → `hooks` (the switch's routing
//! of each call) → `switch`/`provider`/`direct` → the model and the SAN segment.
//! `recent` answers a thread's repeated SAN call from its memo of the last one,
//! before `hooks`. `real` reaches libc, `fdtable` holds what is known per
//! descriptor, `thread` holds per-thread state (among it the guard that keeps our
//! own calls out of our hooks), `memory` reads program buffers without faulting,
//! `net` asks the kernel about sockets (and breaks a connection as a reset
//! would), `log` writes lines, `sidechannel` tells `wsd run` what the segment
//! cannot hold, `state` owns start-up and the process-wide state. `data` answers
//! the data calls on SAN sockets after a fault (SPEC §7), and `watch` is the
//! thread, one per process with SAN sockets, that makes faults act on the
//! connections when the tool injects them.

mod data;
mod direct;
mod exports;
pub use exports::constructor;
pub mod fdtable;
mod hooks;
pub mod log;
pub mod memory;
mod net;
mod provider;
pub mod real;
mod recent;
mod sidechannel;
pub mod state;
mod switch;
pub mod thread;
mod watch;
