//! `trustyconvert serve`: flags and environment variables → `ServerConfig` → run.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use trustyconvert_server::config::defaults;
use trustyconvert_server::{
    CookieConfig, HttpLimits, JobLimits, RateLimitConfig, SameSite, Server, ServerConfig,
    StoreKind, Timeouts,
};

use crate::doctor::EngineArgs;

use crate::units::{ByteSize, HumanDuration};

/// Flags of `serve`. Every flag has a `TRUSTY_*` environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "TRUSTY_BIND", default_value = defaults::BIND)]
    bind: SocketAddr,

    /// Storage backend for sessions, jobs, download links and rate counters: `memory`,
    /// `embedded` (SQLite in the data directory) or a Redis URL shared by several
    /// instances (`redis://[:password@]host:port[/db]`, `rediss://…` for TLS,
    /// `redis+cluster://host:port,host:port…`).
    #[arg(long, env = "TRUSTY_STORE", hide_env_values = true, default_value_t = defaults::STORE)]
    store: StoreKind,

    /// Directory for the embedded database and the generated key.
    #[arg(long, env = "TRUSTY_DATA_DIR", default_value = defaults::DATA_DIR)]
    data_dir: PathBuf,

    /// Drop the Secure cookie attribute: for plain-HTTP development on loopback only.
    #[arg(long, env = "TRUSTY_INSECURE_COOKIES")]
    insecure_cookies: bool,

    /// An origin (`scheme://host[:port]`) allowed for CORS and unsafe requests; repeatable.
    #[arg(
        long = "allowed-origin",
        env = "TRUSTY_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,

    /// The origin (`scheme://host[:port]`) users reach the service at; repeatable for
    /// aliases. Unsafe requests and forced re-initializations must come from it (or
    /// an allowed origin). Without it: each request's Host over http (https only via
    /// a --trusted-proxy sending X-Forwarded-Proto); set it behind a TLS proxy.
    #[arg(
        long = "public-origin",
        env = "TRUSTY_PUBLIC_ORIGIN",
        value_delimiter = ','
    )]
    public_origins: Vec<String>,

    /// Idle timeout of a session, extended by activity (e.g. `30m`, `1h`).
    #[arg(long, env = "TRUSTY_IDLE_TIMEOUT", default_value_t = HumanDuration(defaults::IDLE_TIMEOUT))]
    idle_timeout: HumanDuration,

    /// Absolute timeout of a session from its creation (e.g. `24h`).
    #[arg(long, env = "TRUSTY_ABSOLUTE_TIMEOUT", default_value_t = HumanDuration(defaults::ABSOLUTE_TIMEOUT))]
    absolute_timeout: HumanDuration,

    /// How long the previous CSRF token stays valid after a rotation (e.g. `60s`).
    #[arg(long, env = "TRUSTY_CSRF_GRACE", default_value_t = HumanDuration(defaults::CSRF_GRACE))]
    csrf_grace: HumanDuration,

    /// How often expired sessions are purged from the store.
    #[arg(long, env = "TRUSTY_SWEEP_INTERVAL", default_value_t = HumanDuration(defaults::SWEEP_INTERVAL))]
    sweep_interval: HumanDuration,

    /// Key file: one 64-hex-digit key per line, the first signs, all verify.
    /// Without it a key is generated once and kept in the data directory.
    #[arg(long, env = "TRUSTY_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,

    /// SameSite attribute of both cookies.
    #[arg(long, env = "TRUSTY_SAME_SITE", default_value = defaults::SAME_SITE.name())]
    same_site: SameSiteArg,

    /// Prefix both cookie names with `__Host-` (requires Secure).
    #[arg(long, env = "TRUSTY_HOST_PREFIX")]
    host_prefix: bool,

    /// Name of the session cookie.
    #[arg(long, env = "TRUSTY_SESSION_COOKIE", default_value = trustyconvert_server::DEFAULT_SESSION_COOKIE)]
    session_cookie: String,

    /// Largest accepted upload, human size (e.g. `2MiB`, `500KB`, `100MiB`).
    #[arg(long, env = "TRUSTY_MAX_UPLOAD_SIZE", default_value_t = ByteSize(defaults::MAX_UPLOAD_BYTES))]
    max_upload_size: ByteSize,

    /// Most queued or running conversions per session.
    #[arg(long, env = "TRUSTY_MAX_ACTIVE_JOBS", default_value_t = defaults::MAX_ACTIVE_JOBS)]
    max_active_jobs: u64,

    /// Conversions running at once (default: the number of CPUs).
    #[arg(long, env = "TRUSTY_WORKERS")]
    workers: Option<usize>,

    /// Largest result of one conversion; a job past it fails naming the limit. The
    /// default fits the largest legitimate result (an image at the 50-megapixel cap as
    /// an uncompressed BMP or TIFF, 200 MB).
    #[arg(long, env = "TRUSTY_MAX_OUTPUT_SIZE", default_value_t = ByteSize(defaults::MAX_OUTPUT_BYTES))]
    max_output_size: ByteSize,

    /// Longest one conversion may run; then its job fails and its worker is free.
    #[arg(long, env = "TRUSTY_CONVERSION_TIMEOUT", default_value_t = HumanDuration(defaults::CONVERSION_TIMEOUT))]
    conversion_timeout: HumanDuration,

    /// Address space one LibreOffice run may map; past it the run fails, not the server.
    #[arg(long, env = "TRUSTY_ENGINE_MEMORY", default_value_t = ByteSize(defaults::ENGINE_MEMORY))]
    engine_memory: ByteSize,

    #[command(flatten)]
    engines: EngineArgs,

    /// LibreOffice instances kept running between conversions, each fenced like a
    /// cold run (0: start LibreOffice for each conversion). Needs python3 with
    /// LibreOffice's UNO bridge (Debian: python3-uno).
    #[arg(long, env = "TRUSTY_OFFICE_POOL", default_value_t = defaults::OFFICE_POOL)]
    office_pool: usize,

    /// Conversions a warm LibreOffice instance performs before it is replaced.
    #[arg(long, env = "TRUSTY_OFFICE_RECYCLE", default_value_t = defaults::OFFICE_RECYCLE_AFTER)]
    office_recycle: u32,

    /// Bytes one session's uploads and outputs may take together (`1GiB`, `500MB`, …).
    #[arg(long, env = "TRUSTY_MAX_SESSION_STORAGE", default_value_t = ByteSize(defaults::MAX_SESSION_STORAGE))]
    max_session_storage: ByteSize,

    /// New sessions per minute per client IP (0 = unlimited); joining a live session
    /// is not counted.
    #[arg(long, env = "TRUSTY_RATE_LIMIT_INIT", default_value_t = defaults::RATE_LIMIT_INIT)]
    rate_limit_init: u32,

    /// A reverse proxy (address or CIDR, repeatable) whose `X-Forwarded-For` names the
    /// client for rate limits; from any other peer the header is ignored.
    #[arg(long = "trusted-proxy", env = "TRUSTY_TRUSTED_PROXY", value_delimiter = ',', value_parser = parse_cidr)]
    trusted_proxies: Vec<ipnet::IpNet>,

    /// IPv6 clients count as one client per network of this prefix length for rate
    /// limits (a machine given a /64 can send from any address in it).
    #[arg(long, env = "TRUSTY_CLIENT_IPV6_PREFIX", default_value_t = defaults::CLIENT_IPV6_PREFIX, value_parser = clap::value_parser!(u8).range(1..=128))]
    client_ipv6_prefix: u8,

    /// Uploads per minute per client IP (0 = unlimited).
    #[arg(long, env = "TRUSTY_RATE_LIMIT_UPLOAD", default_value_t = defaults::RATE_LIMIT_UPLOAD)]
    rate_limit_upload: u32,

    /// Conversion requests per minute per client IP (0 = unlimited).
    #[arg(long, env = "TRUSTY_RATE_LIMIT_CONVERT", default_value_t = defaults::RATE_LIMIT_CONVERT)]
    rate_limit_convert: u32,

    /// Downloads per minute per client IP (0 = unlimited).
    #[arg(long, env = "TRUSTY_RATE_LIMIT_DOWNLOAD", default_value_t = defaults::RATE_LIMIT_DOWNLOAD)]
    rate_limit_download: u32,

    /// Directory of the built web UI to serve at `/` (`./scripts/run.sh` builds it into
    /// `target/web`). Without it, `/` says how to build it.
    #[arg(long, env = "TRUSTY_WEB_DIR")]
    web_dir: Option<std::path::PathBuf>,

    /// Name of the CSRF cookie.
    #[arg(long, env = "TRUSTY_CSRF_COOKIE", default_value = trustyconvert_server::DEFAULT_CSRF_COOKIE)]
    csrf_cookie: String,
    /// Connections one client address (IPv6: its `--client-ipv6-prefix` network) may hold
    /// open at once; more are closed as soon as they are accepted. Peers in
    /// `--trusted-proxy` are not held to it.
    #[arg(long, env = "TRUSTY_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = defaults::MAX_CONNECTIONS_PER_ADDRESS)]
    max_connections_per_address: usize,

    /// Bytes per second a request body must average once its grace period is over
    /// (e.g. `1KiB`, `500`); a slower body is cut off.
    #[arg(long, env = "TRUSTY_BODY_MIN_RATE", default_value_t = ByteSize(defaults::BODY_MIN_RATE))]
    body_min_rate: ByteSize,

    /// Time a request body gets, from its head's arrival, before `--body-min-rate` applies.
    #[arg(long, env = "TRUSTY_BODY_RATE_GRACE", default_value_t = HumanDuration(defaults::BODY_RATE_GRACE))]
    body_rate_grace: HumanDuration,
}

