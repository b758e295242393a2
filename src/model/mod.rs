//! The provider's semantics, pure: the option table, the error codes, the checks of
//! `WSPSetSockOpt`/`WSPGetSockOpt`, and the switch's routing. No I/O and no `unsafe`
//! here (`forbid`); everything is unit-tested alone.
//!
//! - [`options`]: the option table, declared once.
//! - [`advice`]: what a port does about an option the provider refuses.
//! - [`codes`]: the provider's error codes and their errno counterparts.
//! - [`names`]: names for what the provider does not know (levels, options and
//!   errno values of Linux), for reports and debug lines.
//! - [`checks`]: `WSPSetSockOpt`/`WSPGetSockOpt`'s checks, in the specification's
//!   order, over the facts of a socket.
//! - [`routing`]: the switch's routing of each call (kernel, switch or provider).
#![forbid(unsafe_code)]

pub mod advice;
pub mod checks;
pub mod codes;
pub mod names;
pub mod options;
pub mod routing;

pub use codes::{CODES, CodeSpec, SOCKET_ERROR, WsaError};
pub use options::{OPTIONS, OptionId, OptionSpec};
