//! The converter's Lua scripts: every change that touches several keys, or checks and
//! then writes, runs as one script, atomically. Every script declares every key it
//! touches, all of one session's tag, and every script that writes a session's keys
//! first checks that the session record `tc:{S}:session` exists. A new job's or an
//! output's bytes are checked against the quota and written in one script.

use redis::Script;

use super::codec::encode_job;
use super::keys::{job_field, jobs_key, session_key, sizes_key};
use crate::storage::{active_status_names, JobRecord};

/// The Lua scripts, loaded once per process (`EVALSHA`, falling back to `EVAL`).
pub(super) struct Scripts {
    pub(super) purge_session: Script,
    pub(super) insert_job: Script,
    pub(super) update_job: Script,
    pub(super) reserve_output: Script,
    pub(super) admit_job: Script,
    pub(super) abandoned_jobs: Script,
    pub(super) fail_if_abandoned: Script,
    pub(super) renew_leases: Script,
    pub(super) add_grant: Script,
}

/// Whether a job's JSON has an active status (the set built from
/// [`active_status_names`]), and whether its lease ran out (Lua).
fn lua_active() -> String {
    let active: Vec<String> = active_status_names()
        .map(|name| format!("['{name}'] = true"))
        .collect();
    format!(
        r"
local ACTIVE = {{{}}}
local function active(v)
  return ACTIVE[cjson.decode(v).status] == true
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
",
        active.join(", ")
    )
}

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

pub(super) fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| {
        let lua_active = lua_active();
        Scripts {
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
                r"{lua_active}
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
                r"{lua_active}
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
                r"{lua_active}
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
                r"{lua_active}
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
        }
    })
}

/// `script` prepared for one job: KEYS session, jobs, sizes and ARGV id, JSON, bytes,
/// which every script that writes a job takes first.
pub(super) fn job_script<'a>(script: &'a Script, job: &JobRecord) -> redis::ScriptInvocation<'a> {
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
