//! The guest's one file tree, as a container's: mount points listed in
//! their parents, `..` across mounts, the working directory, made-up
//! directories, and symlinks that stay in their directory. C and Python
//! guests, the real binary.

use crate::support::{Wharf, hello_store, python_store};

/// A host directory holding `files`, mounted read-write at `guest`.
fn mounted(files: &[(&str, &str)], guest: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    let flag = format!("{}:{guest}", dir.path().display());
    (dir, flag)
}

/// Runs Python source in the seed's image, with `flags` before the image.
fn python(flags: &[&str], source: &str) -> String {
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend(["my-first-image", "python", "-c", source]);
    python_store().run(args).ok().stdout
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn mount_points_and_tmp_are_listed_in_their_parents() {
    let (_out, out_flag) = mounted(&[("f", "x")], "/app/out");
    let (_deep, deep_flag) = mounted(&[("g", "y")], "/srv/data/in");
    let stdout = python(
        &["-v", &out_flag, "-v", &deep_flag],
        "import os, glob, shutil\n\
         print(sorted(os.listdir('/')))\n\
         print(sorted(os.listdir('/app')))\n\
         print(sorted(os.listdir('/srv')), sorted(os.listdir('/srv/data')))\n\
         print(sorted(e.name for e in os.scandir('/app') if e.is_dir()))\n\
         print(sorted((r, sorted(d), sorted(f)) for r, d, f in os.walk('/app')))\n\
         print(sorted(glob.glob('/app/*/*')))\n\
         shutil.copytree('/app', '/tmp/copy')\n\
         print(sorted(os.listdir('/tmp/copy/out')))\n\
         print(os.path.isdir('/srv'), os.path.isdir('/srv/data/in'))\n",
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            // Every image wharf builds carries its labels (see docs/kubernetes.md).
            "['.wharf', 'app', 'opt', 'srv', 'tmp', 'usr']",
            // The build compiled app.py's bytecode into the image.
            "['__pycache__', 'app.py', 'out']",
            "['data'] ['in']",
            "['__pycache__', 'out']",
            "[('/app', ['__pycache__', 'out'], ['app.py']), \
             ('/app/__pycache__', [], ['app.cpython-312.pyc']), ('/app/out', [], ['f'])]",
            "['/app/__pycache__/app.cpython-312.pyc', '/app/out/f']",
            "['f']",
            "True True",
        ]
    );

    // C's readdir sees the same tree.
    let wharf = hello_store();
    let (_data, data_flag) = mounted(&[("input.txt", "z")], "/usr/share/data");
    let out = wharf
        .run([
            "run",
            "-v",
            &data_flag,
            "hello-c",
            "--quiet",
            "--ls",
            "/",
            "--ls",
            "/usr/share",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "/:\n  .wharf\n  tmp\n  usr\n/usr/share:\n  data\n"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn dot_dot_crosses_mount_points_as_on_linux_and_never_leaves_the_tree() {
    let (_data, data_flag) = mounted(&[("d.txt", "data")], "/data");
    let (_conf, conf_flag) = mounted(&[("app.ini", "[app]")], "/conf");
    let stdout = python(
        &["-v", &data_flag, "-v", &conf_flag],
        "import os\n\
         print(open('/data/../app/app.py').readline().strip())\n\
         open('/tmp/note', 'w').write('t')\n\
         print(open('/tmp/../tmp/note').read(), open('/data/../../../tmp/note').read())\n\
         print(open('../conf/app.ini').read())\n\
         print(open('/app/../data/d.txt').read())\n\
         d = os.open('/data', os.O_RDONLY)\n\
         print(os.stat('../conf/app.ini', dir_fd=d).st_size)\n\
         print(os.path.realpath('/data/..'), sorted(os.listdir('/..')))\n\
         try:\n    os.stat('/data/' + 'a/' * 3000)\nexcept OSError as e:\n    print('too long', e.errno)\n",
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "# app.py",
            "t t",
            "[app]",
            "data",
            "5",
            "/ ['.wharf', 'app', 'conf', 'data', 'opt', 'tmp', 'usr']",
            "too long 37",
        ]
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn python_runs_in_its_working_directory() {
    let stdout = python(
        &[],
        "import os, pathlib, sys\n\
         print(os.getcwd(), pathlib.Path.cwd(), os.path.abspath('app.py'))\n\
         print(sys.path[0] == '', os.environ['PWD'])\n",
    );
    assert_eq!(stdout, "/app /app /app/app.py\nTrue /app\n");

    // A script named relatively: its __file__ and sys.path[0] are the
    // working directory's, as in Docker.
    let (_m, flag) = mounted(
        &[
            (
                "show.py",
                "import os, sys\nprint(__file__, sys.path[0], os.getcwd())\n",
            ),
            ("pkg/__init__.py", ""),
            (
                "pkg/mod.py",
                "import os\nprint('module', __name__, os.getcwd())\n",
            ),
        ],
        "/work",
    );
    let store = python_store();
    let out = store
        .run([
            "run",
            "-v",
            &flag,
            "-w",
            "/work",
            "my-first-image",
            "python",
            "show.py",
        ])
        .ok();
    assert_eq!(out.stdout, "/work/show.py /work /work\n");
    let out = store
        .run([
            "run",
            "-v",
            &flag,
            "-w",
            "/work",
            "my-first-image",
            "python",
            "-m",
            "pkg.mod",
        ])
        .ok();
    assert_eq!(out.stdout, "module __main__ /work\n");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn a_working_directory_that_does_not_exist_is_made_empty() {
    let stdout = python(
        &["-w", "/does/not/exist"],
        "import os\nprint(os.getcwd(), os.listdir('.'), sorted(os.listdir('/does')))\n\
         try:\n    open('x', 'w')\nexcept OSError as e:\n    print('read-only', e.errno)\n",
    );
    assert_eq!(stdout, "/does/not/exist [] ['not']\nread-only 63\n");
    // In a read-write mount, it is made there, on the host, as Docker does.
    let (data, flag) = mounted(&[], "/data");
    let stdout = python(
        &["-v", &flag, "-w", "/data/new/sub"],
        "import os\nopen('made', 'w').write('x')\nprint(os.getcwd())\n",
    );
    assert_eq!(stdout, "/data/new/sub\n");
    assert_eq!(
        std::fs::read_to_string(data.path().join("new/sub/made")).unwrap(),
        "x"
    );
    // A file is not a directory to work in.
    python_store()
        .run(["run", "-w", "/app/app.py", "my-first-image"])
        .code(125)
        .stderr_has(&["/app/app.py is not a directory"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn a_variable_named_without_a_value_the_host_lacks_is_removed() {
    let out = python_store()
        .command(["run", "-e", "APP_ENV", "-e", "HOST_SET", "my-first-image"])
        .env_remove("APP_ENV")
        .env("HOST_SET", "copied")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.ends_with("Custom Environment Variable: Not Set\n"),
        "{stdout}"
    );
    // The last word on a name wins.
    let out = python_store()
        .command([
            "run",
            "-e",
            "APP_ENV",
            "-e",
            "APP_ENV=Later",
            "my-first-image",
        ])
        .env_remove("APP_ENV")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("Custom Environment Variable: Later\n"));
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn symlinks_may_not_climb_above_their_directory() {
    let (data, flag) = mounted(&[("f", "x")], "/data");
    let stdout = python(
        &["-v", &flag],
        "import os\n\
         for target, link in [('../victim', '/data/up'), ('..', '/data/s'), ('/etc', '/data/abs'),\n\
                              ('sub/../../x', '/data/sneaky'), ('f', '/data/ok'), ('a/../f', '/data/ok2')]:\n\
         \x20   try:\n\
         \x20       os.symlink(target, link)\n\
         \x20       print(link, 'made')\n\
         \x20   except OSError as e:\n\
         \x20       print(link, 'refused', e.errno)\n\
         print(open('/data/ok').read())\n",
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "/data/up refused 63",
            "/data/s refused 63",
            "/data/abs refused 63",
            "/data/sneaky refused 63",
            "/data/ok made",
            "/data/ok2 made",
            "x",
        ]
    );
    let mut left: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["f", "ok", "ok2"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_module_without_an_image_gets_a_tree_of_its_mounts() {
    let wharf = Wharf::new();
    let (_data, flag) = mounted(&[("in/a.txt", "a")], "/data/set");
    let out = wharf
        .run([
            "run",
            "-v",
            &flag,
            crate::support::hello_c().to_str().unwrap(),
            "--quiet",
            "--ls",
            "/",
            "--ls",
            "/data",
            "--cat",
            "/data/set/../set/in/a.txt",
        ])
        .ok();
    assert_eq!(out.stdout, "/:\n  data\n  tmp\n/data:\n  set\na");
}
