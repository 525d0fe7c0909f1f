//! What goes wrong with a request, and the response it gets: a status and
//! a one-line reason, the same in the body and in the access log.

use std::fmt;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode};

use super::body::{ResponseBody, first_line, full};
use super::cgi::HeadError;
use crate::runtime::{Exit, LimitHit, RunError};

/// Why wharf answered a request itself instead of the guest.
///
/// | failure | status |
/// |---|---|
/// | request body over the limit | 413 Content Too Large |
/// | request body not sent in time | 408 Request Timeout |
/// | request body unreadable, a NUL in the path, a Host header not ASCII | 400 Bad Request |
/// | `CONNECT` | 501 Not Implemented |
/// | every place taken for the queue's time | 503 Service Unavailable, `Retry-After: 1` |
/// | guest past its timeout | 504 Gateway Timeout |
/// | guest trapped, exited non-zero, hit its memory or fuel limit | 500 Internal Server Error |
/// | guest answered nothing, or a malformed CGI head | 502 Bad Gateway |
/// | guest could not be started | 500 Internal Server Error |
#[derive(Clone, Debug)]
pub enum Failure {
    /// The request body was larger than the limit (bytes).
    BodyTooLarge(usize),
    /// The request body did not arrive within this time.
    BodyTimeout(Duration),
    /// The request is one wharf does not take (a NUL in the path, a Host
    /// header that is not ASCII), or its body could not be read.
    BadRequest(String),
    /// The method is one wharf does not serve.
    NotImplemented(String),
    /// Every place was taken (this many) for the whole queue timeout.
    Busy(usize),
    /// The guest ended without answering, and not with status 0.
    Guest(Exit),
    /// A proxy component returned without setting a response.
    NoResponse,
    /// A proxy component answered with a `wasi:http` error code.
    ProxyError(String),
    /// A CGI guest's response head could not be used.
    Cgi(HeadError),
    /// The guest could not be started.
    Start(String),
    /// Something in wharf failed.
    Internal(String),
}

impl Failure {
    pub(super) fn start(error: anyhow::Error) -> Self {
        match error.downcast_ref::<RunError>() {
            Some(RunError::Busy { .. }) => Failure::Busy(0),
            _ => Failure::Start(format!("{error:#}")),
        }
    }

    /// The status the request gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Failure::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Guest(Exit::Limit(LimitHit::Timeout { .. })) => StatusCode::GATEWAY_TIMEOUT,
            Failure::Guest(_) | Failure::Start(_) | Failure::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Failure::NoResponse | Failure::ProxyError(_) | Failure::Cgi(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }

    /// The response: the status, and the reason as one line of text (also
    /// kept in the response's extensions, for the access log).
    pub(super) fn response(self) -> Response<ResponseBody> {
        let mut response = Response::new(full(format!("{self}\n")));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if matches!(self, Failure::Busy(_)) {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BodyTooLarge(limit) => {
                write!(f, "the request body is larger than {limit} bytes")
            }
            Failure::BodyTimeout(limit) => write!(
                f,
                "the request body did not arrive within {}",
                humantime::format_duration(*limit)
            ),
            Failure::BadRequest(e) => write!(f, "bad request: {e}"),
            Failure::NotImplemented(what) => write!(f, "not implemented: {what}"),
            Failure::Busy(0) => write!(f, "every sandbox is busy: try again"),
            Failure::Busy(n) => {
                write!(
                    f,
                    "the server is running its limit of {n} requests: try again"
                )
            }
            Failure::Guest(exit) => write!(f, "{}", first_line(&exit.to_string())),
            Failure::NoResponse => write!(f, "the guest returned without setting a response"),
            Failure::ProxyError(code) => write!(f, "the guest answered with an error: {code}"),
            Failure::Cgi(e) => write!(f, "{e}"),
            Failure::Start(e) => write!(f, "cannot start the guest: {}", first_line(e)),
            Failure::Internal(e) => write!(f, "internal error: {}", first_line(e)),
        }
    }
}
