//! An upload on its way in, with a running size check against the upload limit and
//! (once it outgrows memory) the session's storage quota, then the convert crate's
//! input checks. Small files (up to [`IN_MEMORY_LIMIT`]) stay in memory and are
//! written once, where they belong; larger ones stream to a private temporary file,
//! one chunk in memory at a time.
//! [`JobService::accept_upload`](super::JobService::accept_upload) verifies it and
//! turns it into a job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use trustyconvert_convert::{
    inspect_input, inspection_is_heavy, Engines, InputBytes, InputClaim, InputError,
};
use trustyconvert_protocol::{details, human_size, paths, safe_file_name, ErrorType, Format};
use uuid::Uuid;

use trustyconvert_session::ApiError;
/// Uploads up to this size are held in memory until they are placed: one file-system
/// write instead of six (temporary file, writes, flush, directory, rename). With the
/// connection cap this bounds the memory held by uploads in flight (1024 × 64 KiB).
pub const IN_MEMORY_LIMIT: usize = 64 * 1024;
/// How much of a large upload is gathered before it is written: each write to a
/// `tokio::fs::File` is a trip to the blocking pool, and the body arrives in chunks of
/// a few KiB (16 MB took 40–60 ms on loopback with a trip per chunk).
const WRITE_BUFFER: usize = 256 * 1024;

/// 413 `MaxFileSizeExceededError` naming the upload limit.
pub fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorType::MaxFileSizeExceededError,
        format!("The file is larger than the limit of {max} bytes."),
    )
    .with_detail(details::MAX_SIZE, max)
}

/// 413 `MaxFileSizeExceededError` naming the session's storage quota.
pub(super) fn over_quota(quota: u64) -> ApiError {
    ApiError::new(
        ErrorType::MaxFileSizeExceededError,
        format!(
            "This upload would exceed your session's storage limit of {}. Delete some of \
             your files (or end the session) to free the space.",
            human_size(quota)
        ),
    )
    .with_detail(details::MAX_SESSION_STORAGE, quota)
}

/// Why an upload could not be placed.
#[derive(Debug, thiserror::Error)]
pub(super) enum PlaceError {
    /// The job's folder exists: the session already used this job id.
    #[error("the job id is already used")]
    DuplicateId,
    /// The file system failed — or the session's folder vanished under it, which is
    /// what a close of the session does.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// 400 for a job id this session already used.
pub(super) fn duplicate_job_id() -> ApiError {
    ApiError::validation("This job_id is already used in this session; generate a new one.")
}

/// Logs a file-system failure (inside the request span) and answers a bare 500.
pub(super) fn storage_failure(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "file storage failed");
    ApiError::internal()
}

/// How large an upload may be: the upload limit, and the room left in the session's
/// storage quota — unknown (`None`) until the upload outgrows memory (see
/// [`IncomingUpload::needs_room`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct SizeBound {
    pub max: u64,
    pub room: Option<u64>,
    pub quota: u64,
}

/// Where the received bytes are so far.
enum Spool {
    /// Small so far: all of it.
    Memory(Vec<u8>),
    /// Too large for memory: a private temporary file.
    File {
        path: PathBuf,
        file: tokio::io::BufWriter<tokio::fs::File>,
    },
}

/// A file being received. A temporary file is removed when this is dropped, unless
/// the upload was accepted.
pub struct IncomingUpload {
    incoming_dir: PathBuf,
    spool: Spool,
    name: String,
    declared_type: Option<String>,
    size: u64,
    bound: SizeBound,
    kept: bool,
}

