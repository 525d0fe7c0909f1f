//! Where `wharf save` writes and `wharf load` reads, as with Docker: stdout
//! and stdin (never a terminal), through symlinks without replacing them,
//! into pipes and devices, and files replaced only by a complete archive.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use crate::support::{Outcome, Wharf, hello_store};

/// The archive `wharf save -o FILE hello-c` writes, to compare others with.
fn saved_bytes(wharf: &Wharf) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.tar");
    wharf
        .run(["save", "-o", file.to_str().unwrap(), "hello-c"])
        .ok();
    std::fs::read(&file).unwrap()
}

/// Loads `input` into a fresh store through stdin; checks that the image
/// runs there.
fn loads_through_stdin(args: &[&str], input: Vec<u8>) {
    let other = Wharf::new();
    let mut child = other
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // In pieces, as a pipe hands them out: a byte (half of gzip's magic
    // number), then the rest a kilobyte at a time.
    let feeder = std::thread::spawn(move || {
        let (first, rest) = input.split_at(1);
        for chunk in std::iter::once(first).chain(rest.chunks(1000)) {
            if stdin.write_all(chunk).and_then(|()| stdin.flush()).is_err() {
                break;
            }
        }
    });
    let out = Outcome::from_output(child.wait_with_output().unwrap()).ok();
    feeder.join().unwrap();
    out.stdout_has(&["Loaded image: hello-c:latest"]);
    other
        .run(["run", "hello-c", "--quiet", "--exit", "3"])
        .code(3);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn save_with_no_output_or_dash_writes_stdout_and_load_reads_stdin() {
    let wharf = hello_store();
    let file = saved_bytes(&wharf);
    let cwd = tempfile::tempdir().unwrap();
    for args in [&["save", "hello-c"][..], &["save", "-o", "-", "hello-c"]] {
        let out = wharf
            .command(args)
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", Outcome::from_output(out));
        assert!(
            out.stdout == file,
            "{args:?} writes the archive to stdout, as -o FILE writes it"
        );
    }
    assert!(entries(cwd.path()).is_empty(), "no file named -");
    loads_through_stdin(&["load"], file.clone());
    loads_through_stdin(&["load", "-i", "-"], file.clone());
    // gzip-compressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&file).unwrap();
    loads_through_stdin(&["load"], gz.finish().unwrap());
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn save_piped_into_load_moves_an_image_between_stores() {
    let wharf = hello_store();
    let other = Wharf::new();
    let mut save = wharf
        .command(["save", "hello-c"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let load = other
        .command(["load"])
        .stdin(Stdio::from(save.stdout.take().unwrap()))
        .output()
        .unwrap();
    let saved = save.wait_with_output().unwrap();
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    Outcome::from_output(load)
        .ok()
        .stdout_has(&["Loaded image: hello-c:latest"]);
    other
        .run(["run", "hello-c", "--quiet", "--exit", "7"])
        .code(7);
    assert_eq!(
        other.run(["images", "-q"]).ok().stdout,
        wharf.run(["images", "-q"]).ok().stdout
    );
}

#[cfg(unix)]
#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn save_through_a_symlink_writes_its_target_and_keeps_the_link() {
    let wharf = hello_store();
    let dir = tempfile::tempdir().unwrap();
    // A chain of links, the last one relative, leading to another directory.
    std::fs::create_dir(dir.path().join("archives")).unwrap();
    let target = dir.path().join("archives/hello.tar");
    std::fs::write(&target, "an older archive").unwrap();
    let middle = dir.path().join("archives/current.tar");
    std::os::unix::fs::symlink("hello.tar", &middle).unwrap();
    let link = dir.path().join("hello.tar");
    std::os::unix::fs::symlink(&middle, &link).unwrap();

    wharf
        .run(["save", "-o", link.to_str().unwrap(), "hello-c"])
        .ok();
    for l in [&link, &middle] {
        assert!(
            std::fs::symlink_metadata(l)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{} is still a link",
            l.display()
        );
    }
    assert!(std::fs::read(&target).unwrap() == saved_bytes(&wharf));
    assert_eq!(
        entries(&dir.path().join("archives")),
        ["current.tar", "hello.tar"],
        "no temporary file is left beside the target"
    );
    let other = Wharf::new();
    other
        .run(["load", "-i", link.to_str().unwrap()])
        .ok()
        .stdout_has(&["Loaded image: hello-c:latest"]);

    // A dangling link: its target is created, the link stays.
    let dangling = dir.path().join("new.tar");
    std::os::unix::fs::symlink("archives/new.tar", &dangling).unwrap();
    wharf
        .run(["save", "-o", dangling.to_str().unwrap(), "hello-c"])
        .ok();
    assert!(dangling.symlink_metadata().unwrap().is_symlink());
    assert!(std::fs::read(dir.path().join("archives/new.tar")).unwrap() == saved_bytes(&wharf));
}

#[cfg(unix)]
#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn save_writes_into_a_named_pipe_and_load_reads_from_one() {
    let wharf = hello_store();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            bytes
        })
    };
    wharf
        .run(["save", "-o", fifo.to_str().unwrap(), "hello-c"])
        .ok();
    assert!(
        is_fifo(&fifo),
        "the pipe is still a pipe, not replaced by a file"
    );
    let received = reader.join().unwrap();
    assert!(received == saved_bytes(&wharf), "the pipe got the archive");
    assert_eq!(entries(dir.path()), ["pipe"]);

    // And back: load reads the pipe a writer thread fills.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .unwrap()
                .write_all(&received)
                .unwrap();
        })
    };
    let other = Wharf::new();
    other
        .run(["load", "-i", fifo.to_str().unwrap()])
        .ok()
        .stdout_has(&["Loaded image: hello-c:latest"]);
    writer.join().unwrap();
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_failed_save_leaves_the_existing_file_untouched() {
    let wharf = hello_store();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.tar");
    std::fs::write(&file, "an older archive").unwrap();
    wharf
        .run([
            "save",
            "-o",
            file.to_str().unwrap(),
            "hello-c",
            "no-such-image",
        ])
        .code(1)
        .stderr_has(&["no such image: no-such-image"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "an older archive");

    // A failure halfway through the archive (a blob gone from the store).
    let blobs = wharf.home().join("blobs/sha256");
    let largest = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    std::fs::remove_file(&largest).unwrap();
    wharf
        .run(["save", "-o", file.to_str().unwrap(), "hello-c"])
        .code(1)
        .stderr_has(&["is missing from the store"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "an older archive");
    assert_eq!(entries(dir.path()), ["hello.tar"], "no temporary file left");
    // Nor does it create the file when there was none.
    let new = dir.path().join("new.tar");
    wharf
        .run(["save", "-o", new.to_str().unwrap(), "hello-c"])
        .code(1);
    assert!(!new.exists());
}

#[cfg(unix)]
#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn save_and_load_refuse_a_terminal() {
    let wharf = hello_store();
    let (controller, terminal) = pty();
    let on_terminal = |args: &[&str]| {
        let out = wharf
            .command(args)
            .stdin(terminal.try_clone().unwrap())
            .stdout(terminal.try_clone().unwrap())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        Outcome::from_output(out)
    };
    on_terminal(&["save", "hello-c"]).code(125).stderr_has(&[
        "cowardly refusing to write an archive to a terminal; use -o FILE or redirect",
    ]);
    on_terminal(&["save", "-o", "-", "hello-c"]).code(125);
    // /dev/stdout is the terminal here: opened, found to be one, refused.
    on_terminal(&["save", "-o", "/dev/stdout", "hello-c"])
        .code(125)
        .stderr_has(&["/dev/stdout is a terminal"]);
    on_terminal(&["load"]).code(125).stderr_has(&[
        "cowardly refusing to read an archive from a terminal; use -i FILE or redirect",
    ]);
    drop(controller);
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path, a mode.
    let status = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
    assert_eq!(status, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[cfg(unix)]
fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    path.metadata().unwrap().file_type().is_fifo()
}

/// A pseudo-terminal: its controlling side and the terminal a child gets.
#[cfg(unix)]
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: two out-parameters for the descriptors; no name, termios or
    // window size asked for.
    let status = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two descriptors that nothing else owns.
    unsafe {
        (
            std::fs::File::from_raw_fd(controller),
            std::fs::File::from_raw_fd(terminal),
        )
    }
}

/// What wharf writes on stderr when stderr is a terminal (an xterm: with
/// no `TERM`, a terminal is taken for a dumb one, which gets no bars).
#[cfg(unix)]
fn stderr_on_a_terminal(wharf: &Wharf, args: &[&str]) -> String {
    let (mut controller, terminal) = pty();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        // Ends with EIO once the last holder of the terminal is gone.
        let _ = controller.read_to_end(&mut seen);
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = wharf
        .command(args)
        .env("TERM", "xterm")
        .stderr(terminal)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}: {status}");
    reader.join().unwrap()
}

