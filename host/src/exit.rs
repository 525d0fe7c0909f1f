//! Exit statuses, decided in one place. A guest's own exit status passes
//! through unchanged; the codes below are what wharf itself reports, chosen
//! to match `docker run` where Docker has an equivalent.

use crate::runtime::RunError;

/// A command other than `run` failed (bad manifest, missing image…).
pub const FAILURE: i32 = 1;
/// wharf itself could not run the guest: a bad flag, no such image, a
/// store error. Docker uses 125 for the same.
pub const WHARF_ERROR: i32 = 125;
/// The command exists but cannot be run: not Wasm, corrupt, or it imports
/// something wharf does not provide. Docker: 126.
pub const NOT_RUNNABLE: i32 = 126;
/// The command was not found in the image's `PATH`. Docker: 127.
pub const NOT_FOUND: i32 = 127;
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

/// The status for an error that ended `wharf run` before or instead of the
/// guest.
pub fn for_run_error(error: &anyhow::Error) -> i32 {
    match error.chain().find_map(|e| e.downcast_ref::<RunError>()) {
        Some(RunError::CommandNotFound { .. }) => NOT_FOUND,
        Some(RunError::NotRunnable { .. }) => NOT_RUNNABLE,
        Some(RunError::NoCommand) | None => WHARF_ERROR,
    }
}
