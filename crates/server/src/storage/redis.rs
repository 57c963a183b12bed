//! The shared backend: Redis (a single server or a Redis Cluster), so several instances
//! behind a load balancer see one truth. Files stay in `--data-dir`, which the
//! instances share.
//!
//! Key layout. Every key of one session carries its hash tag `{S}` (S = hex of the
//! session's store key), so a session's keys live in one cluster slot and the scripts
//! below may touch them together:
//!
//! ```text
//! tc:{S}:session         the record: "<csrf json>\n<rest json>"; its expiry is the idle expiry
//! tc:{S}:jobs            hash: job id → job (JSON); expires after the absolute timeout
//! tc:{S}:sizes           hash: job id → bytes its files take (the quota's sum); as jobs
//! tc:{S}:leases          hash: job id → until when (Redis time, ms) a live instance runs it; as jobs
//! tc:{S}:grants          sorted set: "<job id>:<T>" by expiry, the session's download grants
//! tc:grant:<T>           one download grant (T = hex of the token hash; expires with it)
//! tc:job-sessions        set of sessions that own jobs (for the orphan sweep); expires after
//!                        the absolute timeout, renewed by every new job
//! tc:rate:<action>:<ip>  one client's GCRA state for one action; expires when idle
//! ```
//!
//! Every key written has an expiry, also one a background task writes (a lease), and no
//! write creates a key of a session that is gone: every script that writes a session's
//! keys first checks `tc:{S}:session` exists, in the same script. A CSRF rotation is a
//! compare-and-swap script; a new job's or an output's bytes are checked against the
//! quota and written in one script. A grant's own key (`tc:grant:<T>`) cannot share the
//! session's slot (the token is all a download names): it is written first, then
//! indexed by a script that checks the session; if the session is gone it is deleted
//! again, and closing a session deletes the grants its index names.
//!
//! Every script declares every key it touches, all of one session's tag. Requires
//! Redis ≥ 7.0 (`PEXPIRETIME`). Record times (`created_at`, expiries) are the
//! instances' clocks, which are assumed NTP-synchronised: a skew of δ moves an expiry
//! by δ. Leases and rate counters use Redis's own clock (`TIME`).
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
    Admission, CsrfState, CsrfSwap, DownloadGrant, DownloadStore, JobRecord, JobStore,
    PreviousNonce, RateAction, RateLimitStore, RateVerdict, Reservation, SessionRecord,
    SessionStore, StoreError, TokenHash,
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
            // RESP3: a node's connection is repaired as soon as it drops, also while
            // idle (see `redis_retry`).
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
    // that is safe: see `redis_retry`.
    let connection = super::redis_retry::connect(url, config)
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
    swap_csrf: Script,
    purge_session: Script,
    insert_job: Script,
    update_job: Script,
    reserve_output: Script,
    admit_job: Script,
    abandoned_jobs: Script,
    fail_if_abandoned: Script,
    renew_leases: Script,
    add_grant: Script,
    rate: Script,
}

/// Whether a job's JSON has an active status, and whether its lease ran out (Lua).
const LUA_ACTIVE: &str = r"
local function active(v)
  local s = cjson.decode(v).status
  return s == 'queued' or s == 'processing'
end
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function expire_with(key, model, fallback_ms)
  local ttl = redis.call('PTTL', model)
  if ttl < 0 then ttl = tonumber(fallback_ms) end
  redis.call('PEXPIRE', key, ttl)
end
";

/// The bytes a session's jobs other than one take (Lua): from the sizes hash, or,
/// while jobs written before sizes were kept remain (the counts differ), from the jobs.
const LUA_USED: &str = r"
local function used_except(jobs, sizes, id)
  local total = 0
  if redis.call('HLEN', sizes) == redis.call('HLEN', jobs) then
    local all = redis.call('HGETALL', sizes)
    for i = 1, #all, 2 do
      if all[i] ~= id then total = total + tonumber(all[i + 1]) end
    end
  else
    local all = redis.call('HGETALL', jobs)
    for i = 1, #all, 2 do
      if all[i] ~= id then
        local job = cjson.decode(all[i + 1])
        total = total + job.file_size
        if type(job.output_size) == 'number' then total = total + job.output_size end
      end
    end
  end
  return total
