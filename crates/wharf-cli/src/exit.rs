//! Exit statuses, decided in one place. A guest's own exit status passes
//! through unchanged; the codes below are what wharf itself reports, chosen
//! to match `docker run` where Docker has an equivalent. How a guest that
//! did not exit on its own ended (a trap, a limit, a cancel) maps to the
//! statuses of [`wharf::runtime::status`].

pub use wharf::runtime::status::WHARF_ERROR;

/// A command other than `run` failed (bad manifest, missing image…).
pub const FAILURE: i32 = 1;

/// `wharf convert` wrote the manifest, but could not translate everything
/// in the Dockerfile (what it left is in the manifest, as comments).
pub const INCOMPLETE: i32 = 2;

/// The status for an error that ended `wharf run` before or instead of the
/// guest.
pub fn for_run_error(error: &anyhow::Error) -> i32 {
    wharf::runtime::status::for_error(error)
}
