//! The shared backend: Redis (a single server or a Redis Cluster), so several instances
//! behind a load balancer see one truth. Files stay in `--data-dir`, which the
//! instances share.
//!
//! Key layout. Every key of one session carries its hash tag `{S}` (S = hex of the
//! session's store key), so a session's keys live in one cluster slot and the scripts
//! below may touch them together:
//!
//! ```text
//! tc:{S}:session         the record: "<csrf json>\n<rest json>"; its TTL is the idle expiry
//! tc:{S}:jobs            set of the session's job ids
//! tc:{S}:job:<uuid>      one job (JSON)
//! tc:{S}:lease:<uuid>    "a live process works on this job" (short TTL, renewed)
//! tc:{S}:grants:<uuid>   sorted set of the job's download-token hashes by expiry
//! tc:grant:<T>           one download grant (T = hex of the token hash; TTL = its expiry)
//! tc:job-sessions        set of sessions that own jobs (for the orphan sweep)
//! tc:rate:<action>:<ip>  one client's GCRA state for one action
//! ```
//!
//! Hot path: validating a request is one command, `GETEX key PXAT now+idle` — it reads
//! the record and slides the idle expiry (a TTL update, never a record rewrite). The
//! idle expiry *is* the key's expiry (`PEXPIRETIME` reads it back exactly). Expiry is
//! Redis's: session keys die at their idle expiry, grants at theirs, jobs after the
//! absolute timeout at the latest. Times come from the server's clock (`TIME` inside
//! the rate-limit script), so instances with skewed clocks count alike.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use redis::aio::ConnectionLike;
use redis::{RedisError, Script};
use serde::{Deserialize, Serialize};
use trustyconvert_protocol::{Format, JobStatus};
use uuid::Uuid;

use super::{
    CsrfState, DownloadGrant, DownloadStore, JobRecord, JobStore, PreviousNonce, RateAction,
    RateLimitStore, RateVerdict, SessionRecord, SessionStore, StoreError, TokenHash,
};
use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::keys::{decode_hex32, encode_hex};
use crate::time::Timestamp;

/// How long a command may wait for Redis before the request gets a 503.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest pause between reconnection attempts, so service resumes quickly.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// Global set of sessions owning jobs.
const JOB_SESSIONS: &str = "tc:job-sessions";

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
            .build()
            .map_err(unavailable)?;
        let connection = client.get_async_connection().await.map_err(unavailable)?;
        let storage = RedisStorage::new(connection, max_session_life);
        storage.ping().await?;
        return Ok(std::sync::Arc::new(storage));
    }
    let client = redis::Client::open(url).map_err(unavailable)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(MAX_RECONNECT_DELAY);
    let connection = client
        .get_connection_manager_with_config(config)
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

/// The Lua scripts, loaded once per process (`EVALSHA`, falling back to `EVAL`).
struct Scripts {
    set_csrf: Script,
    insert_job: Script,
    jobs_of: Script,
    forget_jobs: Script,
    rate: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        // KEYS[1] session; ARGV[1] new csrf part. Keeps the TTL; never creates.
        set_csrf: Script::new(
            r"local v = redis.call('GET', KEYS[1])
              if not v then return 0 end
              local nl = string.find(v, '\n', 1, true)
              redis.call('SET', KEYS[1], ARGV[1] .. string.sub(v, nl), 'KEEPTTL')
              return 1",
        ),
        // KEYS[1] job, KEYS[2] job set; ARGV[1] json, ARGV[2] id, ARGV[3] ttl ms.
        insert_job: Script::new(
            r"if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
              redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
              redis.call('SADD', KEYS[2], ARGV[2])
              redis.call('PEXPIRE', KEYS[2], ARGV[3])
              return 1",
        ),
        // KEYS[1] job set; ARGV[1] key prefix of the session. Every job's JSON.
        jobs_of: Script::new(
            r"local out = {}
              for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
                local v = redis.call('GET', ARGV[1] .. 'job:' .. id)
                if v then table.insert(out, v) end
              end
              return out",
        ),
        // KEYS[1] job set; ARGV[1] key prefix; ARGV[2] one job id or '' for all.
        // Deletes jobs with their leases and grant indexes; returns how many.
        forget_jobs: Script::new(
            r"local ids = {}
              if ARGV[2] == '' then ids = redis.call('SMEMBERS', KEYS[1]) else ids = {ARGV[2]} end
              local n = 0
              for _, id in ipairs(ids) do
                n = n + redis.call('DEL', ARGV[1] .. 'job:' .. id)
                redis.call('DEL', ARGV[1] .. 'lease:' .. id, ARGV[1] .. 'grants:' .. id)
                redis.call('SREM', KEYS[1], id)
              end
              return n",
        ),
        // GCRA. KEYS[1] state; ARGV[1] emission interval ms, ARGV[2] burst.
        // Returns {allowed (1/0), retry after ms}. Time is the Redis server's.
        rate: Script::new(
            r"local t = redis.call('TIME')
              local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
              local interval = tonumber(ARGV[1])
              local limit = interval * tonumber(ARGV[2])
              local tat = tonumber(redis.call('GET', KEYS[1]) or now)
              if tat < now then tat = now end
              local new_tat = tat + interval
              if new_tat - now > limit then return {0, new_tat - now - limit} end
              redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
              return {1, 0}",
        ),
    })
}

