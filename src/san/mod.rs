//! The emulated SAN: a shared-memory segment that every process sees (SPEC §5).
//! `layout` says what lies where, `segment` maps and validates it, `index` finds
//! records by cookie and address pair (and keeps the free list and the lock that
//! guards them), `endpoint` manages the records, `kernel` asks the kernel whether
//! a socket still exists, `reap` reclaims the records of sockets that are gone,
//! `faults` injects failures and keeps their log, `faultspec` reads `wsd run
//! --fault` (faults scheduled at launch) and `schedule` injects them when due, `check` verifies the invariants, `report` counts
//! calls in the report table and `lanes` lets threads count without contending.
//! Nothing here knows about hooks or descriptors.

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
