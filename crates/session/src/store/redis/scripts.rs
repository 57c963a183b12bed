//! The Lua scripts of the session store: a CSRF rotation is a compare-and-swap (alone,
//! or together with resolving the session), and a rate check counts on Redis's own
//! clock; each runs atomically.

use redis::Script;

/// The Lua scripts, loaded once per process (`EVALSHA`, falling back to `EVAL`).
pub(super) struct Scripts {
    pub(super) swap_csrf: Script,
    pub(super) resolve_and_swap_csrf: Script,
    pub(super) rate: Script,
}

pub(super) fn scripts() -> &'static Scripts {
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
        // KEYS[1] session; ARGV[1] now (ms), ARGV[2] idle expiry (ms, now + idle),
        // ARGV[3] presented nonce, ARGV[4] new CSRF JSON. Resolves as GETEX does — the
        // key's expiry slides to the idle expiry, or to the absolute one if sooner —
        // and, if the session is live with the presented nonce current, swaps the CSRF
        // line. Returns {2, ''} gone, else {1 swapped or 0 not, the record as it was}.
        resolve_and_swap_csrf: Script::new(
            r"local v = redis.call('GET', KEYS[1])
              if not v then return {2, ''} end
              local cut = string.find(v, '\n', 1, true)
              if not cut then return redis.error_reply('corrupt session record') end
              local absolute = tonumber(cjson.decode(string.sub(v, cut + 1)).absolute_expires_at)
              local expires = ARGV[2]
              if absolute < tonumber(expires) then expires = string.format('%.0f', absolute) end
              local csrf = string.sub(v, 1, cut - 1)
              if tonumber(ARGV[1]) < tonumber(expires) and cjson.decode(csrf).current == ARGV[3] then
                redis.call('SET', KEYS[1], ARGV[4] .. string.sub(v, cut), 'PXAT', expires)
                return {1, v}
              end
              redis.call('PEXPIREAT', KEYS[1], expires)
              return {0, v}",
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
