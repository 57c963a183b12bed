//! Conversion jobs: [`JobService`] owns their whole life — accepting an upload,
//! admitting and running a conversion, looking jobs up, handing out downloads and
//! removing a session's jobs and files. Records live in the storage layer; files under
//! the data directory ([`JobFiles`]).

mod archive;
mod downloads;
mod files;
mod intake;
mod pending;
mod runner;
mod service;
mod session_hooks;
mod tokens;
mod upload;

pub use archive::{stream as stream_archive, Archive, ArchiveEntry};
pub use downloads::{Download, DownloadHead, OutputFile};
pub use files::JobFiles;
pub use service::JobService;
pub use session_hooks::SessionFiles;
pub use tokens::{DOWNLOAD_TOKEN_TTL, MAX_TOKENS_PER_JOB};
pub use upload::{too_large, IncomingUpload};
