//! Every default of the configuration, named once. The `Default` impls, the CLI's
//! flags (`trustyconvert serve --help`) and the README's flag table all come from
//! here; a test keeps the README and `--help` in step.

use std::time::Duration;

use super::StoreKind;

/// The session layer's defaults: `--same-site` (`SAME_SITE`), `--idle-timeout`
/// (`IDLE_TIMEOUT`), `--absolute-timeout` (`ABSOLUTE_TIMEOUT`), `--csrf-grace`
/// (`CSRF_GRACE`), `--sweep-interval` (`SWEEP_INTERVAL`), `--rate-limit-init`
/// (`RATE_LIMIT_INIT`) and `--client-ipv6-prefix` (`CLIENT_IPV6_PREFIX`).
pub use trustyconvert_session::config::defaults::*;

/// `--store`: SQLite in the data directory, so sessions survive restarts.
pub const STORE: StoreKind = StoreKind::Embedded;

/// `--bind`: loopback only, so a first run exposes nothing.
pub const BIND: &str = "127.0.0.1:8080";
/// `--data-dir`.
pub const DATA_DIR: &str = "./data";

/// `--max-upload-size`: 100 MiB.
pub const MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// `--max-active-jobs`: queued or running conversions per session.
pub const MAX_ACTIVE_JOBS: u64 = 2;
/// `--max-session-storage`: 1 GiB of uploads and outputs per session.
pub const MAX_SESSION_STORAGE: u64 = 1024 * 1024 * 1024;
/// `--max-output-size`: 256 MiB. The largest legitimate result is an image at the
/// pixel cap (50 Mpx) as a 4-byte-per-pixel BMP or TIFF, 200 MB; text and data
/// outputs of a 100 MiB upload stay well below that.
pub const MAX_OUTPUT_BYTES: u64 = 256 * 1024 * 1024;
/// `--conversion-timeout`.
pub const CONVERSION_TIMEOUT: Duration = Duration::from_secs(60);
/// `--office-pool`: LibreOffice instances `serve` keeps warm.
pub const OFFICE_POOL: usize = 2;
/// `--office-recycle`: conversions a warm LibreOffice performs before it is replaced
/// (LibreOffice's memory grows with use).
pub const OFFICE_RECYCLE_AFTER: u32 = 200;

/// `--engine-memory`: 1 GiB of address space per LibreOffice run (it converts a
/// typical document in well under half of that).
pub const ENGINE_MEMORY: u64 = 1024 * 1024 * 1024;

/// `--rate-limit-upload`: uploads per minute per client address.
pub const RATE_LIMIT_UPLOAD: u32 = 300;
/// `--rate-limit-convert`: conversion requests per minute per client address.
pub const RATE_LIMIT_CONVERT: u32 = 300;
/// `--rate-limit-download`: download tokens and downloads per minute per client address.
pub const RATE_LIMIT_DOWNLOAD: u32 = 600;

/// Time allowed to send a request's head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause while sending a request body.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Largest request head; larger gets 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// `--max-connections-per-address`: connections one client address may hold open at
/// once, a sixteenth of [`MAX_CONNECTIONS`], so one address cannot take every slot.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 64;
/// `--body-min-rate`: bytes per second a request body must average once its grace
/// period is over (mod_reqtimeout's `MinRate`, doubled).
pub const BODY_MIN_RATE: u64 = 1024;
/// `--body-rate-grace`: time a request body gets before its average rate is held to
/// [`BODY_MIN_RATE`].
pub const BODY_RATE_GRACE: Duration = Duration::from_secs(20);

/// `--workers`: conversions running at once, one per CPU.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
