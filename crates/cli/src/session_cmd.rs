//! `trustyconvert session status|close`: the CLI's session, through the SessionManager.

use clap::{Args, Subcommand};
use trustyconvert_client::protocol::ErrorType;
use trustyconvert_client::protocol::SessionInfo;
use trustyconvert_client::{ApiRequest, ClientError};

use crate::client_state::ClientState;

/// Arguments shared by the client commands.
#[derive(Debug, Args)]
pub struct ServerArg {
    /// Base URL of the TrustyConvert server.
    #[arg(long, env = "TRUSTY_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
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

/// Turns a client error into a message for a person.
pub fn describe(error: &ClientError, server: &str) -> String {
    match error {
        ClientError::Network(detail) => format!(
            "cannot reach the server at {server} ({detail}). Is it running? Start one with `trustyconvert serve`."
        ),
        ClientError::Api { message, kind, correlation_id, .. } => match correlation_id {
            Some(id) => format!("{message} ({kind}, correlation id {id})"),
            None => format!("{message} ({kind})"),
        },
        other => other.to_string(),
    }
}

/// Runs a `session` subcommand.
pub async fn run(command: SessionCommand) -> Result<(), String> {
    match command {
        SessionCommand::Init(args) => init(&args.server).await,
        SessionCommand::Status(args) => status(&args.server).await,
        SessionCommand::Close(args) => close(&args.server).await,
    }
}

async fn init(server: &str) -> Result<(), String> {
    let state = ClientState::load(server)?;
    let session = state
        .manager()
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
async fn current_session(state: &ClientState, server: &str) -> Result<Option<SessionInfo>, String> {
    let api = state.manager().api();
    let outcome: Result<SessionInfo, ClientError> = api
        .call(ApiRequest::get("/api/session").without_session())
        .await;
    match outcome {
        Ok(info) => Ok(Some(info)),
        Err(error) if error.kind() == Some(ErrorType::SessionValidationError) => Ok(None),
        Err(error) => Err(describe(&error, server)),
    }
}

async fn status(server: &str) -> Result<(), String> {
    let state = ClientState::load(server)?;
    match current_session(&state, server).await? {
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

async fn close(server: &str) -> Result<(), String> {
    let state = ClientState::load(server)?;
    // Asking first gives a clear answer even when nothing is held here, and a clear
    // error when the server cannot be reached.
    let closed = match current_session(&state, server).await? {
        Some(_) => state
            .manager()
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
