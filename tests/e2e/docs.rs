//! The shell examples of README.md and docs/, run as a reader would run
//! them, with their shown output checked.
//!
//! What a page's examples are, and how they run:
//!
//! - A ` ```console ` block is a terminal session: `$ COMMAND` lines (a
//!   line ending in `\` goes on), each followed by what the command prints,
//!   stdout and stderr together. The shown text is matched as snapbox
//!   matches: `[..]` stands for any text within a line, a `...` line for
//!   any lines. A command must exit 0, unless what it shows is a
//!   `wharf: error:`.
//! - A ` ```sh ` block is commands alone (comments beside them); each must
//!   exit 0.
//! - A block whose first line is `# Not run by the tests: WHY` is not run;
//!   the reader sees why.
//! - `<!-- test: COMMAND -->` before a block runs COMMAND first, unseen by
//!   the reader: the setup a page's prose describes (a file to start from).
//! - `make TARGET` is checked to be a target of the Makefile (`make -n`),
//!   not run: `make test` has made what each sets up, and the page runs
//!   in a store that holds it: python:3.12 and the seed's
//!   `my-first-image` (`make demo`), or, on a page whose examples run
//!   `make sci-base` and not `make python-base`, the store of the
//!   python:3.15-sci tests (python:3.15-sci and pandas-report).
//! - `wharf serve` runs in the background, as in a terminal of its own:
//!   the page goes on once it says where it listens (`wharf: serving`;
//!   before that it may say that it compiles), and all it printed is checked when the next server starts
//!   or the page ends (after its shown lines, anything: "stopping",
//!   "stopped").
//! - The guests a page builds with a script (`hello-c/build.sh`,
//!   `hello-http-python/build.py`) are built first by the tests' own
//!   once-per-process builders, so that a page's build finds them up to
//!   date instead of racing another test's.
//! - `ctr` talks to a containerd of the page's own (root, with the shim
//!   built beside `wharf`), through `CONTAINERD_ADDRESS`.
//! - `localhost:5000`, Docker's usual local registry, is a real registry
//!   on a free port; its address is put back in what is printed. On a page
//!   that serves on port 8080, `8080` is a free port too.
//!
//! Each page runs in a directory of its own holding `guest-examples/` and
//! `manifests/` (links to the repository's), with only `PATH` (the built
//! `wharf` first), `HOME` and `WHARF_HOME` in the environment.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::containerd_support::{self, Containerd};
use crate::registry_support::{TestRegistry, free_port};
use crate::serve::python_component;
use crate::support::{Wharf, hello_c, python_sci_store, repo, seed_store};

/// How long one command may take before the page fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a server may take to listen: it may first compile its app
/// for the server's engine (python:3.15-sci's CPython takes a minute and
/// more, longer while other tests compile), so only a hang fails.
const SERVER_START: Duration = COMMAND_TIMEOUT;

/// The registry address the pages use.
const DOC_REGISTRY: &str = "localhost:5000";

/// The port the pages serve on.
const DOC_PORT: &str = "8080";

/// What a page shows in a fenced block of shell.
#[derive(Debug)]
struct Example {
    /// The line of its opening fence (1-based).
    line: usize,
    /// Hidden setup commands from `<!-- test: … -->` comments before it.
    setup: Vec<String>,
    /// Why it is not run, when its first line says so.
    not_run: Option<String>,
    steps: Vec<Step>,
}

/// One command and, in a console block, what it shows.
#[derive(Debug)]
struct Step {
    line: usize,
    command: String,
    /// `None` in a `sh` block: only the exit status is checked.
    shown: Option<String>,
}

/// The page's fenced ` ```console ` and ` ```sh ` blocks, in order.
fn examples(text: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut setup = Vec::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((number, line)) = lines.next() {
        if let Some(command) = line
            .trim()
            .strip_prefix("<!-- test:")
            .and_then(|rest| rest.strip_suffix("-->"))
        {
            setup.push(command.trim().to_owned());
            continue;
        }
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let console = match info.trim() {
            "console" => true,
            "sh" => false,
            _ => {
                // Any other block is skipped whole, fences and all.
                for (_, inner) in lines.by_ref() {
                    if inner.starts_with("```") {
                        break;
                    }
                }
                continue;
            }
        };
        let mut body = Vec::new();
        for (inner_number, inner) in lines.by_ref() {
            if inner.starts_with("```") {
                break;
            }
            body.push((inner_number, inner));
        }
        let not_run = body.first().and_then(|(_, first)| {
            first
                .strip_prefix("# Not run by the tests:")
                .map(|why| why.trim().to_owned())
        });
        let steps = if console {
            console_steps(&body)
        } else {
            sh_steps(&body)
        };
        examples.push(Example {
            line: number,
            setup: std::mem::take(&mut setup),
            not_run,
            steps,
        });
    }
    examples
}

