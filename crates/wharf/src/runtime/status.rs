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

/// wharf itself could not start the guest: a bad argument, no such image,
/// a store error. Docker reports 125 for the same.
pub const WHARF_ERROR: i32 = 125;
/// The command exists but cannot be run: not Wasm, corrupt, or it imports
/// something wharf does not provide. Docker: 126.
pub const NOT_RUNNABLE: i32 = 126;
/// The command was not found in the image's `PATH`. Docker: 127.
pub const NOT_FOUND: i32 = 127;

/// The status for an error that kept a guest from starting (what
/// [`super::App::prepare`] and [`super::App::call`] return as `Err`):
/// [`NOT_FOUND`] and [`NOT_RUNNABLE`] for the [`super::RunError`]s that
/// mean them, [`WHARF_ERROR`] for every other.
pub fn for_error(error: &anyhow::Error) -> i32 {
    match error
        .chain()
        .find_map(|e| e.downcast_ref::<super::RunError>())
    {
        Some(super::RunError::CommandNotFound { .. }) => NOT_FOUND,
        Some(super::RunError::NotRunnable { .. }) => NOT_RUNNABLE,
        _ => WHARF_ERROR,
    }
}
