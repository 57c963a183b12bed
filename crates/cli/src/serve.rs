//! `trustyconvert serve`: flags and environment variables → `ServerConfig` → run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use trustyconvert_server::{CookieConfig, SameSite, Server, ServerConfig, StoreKind, Timeouts};

/// Flags of `serve`. Every flag has a `TRUSTY_*` environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TRUSTY_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,

    /// Session store: `memory` or `embedded` (SQLite in the data directory).
    #[arg(long, env = "TRUSTY_STORE", default_value = "embedded", value_parser = parse_store)]
    store: StoreKind,

    /// Directory for the embedded database and the generated key.
    #[arg(long, env = "TRUSTY_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,

    /// Drop the Secure cookie attribute: for plain-HTTP development on loopback only.
    #[arg(long, env = "TRUSTY_INSECURE_COOKIES")]
    insecure_cookies: bool,

    /// An origin (scheme://host[:port]) allowed for CORS and unsafe requests; repeatable.
    #[arg(
        long = "allowed-origin",
        env = "TRUSTY_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,

    /// Idle timeout of a session, extended by activity (e.g. `30m`, `1h`).
    #[arg(long, env = "TRUSTY_IDLE_TIMEOUT", default_value = "1h", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,

    /// Absolute timeout of a session from its creation (e.g. `24h`).
    #[arg(long, env = "TRUSTY_ABSOLUTE_TIMEOUT", default_value = "24h", value_parser = humantime::parse_duration)]
    absolute_timeout: Duration,

    /// How long the previous CSRF token stays valid after a rotation (e.g. `60s`).
    #[arg(long, env = "TRUSTY_CSRF_GRACE", default_value = "60s", value_parser = humantime::parse_duration)]
    csrf_grace: Duration,

    /// How often expired sessions are purged from the store.
    #[arg(long, env = "TRUSTY_SWEEP_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    sweep_interval: Duration,

    /// Key file: one 64-hex-digit key per line, the first signs, all verify.
    /// Without it a key is generated once and kept in the data directory.
    #[arg(long, env = "TRUSTY_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,

    /// SameSite attribute of both cookies.
    #[arg(long, env = "TRUSTY_SAME_SITE", default_value = "lax")]
    same_site: SameSiteArg,

    /// Prefix both cookie names with `__Host-` (requires Secure).
    #[arg(long, env = "TRUSTY_HOST_PREFIX")]
    host_prefix: bool,

    /// Name of the session cookie.
    #[arg(long, env = "TRUSTY_SESSION_COOKIE", default_value = trustyconvert_server::DEFAULT_SESSION_COOKIE)]
    session_cookie: String,

    /// Name of the CSRF cookie.
    #[arg(long, env = "TRUSTY_CSRF_COOKIE", default_value = trustyconvert_server::DEFAULT_CSRF_COOKIE)]
    csrf_cookie: String,
}

/// The `SameSite` values accepted on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SameSiteArg {
    Lax,
    Strict,
    None,
}

fn parse_store(value: &str) -> Result<StoreKind, String> {
    match value {
        "memory" => Ok(StoreKind::Memory),
        "embedded" => Ok(StoreKind::Embedded),
        other => Err(format!(
            "unknown store {other:?}; expected `memory` or `embedded`"
        )),
    }
}

impl ServeArgs {
    fn into_config(self) -> ServerConfig {
        let same_site = match self.same_site {
            SameSiteArg::Lax => SameSite::Lax,
            SameSiteArg::Strict => SameSite::Strict,
            SameSiteArg::None => SameSite::None,
        };
        ServerConfig {
            bind: self.bind,
            store: self.store,
            data_dir: self.data_dir,
            cookies: CookieConfig {
                session_name: self.session_cookie,
                csrf_name: self.csrf_cookie,
                secure: !self.insecure_cookies,
                same_site,
                host_prefix: self.host_prefix,
            },
            allowed_origins: self.allowed_origins,
            timeouts: Timeouts {
                idle: self.idle_timeout,
                absolute: self.absolute_timeout,
                csrf_grace: self.csrf_grace,
                sweep_interval: self.sweep_interval,
            },
            secret_key_file: self.secret_key_file,
        }
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), String> {
    init_logging();
    let config = args.into_config();
    if !config.cookies.secure {
        tracing::warn!(
            "cookies are not Secure (--insecure-cookies): use this on plain-HTTP loopback only"
        );
    }
    let server = Server::bind(config)
        .await
        .map_err(|error| error.to_string())?;
    tracing::info!("trustyconvert listening on http://{}", server.local_addr());
    server
        .run_until(shutdown_signal())
        .await
        .map_err(|error| format!("server error: {error}"))?;
    tracing::info!("trustyconvert stopped");
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRUSTY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