/// Joins lines that end in `\` to the next, as the shell does.
fn logical_lines(body: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut joined: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (number, line) in body {
        if open {
            let last = joined.last_mut().unwrap();
            last.1.push('\n');
            last.1.push_str(line);
        } else {
            joined.push((*number, (*line).to_owned()));
        }
        open = line.ends_with('\\');
    }
    joined
}

fn console_steps(body: &[(usize, &str)]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continued = false;
    for (number, line) in body {
        if continued {
            let step = steps.last_mut().unwrap();
            step.command.push('\n');
            step.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                line: *number,
                command: command.to_owned(),
                shown: Some(String::new()),
            });
            continued = line.ends_with('\\');
        } else {
            let step = steps
                .last_mut()
                .unwrap_or_else(|| panic!("line {number}: output before any `$ ` command"));
            let shown = step.shown.as_mut().unwrap();
            shown.push_str(line);
            shown.push('\n');
        }
    }
    steps
}

fn sh_steps(body: &[(usize, &str)]) -> Vec<Step> {
    logical_lines(body)
        .into_iter()
        .filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .map(|(line, command)| Step {
            line,
            command,
            shown: None,
        })
        .collect()
}

/// A store that holds what `make demo` makes: python:3.12 and the seed's
/// `my-first-image`. The pages' own, so that what they tag and build does
/// not meet other tests' images.
fn docs_store() -> &'static Wharf {
    static STORE: OnceLock<Wharf> = OnceLock::new();
    STORE.get_or_init(seed_store)
}

/// A server started by a page, and what it has printed so far.
struct Server {
    child: Child,
    printed: Arc<Mutex<String>>,
    step: String,
    shown: String,
}

/// The state one page's examples share.
struct Session {
    page: String,
    dir: tempfile::TempDir,
    store: PathBuf,
    registry: Option<(TestRegistry, String)>,
    /// The free port that stands for 8080, on a page that serves on it.
    port: Option<String>,
    containerd: Option<Containerd>,
    server: Option<Server>,
}

impl Session {
    fn new(page: &str, text: &str) -> Self {
        let makes = |target: &str| {
            examples(text)
                .iter()
                .filter(|e| e.not_run.is_none())
                .flat_map(|e| &e.steps)
                .any(|s| {
                    s.command.starts_with("make ")
                        && s.command
                            .split('#')
                            .next()
                            .unwrap()
                            .split_whitespace()
                            .any(|t| t == target)
                })
        };
        let store = if makes("sci-base") && !makes("python-base") {
            python_sci_store().home().to_owned()
        } else {
            docs_store().home().to_owned()
        };
        if text.contains("hello-c/build.sh") {
            hello_c();
        }
        if text.contains("hello-http-python/build.py") {
            python_component();
        }
        let dir = tempfile::Builder::new()
            .prefix("wharf-docs-")
            .tempdir()
            .unwrap();
        for name in ["guest-examples", "manifests"] {
            std::os::unix::fs::symlink(repo().join(name), dir.path().join(name)).unwrap();
        }
        let registry = text.contains(DOC_REGISTRY).then(|| {
            let registry = TestRegistry::start();
            let address = registry.host();
            (registry, address)
        });
        let containerd = text.contains("ctr run").then(Containerd::start);
        let port = text
            .contains("wharf serve -p 8080")
            .then(|| free_port().to_string());
        Self {
            page: page.to_owned(),
            dir,
            store,
            registry,
            port,
            containerd,
            server: None,
        }
    }

