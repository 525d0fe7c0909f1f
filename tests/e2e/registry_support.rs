//! A real registry for the tests (Debian's docker-registry, CNCF
//! distribution 2.8, with its own config and storage on a free port), and
//! a small HTTP proxy that misbehaves on purpose.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A running registry, stopped when dropped.
pub struct TestRegistry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that asks for a user name and password (distribution's
    /// `htpasswd` auth, a Basic challenge): `user` with the password whose
    /// bcrypt hash is `bcrypt`.
    pub fn with_htpasswd(user: &str, bcrypt: &str) -> Self {
        Self::start_with(Some(&format!("{user}:{bcrypt}\n")))
    }

    fn start_with(htpasswd: Option<&str>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("wharf-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(htpasswd) = htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, htpasswd).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
                file.display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let registry = Self {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // Up when /v2/ answers: 200, or 401 when it asks for credentials.
        while Instant::now() < deadline {
            if let Ok(reply) = http_get(port, "/v2/")
                && (reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.1 401"))
            {
                return registry;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not start on port {port}");
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain GET, answered with the whole response as text.
pub fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// How the proxy misbehaves.
#[derive(Clone)]
pub enum Fault {
    /// Forward everything faithfully.
    None,
    /// Send only the first half of every blob download, then hang up.
    CutBlobs,
    /// Flip a byte in the middle of every blob download.
    CorruptBlobs,
    /// Answer every request with this status (and, for 401, a Basic
    /// challenge).
    Status(u16),
    /// Demand this `Authorization` header (Basic challenge otherwise),
    /// then forward.
    RequireAuth(String),
    /// Token authentication, as Docker Hub does it: requests without
    /// `Bearer TOKEN` get a Bearer challenge naming the proxy's own
    /// `/token` as the realm, which issues `token` to a request with the
    /// `Authorization` header `basic` (401 otherwise).
    RequireBearer { basic: String, token: String },
    /// Answer every upload (POST, PUT, PATCH) with 500; forward the rest.
    RefuseUploads,
}

/// A proxy in front of a registry; it stops when dropped.
pub struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16, fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let fault = fault.clone();
                        std::thread::spawn(move || {
                            let _ = serve(client, upstream, &fault);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { port, stop }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads an HTTP message head (up to the blank line) and, when `body`,
/// the body its Content-Length announces (a HEAD answer has none).
fn read_message(stream: &mut TcpStream, body: bool) -> std::io::Result<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut content = vec![0u8; if body { length } else { 0 }];
    stream.read_exact(&mut content)?;
    Ok((head, content))
}

fn serve(mut client: TcpStream, upstream: u16, fault: &Fault) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    loop {
        let (head, body) = read_message(&mut client, true)?;
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let upload = ["POST ", "PUT ", "PATCH "]
            .iter()
            .any(|method| request_line.starts_with(method));
        match fault {
            Fault::RefuseUploads if upload => {
                write!(
                    client,
                    "HTTP/1.1 500 Fault\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfault"
                )?;
                return Ok(());
            }
            Fault::Status(code) => {
                let extra = if *code == 401 {
                    "WWW-Authenticate: Basic realm=\"test\"\r\n"
                } else {
                    ""
                };
                write!(
                    client,
                    "HTTP/1.1 {code} Fault\r\n{extra}Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfault"
                )?;
                return Ok(());
            }
            Fault::RequireBearer { basic, token } => {
                let given = header("authorization");
                if request_line.starts_with("GET /token?") {
                    let reply = if given.as_deref() == Some(basic.as_str()) {
                        format!("{{\"token\":\"{token}\"}}")
                    } else {
                        String::new()
                    };
                    let status = if reply.is_empty() {
                        "401 Unauthorized"
                    } else {
                        "200 OK"
                    };
                    write!(
                        client,
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                        reply.len()
                    )?;
                    return Ok(());
                }
                if given != Some(format!("Bearer {token}")) {
                    let realm = format!("http://{}/token", header("host").unwrap_or_default());
                    write!(
                        client,
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"wharf-test\"\r\nContent-Type: application/json\r\nContent-Length: 67\r\nConnection: close\r\n\r\n{{\"errors\":[{{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}}]}}"
                    )?;
                    return Ok(());
                }
            }
            Fault::RequireAuth(expected) => {
                let given = header("authorization");
                if given.as_deref() != Some(expected.as_str()) {
                    write!(
                        client,
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nContent-Type: application/json\r\nContent-Length: 67\r\nConnection: close\r\n\r\n{{\"errors\":[{{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}}]}}"
                    )?;
                    return Ok(());
                }
            }
            _ => {}
        }
        // One request per upstream connection keeps the bookkeeping simple.
        let mut upstream_stream = TcpStream::connect(("127.0.0.1", upstream))?;
        upstream_stream.write_all(head.as_bytes())?;
        upstream_stream.write_all(&body)?;
        let (response_head, mut response_body) =
            read_message(&mut upstream_stream, !request_line.starts_with("HEAD "))?;
        let is_blob = request_line.starts_with("GET ") && request_line.contains("/blobs/sha256:");
        match fault {
            Fault::CutBlobs if is_blob && response_body.len() > 1 => {
                client.write_all(response_head.as_bytes())?;
                client.write_all(&response_body[..response_body.len() / 2])?;
                client.flush()?;
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Fault::CorruptBlobs if is_blob && !response_body.is_empty() => {
                let middle = response_body.len() / 2;
                response_body[middle] ^= 0xff;
            }
            _ => {}
        }
        client.write_all(response_head.as_bytes())?;
        client.write_all(&response_body)?;
        client.flush()?;
    }
}

/// Runs a Python snippet with oras-py, the independent client.
pub fn oras(script: &str, dir: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras-py failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs skopeo and checks that it succeeded.
pub fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo must be installed");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
