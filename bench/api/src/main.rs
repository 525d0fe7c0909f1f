//! Runs an image through the `wharf` library as a server embedding it
//! would: a call that must be stoppable without ending the process, so its
//! app is loaded interruptible and its code carries epoch checks.
//!
//! ```text
//! bench-api run-interruptible IMAGE [ARGS…]    a run with a one-hour deadline the guest checks
//! ```
//!
//! The store is the one `WHARF_HOME` names; `-e KEY=VALUE` before IMAGE
//! sets a variable.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wharf::runtime::{Call, LoadOptions, Output, Runtime, Source, Stdin};
use wharf::store::Store;

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("bench-api: {e:#}");
            ExitCode::from(125)
        }
    }
}

fn run() -> Result<i32> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("run-interruptible") {
        bail!("usage: bench-api run-interruptible [-e KEY=VALUE]… IMAGE [ARGS…]");
    }
    let mut env = Vec::new();
    let image = loop {
        match args.next() {
            Some(flag) if flag == "-e" => {
                let var = args.next().context("-e needs KEY=VALUE")?;
                let (key, value) = var.split_once('=').context("-e needs KEY=VALUE")?;
                env.push((key.to_owned(), value.to_owned()));
            }
            Some(image) => break image,
            None => bail!("no image given"),
        }
    };
    let store = Store::open_default()?;
    let runtime = Runtime::builder().store(&store).on_demand().build()?;
    let app = runtime.load_with(Source::Image(image), LoadOptions::new().interruptible(true))?;
    let args: Vec<String> = args.collect();
    let mut call = Call::new()
        .stdin(Stdin::Inherit)
        .stdout(Output::Inherit)
        .stderr(Output::Inherit)
        .timeout(Duration::from_secs(3600));
    if !args.is_empty() {
        call = call.args(args);
    }
    call.env = env;
    Ok(app.call(call)?.exit.code())
}
