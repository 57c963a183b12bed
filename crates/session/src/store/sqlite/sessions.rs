//! [`SessionStore`] on SQLite. Every write goes through the writer and then settles
//! the session cache (see `session_cache`); a read is served from the cache when it
//! holds the record, else from the database, filling the cache.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::codec::{previous_columns, record_from_row, SESSION_COLUMNS};
use super::SqliteStore;
use crate::crypto::{constant_time_eq, SessionKey, CSRF_NONCE_BYTES};
use crate::store::{
    due_extension, CsrfState, CsrfSwap, ResolvedSwap, SessionRecord, SessionStore, StoreError,
};
use crate::time::Timestamp;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, stored: &SessionRecord) -> Result<(), StoreError> {
        let record = stored.clone();
        let cached = stored.clone();
        self.write_settled(
            move |connection| {
                let (previous_nonce, previous_until) = previous_columns(&record.csrf);
                connection
                    .prepare_cached(
                        "INSERT INTO sessions (key, public_id, created_at, idle_expires_at, \
                     absolute_expires_at, csrf_nonce, prev_csrf_nonce, prev_csrf_valid_until) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?
                    .execute(params![
                        record.key.0.as_slice(),
                        record.public_id,
                        record.created_at.as_millis(),
                        record.idle_expires_at.as_millis(),
                        record.absolute_expires_at.as_millis(),
                        record.csrf.current.as_slice(),
                        previous_nonce,
                        previous_until,
                    ])
                    .map(drop)
            },
            move |cache, outcome| {
                if outcome.is_ok() {
                    cache.put(&cached);
                }
            },
        )
        .await
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let since = match self.sessions.get(key) {
            Ok(cached) => return Ok(Some(cached)),
            Err(since) => since,
        };
        let key = *key;
        let loaded = self
            .read(move |connection| stored_record(connection, &key))
            .await?;
        if let Some(record) = &loaded {
            self.sessions.fill(record, since);
        }
        Ok(loaded)
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = *key;
        self.write_settled(
            move |connection| set_idle_expiry(connection, &key, idle_expires_at),
            move |cache, touched| match touched {
                Ok(true) => cache.extended(&key, idle_expires_at),
                // Gone, or unknown (an error: the write may have landed).
                _ => cache.forget(&[key]),
            },
        )
        .await
    }

    /// `UPDATE … WHERE csrf_nonce = expected`; when it changes nothing, the state it
    /// lost to is read in the same write (the writer runs one write at a time).
    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError> {
        let (key, expected, next) = (*key, *expected, *next);
        // Whatever happened (even an error: the write may have landed), the cached copy
        // is no longer known to be current.
        self.write_settled(
            move |connection| {
                if replace_csrf(connection, &key, &expected, &next)? {
                    return Ok(CsrfSwap::Swapped);
                }
                let stored = stored_record(connection, &key)?;
                Ok(match stored {
                    Some(record) => CsrfSwap::Superseded(record.csrf),
                    None => CsrfSwap::Gone,
                })
            },
            move |cache, _| cache.forget(&[key]),
        )
        .await
    }

    /// One write instead of a read then a write: the record is read, its idle expiry
    /// slid when due and its CSRF state swapped in the writer's transaction, so a
    /// rotation request makes one trip to the database. The cached copy is dropped,
    /// as after any CSRF change.
    async fn resolve_and_swap_csrf(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        touch_step: Duration,
        presented: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<ResolvedSwap, StoreError> {
        let (key, presented, next) = (*key, *presented, *next);
        self.write_settled(
            move |connection| {
                let stored = stored_record(connection, &key)?;
                let Some(mut record) = stored else {
                    return Ok(ResolvedSwap::Gone);
                };
                let live = record.is_live(now);
                let due = due_extension(live, record.idle_expires_at, now, idle, touch_step);
                if let Some(target) = due {
                    set_idle_expiry(connection, &key, target)?;
                    record.idle_expires_at = target;
                }
                // Compared here in constant time; the statement's own comparison then
                // only meets the equal nonce.
                let swapped = live
                    && constant_time_eq(&record.csrf.current, &presented)
                    && replace_csrf(connection, &key, &presented, &next)?;
                if swapped {
                    record.csrf = next;
                }
                Ok(ResolvedSwap::Found { record, swapped })
            },
            move |cache, _| cache.forget(&[key]),
        )
        .await
    }

    /// One write, with the application's [`forget_session`](super::SqliteTables):
    /// the writer's transaction (or savepoint) makes it all or nothing.
    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let key = *key;
        let tables = Arc::clone(&self.tables);
        self.write_settled(
            move |connection| {
                let existed = connection
                    .prepare_cached("DELETE FROM sessions WHERE key = ?1")?
                    .execute(params![key.0.as_slice()])?
                    > 0;
                tables.forget_session(connection, &key)?;
                Ok(existed)
            },
            move |cache, _| cache.forget(&[key]),
        )
        .await
    }

    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let tables = Arc::clone(&self.tables);
        self.write_settled(
            move |connection| {
                let swept = connection
                .prepare_cached(
                    "DELETE FROM sessions WHERE idle_expires_at <= ?1 OR absolute_expires_at <= ?1 \
                     RETURNING key",
                )?
                .query_map(params![now.as_millis()], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<SessionKey>>>()?;
                for key in &swept {
                    tables.forget_session(connection, key)?;
                }
                tables.sweep(connection, now)?;
                Ok(swept)
            },
            |cache, swept| {
                if let Ok(swept) = swept {
                    cache.forget(swept);
                }
            },
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Through the writer: healthy means writes can be committed.
        self.write(|connection| connection.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }
}

/// Moves the session `key`'s idle expiry to `until`; whether the session was there.
fn set_idle_expiry(
    connection: &rusqlite::Connection,
    key: &SessionKey,
    until: Timestamp,
) -> rusqlite::Result<bool> {
    connection
        .prepare_cached("UPDATE sessions SET idle_expires_at = ?2 WHERE key = ?1")?
        .execute(params![key.0.as_slice(), until.as_millis()])
        .map(|changed| changed > 0)
}

/// Replaces the session `key`'s CSRF state with `next` if its current nonce is
/// `expected`; whether it did.
fn replace_csrf(
    connection: &rusqlite::Connection,
    key: &SessionKey,
    expected: &[u8; CSRF_NONCE_BYTES],
    next: &CsrfState,
) -> rusqlite::Result<bool> {
    let (previous_nonce, previous_until) = previous_columns(next);
    connection
        .prepare_cached(
            "UPDATE sessions SET csrf_nonce = ?2, prev_csrf_nonce = ?3, \
             prev_csrf_valid_until = ?4 WHERE key = ?1 AND csrf_nonce = ?5",
        )?
        .execute(params![
            key.0.as_slice(),
            next.current.as_slice(),
            previous_nonce,
            previous_until,
            expected.as_slice()
        ])
        .map(|changed| changed > 0)
}

/// The stored record of the session `key`, on `connection`.
fn stored_record(
    connection: &rusqlite::Connection,
    key: &SessionKey,
) -> rusqlite::Result<Option<SessionRecord>> {
    connection
        .prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE key = ?1"
        ))?
        .query_row(params![key.0.as_slice()], record_from_row)
        .optional()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::SqliteStore;
    use crate::store::{contract, CsrfState, SessionStore as _};
    use crate::time::Timestamp;

    #[tokio::test]
    async fn a_close_whose_caller_stopped_waiting_still_leaves_the_cache() {
        use futures::FutureExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("test.sqlite3"))
            .await
            .unwrap();
        let record = contract::sample_record(Timestamp::now(), Duration::from_secs(60));
        store.insert_session(&record).await.unwrap();
        assert!(store.load_session(&record.key).await.unwrap().is_some());
        // The writer is kept busy, so the delete waits in its queue; the request is
        // dropped there (its client disconnected).
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = store.write(move |_| Ok(held.recv().is_ok()));
        assert!(busy.now_or_never().is_none());
        assert!(store.delete_session(&record.key).now_or_never().is_none());
        release.send(()).unwrap();
        // A ping goes through the writer too, after the delete: once it is answered, the
        // delete has been committed and settled.
        store.ping().await.unwrap();
        assert!(
            store.load_session(&record.key).await.unwrap().is_none(),
            "the closed session is still served from the cache"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_session_cache_agrees_with_the_file_after_racing_reads_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let store = SqliteStore::open(path.clone()).await.unwrap();
        // A second handle on the file, whose cache is dropped before each read: what is
        // stored.
        let file = SqliteStore::open(path).await.unwrap();
        let record = contract::sample_record(Timestamp::now(), Duration::from_secs(60));
        store.insert_session(&record).await.unwrap();
        let key = record.key;
        for round in 0..40u8 {
            let tasks: Vec<_> = (0..32u8)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        if i % 4 == 0 {
                            let next = CsrfState {
                                current: [round.wrapping_mul(32).wrapping_add(i); 16],
                                previous: None,
                            };
                            let current = store.load_session(&key).await.unwrap().unwrap();
                            store
                                .swap_csrf(&key, &current.csrf.current, &next)
                                .await
                                .unwrap();
                        } else {
                            store.load_session(&key).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            file.sessions.forget(&[key]);
            let truth = file.load_session(&key).await.unwrap().unwrap();
            let cached = store.load_session(&key).await.unwrap().unwrap();
            assert_eq!(
                cached, truth,
                "round {round}: the cache kept a replaced record"
            );
        }
    }
}
