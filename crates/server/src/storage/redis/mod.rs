//! The shared backend: Redis (a single server or a Redis Cluster), so several instances
//! behind a load balancer see one truth. Files stay in `--data-dir`, which the
//! instances share.
//!
//! Requires Redis ≥ 7.0 (`PEXPIRETIME`). Record times (`created_at`, expiries) are the
//! instances' clocks, which are assumed NTP-synchronised: a skew of δ moves an expiry
//! by δ. Leases and rate counters use Redis's own clock (`TIME`).
//!
//! One job per module: `connection` (the connection to a single server, and the one
//! retry a command may get), `keys` (the key layout: one hash tag per session),
//! `scripts` (the Lua scripts that make multi-key changes atomic), `codec` (records as
//! stored), and one module per store trait: `sessions`, `jobs`, `downloads`, `rates`.

mod codec;
mod connection;
mod downloads;
mod jobs;
mod keys;
mod rates;
mod scripts;
mod sessions;

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::RedisError;

use super::{SessionStore as _, StoreError};
use scripts::{scripts, Scripts};

/// How long a command may wait for Redis before the request gets a 503.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest pause between reconnection attempts, so service resumes quickly.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Sessions, jobs, grants and rate counters in Redis over one multiplexed,
/// self-reconnecting connection (`C` is a `ConnectionManager` or a cluster connection).
#[derive(Clone)]
pub struct RedisStorage<C> {
    connection: C,
    /// The longest a session can live (the absolute timeout): job keys expire after it.
    max_session_life: Duration,
    scripts: &'static Scripts,
}

impl<C> std::fmt::Debug for RedisStorage<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage").finish_non_exhaustive()
    }
}

/// Opens a connection to `url`: `redis://[user:password@]host:port[/db]`,
/// `rediss://…` (TLS), or `redis+cluster://[user:password@]host:port[,host:port…]`.
pub async fn connect(
    url: &str,
    max_session_life: Duration,
) -> Result<std::sync::Arc<dyn super::Storage>, StoreError> {
    if url.starts_with("rediss") {
        // rustls needs one process-wide crypto provider; a second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    if let Some(nodes) = cluster_nodes(url) {
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(1)
            // RESP3: a node's connection is repaired as soon as it drops, also while
            // idle (see `connection`).
            .use_protocol(redis::ProtocolVersion::RESP3)
            .build()
            .map_err(unavailable)?;
        let connection = client.get_async_connection().await.map_err(unavailable)?;
        let storage = RedisStorage::new(connection, max_session_life);
        storage.ping().await?;
        return Ok(std::sync::Arc::new(storage));
    }
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(MAX_RECONNECT_DELAY);
    // Over RESP3, with one retry for a command that failed on a dropped connection when
    // that is safe: see `connection`.
    let connection = connection::connect(url, config)
        .await
        .map_err(unavailable)?;
    let storage = RedisStorage::new(connection, max_session_life);
    storage.ping().await?;
    Ok(std::sync::Arc::new(storage))
}

/// The node URLs of a `redis+cluster://` (or `rediss+cluster://`) URL.
fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("+cluster://")?;
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.trim_end_matches('/');
    Some(
        hosts
            .split(',')
            .map(|host| format!("{scheme}://{userinfo}{host}"))
            .collect(),
    )
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
        Self {
            connection,
            max_session_life,
            scripts: scripts(),
        }
    }

    fn connection(&self) -> C {
        self.connection.clone()
    }

    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        command
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::cluster_nodes;

    #[test]
    fn cluster_urls_name_every_node_with_the_credentials() {
        assert_eq!(
            cluster_nodes("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001"),
            Some(vec![
                "redis://:secret@10.0.0.1:7000".to_owned(),
                "redis://:secret@10.0.0.2:7001".to_owned()
            ])
        );
        assert_eq!(cluster_nodes("redis://localhost:6379"), None);
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
