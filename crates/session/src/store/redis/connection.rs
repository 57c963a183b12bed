//! The connection to a single Redis server, and the one retry a command may get.
//!
//! **The rule.** No request fails while Redis is up: a command that failed on a broken
//! connection *before it was sent*, or whose replay changes nothing (a read, or an
//! expiry set to an absolute time), is sent once more, on a fresh connection. Any other
//! write whose fate is unknown (`GETDEL`, `SET NX`, `EVALSHA` of a script, ...) is
//! never sent twice: its failure is the request's 503. A timeout is never retried
//! either: a frozen Redis costs a request one response timeout, not two.
//!
//! **Why redis's `ConnectionManager` alone is not enough** (redis 1.8.1,
//! `src/aio/connection_manager.rs`, `src/aio/multiplexed_connection.rs`). Its
//! multiplexed connection is a channel to a driver task that owns the socket. When
//! Redis closes the socket, the driver reads EOF and ends (`PipelineSink::poll_read`:
//! `None => Err(closed_connection_error())`, an unrecoverable error), dropping the
//! channel's receiving end. Over RESP2 nobody else notices: the manager replaces its
//! connection only when a *command* fails (`reconnect_if_dropped!` after
//! `send_packed_command`). So the first command an idle instance sends after a Redis
//! restart goes to the dead driver: `Pipeline::send_recv` cannot even queue it
//! (`self.sender.send(..).await.map_err(|_| None)?`) and answers
//! `closed_connection_error()` — `io::ErrorKind::BrokenPipe`, "broken pipe" — and only
//! then does the manager reconnect: that request got a 503 with Redis up for seconds.
//!
//! **What is done about it.**
//! - The connection speaks RESP3. Then the driver's end is reported
//!   (`send_disconnect` → `PushInfo::disconnect()`) and the manager reconnects at once,
//!   idle or not (`ConnectionManager::check_for_disconnect_pushes`). Configuration only,
//!   but not enough alone: while Redis is still down that reconnection fails (one
//!   attempt, one retry), and the manager keeps the failed attempt as its connection
//!   until a command comes, which gets that old failure (`reconnect_if_io_error!`
//!   returns it, then starts a new attempt).
//! - [`RetryingConnection`] retries such a command once, which waits for that new
//!   attempt. The one failure that proves a command was never written is a refused
//!   connection (`RedisError::is_connection_refusal`: `ECONNREFUSED`, or a missing
//!   Unix socket): it comes only from `connect`, so there was no connection to write
//!   to. A broken pipe proves nothing: redis answers `closed_connection_error()` also
//!   to a command already written whose reply never came (the driver met EOF with it
//!   in flight, or was dropped with it unanswered), so after one a command is retried
//!   only if its replay is harmless. Which failures make the manager replace its
//!   connection is its rule, `RedisError::is_unrecoverable_error` (a dropped
//!   connection, a parse or authentication failure); a timeout is not one of them (the
//!   connection stays), so a retry after it would wait on the same silent server.
//!
//! Left over: a write queued in the instant between the driver's end and the
//! manager's swap still fails with a broken pipe — Redis went away at that instant.
//! RESP3 changes no value this service reads: redis decodes its maps, sets, nulls and
//! booleans into the same Rust types (the storage contract suite runs over it).
//!
//! The classification reads the command's name (and `GETEX`'s options) from the
//! command as built, only after a failure: a command that succeeds costs nothing more
//! than it did (one boxed future per command, as the manager's own `ConnectionLike`).
//!
//! **A Redis Cluster** had the same failure (the first command went to a dead node
//! connection, and the client's own retry to another dead one). It speaks RESP3 too
//! (set in the parent module's `connect`): its client then repairs a node's
//! connection as soon as the node drops it, in a loop until the node is back
//! (`cluster_async`: `reconnect_from_pushes_task`, `reconnect_loop`). It is not wrapped:
//! its client retries a failed command itself (`ClusterClientBuilder::retries`, which
//! also follows `MOVED`/`ASK`), by its own rule — any command, after any dropped
//! connection — which cannot be narrowed without losing the redirections.

use std::future::Future;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Arg, Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisError, RedisFuture};
use redis::{RedisResult, Value};

/// Connects to the single server at `url` over RESP3 (so a dropped connection is
/// replaced even while idle) with `config`, behind the retry rule.
pub(super) async fn connect(
    url: &str,
    config: ConnectionManagerConfig,
) -> RedisResult<RetryingConnection<ConnectionManager>> {
    let info = url.into_connection_info()?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))?;
    let manager = client.get_connection_manager_with_config(config).await?;
    Ok(RetryingConnection::new(manager))
}

