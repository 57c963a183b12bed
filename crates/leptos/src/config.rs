//! [`ProviderConfig`]: what a `<SessionProvider>` builds its manager with and how it
//! finds the page's other tabs.

use trustyconvert_client::ManagerConfig;

/// The default tab channel: the `BroadcastChannel` every tab of the app shares. The
/// initialization's Web Lock is named after it (`trustyconvert-session-init`).
pub const DEFAULT_CHANNEL: &str = "trustyconvert-session";

/// How a [`SessionProvider`](crate::SessionProvider) is set up. The default talks to the
/// page's own origin with [`ManagerConfig::default()`] on the channel
/// [`DEFAULT_CHANNEL`].
///
/// ```no_run
/// use std::time::Duration;
/// use trustyconvert_leptos::client::ManagerConfig;
/// use trustyconvert_leptos::ProviderConfig;
///
/// let config = ProviderConfig::default()
///     .with_base_url("https://api.example.com")
///     .with_channel("my-app-session")
///     .with_manager(ManagerConfig {
///         request_timeout: Duration::from_secs(10),
///         ..ManagerConfig::default()
///     });
/// assert_eq!(config.init_lock_name(), "my-app-session-init");
/// ```
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    base_url: String,
    manager: ManagerConfig,
    channel: String,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            manager: ManagerConfig::default(),
            channel: DEFAULT_CHANNEL.to_owned(),
        }
    }
}

impl ProviderConfig {
    /// Where the API lives: `""` (the default) is the page's own origin; otherwise an
    /// origin such as `https://api.example.com`, whose session routes are under
    /// `/api/session` (the server must then allow credentialed requests from the page).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The manager's tuning (timeouts, throttle, backoff, the CSRF cookie's name).
    pub fn with_manager(mut self, manager: ManagerConfig) -> Self {
        self.manager = manager;
        self
    }

    /// The `BroadcastChannel` the tabs share, and so the name of the Web Lock around
    /// initialization (`{channel}-init`). Two apps on one origin with separate sessions
    /// need separate channels.
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// The API's base URL (`""`: the page's origin).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The manager's tuning.
    pub fn manager(&self) -> &ManagerConfig {
        &self.manager
    }

    /// The tab channel's name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The name of the Web Lock held around initialization.
    pub fn init_lock_name(&self) -> String {
        format!("{}-init", self.channel)
    }
}