    fn shell(&self, command: &str) -> Command {
        let mut shell = Command::new("sh");
        let bin = Path::new(env!("CARGO_BIN_EXE_wharf")).parent().unwrap();
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
        shell
            .arg("-c")
            .arg(format!("exec 2>&1\n{}", self.to_test(command)))
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("WHARF_HOME", &self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(containerd) = &self.containerd {
            shell
                .env("CONTAINERD_ADDRESS", containerd.socket())
                .env("CONTAINERD_NAMESPACE", containerd_support::NAMESPACE);
        }
        shell
    }

    /// `localhost:5000` to the test registry's address, 8080 to the free
    /// port.
    fn to_test(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Some((_, address)) = &self.registry {
            text = text.replace(DOC_REGISTRY, address);
        }
        if let Some(port) = &self.port {
            text = text.replace(DOC_PORT, port);
        }
        text
    }

    /// The test registry's address back to `localhost:5000`, the free port
    /// to 8080.
    fn to_page(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Some((_, address)) = &self.registry {
            text = text.replace(address.as_str(), DOC_REGISTRY);
        }
        if let Some(port) = &self.port {
            text = text.replace(&format!(":{port}"), &format!(":{DOC_PORT}"));
        }
        text
    }

    fn run_example(&mut self, example: &Example) {
        for command in &example.setup {
            let (status, printed) = self.run(command);
            assert!(
                status == 0,
                "{}:{}: setup `{command}` failed:\n{printed}",
                self.page,
                example.line
            );
        }
        for step in &example.steps {
            self.run_step(step);
        }
    }

    fn run_step(&mut self, step: &Step) {
        let at = format!("{}:{}", self.page, step.line);
        let command = step.command.trim();
        if let Some(targets) = command.strip_prefix("make ") {
            let targets = targets.split('#').next().unwrap().split_whitespace();
            for target in targets {
                let status = Command::new("make")
                    .args(["-n", "-C"])
                    .arg(repo())
                    .arg(target)
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "{at}: `make {target}` is not a target");
            }
            return;
        }
        if command.starts_with("wharf serve ") {
            self.start_server(&at, step);
            return;
        }
        let (status, printed) = self.run(command);
        let printed = self.to_page(&printed);
        match &step.shown {
            None => assert!(
                status == 0,
                "{at}: `{command}` exited with {status}:\n{printed}"
            ),
            Some(shown) => {
                let fails = shown.lines().any(|l| l.starts_with("wharf: error:"));
                assert!(
                    (status != 0) == fails,
                    "{at}: `{command}` exited with {status}:\n{printed}"
                );
                matches(&at, &printed, shown);
            }
        }
    }

