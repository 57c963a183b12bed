//! Every default of [`SessionConfig`](super::SessionConfig), named once.

use std::time::Duration;

use super::SameSite;

/// The `SameSite` attribute of both cookies.
pub const SAME_SITE: SameSite = SameSite::Lax;
/// A session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// A session ends this long after its creation, used or not.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The previous CSRF token stays valid this long after a rotation, so requests a
/// second tab sent with it still pass.
pub const CSRF_GRACE: Duration = Duration::from_secs(60);
/// How often expired sessions are swept from the store.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// New sessions per minute per client address.
pub const RATE_LIMIT_INIT: u32 = 120;
/// IPv6 clients are counted per /64 network, the block one machine or home is
/// usually given (it can pick any address inside it).
pub const CLIENT_IPV6_PREFIX: u8 = 64;
