//! The interposer's engine: everything that runs inside the program beyond the
//! preloaded front (`wsd-front`, `libwsd.so`), which loads it when a process
//! first needs it and calls it through the table `exports` builds.
//!
//! Five layers; each module uses only modules of its own layer or below (within
//! a layer, without cycles), and `scripts/layers` checks it on every CI run from
//! the table below, which is its source:
//!
//! <!-- layers -->
//! | layer | modules | what they own |
//! |---|---|---|
//! | 1 | `exports` | the engine's entry points, which the front calls: the descriptor looked up, the guard taken, no panic into C |
//! | 2 | `hooks` | what a call on a descriptor of ours does: option calls, socket life, data calls, the provider's C API |
//! | 3 | `switch`, `memo`, `counting`, `sites`, `provider`, `watch` | the switch's decisions, a thread's memo of its last calls, the report's counting and the call sites it records, the provider bound to a record, the fault watcher |
//! | 4 | `state`, `startup` | the process-wide state (configuration, segment, endpoint references, who this process is) and start-up |
//! | 5 | `real`, `front`, `fdtable`, `thread`, `memory`, `errno`, `log`, `net`, `sidechannel`, `frames` | primitives: libc's real functions, the preloaded front (what it owns and hands over), the descriptor table, per-thread storage, reading program memory without faulting, `errno`, log lines, asking the kernel about sockets, the pipe to `wsd run`, the program's stack and modules |
//! <!-- /layers -->
//!
//! Data flows one way, down: a call enters at an export, and a lower layer
//! never calls a higher one. Where a lower layer must run something of a higher
//! one at a moment it owns — the fork handlers that start-up registers — the
//! higher layer hands it a function pointer.
//!
//! Below the shim are the model (`crate::model`), the segment (`crate::san`)
//! and the configuration (`crate::config`), none of which knows the shim.

mod counting;
mod errno;
mod exports;
mod fdtable;
mod frames;
mod front;
mod hooks;
mod log;
mod memo;
mod memory;
mod net;
mod provider;
mod real;
mod sidechannel;
mod sites;
mod startup;
mod state;
mod switch;
mod thread;
mod watch;

pub use exports::engine;
