//! Proves the single-flight claim from outside: N concurrent `ensure_session()` calls
//! on one manager cause one `GET /api/session/init`.
//!
//! ```sh
//! cargo run --release --example concurrent_ensure -- --server http://127.0.0.1:8080 --callers 10000
//! ```
//! prints one JSON line: `{"callers":N,"init_requests":K,"ok":M}`.

use std::process::ExitCode;

use clap::Parser;
use trustyconvert_client::{ManagerConfig, SessionManager};

/// Runs N concurrent ensure_session() calls on one SessionManager.
#[derive(Debug, Parser)]
struct Args {
    /// Base URL of a running TrustyConvert server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// How many concurrent callers.
    #[arg(long, default_value_t = 1000)]
    callers: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let manager = match SessionManager::connect(&args.server, ManagerConfig::default()) {
        Ok(manager) => manager,
        Err(error) => {
            eprintln!("concurrent_ensure: {error}");
            return ExitCode::FAILURE;
        }
    };
    let tasks: Vec<_> = (0..args.callers)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.ensure_session().await })
        })
        .collect();
    let mut ok = 0usize;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(error)) => first_error = first_error.or(Some(error.to_string())),
            Err(error) => first_error = first_error.or(Some(error.to_string())),
        }
    }
    let line = serde_json::json!({
        "callers": args.callers,
        "init_requests": manager.counts().init_requests,
        "ok": ok,
    });
    println!("{line}");
    if let Some(error) = first_error {
        eprintln!("concurrent_ensure: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
