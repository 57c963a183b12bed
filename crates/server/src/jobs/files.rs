//! Job files on disk: `DATA_DIR/jobs/<session hash>/<job id>/{input,output}` (and,
//! while a conversion runs, `work/` and `output.partial`).
//! Paths are built only from hashes and UUIDs, never from user-supplied names.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use trustyconvert_session::crypto::SessionKey;
use trustyconvert_session::keys::{decode_hex32, encode_hex};

/// Uploads interrupted by a crash are removed after this long.
const STALE_INCOMING: std::time::Duration = std::time::Duration::from_secs(3600);

/// File name of a job's upload inside its folder.
pub const INPUT: &str = "input";

/// The job file layout under one data directory.
#[derive(Debug, Clone)]
pub struct JobFiles {
    root: PathBuf,
}

impl JobFiles {
    /// The layout under `data_dir`, by its absolute path: the job folders are handed
    /// to engines that run elsewhere (a fence, a warm instance) where a relative path
    /// would name another place.
    pub fn new(data_dir: &Path) -> Self {
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        Self {
            root: data_dir.join("jobs"),
        }
    }

    /// A directory for uploads in progress.
    pub fn incoming_dir(&self) -> PathBuf {
        self.root.join(".incoming")
    }

    /// All files of one session.
    pub fn session_dir(&self, session: &SessionKey) -> PathBuf {
        self.root.join(encode_hex(&session.0))
    }

    /// One job's directory.
    pub fn job_dir(&self, session: &SessionKey, job_id: &Uuid) -> PathBuf {
        self.session_dir(session).join(job_id.simple().to_string())
    }

    /// The stored upload.
    pub fn input(&self, session: &SessionKey, job_id: &Uuid) -> PathBuf {
        self.job_dir(session, job_id).join(INPUT)
    }

    /// The conversion output.
    pub fn output(&self, session: &SessionKey, job_id: &Uuid) -> PathBuf {
        self.job_dir(session, job_id).join("output")
    }

    /// The conversion output while it is being written.
    pub fn partial_output(&self, session: &SessionKey, job_id: &Uuid) -> PathBuf {
        self.job_dir(session, job_id).join("output.partial")
    }

    /// Every session that has a directory on disk.
    pub async fn sessions_on_disk(&self) -> Vec<SessionKey> {
        let mut sessions = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(&self.root).await else {
            return sessions;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            if let Some(key) = entry.file_name().to_str().and_then(decode_hex32) {
                sessions.push(SessionKey(key));
            }
        }
        sessions
    }

    /// Deletes partial uploads left behind by a crash.
    pub async fn sweep_incoming(&self) {
        let Ok(mut entries) = tokio::fs::read_dir(self.incoming_dir()).await else {
            return;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let stale = entry
                .metadata()
                .await
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified.elapsed().unwrap_or_default() > STALE_INCOMING);
            if stale {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }

    /// Removes one job's files (missing is fine).
    pub async fn remove_job(&self, session: &SessionKey, job_id: &Uuid) {
        let dir = self.job_dir(session, job_id);
        if let Err(error) = tokio::fs::remove_dir_all(&dir).await {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(%error, "removing a job's files failed");
            }
        }
    }

    /// Removes every file of a session (missing is fine).
    pub async fn remove_session(&self, session: &SessionKey) {
        let dir = self.session_dir(session);
        if let Err(error) = tokio::fs::remove_dir_all(&dir).await {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(%error, "removing a session's files failed");
            }
        }
    }
}
