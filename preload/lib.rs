//! `libwsd.so`: the `wsd` crate linked as the library to preload. Everything it
//! does is in that crate (`wsd::shim` holds the exported functions, its
//! constructor and the provider's C API); this package only links it as a cdylib
//! of its own, so that link-time optimisation runs over it and the standard
//! library (a crate built as both rlib and cdylib gets none, and reaches its own
//! statics through the GOT).

// Linked for its exported symbols and its constructor; nothing here names them.
use wsd as _;
