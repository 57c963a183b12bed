//! Server configuration: everything `trustyconvert serve` can be told, as plain data,
//! validated once. Defaults are named in [`defaults`].

pub mod defaults;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use trustyconvert_session::{CookieConfig, SameSite, SessionConfig, Timeouts};

/// Which storage backend keeps sessions, jobs, download grants and rate counters.
/// `Debug` and `Display` never show a Redis password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// In-process, lost on restart; for tests and throw-away runs.
    Memory,
    /// SQLite in the data directory; survives restarts (the default).
    Embedded,
    /// Redis, shared by several instances: `redis://[user:password@]host:port[/db]`,
    /// `rediss://…` (TLS) or `redis+cluster://host:port[,host:port…]`.
    Redis(String),
}

impl StoreKind {
    /// The backend's name (`memory`, `embedded`, `redis`).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Embedded => "embedded",
            Self::Redis(_) => "redis",
        }
    }
}

impl std::fmt::Display for StoreKind {
    /// What `--store` takes; a Redis URL is shown without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redis(url) => match url.split_once("://") {
                Some((scheme, rest)) => match rest.rsplit_once('@') {
                    Some((_, hosts)) => write!(f, "{scheme}://***@{hosts}"),
                    None => f.write_str(url),
                },
                None => f.write_str(url),
            },
            other => f.write_str(other.name()),
        }
    }
}

impl std::fmt::Debug for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreKind({self})")
    }
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "memory" => Ok(Self::Memory),
            "embedded" => Ok(Self::Embedded),
            url if [
                "redis://",
                "rediss://",
                "redis+cluster://",
                "rediss+cluster://",
            ]
            .iter()
            .any(|scheme| url.starts_with(scheme)) =>
            {
                Ok(Self::Redis(url.to_owned()))
            }
            _ => Err("unknown store; expected `memory`, `embedded` or a redis:// URL".to_owned()),
        }
    }
}

/// Where to find LibreOffice (`--libreoffice`); the convert crate's setting.
pub use trustyconvert_convert::LibreOfficeSetting;

/// Limits on uploads and jobs.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    /// Largest upload in bytes.
    pub max_upload_bytes: u64,
    /// Most queued-or-processing jobs per session.
    pub max_active_jobs: u64,
    /// Conversions running at once.
    pub workers: usize,
    /// Bytes one session's uploads and outputs may take together.
    pub max_session_storage: u64,
    /// Largest output of one conversion.
    pub max_output_bytes: u64,
    /// Longest one conversion may run; then its job fails and its worker is free.
    pub conversion_timeout: Duration,
    /// Address space one external engine process (LibreOffice) may map.
    pub engine_memory: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: defaults::MAX_UPLOAD_BYTES,
            max_active_jobs: defaults::MAX_ACTIVE_JOBS,
            max_session_storage: defaults::MAX_SESSION_STORAGE,
            max_output_bytes: defaults::MAX_OUTPUT_BYTES,
            conversion_timeout: defaults::CONVERSION_TIMEOUT,
            engine_memory: defaults::ENGINE_MEMORY,
            workers: defaults::workers(),
        }
    }
}

/// Requests per minute per client address; `0` disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// New sessions (`GET /api/session/init` without a live session, or forced).
    pub init_per_minute: u32,
    /// `POST /api/upload`.
    pub upload_per_minute: u32,
    /// `POST /api/convert`.
    pub convert_per_minute: u32,
    /// `POST /api/download_token`, `GET` and `HEAD /api/download`.
    pub download_per_minute: u32,
}

impl RateLimitConfig {
    /// No limits at all (the CLI's private converter).
    pub const UNLIMITED: Self = Self {
        init_per_minute: 0,
        upload_per_minute: 0,
        convert_per_minute: 0,
        download_per_minute: 0,
    };
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            init_per_minute: defaults::RATE_LIMIT_INIT,
            upload_per_minute: defaults::RATE_LIMIT_UPLOAD,
            convert_per_minute: defaults::RATE_LIMIT_CONVERT,
            download_per_minute: defaults::RATE_LIMIT_DOWNLOAD,
        }
    }
}

