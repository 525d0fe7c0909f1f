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

/// `wharf login`: the registry turned the credentials down. 77, sysexits'
/// `EX_NOPERM`.
pub const UNAUTHORIZED: i32 = 77;

/// `wharf login`: the registry could not be reached. 69, sysexits'
/// `EX_UNAVAILABLE`.
pub const UNREACHABLE: i32 = 69;

/// The status for an error that ended a command other than `run` and
/// `serve`: [`WHARF_ERROR`] for what could not be done as asked (an
/// archive for a terminal, as for bad flags), [`UNAUTHORIZED`] and
/// [`UNREACHABLE`] for a login that failed so, [`FAILURE`] for every
/// other.
pub fn for_error(error: &anyhow::Error) -> i32 {
    use wharf::registry::LoginError;
    for cause in error.chain() {
        if cause.downcast_ref::<Refused>().is_some()
            || cause.downcast_ref::<wharf::archive::ToTerminal>().is_some()
        {
            return WHARF_ERROR;
        }
        match cause.downcast_ref::<LoginError>() {
            Some(LoginError::Unauthorized { .. }) => return UNAUTHORIZED,
            Some(LoginError::Unreachable { .. }) => return UNREACHABLE,
            _ => {}
        }
    }
    FAILURE
}

/// What wharf refuses to do as asked, with what to do instead: a usage
/// error, reported with [`WHARF_ERROR`] as bad flags are.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}