end
";

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        // KEYS[1] session; ARGV[1] expected current nonce, ARGV[2] new CSRF JSON.
        // Returns {1, ''} swapped, {0, stored CSRF JSON} superseded, {2, ''} gone.
        swap_csrf: Script::new(
            r"local v = redis.call('GET', KEYS[1])
              if not v then return {2, ''} end
              local cut = string.find(v, '\n', 1, true)
              if not cut then return redis.error_reply('corrupt session record') end
              local csrf = string.sub(v, 1, cut - 1)
              if cjson.decode(csrf).current ~= ARGV[1] then return {0, csrf} end
              redis.call('SET', KEYS[1], ARGV[2] .. string.sub(v, cut), 'KEEPTTL')
              return {1, ''}",
        ),
        // KEYS[1] session, KEYS[2] jobs, KEYS[3] sizes, KEYS[4] leases, KEYS[5] grants;
        // ARGV[1] '1' to delete the session record too. Returns {existed, jobs,
        // grant members}: the caller deletes the grants' own keys.
        purge_session: Script::new(
            r"local existed = redis.call('EXISTS', KEYS[1])
              local jobs = redis.call('HLEN', KEYS[2])
              local grants = redis.call('ZRANGE', KEYS[5], 0, -1)
              if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
              redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
              return {existed, jobs, grants}",
        ),
        // KEYS[1] session, KEYS[2] jobs, KEYS[3] sizes; ARGV[1] id, ARGV[2] json,
        // ARGV[3] bytes, ARGV[4] ttl ms, ARGV[5] quota. Adds a new job of a live
        // session whose bytes fit the quota. Returns {code, used}: 1 reserved,
        // 0 over quota, 2 gone, 3 duplicate.
        insert_job: Script::new(&format!(
            r"{LUA_USED}
              if redis.call('EXISTS', KEYS[1]) == 0 then return {{2, 0}} end
              if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {{3, 0}} end
              local used = used_except(KEYS[2], KEYS[3], ARGV[1])
              if used + tonumber(ARGV[3]) > tonumber(ARGV[5]) then return {{0, used}} end
              redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
              redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
              redis.call('PEXPIRE', KEYS[2], ARGV[4])
              redis.call('PEXPIRE', KEYS[3], ARGV[4])
              return {{1, used}}"
        )),
        // KEYS[1] session, KEYS[2] jobs, KEYS[3] sizes; ARGV[1] id, ARGV[2] json,
        // ARGV[3] bytes. Replaces an existing job of a live session, with its size;
        // the sizes expire with the jobs (also when this creates them, for jobs an
        // older version wrote).
        update_job: Script::new(
            r"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
              if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
              redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
              redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
              local ttl = redis.call('PTTL', KEYS[2])
              if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
              return 1",
        ),
        // As update_job, if the job's bytes (ARGV[3]) fit in what the others leave of
        // the quota (ARGV[4]). Returns {code, used}: 1 reserved, 0 over quota, 2 gone.
        reserve_output: Script::new(&format!(
            r"{LUA_USED}
              if redis.call('EXISTS', KEYS[1]) == 0 then return {{2, 0}} end
              if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {{2, 0}} end
              local used = used_except(KEYS[2], KEYS[3], ARGV[1])
              if used + tonumber(ARGV[3]) > tonumber(ARGV[4]) then return {{0, used}} end
              redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
              redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
              local ttl = redis.call('PTTL', KEYS[2])
              if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
              return {{1, used}}"
        )),
        // KEYS[1] jobs, KEYS[2] leases, KEYS[3] session; ARGV[1] id, ARGV[2] queued
        // json, ARGV[3] max active, ARGV[4] lease ms, ARGV[5] fallback key life ms.
        // Returns {code, active, status}: 1 admitted, 0 full, 2 gone, 3 not uploaded.
        admit_job: Script::new(&format!(
            r"{LUA_ACTIVE}
              if redis.call('EXISTS', KEYS[3]) == 0 then return {{2, 0, ''}} end
              local current = redis.call('HGET', KEYS[1], ARGV[1])
              if not current then return {{2, 0, ''}} end
              local status = cjson.decode(current).status
              if status ~= 'uploaded' then return {{3, 0, status}} end
              local n = 0
              for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
                if active(v) then n = n + 1 end
              end
              if n >= tonumber(ARGV[3]) then return {{0, n, ''}} end
              redis.call('HSET', KEYS[2], ARGV[1], redis_now() + tonumber(ARGV[4]))
              expire_with(KEYS[2], KEYS[1], ARGV[5])
              redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
              return {{1, n, ''}}"
        )),
        // KEYS[1] jobs, KEYS[2] leases. The active jobs whose lease ran out.
        abandoned_jobs: Script::new(&format!(
            r"{LUA_ACTIVE}
              local now = redis_now()
              local out = {{}}
              local all = redis.call('HGETALL', KEYS[1])
              for i = 1, #all, 2 do
                local until_ms = tonumber(redis.call('HGET', KEYS[2], all[i]) or '0')
                if active(all[i + 1]) and until_ms < now then table.insert(out, all[i + 1]) end
              end
              return out"
        )),
        // KEYS[1] jobs, KEYS[2] leases; ARGV[1] id, ARGV[2] failed json. Writes it
        // only if the job is still active and still unleased.
        fail_if_abandoned: Script::new(&format!(
            r"{LUA_ACTIVE}
              local v = redis.call('HGET', KEYS[1], ARGV[1])
              if not v or not active(v) then return 0 end
              local until_ms = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
              if until_ms >= redis_now() then return 0 end
              redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
              return 1"
        )),
        // KEYS[1] leases, KEYS[2] jobs; ARGV[1] lease ms, ARGV[2] fallback key life
        // ms, ARGV[3..] job ids. Renews only jobs that still exist (a close deletes
        // them: the lease hash is never recreated for a closed session); the hash
        // expires with the jobs.
        renew_leases: Script::new(&format!(
            r"{LUA_ACTIVE}
              local until_ms = redis_now() + tonumber(ARGV[1])
              local renewed = 0
              for i = 3, #ARGV do
                if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
                  redis.call('HSET', KEYS[1], ARGV[i], until_ms)
                  renewed = renewed + 1
                end
              end
              if renewed > 0 then expire_with(KEYS[1], KEYS[2], ARGV[2]) end
              return renewed"
        )),
        // KEYS[1] grants, KEYS[2] session; ARGV[1] job id, ARGV[2] token hex,
        // ARGV[3] expires ms, ARGV[4] how many older grants of the job to keep,
        // ARGV[5] now ms, ARGV[6] index ttl ms. Returns {1, retired token hexes} (the
        // new grant stays), or {0, {}} if the session is gone (nothing written).
        // (Never a bare false: over RESP3 that is a boolean, not a null.)
        add_grant: Script::new(
            r"if redis.call('EXISTS', KEYS[2]) == 0 then return {0, {}} end
              redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[5])
              local prefix = ARGV[1] .. ':'
              local mine = {}
              for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
                if string.sub(member, 1, #prefix) == prefix then table.insert(mine, member) end
              end
              local retired = {}
              local keep = tonumber(ARGV[4])
              for i = 1, #mine - keep do
                redis.call('ZREM', KEYS[1], mine[i])
                table.insert(retired, string.sub(mine[i], #prefix + 1))
              end
              redis.call('ZADD', KEYS[1], ARGV[3], prefix .. ARGV[2])
              redis.call('PEXPIRE', KEYS[1], ARGV[6])
              return {1, retired}",
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

/// `script` prepared for one job: KEYS session, jobs, sizes and ARGV id, JSON, bytes,
/// which every script that writes a job takes first.
fn job_script<'a>(script: &'a Script, job: &JobRecord) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.prepare_invoke();
    invocation
        .key(session_key(&job.session))
        .key(jobs_key(&job.session))
        .key(sizes_key(&job.session))
        .arg(job_field(&job.job_id))
        .arg(encode_job(job))
        .arg(job.stored_bytes());
    invocation
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

fn sizes_key(session: &SessionKey) -> String {
    format!("{}sizes", prefix(session))
}

fn leases_key(session: &SessionKey) -> String {
    format!("{}leases", prefix(session))
}

fn grants_key(session: &SessionKey) -> String {
    format!("{}grants", prefix(session))
}

fn job_field(job_id: &Uuid) -> String {
    job_id.simple().to_string()
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

fn decode_csrf(text: &str) -> Result<CsrfState, StoreError> {
    let csrf: StoredCsrf = serde_json::from_str(text).map_err(corrupt)?;
    let previous = match csrf.previous {
        Some((text, until)) => Some(PreviousNonce {
            nonce: nonce(&text)?,
            valid_until: Timestamp::from_millis(until),
        }),
        None => None,
    };
    Ok(CsrfState {
        current: nonce(&csrf.current)?,
        previous,
    })
}

fn decode_session(
    key: &SessionKey,
    value: &str,
    idle_expires_at: Timestamp,
) -> Result<SessionRecord, StoreError> {
    let (csrf, rest) = value
        .split_once('\n')
        .ok_or_else(|| corrupt("session record"))?;
    let rest: StoredSession = serde_json::from_str(rest).map_err(corrupt)?;
    Ok(SessionRecord {
        key: *key,
        public_id: rest.public_id,
        created_at: Timestamp::from_millis(rest.created_at),
        idle_expires_at,
        absolute_expires_at: Timestamp::from_millis(rest.absolute_expires_at),
        csrf: decode_csrf(csrf)?,
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

    async fn jobs_of(&self, session: &SessionKey) -> Result<Vec<JobRecord>, StoreError> {
        let values: Vec<String> = self
            .query(redis::cmd("HVALS").arg(jobs_key(session)))
            .await?;
        values.iter().map(|value| decode_job(value)).collect()
    }

    /// Deletes what a session owns in one script (its record too when `with_record`),
    /// then the grant keys its index named and its entry in the set of sessions with
    /// jobs. Returns whether the record existed and how many jobs it had.
    async fn purge(
        &self,
        session: &SessionKey,
        with_record: bool,
    ) -> Result<(bool, u64), StoreError> {
        let (existed, jobs, grants): (i64, u64, Vec<String>) = self
            .scripts
            .purge_session
            .key(session_key(session))
            .key(jobs_key(session))
            .key(sizes_key(session))
            .key(leases_key(session))
            .key(grants_key(session))
            .arg(if with_record { "1" } else { "0" })
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        // Each grant key lives in its own slot: one command each (few per session).
        for member in grants {
            if let Some((_, token)) = member.split_once(':') {
                self.query::<i64>(redis::cmd("DEL").arg(format!("tc:grant:{token}")))
                    .await?;
            }
        }
        self.query::<i64>(
            redis::cmd("SREM")
                .arg(JOB_SESSIONS)
                .arg(encode_hex(&session.0)),
        )
        .await?;
        Ok((existed == 1, jobs))
    }

    /// Decodes the `{code, used}` answer of a reserving script.
    fn reservation(code: i64, used: u64) -> Reservation {
        match code {
            1 => Reservation::Reserved,
            0 => Reservation::OverQuota { used },
            _ => Reservation::Gone,
        }
    }

    /// A grant's record, if its session is still live and it is valid at `now`.
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
        if grant.expires_at <= now {
            return Ok(None);
        }
        // A grant dies with its session (its key may outlive it by its own expiry).
        let live = self
            .load_session(&grant.session)
            .await?
            .is_some_and(|session| session.is_live(now));
        Ok(live.then_some(grant))
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

    /// One command: `GETEX` reads the record and slides its idle expiry. Only when
    /// the absolute expiry comes first is the key's expiry moved back to it (a second
    /// command, in the last idle period of a session's life).
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
        let Some(record) = value
            .map(|value| decode_session(key, &value, idle_expires_at))
            .transpose()?
        else {
            return Ok(None);
        };
        if record.absolute_expires_at < idle_expires_at {
            let _: i64 = self
                .query(
                    redis::cmd("PEXPIREAT")
                        .arg(session_key(key))
                        .arg(record.absolute_expires_at.as_millis()),
                )
                .await?;
        }
        Ok(Some(record))
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

    /// One script: the CSRF line of the record is replaced only if its current nonce
    /// is the expected one, over an existing key (a closed or expired session is never
    /// resurrected), keeping the key's expiry, which is the idle expiry.
    async fn swap_csrf(
        &self,
        key: &SessionKey,
        expected: &[u8; CSRF_NONCE_BYTES],
        next: &CsrfState,
    ) -> Result<CsrfSwap, StoreError> {
        let (code, stored): (i64, String) = self
            .scripts
            .swap_csrf
            .key(session_key(key))
            .arg(URL_SAFE_NO_PAD.encode(expected))
            .arg(encode_csrf(next))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(match code {
            1 => CsrfSwap::Swapped,
            0 => CsrfSwap::Superseded(decode_csrf(&stored)?),
            _ => CsrfSwap::Gone,
        })
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.purge(key, true).await.map(|(existed, _)| existed)
    }

    /// Session records expire by themselves (their key's expiry); this removes, with
    /// everything they own, the sessions with jobs whose record is gone or no longer
    /// live at `now`, and returns them (their files are the caller's to remove).
    async fn sweep_expired(&self, now: Timestamp) -> Result<Vec<SessionKey>, StoreError> {
        let mut swept = Vec::new();
        for session in self.sessions_with_jobs().await? {
            let live = self
                .load_session(&session)
                .await?
                .is_some_and(|record| record.is_live(now));
            if !live {
                self.purge(&session, true).await?;
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
    /// The session is entered in the set of sessions with jobs first (renewing the
    /// set's expiry), so the sweep finds every session that may hold jobs; then one
    /// script checks the session, the id and the quota and writes. If the session is
    /// gone its entry stays until the sweep removes it (another request of the same
    /// session may be mid-way through this).
    async fn insert_job(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SADD")
            .arg(JOB_SESSIONS)
            .arg(encode_hex(&job.session.0))
            .ignore()
            .cmd("PEXPIRE")
            .arg(JOB_SESSIONS)
            .arg(millis(self.max_session_life))
            .ignore();
        pipe.query_async::<()>(&mut self.connection())
            .await
            .map_err(unavailable)?;
        let (code, used): (i64, u64) = job_script(&self.scripts.insert_job, job)
            .arg(millis(self.max_session_life))
            .arg(quota)
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if code == 3 {
            return Err(StoreError::Duplicate);
        }
        Ok(Self::reservation(code, used))
    }

    async fn load_job(
        &self,
        session: &SessionKey,
        job_id: &Uuid,
    ) -> Result<Option<JobRecord>, StoreError> {
        let value: Option<String> = self
            .query(
                redis::cmd("HGET")
                    .arg(jobs_key(session))
                    .arg(job_field(job_id)),
            )
            .await?;
        value.map(|value| decode_job(&value)).transpose()
    }

    async fn update_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let changed: i64 = job_script(&self.scripts.update_job, job)
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn reserve_output(&self, job: &JobRecord, quota: u64) -> Result<Reservation, StoreError> {
        let (code, used): (i64, u64) = job_script(&self.scripts.reserve_output, job)
            .arg(quota)
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(Self::reservation(code, used))
    }

    async fn count_active_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        Ok(self
            .jobs_of(session)
            .await?
            .iter()
            .filter(|job| job.status.is_active())
            .count() as u64)
    }

    /// One script: the status check, the count and the write are atomic, so
    /// instances racing for one job or one session's limit cannot both pass.
    async fn admit_job(
        &self,
        queued: &JobRecord,
        max_active: u64,
        lease: Duration,
    ) -> Result<Admission, StoreError> {
        let (code, active, status): (i64, u64, String) = self
            .scripts
            .admit_job
            .key(jobs_key(&queued.session))
            .key(leases_key(&queued.session))
            .key(session_key(&queued.session))
            .arg(job_field(&queued.job_id))
            .arg(encode_job(queued))
            .arg(max_active)
            .arg(millis(lease))
            .arg(millis(self.max_session_life))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(match code {
            1 => Admission::Admitted,
            0 => Admission::Full(active),
            3 => Admission::NotUploaded(
                JobStatus::parse(&status).ok_or_else(|| corrupt("job status"))?,
            ),
            _ => Admission::Gone,
        })
    }

    /// One round trip: the sizes kept with each job write, summed here (every upload
    /// checks the quota; decoding every job of the session each time made an upload's
    /// cost grow with the session's jobs). Jobs written before sizes were kept (the
    /// counts differ) are summed from the jobs themselves. Instances of an older
    /// version keep no sizes: while one still writes to the same Redis (a rolling
    /// upgrade), outputs it records are not counted until the job is written again.
    async fn session_storage(&self, session: &SessionKey) -> Result<u64, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HLEN")
            .arg(jobs_key(session))
            .cmd("HVALS")
            .arg(sizes_key(session));
        let (jobs, sizes): (usize, Vec<u64>) = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if sizes.len() == jobs {
            return Ok(sizes.iter().sum());
        }
        Ok(self
            .jobs_of(session)
            .await?
            .iter()
            .map(JobRecord::stored_bytes)
            .sum())
    }

    async fn delete_job(&self, session: &SessionKey, job_id: &Uuid) -> Result<bool, StoreError> {
        // Its download grants die with it: redeeming one finds no job.
        let mut pipe = redis::pipe();
        pipe.cmd("HDEL")
            .arg(jobs_key(session))
            .arg(job_field(job_id))
            .cmd("HDEL")
            .arg(sizes_key(session))
            .arg(job_field(job_id))
            .ignore()
            .cmd("HDEL")
            .arg(leases_key(session))
            .arg(job_field(job_id))
            .ignore();
        let (deleted,): (i64,) = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        Ok(deleted == 1)
    }

    async fn delete_session_jobs(&self, session: &SessionKey) -> Result<u64, StoreError> {
        self.purge(session, false).await.map(|(_, jobs)| jobs)
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
    /// them stopped. Each is re-checked and written in one script, so a job whose
    /// lease was renewed meanwhile is left alone.
    async fn fail_unfinished_jobs(&self, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut failed = 0;
        for session in self.sessions_with_jobs().await? {
            let candidates: Vec<String> = self
                .scripts
                .abandoned_jobs
                .key(jobs_key(&session))
                .key(leases_key(&session))
                .invoke_async(&mut self.connection())
                .await
                .map_err(unavailable)?;
            for value in candidates {
                let mut job = decode_job(&value)?;
                job.fail(reason, now);
                let written: i64 = self
                    .scripts
                    .fail_if_abandoned
                    .key(jobs_key(&session))
                    .key(leases_key(&session))
                    .arg(job_field(&job.job_id))
                    .arg(encode_job(&job))
                    .invoke_async(&mut self.connection())
                    .await
                    .map_err(unavailable)?;
                failed += u64::from(written == 1);
            }
        }
        Ok(failed)
    }

    async fn renew_job_leases(
        &self,
        jobs: &[(SessionKey, Uuid)],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut by_session: std::collections::HashMap<SessionKey, Vec<String>> =
            std::collections::HashMap::new();
        for (session, job_id) in jobs {
            by_session
                .entry(*session)
                .or_default()
                .push(job_field(job_id));
        }
        for (session, ids) in by_session {
            let _: i64 = self
                .scripts
                .renew_leases
                .key(leases_key(&session))
                .key(jobs_key(&session))
                .arg(millis(ttl))
                .arg(millis(self.max_session_life))
                .arg(ids)
                .invoke_async(&mut self.connection())
                .await
                .map_err(unavailable)?;
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
    ) -> Result<bool, StoreError> {
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
        // The session's index of grants decides, atomically, which older grants of
        // the job retire; the new one always stays. It refuses if the session is gone:
        // then the grant key written above goes too.
        let (added, retired): (i64, Vec<String>) = self
            .scripts
            .add_grant
            .key(grants_key(&grant.session))
            .key(session_key(&grant.session))
            .arg(job_field(&grant.job_id))
            .arg(encode_hex(&token.0))
            .arg(grant.expires_at.as_millis())
            .arg(max_per_job.saturating_sub(1))
            .arg(Timestamp::now().as_millis())
            .arg(millis(self.max_session_life))
            .invoke_async(&mut self.connection())
            .await
            .map_err(unavailable)?;
        if added == 0 {
            self.query::<i64>(redis::cmd("DEL").arg(grant_key(token)))
                .await?;
            return Ok(false);
        }
        for old in retired {
            self.query::<i64>(redis::cmd("DEL").arg(format!("tc:grant:{old}")))
                .await?;
        }
        Ok(true)
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
    async fn jobs_stored_before_sizes_were_kept_still_count_against_the_quota() {
        use super::super::JobStore as _;
        let server = redis_server::RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        let storage = super::RedisStorage::new(raw.clone(), Duration::from_secs(3600));
        use super::super::SessionStore as _;
        let now = crate::time::Timestamp::now();
        let owner = super::super::contract::record(now, Duration::from_secs(60));
        storage.insert_session(&owner).await.unwrap();
        let session = owner.key;
        // One job as an older version wrote it: in the jobs hash only.
        let mut old = super::super::contract::job(session, now);
        old.output_size = Some(234);
        let _: i64 = redis::cmd("HSET")
            .arg(super::jobs_key(&session))
            .arg(super::job_field(&old.job_id))
            .arg(super::encode_job(&old))
            .query_async(&mut raw)
            .await
            .unwrap();
        storage
            .insert_job(&super::super::contract::job(session, now), u64::MAX)
            .await
            .unwrap();
        assert_eq!(storage.session_storage(&session).await.unwrap(), 2234);
        // The quota check inside the insert script counts the old job too.
        assert_eq!(
            storage
                .insert_job(&super::super::contract::job(session, now), 3000)
                .await
                .unwrap(),
            super::super::Reservation::OverQuota { used: 2234 }
        );
    }

    /// Every key in the database with its `PTTL` (-1: no expiry).
    async fn keys_with_ttl(raw: &mut redis::aio::MultiplexedConnection) -> Vec<(String, i64)> {
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(raw).await.unwrap();
        let mut out = Vec::new();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(raw).await.unwrap();
            out.push((key, ttl));
        }
        out
    }

    #[tokio::test]
    async fn every_key_has_an_expiry_and_a_closed_session_keeps_none_after_racing_writes() {
        use super::super::contract::{job, record};
        use super::super::{
            DownloadGrant, DownloadStore as _, JobStore as _, RateAction, RateLimitStore as _,
            SessionStore as _, TokenHash,
        };
        let server = redis_server::RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let mut raw = client.get_multiplexed_async_connection().await.unwrap();
        let storage = super::RedisStorage::new(raw.clone(), Duration::from_secs(3600));
        let now = crate::time::Timestamp::now();
        let (kept, closed) = (
            record(now, Duration::from_secs(60)),
            record(now, Duration::from_secs(60)),
        );
        let mut running = Vec::new();
        for session in [&kept, &closed] {
            storage.insert_session(session).await.unwrap();
            let mut job = job(session.key, now);
            storage.insert_job(&job, u64::MAX).await.unwrap();
            job.status = trustyconvert_protocol::JobStatus::Queued;
            storage
                .admit_job(&job, 4, Duration::from_secs(30))
                .await
                .unwrap();
            let grant = DownloadGrant {
                session: session.key,
                job_id: job.job_id,
                expires_at: now.plus(Duration::from_secs(600)),
            };
            let token = TokenHash(crate::crypto::random_bytes::<32>());
            assert!(storage.insert_grant(&token, &grant, 16).await.unwrap());
            running.push((session.key, job.job_id));
        }
        storage
            .check_rate(
                RateAction::Upload,
                "192.0.2.1".parse().unwrap(),
                std::num::NonZeroU32::new(5).unwrap(),
            )
            .await
            .unwrap();
        // The close races the lease keeper and a late upload of the closed session.
        assert!(storage.delete_session(&closed.key).await.unwrap());
        storage
            .renew_job_leases(&running, Duration::from_secs(30))
            .await
            .unwrap();
        storage
            .insert_job(&job(closed.key, now), u64::MAX)
            .await
            .unwrap();
        storage.sweep_expired(now).await.unwrap();

        let keys = keys_with_ttl(&mut raw).await;
        assert!(
            keys.len() >= 7,
            "the live session's keys are there: {keys:?}"
        );
        let without_expiry: Vec<_> = keys.iter().filter(|(_, ttl)| *ttl == -1).collect();
        assert!(
            without_expiry.is_empty(),
            "keys without expiry: {without_expiry:?}"
        );
        let tag = crate::keys::encode_hex(&closed.key.0);
        let leftovers: Vec<_> = keys.iter().filter(|(key, _)| key.contains(&tag)).collect();
        assert!(
            leftovers.is_empty(),
            "keys of the closed session: {leftovers:?}"
        );
        // Its grant key too (grant keys name no session; only the live one's remains).
        let grants = keys
            .iter()
            .filter(|(key, _)| key.starts_with("tc:grant:"))
            .count();
        assert_eq!(grants, 1);
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(super::JOB_SESSIONS)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(members, vec![crate::keys::encode_hex(&kept.key.0)]);
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
