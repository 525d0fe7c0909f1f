//! {{crate}}: a Rust program compiled for WASI, packaged and run by wharf.
//!
//!   cargo build --release --target wasm32-wasip1
//!   wharf build -t {{name}} .
//!   wharf run {{name}} some arguments

use std::env;

fn main() {
    println!("Hello from {{name}} in a wharf sandbox!");
    // The image sets APP_ENV (wharf.toml's [env]); `wharf run -e` overrides it.
    let app_env = env::var("APP_ENV").unwrap_or_else(|_| "not set".to_owned());
    println!("APP_ENV: {app_env}");
    for (i, arg) in env::args().enumerate().skip(1) {
        println!("argument {i}: {arg}");
    }
}
