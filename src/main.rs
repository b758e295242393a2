//! The `wsd` tool (SPEC §6.3): thin over the library.
#![deny(unsafe_op_in_unsafe_fn)]

mod tool;

fn main() {
    std::process::exit(tool::main());
}