/// The hash-tagged key prefix of a session: `tc:{S}:`.
fn prefix(session: &SessionKey) -> String {
    format!("tc:{{{}}}:", encode_hex(&session.0))
}

fn session_key(session: &SessionKey) -> String {
    format!("{}session", prefix(session))
}

fn jobs_key(session: &SessionKey) -> String {
    format!("{}jobs", prefix(session))
}

fn job_key(session: &SessionKey, job_id: &Uuid) -> String {
    format!("{}job:{}", prefix(session), job_id.simple())
}

fn lease_key(session: &SessionKey, job_id: &Uuid) -> String {
    format!("{}lease:{}", prefix(session), job_id.simple())
}

fn grants_key(session: &SessionKey, job_id: &Uuid) -> String {
    format!("{}grants:{}", prefix(session), job_id.simple())
}

fn grant_key(token: &TokenHash) -> String {
    format!("tc:grant:{}", encode_hex(&token.0))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The CSRF part of a stored session (rewritten on rotation).
#[derive(Serialize, Deserialize)]
struct StoredCsrf {
    current: String,
    previous: Option<(String, i64)>,
}

/// The part of a stored session that never changes.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    public_id: String,
    created_at: i64,
    absolute_expires_at: i64,
}

fn nonce(text: &str) -> Result<[u8; CSRF_NONCE_BYTES], StoreError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| corrupt("CSRF nonce"))
}

fn encode_csrf(csrf: &CsrfState) -> String {
    let stored = StoredCsrf {
        current: URL_SAFE_NO_PAD.encode(csrf.current),
        previous: csrf
            .previous
            .map(|p| (URL_SAFE_NO_PAD.encode(p.nonce), p.valid_until.as_millis())),
    };
    serde_json::to_string(&stored).expect("plain data serializes")
}

fn encode_session(record: &SessionRecord) -> String {
    let rest = StoredSession {
        public_id: record.public_id.clone(),
        created_at: record.created_at.as_millis(),
        absolute_expires_at: record.absolute_expires_at.as_millis(),
    };
    format!(
        "{}\n{}",
        encode_csrf(&record.csrf),
        serde_json::to_string(&rest).expect("plain data serializes")
    )
}

fn decode_session(
    key: &SessionKey,
    value: &str,
    idle_expires_at: Timestamp,
) -> Result<SessionRecord, StoreError> {
    let (csrf, rest) = value
        .split_once('\n')
        .ok_or_else(|| corrupt("session record"))?;
    let csrf: StoredCsrf = serde_json::from_str(csrf).map_err(corrupt)?;
    let rest: StoredSession = serde_json::from_str(rest).map_err(corrupt)?;
    let previous = match csrf.previous {
        Some((text, until)) => Some(PreviousNonce {
            nonce: nonce(&text)?,
            valid_until: Timestamp::from_millis(until),
        }),
        None => None,
    };
    Ok(SessionRecord {
        key: *key,
        public_id: rest.public_id,
        created_at: Timestamp::from_millis(rest.created_at),
        idle_expires_at,
        absolute_expires_at: Timestamp::from_millis(rest.absolute_expires_at),
        csrf: CsrfState {
            current: nonce(&csrf.current)?,
            previous,
        },
    })
}

