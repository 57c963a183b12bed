//! `trustyconvert session status|close`: the CLI's session, through the SessionManager.

use clap::{Args, Subcommand};
use trustyconvert_client::protocol::ErrorType;
use trustyconvert_client::protocol::{paths, SessionInfo};
use trustyconvert_client::{ApiRequest, ClientError, SessionManager};

use crate::client_state::ClientState;
use crate::target::TimeoutArg;

/// Arguments shared by the `session` commands.
#[derive(Debug, Args)]
pub struct ServerArg {
    /// Base URL of the TrustyConvert server.
    #[arg(long, env = "TRUSTY_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    #[command(flatten)]
    pub timeout: TimeoutArg,
}

impl ServerArg {
    fn manager(&self, state: &ClientState) -> SessionManager {
        state.manager(self.timeout.manager_config())
    }
}

/// `session` subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Start a session with the server, or join the one this CLI already holds.
    Init(ServerArg),
    /// Show the session this CLI holds with the server (creates nothing).
    Status(ServerArg),
    /// Close the session on the server and forget it here.
    Close(ServerArg),
}

/// Turns a client error into a message for a person: the client's plain words, plus
/// what helps on a command line (the server, the cause, the error type for support).
pub fn describe(error: &ClientError, server: &str) -> String {
    match error {
        ClientError::Network(detail) => format!(
            "cannot reach the server at {server} ({detail}). Is it running? Start one with `trustyconvert serve`."
        ),
        ClientError::Timeout(detail) => format!(
            "the server at {server} did not answer in time ({detail}). Try again, or allow longer with --timeout."
        ),
        ClientError::Api { kind, correlation_id, .. } => match correlation_id {
            Some(id) => format!("{} ({kind}, correlation id {id})", error.user_message()),
            None => format!("{} ({kind})", error.user_message()),
        },
        other => other.user_message(),
    }
}

/// Runs a `session` subcommand.
pub async fn run(command: SessionCommand) -> Result<(), String> {
    match command {
        SessionCommand::Init(args) => init(&args).await,
        SessionCommand::Status(args) => status(&args).await,
        SessionCommand::Close(args) => close(&args).await,
    }
}

async fn init(args: &ServerArg) -> Result<(), String> {
    let server = &args.server;
    let state = ClientState::load(server)?;
    let session = args
        .manager(&state)
        .ensure_session()
        .await
        .map_err(|error| describe(&error, server))?;
    state.save()?;
    print_session(&session.id, &session.expires_at, server);
    Ok(())
}

fn print_session(id: &str, expires_at: &str, server: &str) {
    println!("session:    {id}");
    println!("expires at: {expires_at}");
    println!("server:     {server}");
}

/// The server's view of the session this CLI holds: `None` when it has none (or the
/// server no longer knows it). Creates nothing; an unreachable server is an error.
async fn current_session(
    args: &ServerArg,
    state: &ClientState,
) -> Result<Option<SessionInfo>, String> {
    let server = &args.server;
    let api = args.manager(state).api();
    let outcome: Result<SessionInfo, ClientError> = api
        .call(ApiRequest::get(paths::SESSION).without_session())
        .await;
    match outcome {
        Ok(info) => Ok(Some(info)),
        Err(error) if error.kind() == Some(ErrorType::SessionValidationError) => Ok(None),
        Err(error) => Err(describe(&error, server)),
    }
}

async fn status(args: &ServerArg) -> Result<(), String> {
    let server = &args.server;
    let state = ClientState::load(server)?;
    match current_session(args, &state).await? {
        Some(info) => {
            state.save()?;
            print_session(&info.id, &info.expires_at, server);
        }
        None => {
            state.forget()?;
            println!("No active session with {server}.");
        }
    }
    Ok(())
}

async fn close(args: &ServerArg) -> Result<(), String> {
    let server = &args.server;
    let state = ClientState::load(server)?;
    // Asking first gives a clear answer even when nothing is held here, and a clear
    // error when the server cannot be reached.
    let closed = match current_session(args, &state).await? {
        Some(_) => args
            .manager(&state)
            .close_session()
            .await
            .map_err(|error| describe(&error, server))?,
        None => false,
    };
    state.forget()?;
    if closed {
        println!("Session closed.");
    } else {
        println!("No active session with {server}.");
    }
    Ok(())
}
