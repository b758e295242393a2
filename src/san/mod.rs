//! The emulated SAN: a shared-memory segment that every process sees (SPEC §5).
//! Nothing here knows about hooks or descriptors.
//!
//! - `layout` says what lies where in the segment, and how values are packed
//!   into its words.
//! - `segment` creates, opens, validates and maps it (`segment/access.rs`: who
//!   may use a segment; `segment/error.rs`: why one cannot be used).
//! - `index` finds records by cookie and address pair, and keeps the free list
//!   and the lock that guards them.
//! - `endpoint` manages the records: claiming, pairing, holding, letting go,
//!   freeing (`endpoint/fields.rs`: what a record's fields and the header's
//!   counters say; `endpoint/lookup.rs`: finding a live record;
//!   `endpoint/address.rs`: an address in a record's words).
//! - `kernel` asks the kernel whether a socket still exists, and whether a
//!   process holds it; `reap` reclaims what dead processes left (the records of
//!   sockets that are gone, holder slots, claims, counting lanes).
//! - `faults` injects failures and keeps their log (`faults/selector.rs`: which
//!   connections a fault hits; `faults/log.rs`: the fault log and story).
//! - `faultspec` reads `wsd run --fault` (faults scheduled at launch;
//!   `faultspec/values.rs`: the keys' values) and `schedule` injects them when due.
//! - `check` verifies the invariants (`wsd san check`).
//! - `report` counts calls in the report table, and `lanes` lets threads count
//!   without contending; `sites` keeps where in the programs each report row's
//!   calls were made (call sites, and the modules they lie in).

pub mod check;
pub mod endpoint;
pub mod faults;
pub mod faultspec;
pub mod index;
pub mod kernel;
pub mod lanes;
pub mod layout;
pub mod reap;
pub mod report;
pub mod schedule;
pub mod segment;
pub mod sites;

pub use endpoint::{EndpointRef, FallbackCount, NewEndpoint};
pub use faults::Target;
pub use layout::EndpointRole;
pub use segment::{Segment, SegmentError};
