//! What the session layer can be told, as plain data validated once, and a builder
//! for it. Defaults are named in [`defaults`].
//!
//! ```
//! use std::time::Duration;
//! use trustyconvert_session::SessionConfig;
//!
//! let config = SessionConfig::builder()
//!     .idle_timeout(Duration::from_secs(15 * 60))
//!     .public_origin("https://app.example")
//!     .build()
//!     .unwrap();
//! assert_eq!(config.timeouts.idle, Duration::from_secs(900));
//! assert!(SessionConfig::builder().idle_timeout(Duration::ZERO).build().is_err());
//! ```

pub mod defaults;

use std::time::Duration;

use trustyconvert_protocol::{DEFAULT_CSRF_COOKIE, DEFAULT_SESSION_COOKIE, HOST_COOKIE_PREFIX};

use crate::origin::Origin;

/// The `SameSite` attribute given to both cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on same-site requests and top-level cross-site navigations (the default).
    Lax,
    /// Sent on same-site requests only.
    Strict,
    /// Sent on every request; requires `Secure`.
    None,
}

impl SameSite {
    /// The lowercase name (`lax`, `strict`, `none`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Lax => "lax",
            Self::Strict => "strict",
            Self::None => "none",
        }
    }

    /// The attribute value as written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        }
    }
}

/// How the session and CSRF cookies are named and flagged.
#[derive(Debug, Clone)]
pub struct CookieConfig {
    /// Base name of the session cookie (without the `__Host-` prefix).
    pub session_name: String,
    /// Base name of the CSRF cookie (without the `__Host-` prefix).
    pub csrf_name: String,
    /// Whether cookies carry `Secure`. Turn it off only for plain-HTTP development.
    pub secure: bool,
    /// The `SameSite` attribute.
    pub same_site: SameSite,
    /// Whether both names get the `__Host-` prefix.
    pub host_prefix: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            session_name: DEFAULT_SESSION_COOKIE.to_owned(),
            csrf_name: DEFAULT_CSRF_COOKIE.to_owned(),
            secure: true,
            same_site: defaults::SAME_SITE,
            host_prefix: false,
        }
    }
}

impl CookieConfig {
    /// The session cookie name as sent on the wire.
    pub fn session_cookie_name(&self) -> String {
        self.prefixed(&self.session_name)
    }

    /// The CSRF cookie name as sent on the wire.
    pub fn csrf_cookie_name(&self) -> String {
        self.prefixed(&self.csrf_name)
    }

    fn prefixed(&self, name: &str) -> String {
        if self.host_prefix {
            format!("{HOST_COOKIE_PREFIX}{name}")
        } else {
            name.to_owned()
        }
    }
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Idle timeout, extended by activity.
    pub idle: Duration,
    /// Absolute timeout from creation, never extended.
    pub absolute: Duration,
    /// How long the previous CSRF token stays valid after a rotation.
    pub csrf_grace: Duration,
    /// How often expired sessions are swept from the store.
    pub sweep_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle: defaults::IDLE_TIMEOUT,
            absolute: defaults::ABSOLUTE_TIMEOUT,
            csrf_grace: defaults::CSRF_GRACE,
            sweep_interval: defaults::SWEEP_INTERVAL,
        }
    }
}

/// Everything the session layer needs to know. Build one with
/// [`SessionConfig::builder`] or fill the fields and call [`SessionConfig::validate`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Cookie names and attributes.
    pub cookies: CookieConfig,
    /// Session lifetimes.
    pub timeouts: Timeouts,
    /// Other origins (`scheme://host[:port]`) allowed to send unsafe requests.
    pub allowed_origins: Vec<String>,
    /// The origins the application's own pages are served from. Empty: derived from
    /// each request's `Host` header, as `http` unless a trusted proxy sends
    /// `X-Forwarded-Proto`.
    pub public_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// IPv6 clients are one client per network of this prefix length (1–128).
    pub client_ipv6_prefix: u8,
    /// New sessions per minute per client address; `0` disables the limit.
    pub init_per_minute: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cookies: CookieConfig::default(),
            timeouts: Timeouts::default(),
            allowed_origins: Vec::new(),
            public_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            client_ipv6_prefix: defaults::CLIENT_IPV6_PREFIX,
            init_per_minute: defaults::RATE_LIMIT_INIT,
        }
    }
}

