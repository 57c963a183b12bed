//! An upload on its way in: streamed to a private temporary file with a running size
//! check against the upload limit and the session's storage quota, its first bytes kept
//! for the type check. [`JobService::accept_upload`](super::JobService::accept_upload)
//! verifies it and turns it into a job.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt as _;
use trustyconvert_protocol::{human_size, ErrorType};
use uuid::Uuid;

use crate::convert::{matches_magic, targets, Format};
use crate::error::ApiError;

/// How many leading bytes are checked against the claimed type.
const SNIFF_LEN: usize = 4096;
/// Longest file name kept for display.
const MAX_FILENAME_CHARS: usize = 200;

/// 413 `MaxFileSizeExceededError` naming the upload limit.
pub fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorType::MaxFileSizeExceededError,
        format!("The file is larger than the limit of {max} bytes."),
    )
    .with_detail("max_size", max)
}

fn over_quota(quota: u64) -> ApiError {
    ApiError::new(
        ErrorType::MaxFileSizeExceededError,
        format!(
            "This upload would exceed your session's storage limit of {}. Delete nothing \
             here: end the session (or let it expire) to free the space.",
            human_size(quota)
        ),
    )
    .with_detail("max_session_storage", quota)
}

/// Logs a file-system failure (inside the request span) and answers a bare 500.
pub(super) fn storage_failure(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "file storage failed");
    ApiError::internal()
}

/// How large an upload may be: the upload limit, and the room left in the session's
/// storage quota.
#[derive(Debug, Clone, Copy)]
pub(super) struct SizeBound {
    pub max: u64,
    pub room: u64,
    pub quota: u64,
}

/// A file being received. Its temporary file is removed when this is dropped, unless
/// the upload was accepted.
pub struct IncomingUpload {
    path: PathBuf,
    file: tokio::fs::File,
    name: String,
    declared_type: Option<String>,
    size: u64,
    head: Vec<u8>,
    bound: SizeBound,
    kept: bool,
}

impl Drop for IncomingUpload {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl IncomingUpload {
    /// A new private file in `dir` for an upload named `file_name` (any path in it is
    /// dropped) declared as `declared_type`.
    pub(super) async fn create(
        dir: &Path,
        file_name: &str,
        declared_type: Option<&str>,
        bound: SizeBound,
    ) -> Result<Self, ApiError> {
        crate::private_fs::create_dir_all_async(dir)
            .await
            .map_err(storage_failure)?;
        let path = dir.join(Uuid::new_v4().simple().to_string());
        let file = crate::private_fs::create_file_async(&path)
            .await
            .map_err(storage_failure)?;
        Ok(Self {
            path,
            file,
            name: display_name(file_name),
            declared_type: declared_type.map(str::to_owned),
            size: 0,
            head: Vec::with_capacity(SNIFF_LEN),
            bound,
            kept: false,
        })
    }

    /// Appends a chunk: 413 past the upload limit or the session's quota.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.size += chunk.len() as u64;
        if self.size > self.bound.max {
            return Err(too_large(self.bound.max));
        }
        if self.size > self.bound.room {
            return Err(over_quota(self.bound.quota));
        }
        let room = SNIFF_LEN.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.file.write_all(chunk).await.map_err(storage_failure)
    }

    /// Flushes the file and checks what it is: the format named by its extension (or,
    /// without a known extension, by its declared MIME type), confirmed by its first
    /// bytes.
    pub(super) async fn finish(&mut self) -> Result<Format, ApiError> {
        self.file.flush().await.map_err(storage_failure)?;
        verify(
            &self.name,
            self.declared_type.as_deref(),
            self.size,
            &self.head,
        )
    }

    /// Where the received bytes are.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The display name (last path component, no control characters).
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Bytes received.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// The file now belongs to a job: dropping this no longer removes it.
    pub(super) fn keep(&mut self) {
        self.kept = true;
    }
}

/// Only the last path component, without control characters, bounded in length.
fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    match cleaned.trim() {
        "" | "." | ".." => "upload".to_owned(),
        name => name.to_owned(),
    }
}

fn verify(
    name: &str,
    declared_type: Option<&str>,
    size: u64,
    head: &[u8],
) -> Result<Format, ApiError> {
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
    let convertible = |format: &Format| !targets(*format).is_empty();
    let format = Format::parse(extension)
        .or_else(|| declared_type.and_then(Format::from_mime))
        .filter(convertible)
        .ok_or_else(|| {
            ApiError::new(
                ErrorType::UnsupportedFormatError,
                format!(
                    "Files of type {:?} cannot be converted. See /api/convert/formats.",
                    if extension.is_empty() {
                        declared_type.unwrap_or("")
                    } else {
                        extension
                    }
                ),
            )
        })?;
    if size == 0 {
        return Err(ApiError::new(
            ErrorType::FileValidationError,
            "The file is empty.",
        ));
    }
    if !matches_magic(format, head) {
        return Err(ApiError::new(
            ErrorType::FileValidationError,
            format!(
                "The file's content is not {}; its name and content do not match.",
                format.name()
            ),
        ));
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn file_names_are_never_paths() {
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("C:\\Users\\x\\photo.png"), "photo.png");
        assert_eq!(display_name(".."), "upload");
        assert_eq!(display_name("a\u{0}b.txt"), "ab.txt");
    }
}
