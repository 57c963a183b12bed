//! [`DownloadStore`] on SQLite: grants in one table, written only while their session
//! exists; taking one is a `DELETE … RETURNING`, so a token works once.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{encode_archive, grant_from_row, GRANT_COLUMNS};
use super::SqliteStore;
use crate::storage::{DownloadGrant, DownloadStore, StoreError, TokenHash};
use trustyconvert_session::Timestamp;

#[async_trait]
impl DownloadStore for SqliteStore {
    async fn insert_grant(
        &self,
        token: &TokenHash,
        grant: &DownloadGrant,
        max_per_job: usize,
    ) -> Result<bool, StoreError> {
        let (token, grant) = (*token, grant.clone());
        // The new grant always stays; the newest others fill the remaining places.
        let keep_others = i64::try_from(max_per_job.saturating_sub(1)).unwrap_or(i64::MAX);
        // One write: the writer's savepoint makes it all or nothing.
        self.write(move |connection| {
            let (session, job) = (grant.session.0, *grant.job_id.as_bytes());
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO download_grants \
                     (token_hash, session_key, job_id, expires_at, archive) \
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM sessions WHERE key = ?2)",
                )?
                .execute(params![
                    token.0.as_slice(),
                    session.as_slice(),
                    job.as_slice(),
                    grant.expires_at.as_millis(),
                    encode_archive(&grant.archive)
                ])?;
            if inserted == 0 {
                return Ok(false);
            }
            connection
                .prepare_cached(
                    "DELETE FROM download_grants WHERE session_key = ?1 AND job_id = ?2 \
                     AND token_hash != ?3 AND token_hash NOT IN (SELECT token_hash \
                     FROM download_grants WHERE session_key = ?1 AND job_id = ?2 \
                     AND token_hash != ?3 ORDER BY expires_at DESC LIMIT ?4)",
                )?
                .execute(params![
                    session.as_slice(),
                    job.as_slice(),
                    token.0.as_slice(),
                    keep_others
                ])
                .map(|_| true)
        })
        .await
    }

    async fn take_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let grant = self
            .write(grant_by_token(
                format!(
                    "DELETE FROM download_grants WHERE token_hash = ?1 RETURNING {GRANT_COLUMNS}"
                ),
                *token,
            ))
            .await?;
        Ok(grant.filter(|grant| grant.expires_at > now))
    }

    async fn peek_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let grant = self
            .read(grant_by_token(
                format!("SELECT {GRANT_COLUMNS} FROM download_grants WHERE token_hash = ?1"),
                *token,
            ))
            .await?;
        Ok(grant.filter(|grant| grant.expires_at > now))
    }
}

/// The work of finding the grant `sql` (which selects or deletes by `token_hash = ?1`)
/// returns; the caller checks it is still valid.
fn grant_by_token(
    sql: String,
    token: TokenHash,
) -> impl FnOnce(&Connection) -> rusqlite::Result<Option<DownloadGrant>> + Send + 'static {
    move |connection| {
        connection
            .prepare_cached(&sql)?
            .query_row(params![token.0.as_slice()], grant_from_row)
            .optional()
    }
}
