//! `wharf serve`: the real binary answering a real HTTP client (ureq), with
//! guests of both kinds: WASI commands through CGI (a C program, Bottle on
//! CPython) and `wasi:http/proxy` components (C through wit-bindgen, Python
//! through componentize-py).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::support::{Wharf, python_sci_store, python_store, repo};

/// A running `wharf serve`, its stderr collected line by line.
pub(crate) struct Served {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
    done: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Starts `wharf serve -p 0 ARGS` and waits until it says where it
    /// listens.
    pub(crate) fn start(wharf: &Wharf, args: &[&str]) -> Self {
        let mut command = wharf.command(["serve", "-p", "0"].iter().chain(args));
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = std::sync::mpsc::channel();
        let lines = log.clone();
        let done = std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(" on http://")
                    && let Some(sender) = sender.take()
                {
                    let rest = &line[at + " on http://".len()..];
                    let address = rest.split_whitespace().next().unwrap().to_owned();
                    let _ = sender.send(address);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let address = match receiver.recv_timeout(Duration::from_secs(600)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                let _ = done.join();
                panic!(
                    "wharf serve did not start:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            child,
            address,
            log,
            done: Some(done),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The lines of stderr so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a line of the log contains `part`; returns it.
    fn wait_for_log(&self, part: &str) -> String {
        for _ in 0..600 {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(part)) {
                return line;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no log line with {part:?}:\n{}", self.log().join("\n"));
    }

    /// Sends `signal` and waits for the process; returns its status and
    /// its whole log.
    #[cfg(unix)]
    fn stop(mut self, signal: &str) -> (i32, Vec<String>) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        if let Some(done) = self.done.take() {
            done.join().unwrap();
        }
        (code, self.log())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that reports every status as a response, not an error.
fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// GETs `url`; returns the status, the response and its body as text.
fn get(url: &str) -> (u16, String) {
    let mut response = client().get(url).call().unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, body)
}

/// The CGI test program (tests/http/cgi.c), built with Debian's clang.
fn cgi_guest() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-cgi.wasm");
        clang(&[repo().join("tests/http/cgi.c")], &out, &[]);
        out
    })
    .clone()
}

/// The C `wasi:http/proxy` component (tests/http/proxy-c): a reactor built
/// with clang against wit-bindgen's bindings, made a component with the
/// standard preview 1 reactor adapter (as `wasm-tools component new
/// --adapt` does).
fn proxy_guest() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = repo().join("tests/http/proxy-c");
        let core = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-proxy-core.wasm");
        clang(
            &[
                dir.join("proxy.c"),
                dir.join("bindings/hello.c"),
                dir.join("bindings/hello_component_type.o"),
            ],
            &core,
            &["-mexec-model=reactor"],
        );
        let module = std::fs::read(&core).unwrap();
        let adapter =
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
        let component = wit_component::ComponentEncoder::default()
            .module(&module)
            .unwrap()
            .adapter("wasi_snapshot_preview1", adapter)
            .unwrap()
            .validate(true)
            .encode()
            .unwrap();
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-proxy.wasm");
        std::fs::write(&out, component).unwrap();
        out
    })
    .clone()
}

fn clang(sources: &[PathBuf], out: &Path, flags: &[&str]) {
    let status = std::process::Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2"])
        .args(flags)
        .args(sources)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "clang failed for {}", out.display());
}

