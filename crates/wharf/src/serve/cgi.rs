//! The Common Gateway Interface (RFC 3875) between an HTTP request and a
//! WASI command: the request's meta-variables as environment variables
//! (section 4.1), and the response the command writes on stdout read back
//! (section 6): header lines, a blank line, the body.

use std::net::SocketAddr;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// What the server says it is in `SERVER_SOFTWARE`.
pub(super) const SERVER_SOFTWARE: &str = concat!("wharf/", env!("CARGO_PKG_VERSION"));

/// Where a request came in: the server's own address and the client's.
#[derive(Clone, Copy, Debug)]
pub struct Peers {
    /// The address the server listens on.
    pub local: SocketAddr,
    /// The client's address.
    pub remote: SocketAddr,
}

/// The meta-variables of RFC 3875 section 4.1 for a request, in the order
/// the RFC lists them, then one `HTTP_*` variable per header (section
/// 4.1.18).
///
/// The whole app is the script, mounted at the root: `SCRIPT_NAME` is
/// empty and `PATH_INFO` is the request's whole path, decoded (4.1.5).
/// Headers the RFC lets a server leave out are left out where they would
/// be unsafe: `Proxy` (a guest would read it as `HTTP_PROXY`, a proxy
/// setting: "httpoxy"), and any header whose name has an underscore (it
/// would share a variable with its dashed twin, as nginx and Apache also
/// refuse). `Authorization` is passed (`HTTP_AUTHORIZATION`): the guest is
/// the whole application, not one script on a shared server, and WSGI
/// frameworks read it there. Repeated headers are joined with `, ` (`; `
/// for `Cookie`), as RFC 9110 section 5.3 allows.
pub fn meta_variables(
    parts: &http::request::Parts,
    body_len: usize,
    peers: Peers,
) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    let mut set = |name: &str, value: String| vars.push((name.to_owned(), value));
    if let Some(auth) = parts.headers.get(http::header::AUTHORIZATION)
        && let Some(scheme) = text(auth).split_whitespace().next()
    {
        set("AUTH_TYPE", scheme.to_owned());
    }
    if body_len > 0 || parts.headers.contains_key(CONTENT_LENGTH) {
        set("CONTENT_LENGTH", body_len.to_string());
    }
    if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        set("CONTENT_TYPE", text(content_type));
    }
    set("GATEWAY_INTERFACE", "CGI/1.1".to_owned());
    let path = parts.uri.path();
    set(
        "PATH_INFO",
        percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned(),
    );
    set("QUERY_STRING", parts.uri.query().unwrap_or("").to_owned());
    set("REMOTE_ADDR", peers.remote.ip().to_string());
    set("REMOTE_HOST", peers.remote.ip().to_string());
    set("REQUEST_METHOD", parts.method.as_str().to_owned());
    // Not in the RFC, but every CGI server sets it and frameworks build
    // URLs from it: the path and query as the client sent them.
    set(
        "REQUEST_URI",
        parts
            .uri
            .path_and_query()
            .map_or_else(|| path.to_owned(), |p| p.as_str().to_owned()),
    );
    set("SCRIPT_NAME", String::new());
    let (name, port) = server_name(parts, peers.local);
    set("SERVER_NAME", name);
    set("SERVER_PORT", port);
    set("SERVER_PROTOCOL", protocol(parts.version).to_owned());
    set("SERVER_SOFTWARE", SERVER_SOFTWARE.to_owned());
    let mut headers: Vec<(String, String)> = Vec::new();
    for name in parts.headers.keys() {
        if *name == CONTENT_TYPE
            || *name == CONTENT_LENGTH
            || name.as_str() == "proxy"
            || name.as_str().contains('_')
        {
            continue;
        }
        let separator = if *name == http::header::COOKIE {
            "; "
        } else {
            ", "
        };
        let value = parts
            .headers
            .get_all(name)
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(separator);
        let var = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        headers.push((var, value));
    }
    vars.extend(headers);
    vars
}

/// `SERVER_NAME` and `SERVER_PORT` (RFC 3875 4.1.14, 4.1.15): from the
/// `Host` header when the client sent one, else the listening address.
fn server_name(parts: &http::request::Parts, local: SocketAddr) -> (String, String) {
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| parts.headers.get(http::header::HOST).map(text));
    let Some(host) = host else {
        return (local.ip().to_string(), local.port().to_string());
    };
    match host.parse::<http::uri::Authority>() {
        Ok(authority) => (
            authority.host().to_owned(),
            authority.port_u16().unwrap_or(local.port()).to_string(),
        ),
        Err(_) => (local.ip().to_string(), local.port().to_string()),
    }
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// The head of a CGI response (RFC 3875 section 6): its status and the
/// header fields to send.
#[derive(Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// From `Status:`, else 302 with a `Location` (a client redirect,
    /// 6.2.3), else 200.
    pub status: StatusCode,
    /// Every header field but `Status`.
    pub headers: HeaderMap,
}