/// A connection that replaces itself after a failure, as redis's `ConnectionManager`
/// does: a second command after a failed one goes over a fresh connection.
pub(super) trait Reconnecting: Clone + Send + Sync + 'static {
    fn command<'a>(
        &'a mut self,
        cmd: &'a Cmd,
    ) -> impl Future<Output = RedisResult<Value>> + Send + 'a;

    fn commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send + 'a;

    fn db(&self) -> i64;
}

/// The manager's own async methods, not its `ConnectionLike` ones: those box their
/// future, and [`RetryingConnection`] boxes one already.
impl Reconnecting for ConnectionManager {
    fn command<'a>(
        &'a mut self,
        cmd: &'a Cmd,
    ) -> impl Future<Output = RedisResult<Value>> + Send + 'a {
        self.send_packed_command(cmd)
    }

    fn commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send + 'a {
        self.send_packed_commands(pipeline, offset, count)
    }

    fn db(&self) -> i64 {
        ConnectionLike::get_db(self)
    }
}

/// A [`Reconnecting`] connection whose commands get the one retry the module's rule
/// allows. Cloning it clones the shared connection.
#[derive(Clone)]
pub(crate) struct RetryingConnection<C> {
    inner: C,
}

impl<C: Reconnecting> RetryingConnection<C> {
    pub(super) fn new(inner: C) -> Self {
        Self { inner }
    }
}

impl<C: Reconnecting> ConnectionLike for RetryingConnection<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match self.inner.command(cmd).await {
                Err(error) if may_retry(&error, || replay_is_harmless(cmd)) => {
                    self.inner.command(cmd).await
                }
                result => result,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match self.inner.commands(pipeline, offset, count).await {
                Err(error) if may_retry(&error, || pipeline_replay_is_harmless(pipeline)) => {
                    self.inner.commands(pipeline, offset, count).await
                }
                result => result,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.db()
    }
}

/// Whether a command (or pipeline) that failed with `error` may be sent once more:
/// always if it provably never left this process, else only if the connection was
/// replaced and replaying it is harmless.
fn may_retry(error: &RedisError, replay_is_harmless: impl FnOnce() -> bool) -> bool {
    never_sent(error) || (error.is_unrecoverable_error() && replay_is_harmless())
}

/// The failure shows nothing was written: there was no connection to write to.
/// `ECONNREFUSED` (and `ENOENT` for a Unix socket) come only from `connect`; on an
/// established TCP connection a reset reads as `ECONNRESET` or `EPIPE` instead.
fn never_sent(error: &RedisError) -> bool {
    error.is_connection_refusal()
}

/// Commands that only read: replaying one changes nothing.
const READS: &[&str] = &[
    "DBSIZE",
    "ECHO",
    "EVAL_RO",
    "EVALSHA_RO",
    "EXISTS",
    "EXPIRETIME",
    "FCALL_RO",
    "GET",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HSCAN",
    "HSTRLEN",
    "HVALS",
    "INFO",
    "KEYS",
    "LINDEX",
    "LLEN",
    "LRANGE",
    "MGET",
    "PEXPIRETIME",
    "PING",
    "PTTL",
    "SCAN",
    "SCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SSCAN",
    "STRLEN",
    "TIME",
    "TTL",
    "TYPE",
    "ZCARD",
    "ZCOUNT",
    "ZMSCORE",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
];

/// Writes that set an expiry to an absolute time: done twice, the key ends as done
/// once (a slide another request made in between may be moved back by the time the
/// retry took).
const ABSOLUTE_EXPIRIES: &[&str] = &["EXPIREAT", "PEXPIREAT"];

/// Whether sending `cmd` twice leaves Redis as sending it once: a read, an absolute
/// expiry, `GETEX` with no expiry or an absolute one (`EXAT`, `PXAT`, `PERSIST`; not
/// `EX`/`PX`, which would slide further), or `SCRIPT LOAD`/`SCRIPT EXISTS`.
fn replay_is_harmless(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter().map(|arg| match arg {
        Arg::Simple(bytes) => bytes,
        _ => &[][..],
    });
    let Some(name) = args.next() else {
        return false;
    };
    let is = |names: &[&str]| {
        names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    };
    if is(READS) || is(ABSOLUTE_EXPIRIES) {
        return true;
    }
    if is(&["GETEX"]) {
        // GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]
        return !args.skip(1).any(|option| {
            option.eq_ignore_ascii_case(b"EX") || option.eq_ignore_ascii_case(b"PX")
        });
    }
    if is(&["SCRIPT"]) {
        return args.next().is_some_and(|sub| {
            sub.eq_ignore_ascii_case(b"LOAD") || sub.eq_ignore_ascii_case(b"EXISTS")
        });
    }
    false
}

