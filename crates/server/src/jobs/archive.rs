//! Several completed jobs' outputs as one zip: a single-use token naming them
//! (`POST /api/download/archive`), redeemed like any download token, and the zip
//! written as it is sent — never built in memory or on disk.
//!
//! Hand-written around the `zip` crate's streaming writer because the response must
//! start before the archive is complete: the writer runs on the blocking pool and
//! hands its bytes to the response through a bounded pipe, so however large the
//! outputs, the server holds a few hundred KiB per download.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use tokio_util::io::SyncIoBridge;
use uuid::Uuid;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::service::JobService;
use crate::storage::DownloadGrant;
use trustyconvert_protocol::{details, output_file_name, Format, JobStatus, MAX_ARCHIVE_JOBS};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::ApiError;
use trustyconvert_session::Timestamp;

/// How many bytes of zip may wait between the writer and the response.
const PIPE_BYTES: usize = 256 * 1024;

/// A zip to send: its download name and what it holds, in order.
#[derive(Debug)]
pub struct Archive {
    /// The name to save it under.
    pub filename: String,
    /// Its files.
    pub entries: Vec<ArchiveEntry>,
}

/// One output in a zip.
#[derive(Debug)]
pub struct ArchiveEntry {
    /// Its name inside the zip (unique within it).
    pub name: String,
    /// The output, opened when the token was redeemed (a job deleted meanwhile still
    /// reads whole).
    pub file: std::fs::File,
    /// Its size in bytes.
    pub length: u64,
    /// Its format (text is compressed, the rest stored as it is).
    pub format: Format,
}

impl JobService {
    /// A single-use token for one zip of `job_ids`' outputs: each a completed job of
    /// `session`, given once, at most [`MAX_ARCHIVE_JOBS`].
    pub async fn issue_archive(
        &self,
        session: &SessionKey,
        job_ids: &[Uuid],
    ) -> Result<(String, Timestamp), ApiError> {
        if job_ids.is_empty() || job_ids.len() > MAX_ARCHIVE_JOBS {
            return Err(ApiError::validation(format!(
                "job_ids must name between 1 and {MAX_ARCHIVE_JOBS} jobs."
            ))
            .with_detail(details::MAX_ARCHIVE_JOBS, MAX_ARCHIVE_JOBS));
        }
        let mut seen = HashSet::new();
        for job_id in job_ids {
            if !seen.insert(job_id) {
                return Err(ApiError::validation(format!(
                    "job {job_id} is named twice in job_ids."
                ))
                .with_detail(details::JOB_ID, job_id.to_string()));
            }
            // Another session's job is as unknown as one that never existed.
            let job = self
                .inner
                .store
                .load_job(session, job_id)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found().with_detail(details::JOB_ID, job_id.to_string())
                })?;
            if job.status != JobStatus::Completed {
                return Err(ApiError::validation(format!(
                    "job {job_id} is {}; only completed jobs can be downloaded.",
                    job.status
                ))
                .with_detail(details::JOB_ID, job_id.to_string()));
            }
        }
        // Its own id: a zip's token never retires a job's own links.
        self.grant(session, Uuid::new_v4(), job_ids.to_vec()).await
    }

    /// The zip a grant names: the outputs of its jobs that are still there (a job
    /// deleted since is left out; none left is `None`), opened, under unique names.
    pub(super) async fn archive_of(
        &self,
        grant: &DownloadGrant,
    ) -> Result<Option<Archive>, ApiError> {
        let mut entries = Vec::with_capacity(grant.archive.len());
        let mut names = UniqueNames::default();
        for job_id in &grant.archive {
            let Some(job) = self.inner.store.load_job(&grant.session, job_id).await? else {
                continue;
            };
            let Some(format) = job
                .delivered_format()
                .filter(|_| job.status == JobStatus::Completed)
            else {
                continue;
            };
            let path: PathBuf = self.inner.files.output(&job.session, &job.job_id);
            let Ok(file) = tokio::fs::File::open(&path).await else {
                continue;
            };
            let Ok(metadata) = file.metadata().await else {
                continue;
            };
            entries.push(ArchiveEntry {
                name: names.claim(&output_file_name(&job.original_filename, format)),
                file: file.into_std().await,
                length: metadata.len(),
                format,
            });
        }
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(Archive {
            filename: format!("trustyconvert-{}-files.zip", entries.len()),
            entries,
        }))
    }
}

/// Names made unique in the order they are claimed: `photo.webp`, `photo (2).webp`, …
#[derive(Default)]
struct UniqueNames(HashSet<String>);

impl UniqueNames {
    fn claim(&mut self, wanted: &str) -> String {
        let (stem, extension) = match wanted.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
            _ => (wanted, String::new()),
        };
        let mut name = wanted.to_owned();
        let mut copy = 1;
        // Case-insensitively, as the file systems most people unpack on compare.
        while !self.0.insert(name.to_lowercase()) {
            copy += 1;
            name = format!("{stem} ({copy}){extension}");
        }
        name
    }
}

/// The zip of `entries`, written on the blocking pool as the returned reader is read;
/// a reader dropped early (the client went away) stops the writer.
pub fn stream(entries: Vec<ArchiveEntry>) -> tokio::io::DuplexStream {
    let (reader, writer) = tokio::io::duplex(PIPE_BYTES);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = write_zip(entries, SyncIoBridge::new(writer)) {
            tracing::debug!(%error, "a zip download ended early");
        }
    });
    reader
}

fn write_zip(entries: Vec<ArchiveEntry>, sink: impl Write) -> zip::result::ZipResult<()> {
    let mut zip = zip::ZipWriter::new_stream(sink);
    for mut entry in entries {
        let method = if is_text(entry.format) {
            CompressionMethod::Deflated
        } else {
            // Pictures, media, PDFs and office files are compressed already.
            CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(entry.length >= u64::from(u32::MAX))
            .unix_permissions(0o644);
        zip.start_file(entry.name.as_str(), options)?;
        std::io::copy(&mut entry.file, &mut zip)?;
    }
    zip.finish()?.flush()?;
    Ok(())
}

fn is_text(format: Format) -> bool {
    let mime = format.mime();
    mime.starts_with("text/") || mime.contains("json") || mime.contains("xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_zip_are_made_unique_keeping_their_extension() {
        let mut names = UniqueNames::default();
        assert_eq!(names.claim("photo.webp"), "photo.webp");
        assert_eq!(names.claim("photo.webp"), "photo (2).webp");
        assert_eq!(names.claim("Photo.WEBP"), "Photo (3).WEBP");
        assert_eq!(names.claim("photo (2).webp"), "photo (2) (2).webp");
        assert_eq!(names.claim("README"), "README");
        assert_eq!(names.claim("README"), "README (2)");
        assert_eq!(names.claim(".hidden"), ".hidden");
        assert_eq!(names.claim(".hidden"), ".hidden (2)");
    }
}
