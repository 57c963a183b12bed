//! Creating files and folders only this service's user can read (0600 / 0700 on
//! Unix): uploads, outputs, the database and the key are the users' data.
//!
//! Existing paths are left as they are; what this creates is private from the start
//! (never created open and narrowed afterwards).

use std::io;
use std::path::Path;

/// `create_dir_all` where every directory created is 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// [`create_dir_all`] for async code.
pub async fn create_dir_all_async(path: &Path) -> io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(path).await
}

/// Creates one 0700 directory whose parent exists; `AlreadyExists` if something is
/// there already (so the caller learns it did not create it).
pub async fn create_dir_async(path: &Path) -> io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(path).await
}

/// Creates (or truncates) a 0600 file for writing.
pub async fn create_file_async(path: &Path) -> io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

/// Creates a new 0600 file for writing; `AlreadyExists` if something is there.
pub fn create_new_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `bytes` to a new (or truncated) 0600 file.
pub async fn write_async(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut file = create_file_async(path).await?;
    file.write_all(bytes).await?;
    file.flush().await
}
