//! Downloads: a completed job's output — or a zip of several (`archive.rs`) — behind a
//! single-use token bound to the session that asked (tokens in `tokens.rs`), read only
//! while that session lives.

use uuid::Uuid;

use super::archive::Archive;
use super::service::JobService;
use super::tokens;
use super::upload::storage_failure;
use crate::storage::DownloadGrant;
use trustyconvert_protocol::{output_file_name, ErrorType, Format, JobStatus};
use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::ApiError;
use trustyconvert_session::Timestamp;

impl JobService {
    /// A single-use download token for a completed job of `session`, and its expiry.
    pub async fn issue_download(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<(String, Timestamp), ApiError> {
        let job = self.find(session, job_id).await?;
        if job.status != JobStatus::Completed {
            return Err(ApiError::validation(format!(
                "The job is {}; only completed jobs can be downloaded.",
                job.status
            )));
        }
        self.grant(session, *job_id, Vec::new()).await
    }

    /// Mints a download token for `job_id` of `session` (for a zip, an id of its own
    /// and the jobs in `archive`) and stores its grant: the token and its expiry.
    pub(super) async fn grant(
        &self,
        session: &SessionKey,
        job_id: Uuid,
        archive: Vec<Uuid>,
    ) -> Result<(String, Timestamp), ApiError> {
        let (token, hash) = tokens::mint();
        let grant = DownloadGrant {
            session: *session,
            job_id,
            expires_at: Timestamp::now().plus(tokens::DOWNLOAD_TOKEN_TTL),
            archive,
        };
        let granted = self
            .inner
            .store
            .insert_grant(&hash, &grant, tokens::MAX_TOKENS_PER_JOB)
            .await?;
        if !granted {
            // Closed after this request passed the guard.
            return Err(ApiError::no_session());
        }
        Ok((token, grant.expires_at))
    }

    /// Spends `token` and opens what it grants.
    pub async fn redeem_download(&self, token: &str) -> Result<Download, ApiError> {
        let hash = tokens::parse(token).ok_or_else(gone)?;
        let grant = self
            .inner
            .store
            .take_grant(&hash, Timestamp::now())
            .await?
            .ok_or_else(gone)?;
        if !grant.archive.is_empty() {
            return self.open_archive(&grant).await.map(Download::Archive);
        }
        let output = self.output_of(&grant).await?;
        let file = tokio::fs::File::open(&output.path)
            .await
            .map_err(|_| gone())?;
        let length = file.metadata().await.map_err(storage_failure)?.len();
        Ok(Download::File(OutputFile { length, ..output }, file))
    }

    /// What `token` would download, without spending it (for `HEAD`).
    pub async fn inspect_download(&self, token: &str) -> Result<DownloadHead, ApiError> {
        let hash = tokens::parse(token).ok_or_else(gone)?;
        let grant = self
            .inner
            .store
            .peek_grant(&hash, Timestamp::now())
            .await?
            .ok_or_else(gone)?;
        if !grant.archive.is_empty() {
            let archive = self.open_archive(&grant).await?;
            return Ok(Download::Archive(archive).head());
        }
        let output = self.output_of(&grant).await?;
        let length = tokio::fs::metadata(&output.path)
            .await
            .map_err(|_| gone())?
            .len();
        Ok(DownloadHead {
            filename: output.filename,
            format: output.format,
            length: Some(length),
        })
    }

    /// The zip a live session's grant names, if any of its outputs is left.
    async fn open_archive(&self, grant: &DownloadGrant) -> Result<Archive, ApiError> {
        if !self.session_exists(&grant.session).await? {
            return Err(gone());
        }
        self.archive_of(grant).await?.ok_or_else(gone)
    }

    /// The completed output a grant names (its length still to be read). A grant of
    /// a session that has expired is dead at once, before the sweep removes it.
    async fn output_of(&self, grant: &DownloadGrant) -> Result<OutputFile, ApiError> {
        if !self.session_exists(&grant.session).await? {
            return Err(gone());
        }
        let job = self
            .inner
            .store
            .load_job(&grant.session, &grant.job_id)
            .await?
            .ok_or_else(gone)?;
        let format = job
            .delivered_format()
            .filter(|_| job.status == JobStatus::Completed)
            .ok_or_else(gone)?;
        Ok(OutputFile {
            job_id: job.job_id,
            path: self.inner.files.output(&job.session, &job.job_id),
            length: 0,
            filename: output_file_name(&job.original_filename, format),
            format,
        })
    }
}

/// What a redeemed token downloads.
#[derive(Debug)]
pub enum Download {
    /// One job's output, opened.
    File(OutputFile, tokio::fs::File),
    /// Several jobs' outputs, as one zip to stream ([`super::archive::stream`]).
    Archive(Archive),
}

impl Download {
    /// What its response's headers say.
    pub fn head(&self) -> DownloadHead {
        match self {
            Self::File(output, _) => DownloadHead {
                filename: output.filename.clone(),
                format: output.format,
                length: Some(output.length),
            },
            Self::Archive(archive) => DownloadHead {
                filename: archive.filename.clone(),
                format: Format::Zip,
                length: None,
            },
        }
    }
}

/// A download as its headers describe it.
#[derive(Debug, Clone)]
pub struct DownloadHead {
    /// The name to save it under.
    pub filename: String,
    /// Its format (its `Content-Type`).
    pub format: Format,
    /// Its size in bytes; `None` for a zip, written as it is sent.
    pub length: Option<u64>,
}

/// A completed job's output, as a download.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// The job.
    pub job_id: Uuid,
    /// Where it is on disk.
    pub path: std::path::PathBuf,
    /// Its size in bytes.
    pub length: u64,
    /// The name to save it under ([`output_file_name`] of the upload's name).
    pub filename: String,
    /// Its format.
    pub format: Format,
}

fn gone() -> ApiError {
    ApiError::new(
        ErrorType::ResourceNotFound,
        "This download link is invalid, used or expired.",
    )
}