/// Whether a GET of `url` ends in an error rather than a complete
/// response: the connection closed before the head (nothing was flushed
/// yet) or in the middle of the body.
fn cut_short(url: &str) -> bool {
    match client().get(url).call() {
        Err(_) => true,
        Ok(mut response) => response.body_mut().read_to_string().is_err(),
    }
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn cgi_passes_the_request_in_meta_variables_and_headers_both_ways() {
    let wharf = Wharf::new();
    let served = Served::start(
        &wharf,
        &["-e", "FROM_FLAG=yes", cgi_guest().to_str().unwrap()],
    );
    let mut response = client()
        .get(served.url("/env?x=1&y=%20z"))
        .header("X-Ask", "please")
        .header("Cookie", "a=1")
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/plain")
    );
    let body = response.body_mut().read_to_string().unwrap();
    let vars: Vec<&str> = body.lines().collect();
    for expected in [
        "REQUEST_METHOD=GET",
        "PATH_INFO=/env",
        "QUERY_STRING=x=1&y=%20z",
        "REQUEST_URI=/env?x=1&y=%20z",
        "SCRIPT_NAME=",
        "GATEWAY_INTERFACE=CGI/1.1",
        "SERVER_PROTOCOL=HTTP/1.1",
        "SERVER_NAME=127.0.0.1",
        "REMOTE_ADDR=127.0.0.1",
        "HTTP_X_ASK=please",
        "HTTP_COOKIE=a=1",
        "FROM_FLAG=yes",
    ] {
        assert!(vars.contains(&expected), "no {expected} in:\n{body}");
    }
    let port = served.address.rsplit(':').next().unwrap();
    assert!(
        vars.contains(&format!("SERVER_PORT={port}").as_str()),
        "{body}"
    );
    assert!(
        !vars.iter().any(|v| v.starts_with("CONTENT_LENGTH=")),
        "a GET without a body has no CONTENT_LENGTH:\n{body}"
    );

    // Status, and headers from the guest, repeated ones included.
    let mut response = client()
        .get(served.url("/status"))
        .header("X-Ask", "tea")
        .call()
        .unwrap();
    assert_eq!(response.status(), 418);
    assert_eq!(header(&response, "x-reply").as_deref(), Some("tea"));
    let cookies: Vec<_> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(response.body_mut().read_to_string().unwrap(), "teapot\n");

    // A Location alone is a redirect (RFC 3875 6.2.3).
    let response = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
        .get(served.url("/redirect"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        header(&response, "location").as_deref(),
        Some("http://example.test/")
    );

    // One access-log line per request: method, path, status, bytes, time.
    let line = served.wait_for_log("\"GET /status\"");
    assert!(
        line.starts_with("127.0.0.1 \"GET /status\" 418 7 "),
        "{line}"
    );
    assert!(line.ends_with("ms"), "{line}");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn zero_limits_are_none_per_request() {
    let wharf = Wharf::new();
    let served = Served::start(
        &wharf,
        &["-m", "0", "--timeout", "0s", cgi_guest().to_str().unwrap()],
    );
    served.wait_for_log("per request: memory none, timeout none");
    let (status, _) = get(&served.url("/env"));
    assert_eq!(status, 200);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn no_request_sees_what_an_earlier_one_did_in_its_tmp() {
    let wharf = Wharf::new();
    let served = Served::start(
        &wharf,
        &["--max-concurrency", "1", cgi_guest().to_str().unwrap()],
    );
    let look = || get(&served.url("/tmp-look"));
    let (status, fresh) = look();
    assert_eq!(status, 200);
    assert!(fresh.ends_with(" entries=0\n"), "{fresh}");
    // A file made and removed, and /tmp's times set: the next request's
    // /tmp shows neither.
    assert_eq!(get(&served.url("/tmp-mark")), (200, "mtime=1000\n".into()));
    let (_, after) = look();
    assert!(after.ends_with(" entries=0\n"), "{after}");
    assert!(
        !after.starts_with("mtime=1000 "),
        "a request saw another's /tmp: {after}"
    );
    // A file left behind is gone too.
    assert_eq!(get(&served.url("/tmp-leave")), (200, "left\n".into()));
    let (_, after) = look();
    assert!(
        after.ends_with(" entries=0\n"),
        "a request saw another's file: {after}"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn cgi_takes_a_large_body_on_stdin_and_streams_a_large_response() {
    let wharf = Wharf::new();
    let served = Served::start(&wharf, &[cgi_guest().to_str().unwrap()]);
    let body: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
    let mut response = client()
        .post(served.url("/echo"))
        .header("Content-Type", "application/octet-stream")
        .send(&body[..])
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-length").as_deref(), Some("8388608"));
    let echoed = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap();
    assert!(echoed == body, "the body came back changed");

    // 64 MiB out, through a bounded channel: all of it, in order.
    let mut response = client().get(served.url("/big")).call().unwrap();
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut total = 0u64;
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|&b| b == b'x'));
        total += n as u64;
    }
    assert_eq!(total, 64 << 20);
}

/// A host directory to mount at `/gate`: the `/gate` routes of both test
/// guests write a line, then wait until `open` exists in it before they
/// write the rest.
struct Gate(tempfile::TempDir);

impl Gate {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn volume(&self) -> String {
        format!("{}:/gate:ro", self.0.path().display())
    }

    fn open(&self) {
        std::fs::write(self.0.path().join("open"), "").unwrap();
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn cgi_and_proxy_responses_stream_while_the_guest_runs() {
    let wharf = Wharf::new();
    for guest in [cgi_guest(), proxy_guest()] {
        let gate = Gate::new();
        let served = Served::start(&wharf, &["-v", &gate.volume(), guest.to_str().unwrap()]);
        let mut response = client().get(served.url("/gate")).call().unwrap();
        assert_eq!(response.status(), 200);
        let mut lines = BufReader::new(response.body_mut().as_reader());
        // The first line arrives while the guest waits for the gate, which
        // only this test opens: the response streams.
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        assert_eq!(first, "before the gate\n", "{}", guest.display());
        gate.open();
        let mut rest = String::new();
        lines.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "after the gate\n");
        served.wait_for_log("\"GET /gate\" 200 31 ");
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn hostile_cgi_requests_get_a_5xx_with_a_reason_and_the_server_goes_on() {
    let wharf = Wharf::new();
    let served = Served::start(
        &wharf,
        &[
            "--timeout",
            "1s",
            "-m",
            "64MiB",
            cgi_guest().to_str().unwrap(),
        ],
    );
    let cases = [
        ("/loop", 504, "the guest exceeded its timeout of 1s"),
        (
            "/alloc",
            500,
            "the guest exceeded its memory limit of 64MiB",
        ),
        (
            "/trap",
            500,
            "the guest trapped: wasm trap: wasm `unreachable` instruction executed",
        ),
        ("/exit", 500, "the guest exited with status 3"),
        (
            "/malformed",
            502,
            "malformed CGI header, line 1: not a header field (NAME: VALUE)",
        ),
        (
            "/silent",
            502,
            "the output ended before the blank line that ends the CGI header",
        ),
    ];
    for (path, status, reason) in cases {
        assert_eq!(
            get(&served.url(path)),
            (status, format!("{reason}\n")),
            "{path}"
        );
        let line = served.wait_for_log(&format!("\"GET {path}\""));
        assert!(
            line.starts_with(&format!("127.0.0.1 \"GET {path}\" {status} ")),
            "{line}"
        );
        assert!(line.ends_with(reason), "the log gives the reason: {line}");
    }
    // A guest that fails after its head: the client never takes what it
    // got for a complete response.
    assert!(cut_short(&served.url("/half")));
    let line = served.wait_for_log("\"GET /half\"");
    assert!(
        line.contains("the response was cut short: the guest trapped"),
        "{line}"
    );
    // And the server goes on.
    assert_eq!(get(&served.url("/")), (200, "hello from CGI at /\n".into()));
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_full_speed_client_is_served_while_hostile_requests_run() {
    let wharf = Wharf::new();
    let served = Served::start(
        &wharf,
        &[
            "--timeout",
            "2s",
            "-m",
            "64MiB",
            cgi_guest().to_str().unwrap(),
        ],
    );
    let hostile: Vec<_> = ["/loop", "/alloc", "/loop", "/trap", "/alloc"]
        .into_iter()
        .map(|path| {
            let url = served.url(path);
            std::thread::spawn(move || get(&url).0)
        })
        .collect();
    let good: Vec<_> = (0..4)
        .map(|i| {
            let url = served.url(&format!("/ok{i}"));
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| get(&url))
                    .filter(|(status, body)| *status == 200 && body.starts_with("hello from CGI"))
                    .count()
            })
        })
        .collect();
    for client in good {
        assert_eq!(
            client.join().unwrap(),
            50,
            "every well-behaved request answered"
        );
    }
    let mut statuses: Vec<u16> = hostile.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, [500, 500, 500, 504, 504]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn limits_on_bodies_headers_and_concurrency_answer_4xx_and_503() {
    let wharf = Wharf::new();
    let gate = Gate::new();
    let served = Served::start(
        &wharf,
        &[
            "-v",
            &gate.volume(),
            "--max-body",
            "1KiB",
            "--max-concurrency",
            "1",
            "--queue-timeout",
            "100ms",
            cgi_guest().to_str().unwrap(),
        ],
    );
    let mut response = client()
        .post(served.url("/echo"))
        .send(&[0u8; 2048][..])
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "the request body is larger than 1024 bytes\n"
    );
    let response = client()
        .get(served.url("/"))
        .header("X-Big", "x".repeat(100 << 10))
        .call();
    match response {
        Ok(response) => assert_eq!(response.status(), 431),
        // hyper may close the connection as it answers.
        Err(e) => assert!(
            e.to_string().contains("closed") || e.to_string().contains("reset"),
            "{e}"
        ),
    }
    // One request at a time: while one waits at its gate, a second one
    // waits 100 ms for a place, then gets 503.
    let waiting = {
        let url = served.url("/gate");
        std::thread::spawn(move || get(&url))
    };
    served.wait_for_log("gate: waiting");
    let mut response = client().get(served.url("/")).call().unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("1"));
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "the server is running its limit of 1 requests: try again\n"
    );
    gate.open();
    assert_eq!(
        waiting.join().unwrap(),
        (200, "before the gate\nafter the gate\n".into())
    );
    assert_eq!(get(&served.url("/")).0, 200, "a place is free again");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_port_in_use_is_a_clear_error_with_status_125() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let wharf = Wharf::new();
    wharf
        .run(["serve", "-p", &port, cgi_guest().to_str().unwrap()])
        .code(125)
        .stderr_has(&[&format!("cannot listen on 127.0.0.1:{port}"), "in use"]);
    wharf
        .run(["serve", "-p", "localhost:80", cgi_guest().to_str().unwrap()])
        .code(125)
        .stderr_has(&["invalid --publish 'localhost:80': 'localhost' is not an IP address"]);
}

#[cfg(unix)]
#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn sigterm_lets_a_request_in_flight_finish_and_refuses_new_ones() {
    let wharf = Wharf::new();
    let gate = Gate::new();
    let served = Served::start(
        &wharf,
        &[
            "--quiet",
            "-v",
            &gate.volume(),
            cgi_guest().to_str().unwrap(),
        ],
    );
    let mut response = client().get(served.url("/gate")).call().unwrap();
    let mut lines = BufReader::new(response.body_mut().as_reader());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert_eq!(first, "before the gate\n");
    let address = served.address.clone();
    let log = served.log.clone();
    let stopping = std::thread::spawn(move || served.stop("TERM"));
    // While the request waits at its gate, the server has stopped
    // accepting (it says so once its listener is closed).
    for _ in 0..600 {
        if log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("connection(s) to finish"))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::net::TcpStream::connect(&address).is_err(),
        "still accepting while stopping"
    );
    gate.open();
    let mut rest = String::new();
    lines.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "after the gate\n", "the request in flight finished");
    let (code, log) = stopping.join().unwrap();
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert_eq!(log.last().map(String::as_str), Some("wharf: stopped"));
    assert!(
        !log.iter().any(|l| l.contains("\"GET")),
        "--quiet writes no access log: {log:?}"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_c_proxy_component_answers_and_its_failures_are_5xx() {
    let wharf = Wharf::new();
    let served = Served::start(
        &wharf,
        &["--timeout", "1s", proxy_guest().to_str().unwrap()],
    );
    served.wait_for_log("(a wasi:http/proxy component)");
    assert_eq!(
        get(&served.url("/hi?x=1")),
        (200, "hello from a C component at /hi?x=1\n".into())
    );
    assert_eq!(get(&served.url("/missing")).0, 404);
    let cases = [
        (
            "/trap",
            500,
            "the guest trapped: wasm trap: wasm `unreachable` instruction executed",
        ),
        ("/loop", 504, "the guest exceeded its timeout of 1s"),
        (
            "/no-response",
            502,
            "the guest returned without setting a response",
        ),
    ];
    for (path, status, reason) in cases {
        assert_eq!(
            get(&served.url(path)),
            (status, format!("{reason}\n")),
            "{path}"
        );
    }
    assert!(cut_short(&served.url("/half")), "a cut-short body");
    assert_eq!(get(&served.url("/")).0, 200, "and the server goes on");
}

/// `guest-examples/hello-http-python/hello-http.wasm`: a `wasi:http/proxy`
/// component built by componentize-py.
pub fn python_component() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = repo().join("guest-examples/hello-http-python");
        let status = std::process::Command::new("python3")
            .arg(dir.join("build.py"))
            .status()
            .unwrap();
        assert!(status.success(), "build.py failed");
        dir.join("hello-http.wasm")
    })
    .clone()
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs componentize-py from PyPI"
)]
#[test]
fn a_componentize_py_component_answers_as_under_wasmtime_serve() {
    let wharf = Wharf::new();
    let served = Served::start(&wharf, &[python_component().to_str().unwrap()]);
    assert_eq!(
        get(&served.url("/a/b?c=d")),
        (200, "hello from a Python component at /a/b?c=d\n".into())
    );
    let mut response = client()
        .post(served.url("/echo"))
        .header("Content-Type", "text/plain")
        .send("ping")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/plain")
    );
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "POST /echo: 4 bytes: ping\n"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn a_bottle_app_serves_through_cgi_on_python_3_12() {
    let wharf = python_store();
    wharf.build("bottle-app", &repo().join("guest-examples/bottle-app"));
    let served = Served::start(wharf, &["-e", "GREETING=Howdy", "bottle-app"]);
    assert_eq!(
        get(&served.url("/hello/world")),
        (200, "Howdy, world!\n".into())
    );
    let mut response = client()
        .post(served.url("/echo?x=1"))
        .header("Content-Type", "text/plain")
        .send("abc")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "{\"length\": 3, \"query\": {\"x\": \"1\"}, \"type\": \"text/plain\"}\n"
    );
    let (status, body) = get(&served.url("/fail"));
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Internal Server Error"), "{body}");
    assert_eq!(get(&served.url("/nope")).0, 404);
    served.wait_for_log("RuntimeError: this route fails on purpose");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn a_snapshotted_flask_app_serves_through_cgi_on_python_3_15_sci() {
    let wharf = python_sci_store();
    wharf.build("flask-app", &repo().join("guest-examples/flask-app"));
    let served = Served::start(wharf, &["-e", "TITLE=Demo", "flask-app"]);
    let mut response = client().get(served.url("/hello/world")).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "<!doctype html>\n<title>Demo</title>\n<h1>Hello, world!</h1>"
    );
    let mut response = client()
        .post(served.url("/echo?x=1"))
        .header("Content-Type", "text/plain")
        .send("abc")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "{\"length\":3,\"query\":{\"x\":\"1\"},\"type\":\"text/plain\"}\n"
    );
    assert_eq!(get(&served.url("/nope")).0, 404);
}
