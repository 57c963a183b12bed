//! The shared backend: the session layer's [`RedisStore`] (a single server or a Redis
//! Cluster) with the converter's jobs, download grants and leases under each session's
//! hash tag, so several instances behind a load balancer see one truth. Files stay in
//! `--data-dir`, which the instances share.
//!
//! Requires Redis ≥ 7.0. Leases use Redis's own clock (`TIME`).
//!
//! One job per module: `keys` (the key layout: one hash tag per session), `scripts`
//! (the Lua scripts that make multi-key changes atomic), `codec` (records as stored),
//! and one module per store trait: `sessions` (the session layer's store, with what a
//! session owns deleted with it), `jobs`, `downloads`.

mod codec;
mod downloads;
mod jobs;
mod keys;
mod scripts;
mod sessions;

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::RedisError;

use super::StoreError;
use scripts::{scripts, Scripts};
use trustyconvert_session::store::redis::{RedisConnection, RedisStore};

/// Sessions (the session layer's [`RedisStore`]), jobs, grants and leases in Redis over
/// one multiplexed, self-reconnecting connection (`C`: a [`RedisConnection`], or any
/// redis connection in tests).
#[derive(Clone)]
pub struct RedisStorage<C = RedisConnection> {
    sessions: RedisStore<C>,
    /// The longest a session can live (the absolute timeout): job keys expire after it.
    max_session_life: Duration,
    scripts: &'static Scripts,
}

impl<C> std::fmt::Debug for RedisStorage<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage").finish_non_exhaustive()
    }
}

/// Opens a connection to `url` (see [`trustyconvert_session::store::redis::connect`]
/// for the forms it takes); job records expire `max_session_life` after the session's
/// last upload at the latest.
pub async fn connect(
    url: &str,
    max_session_life: Duration,
) -> Result<std::sync::Arc<dyn super::ConverterStorage>, StoreError> {
    let sessions = trustyconvert_session::store::redis::connect(url).await?;
    Ok(std::sync::Arc::new(RedisStorage::over(
        sessions,
        max_session_life,
    )))
}

fn unavailable(error: RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl<C> RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A backend over `connection`; job records expire `max_session_life` after
    /// the session's last upload at the latest (no session outlives that).
    pub fn new(connection: C, max_session_life: Duration) -> Self {
        Self::over(RedisStore::new(connection), max_session_life)
    }

    fn over(sessions: RedisStore<C>, max_session_life: Duration) -> Self {
        Self {
            sessions,
            max_session_life,
            scripts: scripts(),
        }
    }

    fn connection(&self) -> C {
        self.sessions.connection()
    }

    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        self.sessions.query(command).await
    }
}

#[cfg(test)]
mod contract_tests {
    use std::time::Duration;

    use crate::storage::{contract, redis_server};

    #[tokio::test]
    async fn redis_storage_meets_the_storage_contract() {
        let server = redis_server::RedisServer::start();
        let storage = super::connect(&server.url(), Duration::from_secs(3600))
            .await
            .unwrap();
        contract::check_all(storage.as_ref()).await;
    }

    #[tokio::test]
    async fn redis_cluster_storage_meets_the_storage_contract() {
        let cluster = redis_server::RedisCluster::start();
        let storage = super::connect(&cluster.url(), Duration::from_secs(3600))
            .await
            .unwrap();
        contract::check_all(storage.as_ref()).await;
    }
}