/// The `SameSite` values accepted on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SameSiteArg {
    Lax,
    Strict,
    None,
}

/// An address (`10.0.0.5`, a /32 or /128) or a network (`10.0.0.0/8`).
fn parse_cidr(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{value:?} is not an address or CIDR like 10.0.0.0/8"))
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
            public_origins: self.public_origins,
            timeouts: Timeouts {
                idle: self.idle_timeout.0,
                absolute: self.absolute_timeout.0,
                csrf_grace: self.csrf_grace.0,
                sweep_interval: self.sweep_interval.0,
            },
            secret_key_file: self.secret_key_file,
            jobs: JobLimits {
                max_upload_bytes: self.max_upload_size.0,
                max_active_jobs: self.max_active_jobs,
                max_session_storage: self.max_session_storage.0,
                max_output_bytes: self.max_output_size.0,
                conversion_timeout: self.conversion_timeout.0,
                engine_memory: self.engine_memory.0,
                workers: self.workers.unwrap_or_else(defaults::workers),
            },
            rate_limits: RateLimitConfig {
                init_per_minute: self.rate_limit_init,
                upload_per_minute: self.rate_limit_upload,
                convert_per_minute: self.rate_limit_convert,
                download_per_minute: self.rate_limit_download,
            },
            http: HttpLimits {
                max_connections_per_address: self.max_connections_per_address,
                body_min_rate: self.body_min_rate.0,
                body_rate_grace: self.body_rate_grace.0,
                ..HttpLimits::default()
            },
            trusted_proxies: self.trusted_proxies,
            client_ipv6_prefix: self.client_ipv6_prefix,
            web_dir: self.web_dir,
            libreoffice: self.engines.libreoffice,
            office_pool: self.office_pool,
            office_recycle_after: self.office_recycle,
        }
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), String> {
    crate::logging::init();
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
