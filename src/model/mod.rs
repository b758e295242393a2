//! The provider's semantics, pure: the option table, the error codes, the checks of
//! `WSPSetSockOpt`/`WSPGetSockOpt`, and the switch's routing. No I/O and no `unsafe`
//! here; everything is unit-tested alone.

pub mod codes;
pub mod names;
pub mod options;
pub mod provider;
pub mod switch;

pub use codes::{CODES, CodeSpec, SOCKET_ERROR, WsaError};
pub use options::{OPTIONS, OptionId, OptionSpec};
