//! [`RedisStore`]: sessions and rate counters in Redis (feature `redis`) — a single
//! server or a Redis Cluster — so several instances behind a load balancer see one
//! truth.
//!
//! Requires Redis ≥ 7.0 (`PEXPIRETIME`). Record times (`created_at`, expiries) are the
//! instances' clocks, which are assumed NTP-synchronised: a skew of δ moves an expiry
//! by δ. Rate counters use Redis's own clock (`TIME`).
//!
//! An application keeps its own keys of a session under [`session_key_prefix`] (one
//! cluster slot with the record) and writes them in scripts that first check that
//! [`session_record_key`] exists, so nothing is ever attached to a closed session.
//!
//! One job per module: `connection` (the connection to a single server, and the one
//! retry a command may get), `keys` (the key layout), `scripts` (the Lua scripts),
//! `codec` (records as stored), and one module per store trait: `sessions`, `rates`.

mod codec;
mod connection;
mod keys;
mod rates;
#[cfg(test)]
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
mod scripts;
mod sessions;

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use super::{SessionStore as _, StoreError};
use connection::RetryingConnection;
pub use keys::{session_key_prefix, session_record_key};
pub use redis;
use scripts::{scripts, Scripts};

/// How long a command may wait for Redis before the request gets a 503.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest pause between reconnection attempts, so service resumes quickly.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// The connection [`connect`] opens: to a single server (multiplexed, replaced after a
/// drop, with the one retry `connection` explains) or to a cluster (redis's own
/// cluster client). Cloning it shares the connection.
#[derive(Clone)]
pub struct RedisConnection(Inner);

#[derive(Clone)]
enum Inner {
    Single(RetryingConnection<ConnectionManager>),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Inner::Single(connection) => connection.req_packed_command(cmd),
            Inner::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Inner::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Inner::Single(connection) => connection.get_db(),
            Inner::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Connects to `url` — `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS),
/// or `redis+cluster://[user:password@]host:port[,host:port…]` — over RESP3, and
/// checks that Redis answers.
pub async fn connect(url: &str) -> Result<RedisStore, StoreError> {
    if url.starts_with("rediss") {
        // rustls needs one process-wide crypto provider; a second install is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let connection = if let Some(nodes) = cluster_nodes(url) {
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(1)
            // RESP3: a node's connection is repaired as soon as it drops, also while
            // idle (see `connection`).
            .use_protocol(redis::ProtocolVersion::RESP3)
            .build()
            .map_err(unavailable)?;
        Inner::Cluster(client.get_async_connection().await.map_err(unavailable)?)
    } else {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(MAX_RECONNECT_DELAY);
        Inner::Single(
            connection::connect(url, config)
                .await
                .map_err(unavailable)?,
        )
    };
    let store = RedisStore::new(RedisConnection(connection));
    store.ping().await?;
    Ok(store)
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

/// Sessions and rate counters in Redis over one multiplexed, self-reconnecting
/// connection (`C`: the [`RedisConnection`] [`connect`] opens, or any redis
/// connection).
///
/// ```no_run
/// # async fn run() -> Result<(), trustyconvert_session::store::StoreError> {
/// use trustyconvert_session::store::redis;
/// let store = redis::connect("redis://127.0.0.1:6379").await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore<C = RedisConnection> {
    connection: C,
    scripts: &'static Scripts,
}

impl<C> std::fmt::Debug for RedisStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A store over `connection`.
    pub fn new(connection: C) -> Self {
        Self {
            connection,
            scripts: scripts(),
        }
    }

    /// The store's connection (a clone shares it), for an application's own commands.
    pub fn connection(&self) -> C {
        self.connection.clone()
    }

    /// Sends one command over the store's connection; a failure is
    /// [`StoreError::Unavailable`].
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, StoreError> {
        command
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::{cluster_nodes, redis_server};
    use crate::store::contract;

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

    #[tokio::test]
    async fn redis_store_meets_the_session_store_contract() {
        let server = redis_server::RedisServer::start();
        let store = super::connect(&server.url()).await.unwrap();
        contract::check_store(&store).await;
    }

    /// The key's expiry is the session's: a rotation in its last idle period slides it
    /// no further than the absolute expiry.
    #[tokio::test]
    async fn a_rotation_slides_the_key_expiry_no_further_than_the_absolute_expiry() {
        use crate::crypto::generate_csrf_nonce;
        use crate::store::{CsrfState, ResolvedSwap, SessionStore as _};
        use crate::time::Timestamp;
        use std::time::Duration;

        let server = redis_server::RedisServer::start();
        let store = super::connect(&server.url()).await.unwrap();
        let now = Timestamp::now();
        let mut record = contract::sample_record(now, Duration::from_secs(10));
        record.absolute_expires_at = now.plus(Duration::from_secs(30));
        store.insert_session(&record).await.unwrap();
        let next = CsrfState {
            current: generate_csrf_nonce(),
            previous: None,
        };
        let found = store
            .resolve_and_swap_csrf(
                &record.key,
                now,
                Duration::from_secs(600),
                Duration::ZERO,
                &record.csrf.current,
                &next,
            )
            .await
            .unwrap();
        assert!(matches!(found, ResolvedSwap::Found { swapped: true, .. }));
        let expires: i64 = store
            .query(redis::cmd("PEXPIRETIME").arg(super::keys::session_record_key(&record.key)))
            .await
            .unwrap();
        assert_eq!(expires, record.absolute_expires_at.as_millis());
    }

    #[tokio::test]
    async fn redis_cluster_store_meets_the_session_store_contract() {
        let cluster = redis_server::RedisCluster::start();
        let store = super::connect(&cluster.url()).await.unwrap();
        contract::check_store(&store).await;
    }
}
