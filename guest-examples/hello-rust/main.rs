//! hello-rust: a WASI command written in Rust, for wharf's sandbox.
//!
//! It greets, prints its arguments and the variables whose names start
//! with `APP_`, then reads each file named after `--cat` and writes `TEXT`
//! to each `--write FILE TEXT`. Paths may be relative: they resolve from
//! the image's working directory, which a WASI program starts outside of
//! (in `/`) and wharf names in `PWD`.

use std::env;
use std::ffi::CString;
use std::fs;
use std::os::raw::c_char;
use std::process::ExitCode;

extern "C" {
    /// wasi-libc's, which Rust's standard library resolves relative paths
    /// with (`std::env::set_current_dir` is unsupported on this target).
    fn chdir(path: *const c_char) -> i32;
}

fn main() -> ExitCode {
    if let Some(pwd) = env::var("PWD").ok().and_then(|p| CString::new(p).ok()) {
        // SAFETY: a NUL-terminated path that outlives the call.
        if unsafe { chdir(pwd.as_ptr()) } != 0 {
            eprintln!("hello-rust: cannot enter {}", pwd.to_string_lossy());
        }
    }
    println!("Hello from Rust in a wharf sandbox!");
    let args: Vec<String> = env::args().collect();
    for (i, arg) in args.iter().enumerate() {
        println!("argv[{i}]={arg}");
    }
    let mut vars: Vec<(String, String)> = env::vars().filter(|(k, _)| k.starts_with("APP_")).collect();
    vars.sort();
    for (key, value) in vars {
        println!("env {key}={value}");
    }
    let mut status = ExitCode::SUCCESS;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--cat" => {
                let path = rest.next().map(String::as_str).unwrap_or("");
                match fs::read_to_string(path) {
                    Ok(text) => print!("{text}"),
                    Err(e) => {
                        eprintln!("hello-rust: cannot read {path}: {e}");
                        status = ExitCode::FAILURE;
                    }
                }
            }
            "--write" => {
                let path = rest.next().map(String::as_str).unwrap_or("");
                let text = rest.next().map(String::as_str).unwrap_or("");
                if let Err(e) = fs::write(path, format!("{text}\n")) {
                    eprintln!("hello-rust: cannot write {path}: {e}");
                    status = ExitCode::FAILURE;
                }
            }
            _ => {}
        }
    }
    status
}
