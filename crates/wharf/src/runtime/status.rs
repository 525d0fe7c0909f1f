//! The exit statuses that stand for how a guest ended when it did not
//! exit on its own, chosen to match what `docker run` and `timeout(1)`
//! report for the same ends. A guest's own exit status passes through
//! unchanged.

/// The guest ran past its timeout, as `timeout(1)` reports.
pub const TIMEOUT: i32 = 124;
/// The guest exceeded its memory limit: 137 (128 + SIGKILL), what Docker
/// reports for a container killed for memory.
pub const MEMORY_LIMIT: i32 = 137;
/// The guest used up its fuel: 152 (128 + SIGXCPU, the CPU-time limit).
pub const FUEL_EXHAUSTED: i32 = 152;
/// The guest trapped (unreachable, out-of-bounds access, stack overflow…):
/// 134 (128 + SIGABRT) on Unix, 3 (abort) on Windows, as wasmtime does.
pub const TRAP: i32 = if cfg!(windows) { 3 } else { 134 };
/// The call was cancelled: 143 (128 + SIGTERM), as after `docker stop`.
pub const CANCELLED: i32 = 143;
