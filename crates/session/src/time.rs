//! Wall-clock timestamps as stored and sent: milliseconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since the Unix epoch (UTC).
///
/// ```
/// use trustyconvert_session::Timestamp;
/// let t = Timestamp::from_millis(1_700_000_000_000);
/// assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// A timestamp from raw milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Raw milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `duration`, saturating.
    pub fn plus(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// How long from `self` until `later`; zero if `later` is not later.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    /// RFC 3339 in UTC with second precision, e.g. `2023-11-14T22:13:20Z`.
    pub fn to_rfc3339(self) -> String {
        use std::fmt::Write as _;
        let millis = u64::try_from(self.0).unwrap_or(0);
        let time = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(millis));
        // Sized up front: `to_string` would grow the buffer three times on the way.
        let mut text = String::with_capacity(20);
        let _ = write!(text, "{time}"); // writing into a String cannot fail
        text
    }
}