/// A job as stored (JSON).
#[derive(Serialize, Deserialize)]
struct StoredJob {
    session: String,
    job_id: Uuid,
    task_id: Option<Uuid>,
    status: JobStatus,
    original_filename: String,
    source_format: Format,
    target_format: Option<Format>,
    file_size: u64,
    output_size: Option<u64>,
    progress: u8,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
    conversion_time: Option<f64>,
}

fn encode_job(job: &JobRecord) -> String {
    let stored = StoredJob {
        session: encode_hex(&job.session.0),
        job_id: job.job_id,
        task_id: job.task_id,
        status: job.status,
        original_filename: job.original_filename.clone(),
        source_format: job.source_format,
        target_format: job.target_format,
        file_size: job.file_size,
        output_size: job.output_size,
        progress: job.progress,
        error: job.error.clone(),
        created_at: job.created_at.as_millis(),
        updated_at: job.updated_at.as_millis(),
        completed_at: job.completed_at.map(Timestamp::as_millis),
        conversion_time: job.conversion_time,
    };
    serde_json::to_string(&stored).expect("plain data serializes")
}

fn decode_job(value: &str) -> Result<JobRecord, StoreError> {
    let stored: StoredJob = serde_json::from_str(value).map_err(corrupt)?;
    Ok(JobRecord {
        session: SessionKey(decode_hex32(&stored.session).ok_or_else(|| corrupt("job owner"))?),
        job_id: stored.job_id,
        task_id: stored.task_id,
        status: stored.status,
        original_filename: stored.original_filename,
        source_format: stored.source_format,
        target_format: stored.target_format,
        file_size: stored.file_size,
        output_size: stored.output_size,
        progress: stored.progress,
        error: stored.error,
        created_at: Timestamp::from_millis(stored.created_at),
        updated_at: Timestamp::from_millis(stored.updated_at),
        completed_at: stored.completed_at.map(Timestamp::from_millis),
        conversion_time: stored.conversion_time,
    })
}

/// A download grant as stored (JSON).
#[derive(Serialize, Deserialize)]
struct StoredGrant {
    session: String,
    job_id: Uuid,
    expires_at: i64,
}

impl<C> RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A backend over `connection`; job records expire `max_session_life` after
    /// their creation at the latest (no session outlives that).
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

    async fn jobs_of(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError> {
        let values: Vec<String> = self
            .scripts
            .jobs_of
            .key(jobs_key(session))
            .arg(prefix(session))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        values.iter().map(|value| decode_job(value)).collect()
    }

    async fn forget_jobs(
        &self,
        session: &SessionKey,
        job: Option<&Uuid>,
    ) -> Result<u64, StoreError> {
        let id = job.map(|id| id.simple().to_string()).unwrap_or_default();
        self.scripts
            .forget_jobs
            .key(jobs_key(session))
            .arg(prefix(session))
            .arg(id)
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)
    }

    async fn session_exists(&self, session: &SessionKey) -> Result<bool, StoreError> {
        self.query(redis::cmd("EXISTS").arg(session_key(session)))
            .await
    }

    /// A grant's record, if its session still lives and it is valid at `now`.
    async fn valid_grant(
        &self,
        value: Option<String>,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let stored: StoredGrant = serde_json::from_str(&value).map_err(corrupt)?;
        let grant = DownloadGrant {
            session: SessionKey(
                decode_hex32(&stored.session).ok_or_else(|| corrupt("grant owner"))?,
            ),
            job_id: stored.job_id,
            expires_at: Timestamp::from_millis(stored.expires_at),
        };
        // A grant dies with its session (its key may outlive it by its own TTL).
        if grant.expires_at <= now || !self.session_exists(&grant.session).await? {
            return Ok(None);
        }
        Ok(Some(grant))
    }
}

