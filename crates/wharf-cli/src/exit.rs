//! Exit statuses, decided in one place. A guest's own exit status passes
//! through unchanged; the codes below are what wharf itself reports, chosen
//! to match `docker run` where Docker has an equivalent. How a guest that
//! did not exit on its own ended (a trap, a limit, a cancel) maps to the
//! statuses of [`wharf::runtime::status`].

use wharf::runtime::RunError;

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

/// The status for an error that ended `wharf run` before or instead of the
/// guest.
pub fn for_run_error(error: &anyhow::Error) -> i32 {
    match error.chain().find_map(|e| e.downcast_ref::<RunError>()) {
        Some(RunError::CommandNotFound { .. }) => NOT_FOUND,
        Some(RunError::NotRunnable { .. }) => NOT_RUNNABLE,
        _ => WHARF_ERROR,
    }
}
