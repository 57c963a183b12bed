//! The embedded backend: the session layer's [`SqliteStore`] (SQLite in WAL mode in
//! the data directory), with the converter's jobs and download grants as tables of the
//! same file, so a job or a grant is written only while its session exists (checked in
//! the statement that writes) and leaves in the transaction that deletes its session.
//! Writes go through the store's single writer, reads through its reader pool (see
//! [`SqliteStore`] for durability and concurrency).
//!
//! One job per module: `schema` (the converter's tables, and what leaves with a
//! session), `codec` (rows to records and back), and one module per store trait:
//! `jobs`, `downloads`.

mod codec;
mod downloads;
mod jobs;
mod schema;

use std::path::PathBuf;

use super::StoreError;
pub use trustyconvert_session::store::sqlite::SqliteStore;

/// Opens (creating if needed) the database at `path` with the sessions table and the
/// converter's tables.
pub async fn open(path: PathBuf) -> Result<SqliteStore, StoreError> {
    SqliteStore::open_with(path, schema::ConverterTables).await
}

#[cfg(test)]
mod tests {
    use crate::storage::contract;

    #[tokio::test]
    async fn sqlite_storage_meets_the_storage_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::open(dir.path().join("test.sqlite3")).await.unwrap();
        contract::check_all(&store).await;
    }
}