#[async_trait]
impl<C> SessionStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let created: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(session_key(&record.key))
                    .arg(encode_session(record))
                    .arg("PXAT")
                    .arg(record.idle_expires_at.as_millis())
                    .arg("NX"),
            )
            .await?;
        created.map(drop).ok_or(StoreError::Duplicate)
    }

    async fn load_session(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET")
            .arg(session_key(key))
            .cmd("PEXPIRETIME")
            .arg(session_key(key));
        let (value, expires): (Option<String>, i64) = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let idle_expires_at = Timestamp::from_millis(expires);
        value
            .map(|value| decode_session(key, &value, idle_expires_at))
            .transpose()
    }

    /// One command: `GETEX` reads the record and slides its idle expiry.
    async fn resolve_session(
        &self,
        key: &SessionKey,
        now: Timestamp,
        idle: Duration,
        _touch_step: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let idle_expires_at = now.plus(idle);
        let value: Option<String> = self
            .query(
                redis::cmd("GETEX")
                    .arg(session_key(key))
                    .arg("PXAT")
                    .arg(idle_expires_at.as_millis()),
            )
            .await?;
        value
            .map(|value| decode_session(key, &value, idle_expires_at))
            .transpose()
    }

    async fn touch_session(
        &self,
        key: &SessionKey,
        idle_expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed: i64 = self
            .query(
                redis::cmd("PEXPIREAT")
                    .arg(session_key(key))
                    .arg(idle_expires_at.as_millis()),
            )
            .await?;
        Ok(changed == 1)
    }

    async fn set_csrf(&self, key: &SessionKey, csrf: &CsrfState) -> Result<bool, StoreError> {
        let changed: i64 = self
            .scripts
            .set_csrf
            .key(session_key(key))
            .arg(encode_csrf(csrf))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let deleted: i64 = self.query(redis::cmd("DEL").arg(session_key(key))).await?;
        self.delete_session_jobs(key).await?;
        Ok(deleted == 1)
    }

    /// Sessions expire by their TTL; this removes the jobs of those that did and
    /// returns them (their files are the caller's to remove).
    async fn sweep_expired(&self, _now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let mut swept = Vec::new();
        for session in self.sessions_with_jobs().await? {
            if !self.session_exists(&session).await? {
                self.delete_session_jobs(&session).await?;
                swept.push(session);
            }
        }
        Ok(swept)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}

#[async_trait]
impl<C> JobStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let inserted: i64 = self
            .scripts
            .insert_job
            .key(job_key(&job.session, &job.job_id))
            .key(jobs_key(&job.session))
            .arg(encode_job(job))
            .arg(job.job_id.simple().to_string())
            .arg(millis(self.max_session_life))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if inserted == 0 {
            return Err(StoreError::Duplicate);
        }
        let _: i64 = self
            .query(
                redis::cmd("SADD")
                    .arg(JOB_SESSIONS)
                    .arg(encode_hex(&job.session.0)),
            )
            .await?;
        Ok(())
    }

    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        let value: Option<String> = self
            .query(redis::cmd("GET").arg(job_key(session, job_id)))
            .await?;
        value.map(|value| decode_job(&value)).transpose()
    }

    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let done: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(job_key(&job.session, &job.job_id))
                    .arg(encode_job(job))
                    .arg("XX")
                    .arg("KEEPTTL"),
            )
            .await?;
        Ok(done.is_some())
    }

    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self
            .jobs_of(session)
            .await?
            .iter()
            .filter(|job| job.status.is_active())
            .count() as u64)
    }

    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self
            .jobs_of(session)
            .await?
            .iter()
            .map(JobRecord::stored_bytes)
            .sum())
    }

    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError> {
        Ok(self.forget_jobs(session, Some(job_id)).await? > 0)
    }

    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let removed = self.forget_jobs(session, None).await?;
        let _: i64 = self
            .query(
                redis::cmd("SREM")
                    .arg(JOB_SESSIONS)
                    .arg(encode_hex(&session.0)),
            )
            .await?;
        Ok(removed)
    }

    async fn sessions_with_jobs(&self) -> Result<Vec<SessionKey>, StoreError> {
        let members: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(JOB_SESSIONS)).await?;
        let mut sessions: Vec<SessionKey> = members
            .iter()
            .filter_map(|hex| decode_hex32(hex).map(SessionKey))
            .collect();
        sessions.sort_by_key(|session| session.0);
        Ok(sessions)
    }

    /// Fails the active jobs no live instance holds a lease on: the instance that ran
    /// them stopped (killed, or restarted).
    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut failed = 0;
        for session in self.sessions_with_jobs().await? {
            for mut job in self.jobs_of(&session).await? {
                if !job.status.is_active() {
                    continue;
                }
                let leased: bool = self
                    .query(redis::cmd("EXISTS").arg(lease_key(&session, &job.job_id)))
                    .await?;
                if !leased {
                    job.fail(reason, now);
                    if self.update_job(&job).await? {
                        failed += 1;
                    }
                }
            }
        }
        Ok(failed)
    }

    async fn renew_job_leases(
        &self,
        jobs: &[(SessionKey, Uuid)],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        for (session, job_id) in jobs {
            let _: Option<String> = self
                .query(
                    redis::cmd("SET")
                        .arg(lease_key(session, job_id))
                        .arg(1)
                        .arg("PX")
                        .arg(millis(ttl)),
                )
                .await?;
        }
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }
}