impl Drop for IncomingUpload {
    fn drop(&mut self) {
        if let (Spool::File { path, .. }, false) = (&self.spool, self.kept) {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl IncomingUpload {
    /// An upload named `file_name` (any path in it is dropped) declared as
    /// `declared_type`; spilled, if it grows large, into `incoming_dir`.
    pub(super) fn new(
        incoming_dir: &Path,
        file_name: &str,
        declared_type: Option<&str>,
        bound: SizeBound,
    ) -> Self {
        Self {
            incoming_dir: incoming_dir.to_owned(),
            spool: Spool::Memory(Vec::new()),
            name: safe_file_name(file_name),
            declared_type: declared_type.map(str::to_owned),
            size: 0,
            bound,
            kept: false,
        }
    }

    /// Whether the room left in the session's quota must be known before `next` more
    /// bytes are written: once, when they would take the upload out of memory and onto
    /// the disk. An upload that stays in memory never asks; the store step that records
    /// it checks the quota anyway (and its file is removed if that refuses).
    pub(super) fn needs_room(&self, next: usize) -> bool {
        self.bound.room.is_none()
            && matches!(&self.spool, Spool::Memory(buffer) if buffer.len() + next > IN_MEMORY_LIMIT)
    }

    /// Sets the room left in the session's quota (see [`Self::needs_room`]).
    pub(super) fn set_room(&mut self, room: u64) {
        self.bound.room = Some(room);
    }

    /// Appends a chunk: 413 past the upload limit or, once known, the room left in the
    /// session's quota. The room must be known before the upload outgrows memory
    /// ([`JobService::receive`](super::JobService::receive) sees to it).
    pub(super) async fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.size += chunk.len() as u64;
        if self.size > self.bound.max {
            return Err(too_large(self.bound.max));
        }
        if self.bound.room.is_some_and(|room| self.size > room) {
            return Err(over_quota(self.bound.quota));
        }
        if self.needs_room(chunk.len()) {
            // Never onto the disk unbounded by the quota.
            return Err(ApiError::internal());
        }
        match &mut self.spool {
            Spool::Memory(buffer) if buffer.len() + chunk.len() <= IN_MEMORY_LIMIT => {
                buffer.extend_from_slice(chunk);
                Ok(())
            }
            Spool::Memory(_) => {
                self.spill().await?;
                self.write_to_file(chunk).await
            }
            Spool::File { .. } => self.write_to_file(chunk).await,
        }
    }

    async fn write_to_file(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        match &mut self.spool {
            Spool::File { file, .. } => file.write_all(chunk).await.map_err(storage_failure),
            // Not reached: `write` spills before writing to a file.
            Spool::Memory(_) => Err(ApiError::internal()),
        }
    }

    /// Moves what is in memory into a private temporary file (from then on, chunks
    /// go straight there).
    async fn spill(&mut self) -> Result<&Path, ApiError> {
        if let Spool::Memory(buffer) = &mut self.spool {
            let buffer = std::mem::take(buffer);
            crate::private_fs::create_dir_all_async(&self.incoming_dir)
                .await
                .map_err(storage_failure)?;
            let path = self.incoming_dir.join(Uuid::new_v4().simple().to_string());
            let file = crate::private_fs::create_file_async(&path)
                .await
                .map_err(storage_failure)?;
            let file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
            // From here the file is ours to remove (on drop) if anything fails.
            self.spool = Spool::File { path, file };
            if let Spool::File { file, .. } = &mut self.spool {
                file.write_all(&buffer).await.map_err(storage_failure)?;
                file.flush().await.map_err(storage_failure)?;
            }
        }
        match &self.spool {
            Spool::File { path, .. } => Ok(path),
            // Not reached: spilled above.
            Spool::Memory(_) => Err(ApiError::internal()),
        }
    }

    /// Checks what the file is, by the convert crate's rule for every input
    /// ([`inspect_input`]: the format its name or declared type names, read by one of
    /// `engines`, confirmed by its first bytes and the deeper checks of that format):
    /// in place for a file in memory whose checks read only its first bytes, else on
    /// the blocking pool (a package's check inflates it whole).
    pub(super) async fn inspect(&mut self, engines: Arc<Engines>) -> Result<Format, ApiError> {
        let (name, declared_type) = (self.name.clone(), self.declared_type.clone());
        let check = move |input: InputBytes<'_>| {
            let claim = InputClaim {
                file_name: &name,
                declared_type: declared_type.as_deref(),
            };
            inspect_input(&engines, claim, input)
        };
        let heavy = inspection_is_heavy(&InputClaim {
            file_name: &self.name,
            declared_type: self.declared_type.as_deref(),
        });
        let checked = match &mut self.spool {
            Spool::Memory(buffer) if !heavy => check(InputBytes::Memory(buffer)),
            Spool::Memory(buffer) => {
                // Lent to the check and given back: it is placed afterwards.
                let bytes = std::mem::take(buffer);
                let (bytes, checked) = tokio::task::spawn_blocking(move || {
                    let checked = check(InputBytes::Memory(&bytes));
                    (bytes, checked)
                })
                .await
                .map_err(|_| ApiError::internal())?;
                *buffer = bytes;
                checked
            }
            Spool::File { path, file } => {
                file.flush().await.map_err(storage_failure)?;
                let path = path.clone();
                tokio::task::spawn_blocking(move || check(InputBytes::File(&path)))
                    .await
                    .map_err(|_| ApiError::internal())?
            }
        };
        checked.map_err(refusal)
    }

    /// Creates `job_dir` — which must not exist yet: a job id already used is
    /// refused before any file moves — and puts the received bytes in it as `file_name`
    /// (a private file). If placing fails, the folder is removed again. After this,
    /// dropping the upload removes nothing.
    pub(super) async fn place_new(
        &mut self,
        job_dir: &Path,
        file_name: &str,
    ) -> Result<(), PlaceError> {
        if let Some(session_dir) = job_dir.parent() {
            crate::private_fs::create_dir_all_async(session_dir).await?;
        }
        match crate::private_fs::create_dir_async(job_dir).await {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(PlaceError::DuplicateId)
            }
            Err(error) => return Err(error.into()),
        }
        let target = job_dir.join(file_name);
        // The bytes stay in the upload until placed, so a failed attempt can be retried.
        let placed = match &mut self.spool {
            Spool::Memory(buffer) => crate::private_fs::write_async(&target, buffer).await,
            Spool::File { path, .. } => tokio::fs::rename(&*path, &target).await,
        };
        if let Err(error) = placed {
            let _ = tokio::fs::remove_dir_all(job_dir).await;
            return Err(error.into());
        }
        if let Spool::Memory(buffer) = &mut self.spool {
            *buffer = Vec::new();
        }
        self.kept = true;
        Ok(())
    }

    /// The display name (last path component, no control characters).
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Bytes received.
    pub(super) fn size(&self) -> u64 {
        self.size
    }
}

/// The answer to an input the convert crate refused.
fn refusal(error: InputError) -> ApiError {
    match error {
        InputError::Unsupported { .. } => ApiError::new(
            ErrorType::UnsupportedFormatError,
            format!("{error} See {}.", paths::FORMATS),
        ),
        InputError::Io(cause) => storage_failure(cause),
        refused => ApiError::new(ErrorType::FileValidationError, refused.to_string()),
    }
}