    /// Runs `command` to its end; returns its exit status and output.
    fn run(&self, command: &str) -> (i32, String) {
        let mut child = self.shell(command).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut printed = Vec::new();
            let _ = stdout.read_to_end(&mut printed);
            printed
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > COMMAND_TIMEOUT {
                let _ = child.kill();
                panic!("{}: `{command}` did not finish", self.page);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let printed = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
        (status.code().unwrap_or(-1), printed)
    }

    /// Starts a server in the background and waits until it listens.
    fn start_server(&mut self, at: &str, step: &Step) {
        self.stop_server();
        let shown = step.shown.clone().unwrap_or_default();
        let mut child = self
            .shell(&format!("exec {}", step.command.trim()))
            .spawn()
            .unwrap();
        let printed = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = printed.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let start = Instant::now();
        while !printed.lock().unwrap().contains("wharf: serving") {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{at}: the server exited with {status}:\n{}",
                    printed.lock().unwrap()
                );
            }
            assert!(
                start.elapsed() < SERVER_START,
                "{at}: the server did not start listening:\n{}",
                printed.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.server = Some(Server {
            child,
            printed,
            step: at.to_owned(),
            shown,
        });
    }

    /// Stops the running server (SIGTERM, as Ctrl-C in its terminal would
    /// be SIGINT) and checks what it printed.
    fn stop_server(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        // SAFETY: kill(2) on the PID of a child not yet waited for.
        unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        while server.child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                let _ = server.child.kill();
                panic!("{}: the server did not stop on SIGTERM", server.step);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        let printed = self.to_page(&server.printed.lock().unwrap());
        let shown = if server.shown.ends_with("...\n") {
            server.shown
        } else {
            format!("{}...\n", server.shown)
        };
        matches(&server.step, &printed, &shown);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

/// Asserts `printed` is what the page shows, with snapbox's wildcards.
#[track_caller]
fn matches(at: &str, printed: &str, shown: &str) {
    // A blank line may part a session's commands; it is not output.
    let trimmed = |text: &str| {
        let text = text.trim_end_matches('\n');
        if text.is_empty() {
            String::new()
        } else {
            format!("{text}\n")
        }
    };
    let (printed, shown) = (trimmed(printed), trimmed(shown));
    let assert = snapbox::Assert::new().normalize_paths(false);
    if let Err(error) = assert.try_eq(
        Some(&"printed"),
        snapbox::Data::text(printed.as_str()),
        snapbox::Data::text(shown.as_str()),
    ) {
        panic!("{at}: the page shows other output than the command prints:\n{error}");
    }
}

/// Runs every example of `page` (a path from the repository root).
fn run_page(page: &str) {
    let text = std::fs::read_to_string(repo().join(page)).unwrap();
    let examples = examples(&text);
    assert!(
        examples.iter().any(|e| e.not_run.is_none()),
        "{page} has no example to run"
    );
    let mut session = Session::new(page, &text);
    for example in &examples {
        match &example.not_run {
            Some(why) => assert!(
                !why.is_empty(),
                "{page}:{}: not run, but why?",
                example.line
            ),
            None => session.run_example(example),
        }
    }
    session.stop_server();
}

/// The pages with shell examples, each run by a test below.
const PAGES: &[&str] = &[
    "README.md",
    "docs/getting-started.md",
    "docs/cli.md",
    "docs/docker.md",
    "docs/manifest.md",
    "docs/python.md",
    "docs/serve.md",
    "docs/kubernetes.md",
];

#[test]
fn every_page_with_shell_examples_is_run() {
    let mut found = vec!["README.md".to_owned()];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            found.push(format!(
                "docs/{}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    let mut with_examples: Vec<String> = found
        .into_iter()
        .filter(|page| {
            let text = std::fs::read_to_string(repo().join(page)).unwrap();
            !examples(&text).is_empty()
        })
        .collect();
    with_examples.sort();
    let mut pages: Vec<String> = PAGES.iter().map(|p| (*p).to_owned()).collect();
    pages.sort();
    assert_eq!(with_examples, pages, "a page with examples and no test");
}

#[test]
fn examples_are_read_as_the_module_docs_say() {
    let page = "text\n<!-- test: touch a -->\n```console\n$ echo a \\\n  b\na b\n$ true\n```\n\n```sh\n# Not run by the tests: no cluster\nkubectl apply\n```\n```toml\nx = 1\n```\n```sh\nls   # comment\n# a comment line\n```\n";
    let examples = examples(page);
    assert_eq!(examples.len(), 3, "{examples:?}");
    assert_eq!(examples[0].setup, ["touch a"]);
    assert_eq!(examples[0].steps.len(), 2);
    assert_eq!(examples[0].steps[0].command, "echo a \\\n  b");
    assert_eq!(examples[0].steps[0].shown.as_deref(), Some("a b\n"));
    assert_eq!(examples[0].steps[1].shown.as_deref(), Some(""));
    assert_eq!(examples[1].not_run.as_deref(), Some("no cluster"));
    assert_eq!(examples[2].steps.len(), 1);
    assert_eq!(examples[2].steps[0].command, "ls   # comment");
    assert_eq!(examples[2].steps[0].shown, None);
}

macro_rules! page_tests {
    ($($name:ident => $page:literal, $needs:literal;)*) => {$(
        #[cfg_attr(not(feature = "toolchain-tests"), ignore = $needs)]
        #[test]
        fn $name() {
            run_page($page);
        }
    )*};
}

page_tests! {
    readme_examples_run_as_shown => "README.md", "needs CPython 3.12 for WASI from PyPI";
    getting_started_examples_run_as_shown => "docs/getting-started.md", "needs CPython for WASI, clang and a registry";
    cli_examples_run_as_shown => "docs/cli.md", "needs CPython 3.12 for WASI and a registry";
    docker_examples_run_as_shown => "docs/docker.md", "needs CPython 3.12 for WASI from PyPI";
    manifest_examples_run_as_shown => "docs/manifest.md", "needs CPython 3.12 for WASI from PyPI";
    python_examples_run_as_shown => "docs/python.md", "needs CPython 3.15 for WASI from PyPI";
    serve_examples_run_as_shown => "docs/serve.md", "needs CPython 3.12 for WASI and componentize-py";
    kubernetes_examples_run_as_shown => "docs/kubernetes.md", "needs CPython 3.12 for WASI, containerd and root";
}
