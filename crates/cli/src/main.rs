//! `trustyconvert`: one binary for the server and the client commands.

/// The server allocates and frees small buffers on every request (headers, JSON,
/// cookies); mimalloc does that with less contention than the system allocator, which
/// the benchmark (docs/BENCHMARKS.md) measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client_state;
mod convert_cmd;
mod doctor;
mod format_arg;
mod formats_cmd;
mod jobs_cmd;
mod logging;
mod offline;
mod options_arg;
mod serve;
mod session_cmd;
mod target;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// TrustyConvert: secure file conversion with centralized session management.
#[derive(Debug, Parser)]
#[command(name = "trustyconvert", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (embedded store by default).
    Serve(Box<serve::ServeArgs>),
    /// Convert files (through --server, or here, without one).
    Convert(convert_cmd::ConvertArgs),
    /// List the conversions available.
    Formats(target::OptionalServerArg),
    /// Check which conversion engines this machine has (and how to add missing ones).
    Doctor(doctor::EngineArgs),
    /// Inspect or close this CLI's session with a server.
    #[command(subcommand)]
    Session(session_cmd::SessionCommand),
    /// List, download or delete this CLI's jobs on a server.
    #[command(subcommand)]
    Jobs(jobs_cmd::JobsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("trustyconvert: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Convert(args) => convert_cmd::run(args).await,
            Command::Formats(args) => formats_cmd::run(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Session(command) => session_cmd::run(command).await,
            Command::Jobs(command) => jobs_cmd::run(command).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("trustyconvert: {message}");
            ExitCode::FAILURE
        }
    }
}
