//! A conversion's output while it is produced: a private file in the job's folder that
//! the engine writes as it goes, which becomes the job's output only once its size is
//! reserved against the session's quota, and is removed in every other case (a failed
//! or abandoned conversion, a refused reservation).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// Bytes buffered between an engine and the file.
const BUFFER: usize = 256 * 1024;

/// A partial output file, removed when dropped unless [placed](PendingOutput::place).
#[derive(Debug)]
pub struct PendingOutput {
    path: PathBuf,
    placed: bool,
}

impl PendingOutput {
    /// Creates a new, private file at `path` and a buffered writer to it. Its folder
    /// must exist: if a close removed the job's folder, this fails rather than
    /// bringing it back.
    pub fn create(path: PathBuf) -> io::Result<(Self, BufWriter<File>)> {
        let file = crate::private_fs::create_new_file(&path)?;
        Ok((
            Self {
                path,
                placed: false,
            },
            BufWriter::with_capacity(BUFFER, file),
        ))
    }

    /// Renames the file to `output` (in the same folder, so nothing is copied).
    pub async fn place(mut self, output: &Path) -> io::Result<()> {
        tokio::fs::rename(&self.path, output).await?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if !self.placed {
            if let Err(error) = std::fs::remove_file(&self.path) {
                if error.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(%error, "removing a partial output failed");
                }
            }
        }
    }
}
