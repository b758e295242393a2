//! The emulated SAN: a shared-memory segment that every process sees (SPEC §5).
//! `layout` says what lies where, `segment` maps and validates it, `endpoint`
//! manages the records in it. Nothing here knows about hooks or descriptors.

pub mod endpoint;
pub mod layout;
pub mod segment;

pub use endpoint::{EndpointRef, NewEndpoint};
pub use layout::EndpointRole;
pub use segment::{Segment, SegmentError};