/// Why a CGI response's head cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The output ended before the blank line that ends the head.
    #[error("the output ended before the blank line that ends the CGI header")]
    Incomplete,
    /// The head is longer than the server accepts.
    #[error("the CGI header is longer than {0} bytes")]
    TooLong(usize),
    /// A line of the head is not a header field, or a field is wrong.
    #[error("malformed CGI header, line {line}: {reason}")]
    Malformed {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Finds the end of a CGI response's head in `output`: the offset just
/// after the blank line (LF or CRLF line ends, as RFC 3875 6.3 allows
/// both), if it is there yet.
pub fn head_end(output: &[u8]) -> Option<usize> {
    HeadScanner::default().scan(output)
}

/// [`head_end`] over output that grows: each call looks only at what
/// came since the last, so that a guest writing its head a byte at a time
/// costs time in proportion to the head, not to its square.
#[derive(Debug, Default)]
pub struct HeadScanner {
    /// Where the line being read starts.
    line_start: usize,
    /// How much of the output has been looked at.
    checked: usize,
}

impl HeadScanner {
    /// The end of the head in `output` (all of it so far, the same bytes
    /// as before and maybe more), if it is there yet.
    pub fn scan(&mut self, output: &[u8]) -> Option<usize> {
        while let Some(lf) = output[self.checked..].iter().position(|&b| b == b'\n') {
            let at = self.checked + lf;
            let line = &output[self.line_start..at];
            self.checked = at + 1;
            if line.is_empty() || line == b"\r" {
                return Some(at + 1);
            }
            self.line_start = at + 1;
        }
        self.checked = output.len();
        None
    }
}

/// Parses a CGI response's head: `head` is everything up to and including
/// the blank line ([`head_end`]).
///
/// # Errors
///
/// [`HeadError::Malformed`] for a line that is not `name: value`, a name or
/// value HTTP does not allow, a `Status` that is not a three-digit code,
/// or a head with none of `Content-Type`, `Location` and `Status` (6.2).
pub fn parse_head(head: &[u8]) -> Result<ResponseHead, HeadError> {
    let mut status = None;
    let mut headers = HeaderMap::new();
    for (index, line) in head.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let malformed = |reason: &str| HeadError::Malformed {
            line: index + 1,
            reason: reason.to_owned(),
        };
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| malformed("not a header field (NAME: VALUE)"))?;
        let name = HeaderName::from_bytes(&line[..colon])
            .map_err(|_| malformed("not a valid header name"))?;
        let value = line[colon + 1..].trim_ascii();
        if name.as_str() == "status" {
            // A final response: no 1xx (hyper would answer 500 for it, or
            // take 101 for an upgrade).
            let code = value
                .get(..3)
                .and_then(|code| StatusCode::from_bytes(code).ok())
                .filter(|_| value.len() == 3 || value[3] == b' ')
                .filter(|code| (200..600).contains(&code.as_u16()))
                .ok_or_else(|| malformed("Status must be a code from 200 to 599 and a reason"))?;
            status = Some(code);
            continue;
        }
        let value =
            HeaderValue::from_bytes(value).map_err(|_| malformed("not a valid header value"))?;
        headers.append(name, value);
    }
    let status = match status {
        Some(status) => status,
        None if headers.contains_key(LOCATION) => StatusCode::FOUND,
        None if headers.contains_key(CONTENT_TYPE) => StatusCode::OK,
        None => {
            return Err(HeadError::Malformed {
                line: 1,
                reason: "the header has none of Content-Type, Location and Status".into(),
            });
        }
    };
    Ok(ResponseHead { status, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::Request<()>) -> http::request::Parts {
        request.into_parts().0
    }

    fn peers() -> Peers {
        Peers {
            local: "127.0.0.1:8080".parse().unwrap(),
            remote: "127.0.0.1:50000".parse().unwrap(),
        }
    }

    fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn meta_variables_follow_rfc_3875() {
        let request = http::Request::post("/caf%C3%A9/x?a=1&b=%20")
            .header("host", "example.test:9000")
            .header("content-type", "text/plain")
            .header("x-one", "1")
            .header("x-one", "2")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("authorization", "Basic Zm9vOmJhcg==")
            .header("proxy", "http://evil.test")
            .header("x_spoof", "1")
            .body(())
            .unwrap();
        let vars = meta_variables(&parts(request), 5, peers());
        assert_eq!(var(&vars, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(var(&vars, "PATH_INFO"), Some("/café/x"));
        assert_eq!(var(&vars, "QUERY_STRING"), Some("a=1&b=%20"));
        assert_eq!(var(&vars, "REQUEST_URI"), Some("/caf%C3%A9/x?a=1&b=%20"));
        assert_eq!(var(&vars, "SCRIPT_NAME"), Some(""));
        assert_eq!(var(&vars, "CONTENT_LENGTH"), Some("5"));
        assert_eq!(var(&vars, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(var(&vars, "SERVER_NAME"), Some("example.test"));
        assert_eq!(var(&vars, "SERVER_PORT"), Some("9000"));
        assert_eq!(var(&vars, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(var(&vars, "GATEWAY_INTERFACE"), Some("CGI/1.1"));
        assert_eq!(var(&vars, "REMOTE_ADDR"), Some("127.0.0.1"));
        assert_eq!(var(&vars, "AUTH_TYPE"), Some("Basic"));
        assert_eq!(var(&vars, "HTTP_X_ONE"), Some("1, 2"));
        assert_eq!(var(&vars, "HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(var(&vars, "HTTP_HOST"), Some("example.test:9000"));
        assert_eq!(var(&vars, "HTTP_PROXY"), None, "httpoxy");
        assert_eq!(var(&vars, "HTTP_X_SPOOF"), None);
        assert_eq!(var(&vars, "HTTP_CONTENT_TYPE"), None);
    }

    #[test]
    fn a_request_without_host_or_body_names_the_listener() {
        let request = http::Request::get("/").body(()).unwrap();
        let vars = meta_variables(&parts(request), 0, peers());
        assert_eq!(var(&vars, "SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(var(&vars, "SERVER_PORT"), Some("8080"));
        assert_eq!(var(&vars, "CONTENT_LENGTH"), None);
        assert_eq!(var(&vars, "QUERY_STRING"), Some(""));
    }

    #[test]
    fn heads_end_at_the_first_blank_line_with_either_line_end() {
        assert_eq!(head_end(b"Content-Type: a\n\nbody"), Some(17));
        assert_eq!(head_end(b"Content-Type: a\r\n\r\nbody"), Some(19));
        assert_eq!(head_end(b"Content-Type: a\r\n"), None);
        assert_eq!(head_end(b"\nbody"), Some(1));
        // Fed a byte at a time, as a guest may write it.
        let whole = b"Content-Type: a\r\nX: 1\r\n\r\nbody";
        let mut scanner = HeadScanner::default();
        let ends: Vec<Option<usize>> = (1..=whole.len())
            .map(|n| scanner.scan(&whole[..n]))
            .collect();
        assert_eq!(ends.iter().position(Option::is_some), Some(24));
        assert_eq!(ends[24], Some(25));
    }

    #[test]
    fn heads_parse_status_location_and_repeated_fields() {
        let head = parse_head(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n").unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.headers.get_all("set-cookie").iter().count(), 2);
        assert!(head.headers.get("status").is_none());
        let redirect = parse_head(b"Location: https://example.test/\n\n").unwrap();
        assert_eq!(redirect.status, StatusCode::FOUND);
        let plain = parse_head(b"Content-Type: text/html\n\n").unwrap();
        assert_eq!(plain.status, StatusCode::OK);
        assert_eq!(parse_head(b"Status: 201\n\n").unwrap().status, 201);
    }

    #[test]
    fn malformed_heads_name_their_line() {
        let cases: [(&[u8], usize); 7] = [
            (b"Content-Type: a\nnot a header\n\n", 2),
            (b"Status: OK\n\n", 1),
            (b"Status: 101 Switching Protocols\n\n", 1),
            (b"Content-Type: a\nStatus: 999 Nine\n\n", 2),
            (b"Status: 2000 Big\n\n", 1),
            (b"X-Only: 1\n\n", 1),
            (b"Content-Type: a\nBad Name: 1\n\n", 2),
        ];
        for (head, line) in cases {
            match parse_head(head) {
                Err(HeadError::Malformed { line: at, .. }) => {
                    assert_eq!(at, line, "{}", String::from_utf8_lossy(head))
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(head)),
            }
        }
    }
}