#[async_trait]
impl<C> DownloadStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn insert_grant(
        &self,
        token: &TokenHash,
        grant: &DownloadGrant,
        max_per_job: usize,
    ) -> Result<(), StoreError> {
        let stored = StoredGrant {
            session: encode_hex(&grant.session.0),
            job_id: grant.job_id,
            expires_at: grant.expires_at.as_millis(),
        };
        let value = serde_json::to_string(&stored).expect("plain data serializes");
        let _: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(grant_key(token))
                    .arg(value)
                    .arg("PXAT")
                    .arg(grant.expires_at.as_millis()),
            )
            .await?;
        // The job's index of grants, newest last; the new one always stays.
        let index = grants_key(&grant.session, &grant.job_id);
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(Timestamp::now().as_millis())
            .ignore()
            .cmd("ZRANGE")
            .arg(&index)
            .arg(0)
            .arg(-1);
        let (others,): (Vec<String>,) = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let keep_others = max_per_job.saturating_sub(1);
        if others.len() > keep_others {
            for old in &others[..others.len() - keep_others] {
                let _: i64 = self.query(redis::cmd("ZREM").arg(&index).arg(old)).await?;
                let _: i64 = self
                    .query(redis::cmd("DEL").arg(format!("tc:grant:{old}")))
                    .await?;
            }
        }
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&index)
            .arg(grant.expires_at.as_millis())
            .arg(encode_hex(&token.0))
            .ignore()
            .cmd("PEXPIRE")
            .arg(&index)
            .arg(millis(self.max_session_life))
            .ignore();
        let () = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// `GETDEL`: of two requests racing for a token, on any instances, one gets it.
    async fn take_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let value: Option<String> = self
            .query(redis::cmd("GETDEL").arg(grant_key(token)))
            .await?;
        self.valid_grant(value, now).await
    }

    async fn peek_grant(
        &self,
        token: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DownloadGrant>, StoreError> {
        let value: Option<String> = self.query(redis::cmd("GET").arg(grant_key(token))).await?;
        self.valid_grant(value, now).await
    }
}

#[async_trait]
impl<C> RateLimitStore for RedisStorage<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn check_rate(
        &self,
        action: RateAction,
        client: IpAddr,
        per_minute: NonZeroU32,
    ) -> Result<RateVerdict, StoreError> {
        let interval = 60_000 / u64::from(per_minute.get()).max(1);
        let (allowed, retry_ms): (i64, i64) = self
            .scripts
            .rate
            .key(format!("tc:rate:{}:{client}", action.name()))
            .arg(interval.max(1))
            .arg(per_minute.get())
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(if allowed == 1 {
            RateVerdict::Allowed
        } else {
            RateVerdict::Limited {
                retry_after: Duration::from_millis(retry_ms.max(1) as u64),
            }
        })
    }

    /// Counters expire by themselves.
    async fn forget_idle_rates(&self) -> Result<(), StoreError> {
        Ok(())
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

    use super::super::redis_server;

    #[tokio::test]
    async fn redis_storage_meets_the_storage_contract() {
        let server = redis_server::RedisServer::start();
        let storage = super::connect(&server.url(), Duration::from_secs(3600))
            .await
            .unwrap();
        super::super::contract::check_all(storage.as_ref()).await;
    }

    #[tokio::test]
    async fn redis_cluster_storage_meets_the_storage_contract() {
        let cluster = redis_server::RedisCluster::start();
        let storage = super::connect(&cluster.url(), Duration::from_secs(3600))
            .await
            .unwrap();
        super::super::contract::check_all(storage.as_ref()).await;
    }
}