/// A pipeline (or transaction) replays harmlessly if each of its commands does.
fn pipeline_replay_is_harmless(pipeline: &Pipeline) -> bool {
    !pipeline.is_empty() && pipeline.cmd_iter().all(replay_is_harmless)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    fn command(args: &[&str]) -> Cmd {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd
    }

    #[test]
    fn reads_and_absolute_expiries_replay_harmlessly() {
        for args in [
            &["GET", "k"][..],
            &["get", "k"],
            &["PEXPIRETIME", "k"],
            &["HGET", "h", "f"],
            &["HVALS", "h"],
            &["HLEN", "h"],
            &["SMEMBERS", "s"],
            &["EXISTS", "a", "b"],
            &["PING"],
            &["SCAN", "0", "MATCH", "tc:*"],
            &["PTTL", "k"],
            &["EVALSHA_RO", "abc", "0"],
            &["GETEX", "k"],
            &["GETEX", "k", "PXAT", "1700000000000"],
            &["getex", "k", "exat", "1700000000"],
            &["GETEX", "k", "PERSIST"],
            &["PEXPIREAT", "k", "1700000000000"],
            &["SCRIPT", "LOAD", "return 1"],
        ] {
            assert!(replay_is_harmless(&command(args)), "{args:?}");
        }
    }

    #[test]
    fn writes_whose_replay_differs_are_not_replayed() {
        for args in [
            &["GETDEL", "k"][..],
            &["SET", "k", "v", "NX"],
            &["SET", "k", "v", "XX", "KEEPTTL"],
            &["SET", "k", "v", "PXAT", "1"],
            &["EVALSHA", "abc", "1", "k"],
            &["EVAL", "return 1", "0"],
            &["DEL", "k"],
            &["HSET", "h", "f", "v"],
            &["HDEL", "h", "f"],
            &["SADD", "s", "m"],
            &["SREM", "s", "m"],
            &["INCR", "k"],
            &["GETEX", "k", "PX", "1000"],
            &["GETEX", "k", "ex", "1"],
            &["PEXPIRE", "k", "1000"],
            &["SCRIPT", "FLUSH"],
            &["SCRIPT"],
            &["ZRANGESTORE", "d", "s", "0", "-1"],
            &["GETSET", "k", "v"],
        ] {
            assert!(!replay_is_harmless(&command(args)), "{args:?}");
        }
        // A key named like a command is only an argument.
        assert!(!replay_is_harmless(&command(&["DEL", "GET"])));
    }

    #[test]
    fn a_pipeline_replays_harmlessly_only_if_every_command_does() {
        let mut reads = redis::pipe();
        reads.cmd("GET").arg("k").cmd("PEXPIRETIME").arg("k");
        assert!(pipeline_replay_is_harmless(&reads));
        let mut atomic = redis::pipe();
        atomic.atomic().cmd("HLEN").arg("h").cmd("HVALS").arg("s");
        assert!(pipeline_replay_is_harmless(&atomic));

        let mut mixed = redis::pipe();
        mixed
            .cmd("HDEL")
            .arg("h")
            .arg("f")
            .cmd("HGET")
            .arg("h")
            .arg("f");
        assert!(!pipeline_replay_is_harmless(&mixed));
        assert!(!pipeline_replay_is_harmless(&redis::pipe()));
    }

    fn io_error(kind: io::ErrorKind) -> RedisError {
        io::Error::from(kind).into()
    }

    #[test]
    fn only_a_refused_connection_proves_a_command_unsent() {
        let refused = io_error(io::ErrorKind::ConnectionRefused);
        let broken = io_error(io::ErrorKind::BrokenPipe);
        let reset = io_error(io::ErrorKind::ConnectionReset);
        let timeout = io_error(io::ErrorKind::TimedOut);
        let server = redis::parse_redis_value(b"-WRONGTYPE wrong kind of value\r\n")
            .unwrap()
            .extract_error()
            .unwrap_err();

        assert!(may_retry(&refused, || false), "unsent: any command");
        for error in [&broken, &reset] {
            assert!(may_retry(error, || true), "{error}: a harmless replay");
            assert!(!may_retry(error, || false), "{error}: a write maybe done");
        }
        for error in [&timeout, &server] {
            assert!(!may_retry(error, || true), "{error}: never");
        }
    }

    /// A connection answering from a script of results, counting what it was sent.
    #[derive(Clone, Default)]
    struct Scripted {
        answers: Arc<Mutex<VecDeque<RedisResult<Value>>>>,
        sent: Arc<Mutex<Vec<String>>>,
    }

    impl Scripted {
        fn new(answers: Vec<RedisResult<Value>>) -> Self {
            Self {
                answers: Arc::new(Mutex::new(answers.into())),
                sent: Arc::default(),
            }
        }

        fn next(&self, name: String) -> RedisResult<Value> {
            self.sent.lock().unwrap().push(name);
            self.answers.lock().unwrap().pop_front().expect("scripted")
        }

        fn sent(&self) -> Vec<String> {
            self.sent.lock().unwrap().clone()
        }
    }

    fn name(cmd: &Cmd) -> String {
        match cmd.args_iter().next() {
            Some(Arg::Simple(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        }
    }

    impl Reconnecting for Scripted {
        fn command<'a>(
            &'a mut self,
            cmd: &'a Cmd,
        ) -> impl Future<Output = RedisResult<Value>> + Send + 'a {
            let answer = self.next(name(cmd));
            async move { answer }
        }

        fn commands<'a>(
            &'a mut self,
            pipeline: &'a Pipeline,
            _offset: usize,
            count: usize,
        ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send + 'a {
            let names: Vec<String> = pipeline.cmd_iter().map(name).collect();
            let answer = self.next(names.join(" "));
            async move { answer.map(|value| vec![value; count]) }
        }

        fn db(&self) -> i64 {
            0
        }
    }

    async fn run(answers: Vec<RedisResult<Value>>, cmd: &Cmd) -> (RedisResult<Value>, usize) {
        let inner = Scripted::new(answers);
        let mut connection = RetryingConnection::new(inner.clone());
        let result = connection.req_packed_command(cmd).await;
        (result, inner.sent().len())
    }

    #[tokio::test]
    async fn a_command_gets_at_most_one_retry_and_only_when_safe() {
        let ok = || Ok(Value::Okay);
        let refused = || Err(io_error(io::ErrorKind::ConnectionRefused));
        let broken = || Err(io_error(io::ErrorKind::BrokenPipe));
        let timeout = || Err(io_error(io::ErrorKind::TimedOut));
        let set_nx = command(&["SET", "k", "v", "NX"]);
        let getex = command(&["GETEX", "k", "PXAT", "1"]);

        let (result, sent) = run(vec![ok()], &set_nx).await;
        assert_eq!((result.is_ok(), sent), (true, 1), "success: sent once");
        let (result, sent) = run(vec![refused(), ok()], &set_nx).await;
        assert_eq!((result.is_ok(), sent), (true, 2), "unsent write: retried");
        let (result, sent) = run(vec![broken()], &set_nx).await;
        assert_eq!((result.is_err(), sent), (true, 1), "write maybe done: not");
        let (result, sent) = run(vec![broken(), ok()], &getex).await;
        assert_eq!(
            (result.is_ok(), sent),
            (true, 2),
            "harmless replay: retried"
        );
        let (result, sent) = run(vec![timeout()], &getex).await;
        assert_eq!((result.is_err(), sent), (true, 1), "timeout: never");
        let (result, sent) = run(vec![refused(), refused()], &getex).await;
        assert!(result.unwrap_err().is_connection_refusal());
        assert_eq!(sent, 2, "one retry, not more");
    }

    #[tokio::test]
    async fn a_pipeline_is_retried_by_the_same_rule() {
        let inner = Scripted::new(vec![
            Err(io_error(io::ErrorKind::BrokenPipe)),
            Ok(Value::Int(1)),
        ]);
        let mut connection = RetryingConnection::new(inner.clone());
        let mut reads = redis::pipe();
        reads.cmd("GET").arg("k").cmd("PEXPIRETIME").arg("k");
        let (_, expiry): (Value, i64) = reads.query_async(&mut connection).await.unwrap();
        assert_eq!(expiry, 1);
        assert_eq!(inner.sent(), ["GET PEXPIRETIME", "GET PEXPIRETIME"]);

        let inner = Scripted::new(vec![Err(io_error(io::ErrorKind::BrokenPipe))]);
        let mut connection = RetryingConnection::new(inner.clone());
        let mut delete = redis::pipe();
        delete.cmd("HDEL").arg("h").arg("f").cmd("HLEN").arg("h");
        let result: RedisResult<(i64, i64)> = delete.query_async(&mut connection).await;
        assert!(result.is_err());
        assert_eq!(
            inner.sent().len(),
            1,
            "a pipeline with a write is not replayed"
        );
    }

    /// The real thing: a connection idle while Redis restarts, then a write (not
    /// replayable) as its first command — answered once Redis is back.
    #[tokio::test]
    async fn an_idle_connection_sends_a_write_after_redis_restarted() {
        let mut server = super::super::redis_server::RedisServer::start();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let mut connection = connect(&server.url(), config).await.unwrap();
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .unwrap();
        server.stop();
        // Past the background reconnection (one attempt and one retry, at most 0.5 s
        // apart): the connection comes out of the outage holding a failed attempt.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.restart();
        let written: Option<String> = redis::cmd("SET")
            .arg("k")
            .arg("v")
            .arg("NX")
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(written.as_deref(), Some("OK"));
    }
}