/// A configuration that cannot work, explained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `SameSite=None` without `Secure` is refused by browsers.
    #[error(
        "SameSite=None requires Secure cookies; drop --insecure-cookies or pick another SameSite"
    )]
    SameSiteNoneNeedsSecure,
    /// `__Host-` cookies must be Secure.
    #[error("the __Host- cookie prefix requires Secure cookies; drop --insecure-cookies")]
    HostPrefixNeedsSecure,
    /// An allowed origin is not of the form `scheme://host[:port]`.
    #[error(
        "allowed origin {0:?} is not of the form scheme://host[:port] (no path, no trailing slash)"
    )]
    BadOrigin(String),
    /// A public origin is not of the form `scheme://host[:port]`.
    #[error(
        "--public-origin {0:?} is not of the form scheme://host[:port] (no path, no trailing slash)"
    )]
    BadPublicOrigin(String),
    /// A timeout is zero or inconsistent.
    #[error("{0}")]
    BadTimeout(&'static str),
    /// A limit that must be positive is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// A cookie name is empty or has characters a cookie name cannot have.
    #[error("cookie name {0:?} is not a valid cookie token")]
    BadCookieName(String),
    /// The IPv6 client prefix is not a prefix length.
    #[error("the IPv6 client prefix must be between 1 and 128, not {0}")]
    BadIpv6Prefix(u8),
}

impl SessionConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> SessionConfigBuilder {
        SessionConfigBuilder(Self::default())
    }

    /// Checks the configuration for combinations that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.cookies.secure && self.cookies.same_site == SameSite::None {
            return Err(ConfigError::SameSiteNoneNeedsSecure);
        }
        if !self.cookies.secure && self.cookies.host_prefix {
            return Err(ConfigError::HostPrefixNeedsSecure);
        }
        for name in [&self.cookies.session_name, &self.cookies.csrf_name] {
            if !is_cookie_token(name) {
                return Err(ConfigError::BadCookieName(name.clone()));
            }
        }
        for origin in &self.allowed_origins {
            if Origin::parse(origin).is_none() {
                return Err(ConfigError::BadOrigin(origin.clone()));
            }
        }
        for origin in &self.public_origins {
            if Origin::parse(origin).is_none() {
                return Err(ConfigError::BadPublicOrigin(origin.clone()));
            }
        }
        if !(1..=128).contains(&self.client_ipv6_prefix) {
            return Err(ConfigError::BadIpv6Prefix(self.client_ipv6_prefix));
        }
        let t = &self.timeouts;
        if t.idle.is_zero() || t.absolute.is_zero() || t.sweep_interval.is_zero() {
            return Err(ConfigError::BadTimeout(
                "timeouts must be greater than zero",
            ));
        }
        if t.idle > t.absolute {
            return Err(ConfigError::BadTimeout(
                "the idle timeout cannot be longer than the absolute timeout",
            ));
        }
        Ok(())
    }
}

/// Builds a [`SessionConfig`]; [`build`](Self::build) validates it.
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionConfigBuilder(SessionConfig);

impl SessionConfigBuilder {
    /// The idle timeout (default one hour).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.0.timeouts.idle = idle;
        self
    }

    /// The absolute timeout (default 24 hours).
    pub fn absolute_timeout(mut self, absolute: Duration) -> Self {
        self.0.timeouts.absolute = absolute;
        self
    }

    /// How long a rotated-away CSRF token stays valid (default one minute).
    pub fn csrf_grace(mut self, grace: Duration) -> Self {
        self.0.timeouts.csrf_grace = grace;
        self
    }

    /// The cookie names and attributes.
    pub fn cookies(mut self, cookies: CookieConfig) -> Self {
        self.0.cookies = cookies;
        self
    }

    /// Cookies without `Secure`, for plain-HTTP development on localhost only.
    pub fn insecure_cookies(mut self) -> Self {
        self.0.cookies.secure = false;
        self
    }

    /// Adds an origin the application's pages are served from.
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.0.public_origins.push(origin.into());
        self
    }

    /// Adds another origin allowed to send unsafe requests.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.0.allowed_origins.push(origin.into());
        self
    }

    /// Adds a reverse proxy whose forwarding headers are believed.
    pub fn trusted_proxy(mut self, proxy: ipnet::IpNet) -> Self {
        self.0.trusted_proxies.push(proxy);
        self
    }

    /// New sessions per minute per client address (`0`: unlimited).
    pub fn init_per_minute(mut self, per_minute: u32) -> Self {
        self.0.init_per_minute = per_minute;
        self
    }

    /// The validated configuration.
    pub fn build(self) -> Result<SessionConfig, ConfigError> {
        self.0.validate()?;
        Ok(self.0)
    }
}

/// RFC 6265 `token`: visible ASCII except separators.
fn is_cookie_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}
