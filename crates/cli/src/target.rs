//! Which server a client command talks to: `--server URL`, or a one-off in-process
//! server on a temporary store, so `formats` works with no setup at all (`convert`
//! without a server converts here instead: `offline.rs`).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use trustyconvert_client::transport::ReqwestTransport;
use trustyconvert_client::{ManagerConfig, SessionManager};
use trustyconvert_server::{RateLimitConfig, Server, ServerConfig, StoreKind};

use crate::client_state::ClientState;

/// `--server` for commands that can also run without one.
#[derive(Debug, Args)]
pub struct OptionalServerArg {
    /// Base URL of a TrustyConvert server. Without it, the work is done here, with the
    /// same checks and the default limits of a server.
    #[arg(long, env = "TRUSTY_SERVER")]
    pub server: Option<String>,
    #[command(flatten)]
    pub timeout: TimeoutArg,
}

/// `--timeout` of every client command.
#[derive(Debug, Clone, Copy, Args)]
pub struct TimeoutArg {
    /// How long a request may wait for the server without progress (`15s`, `2m`);
    /// starting a session gives up after twice that.
    #[arg(long = "timeout", env = "TRUSTY_TIMEOUT", default_value = "15s", value_parser = parse_timeout)]
    pub timeout: Duration,
}

impl TimeoutArg {
    /// The manager configuration these limits give.
    pub fn manager_config(self) -> ManagerConfig {
        ManagerConfig {
            request_timeout: self.timeout,
            init_deadline: self.timeout.saturating_mul(2),
            ..ManagerConfig::default()
        }
    }
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(duration) if duration.is_zero() => Err("the timeout must be longer than 0".into()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}

/// A connected manager, and whatever must stay alive while it is used.
pub struct Target {
    /// The manager to use.
    pub manager: SessionManager,
    /// What to call the server in messages.
    pub label: String,
    state: Option<ClientState>,
    local: Option<LocalServer>,
}

struct LocalServer {
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Connects to `--server`, or starts the in-process server.
    pub async fn connect(arg: &OptionalServerArg) -> Result<Self, String> {
        if let Some(server) = &arg.server {
            let state = ClientState::load(server)?;
            return Ok(Self {
                manager: state.manager(arg.timeout.manager_config()),
                label: server.clone(),
                state: Some(state),
                local: None,
            });
        }
        let dir =
            tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let config = ServerConfig {
            bind: ([127, 0, 0, 1], 0).into(),
            store: StoreKind::Memory,
            data_dir: dir.path().to_owned(),
            rate_limits: RateLimitConfig::UNLIMITED,
            ..ServerConfig::default()
        };
        let server = Server::bind(config)
            .await
            .map_err(|e| format!("cannot start the local converter: {e}"))?;
        let base = format!("http://{}", server.local_addr());
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = server
                .run_until(async {
                    let _ = signal.await;
                })
                .await;
        });
        let transport = ReqwestTransport::new(&base).map_err(|e| e.to_string())?;
        let manager = SessionManager::new(Arc::new(transport), arg.timeout.manager_config());
        let local = LocalServer {
            shutdown,
            task,
            _dir: dir,
        };
        Ok(Self {
            manager,
            label: "the local converter".to_owned(),
            state: None,
            local: Some(local),
        })
    }

    /// Saves the session of a remote server, or stops the local one.
    pub async fn finish(self) -> Result<(), String> {
        if let Some(state) = &self.state {
            state.save()?;
        }
        if let Some(local) = self.local {
            let _ = self.manager.close_session().await;
            let _ = local.shutdown.send(());
            let _ = local.task.await;
        }
        Ok(())
    }
}