#[cfg(unix)]
#[test]
fn save_and_load_show_progress_on_a_terminal_only() {
    let wharf = Wharf::new();
    // Bytes that gzip cannot shrink, so that the archive has some size.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..4 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let ctx = crate::support::context(&[(
        "wharf.toml",
        "from = \"scratch\"\n[[copy]]\nsrc = \"noise\"\ndest = \"/\"\n",
    )]);
    std::fs::write(ctx.path().join("noise"), &noise).unwrap();
    wharf.build("noisy", ctx.path());
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("noisy.tar");
    let archive = archive.to_str().unwrap();

    let saving = stderr_on_a_terminal(&wharf, &["save", "-o", archive, "noisy"]);
    assert!(saving.contains("Saving"), "{saving:?}");
    assert!(saving.contains("MiB"), "{saving:?}");
    let loading = stderr_on_a_terminal(&wharf, &["load", "-i", archive]);
    assert!(loading.contains("Loading"), "{loading:?}");
    // Nothing to compile: no compile bar.
    assert!(!loading.contains("compiling"), "{loading:?}");

    // Into a pipe: the lines alone.
    let saved = wharf.run(["save", "-o", archive, "noisy"]).ok();
    assert_eq!(saved.stderr, "");
    let loaded = wharf.run(["load", "-i", archive]).ok();
    assert_eq!(loaded.stderr, "");
    assert_eq!(loaded.stdout, "Loaded image: noisy:latest\n");
    // Quiet: no bar even on a terminal.
    let quiet = stderr_on_a_terminal(&wharf, &["load", "-q", "-i", archive]);
    assert!(!quiet.contains("Loading"), "{quiet:?}");
}