/// Everything the server needs to start.
///
/// ```
/// use trustyconvert_server::ServerConfig;
/// let config = ServerConfig::default();
/// assert!(config.validate().is_ok());
/// assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Which backend keeps sessions, jobs, download grants and rate counters.
    pub store: StoreKind,
    /// Directory for the embedded database, the generated key and the job files.
    pub data_dir: PathBuf,
    /// Cookie names and attributes.
    pub cookies: CookieConfig,
    /// Origins allowed for CORS and the cross-origin check, exact `scheme://host[:port]`.
    pub allowed_origins: Vec<String>,
    /// The origins (`scheme://host[:port]`) the service's own pages are served from:
    /// the first and any aliases. Empty: derived from each request's `Host` header,
    /// as `http` unless a trusted proxy sends `X-Forwarded-Proto`.
    pub public_origins: Vec<String>,
    /// Session lifetimes.
    pub timeouts: Timeouts,
    /// File with one or more keys (first signs, all verify); `None` generates one.
    pub secret_key_file: Option<PathBuf>,
    /// Upload size, active-job and worker limits.
    pub jobs: JobLimits,
    /// Per-IP rate limits.
    pub rate_limits: RateLimitConfig,
    /// Connection-level limits against slow or greedy clients.
    pub http: HttpLimits,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see `client_addr`); from
    /// any other peer the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// IPv6 clients are one client per network of this prefix length (1–128) for
    /// rate limits: a machine given a /64 can send from 2^64 addresses.
    pub client_ipv6_prefix: u8,
    /// The built web UI (`index.html`, the wasm bundle, `.gz` siblings) served at `/`;
    /// `None` serves a page saying how to build it.
    pub web_dir: Option<PathBuf>,
    /// Where to find LibreOffice for office documents.
    pub libreoffice: LibreOfficeSetting,
    /// LibreOffice instances kept running between conversions (`--office-pool`); 0
    /// starts LibreOffice for each conversion (the default of this struct, so that a
    /// test or an embedding starts none it does not use; `serve` keeps
    /// `defaults::OFFICE_POOL`).
    pub office_pool: usize,
    /// Conversions a warm instance performs before it is replaced
    /// (`--office-recycle`).
    pub office_recycle_after: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: defaults::BIND.parse().expect("the default address parses"),
            store: defaults::STORE,
            data_dir: PathBuf::from(defaults::DATA_DIR),
            cookies: CookieConfig::default(),
            allowed_origins: Vec::new(),
            public_origins: Vec::new(),
            timeouts: Timeouts::default(),
            secret_key_file: None,
            jobs: JobLimits::default(),
            rate_limits: RateLimitConfig::default(),
            http: HttpLimits::default(),
            trusted_proxies: Vec::new(),
            client_ipv6_prefix: defaults::CLIENT_IPV6_PREFIX,
            web_dir: None,
            libreoffice: LibreOfficeSetting::Auto,
            office_pool: 0,
            office_recycle_after: defaults::OFFICE_RECYCLE_AFTER,
        }
    }
}

/// Limits on connections: a client that sends half its headers, or stalls mid-body,
/// or opens connections without end, is cut off instead of holding resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time allowed to send a request's headers.
    pub header_read_timeout: Duration,
    /// Longest pause while sending a request body.
    pub body_idle_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Largest request head (request line and headers); larger gets 431.
    pub max_header_bytes: usize,
    /// Connections one client address (the TCP peer) may hold open at once; more are
    /// closed as soon as they are accepted. Trusted proxies are not held to it.
    pub max_connections_per_address: usize,
    /// Bytes per second a request body must average once [`Self::body_rate_grace`]
    /// has passed since its head arrived.
    pub body_min_rate: u64,
    /// Time a request body gets before [`Self::body_min_rate`] applies.
    pub body_rate_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: defaults::HEADER_READ_TIMEOUT,
            body_idle_timeout: defaults::BODY_IDLE_TIMEOUT,
            max_connections: defaults::MAX_CONNECTIONS,
            max_header_bytes: defaults::MAX_HEADER_BYTES,
            max_connections_per_address: defaults::MAX_CONNECTIONS_PER_ADDRESS,
            body_min_rate: defaults::BODY_MIN_RATE,
            body_rate_grace: defaults::BODY_RATE_GRACE,
        }
    }
}

/// A configuration that cannot work, explained.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The session layer's part (cookies, origins, timeouts, the IPv6 prefix).
    #[error(transparent)]
    Session(#[from] trustyconvert_session::ConfigError),
    /// A job or connection limit is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
}

impl ServerConfig {
    /// The session layer's part of the configuration.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            cookies: self.cookies.clone(),
            timeouts: self.timeouts,
            allowed_origins: self.allowed_origins.clone(),
            public_origins: self.public_origins.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            client_ipv6_prefix: self.client_ipv6_prefix,
            init_per_minute: self.rate_limits.init_per_minute,
        }
    }

    /// Checks the configuration for combinations that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.session_config().validate()?;
        if self.jobs.max_upload_bytes == 0 {
            return Err(ConfigError::ZeroLimit("the maximum upload size"));
        }
        if self.jobs.max_active_jobs == 0 {
            return Err(ConfigError::ZeroLimit("the maximum number of active jobs"));
        }
        if self.jobs.workers == 0 {
            return Err(ConfigError::ZeroLimit("the number of workers"));
        }
        if self.http.max_connections_per_address == 0 {
            return Err(ConfigError::ZeroLimit(
                "the maximum number of connections per address",
            ));
        }
        if self.http.body_min_rate == 0 {
            return Err(ConfigError::ZeroLimit("the minimum request body rate"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::StoreKind;

    #[test]
    fn a_redis_password_is_never_shown() {
        let store: StoreKind = "rediss://user:hunter2@redis.internal:6380/1"
            .parse()
            .unwrap();
        assert_eq!(store.to_string(), "rediss://***@redis.internal:6380/1");
        assert!(!format!("{store:?}").contains("hunter2"));
        let plain: StoreKind = "redis://127.0.0.1:6379".parse().unwrap();
        assert_eq!(plain.to_string(), "redis://127.0.0.1:6379");
        assert!("postgres://x".parse::<StoreKind>().is_err());
    }
}
