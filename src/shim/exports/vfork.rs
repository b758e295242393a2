//! `vfork`, the library's own (x86-64): it counts the children running in this
//! memory, so that the hooks know one runs without asking for their pid
//! (`state::in_vm_sharing_child`).

use crate::shim::{errno, state};
use libc::c_int;

/// `vfork`, as glibc makes it, counting the children that run in this memory
/// ([`state::VFORKS`]) so that the hooks know one is running without asking
/// for their pid. The return address is kept in a register across the system
/// call, because the child, running on this stack, overwrites it (glibc does the
/// same); the parent lowers the count when the call returns to it, once the child
/// has exec'd or exited.
///
/// # Safety
/// As for libc's `vfork`: the child may only call `_exit` or an `exec` function.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    std::arch::naked_asm!(
        "lock incq {vforks}(%rip)",
        "popq %rdi",
        "movl ${nr}, %eax",
        "syscall",
        "pushq %rdi",
        // The child (0): the count stays raised while it runs.
        "testl %eax, %eax",
        "je 2f",
        "lock decq {vforks}(%rip)",
        "cmpl $-4095, %eax",
        "jae 3f",
        "2:",
        "ret",
        // A failure: errno, and -1.
        "3:",
        "negl %eax",
        "movl %eax, %edi",
        "jmp {failed}",
        vforks = sym state::VFORKS,
        nr = const libc::SYS_vfork,
        failed = sym vfork_failed,
        options(att_syntax),
    )
}

/// `vfork`'s failure: errno is `e`, the answer -1.
extern "C" fn vfork_failed(e: c_int) -> libc::pid_t {
    errno::set(e);
    -1
}
