//! The side-by-side benchmark (`./scripts/bench.sh` builds everything in release mode
//! and runs this): every server on loopback — TrustyConvert with its memory, embedded
//! and Redis stores, bare axum (the ceiling), axum + tower-sessions with its memory and
//! Redis stores — each driven by wrk through the same operations, the servers taking
//! turns within each round, then one markdown table with requests/s, p50, p99, p99.9
//! (a tail over 5 ms flagged), non-2xx and the ratios.
//!
//! Environment: `BENCH_SECS` (per run, default 4), `BENCH_ROUNDS` (default 5; figures
//! are medians over rounds, ratios medians of same-round ratios),
//! `BENCH_CONNECTIONS` (default 32), `BENCH_CHAINS` (rotation chains, default 4),
//! `BENCH_SERVERS` (a comma-separated subset of bare, tower-memory, tower-redis, memory,
//! embedded, redis, earlier-memory, earlier-embedded, earlier-redis; default all),
//! `BENCH_EARLIER` (the `trustyconvert` binary of an earlier build: then it runs too,
//! on every store, compared with this build in the same rounds —
//! how a change moved the figures).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use trustyconvert_bench::process::{env_or, free_port, start, Running};

/// One measured run.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    non_2xx: u64,
}

/// The tail latency a cell may have; any p99 or p99.9 above it is flagged in the table.
const TAIL_LIMIT_MS: f64 = 5.0;

/// Appended to every wrk script: wrk's own report stops at the 99th percentile.
const TAIL_LUA: &str = r#"
done = function(summary, latency, requests)
  io.write(string.format("99.9%%  %.3fms\n", latency:percentile(99.9) / 1000))
end
"#;

/// Sessions the upload run spreads its requests over.
const UPLOAD_SESSIONS: usize = 400;

/// The operations, in table order.
const OPERATIONS: [Operation; 4] = [
    Operation::NewSession,
    Operation::Validate,
    Operation::Rotate,
    Operation::Upload,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    NewSession,
    Validate,
    Rotate,
    Upload,
}

impl Operation {
    fn label(self, chains: usize) -> String {
        match self {
            Self::NewSession => "`GET /api/session/init` (new session)".to_owned(),
            Self::Validate => "`GET /api/session` (validate)".to_owned(),
            Self::Rotate => {
                format!("`POST /api/session/csrf` (validate + rotate, {chains} chains)")
            }
            Self::Upload => "`POST /api/upload` (small file)".to_owned(),
        }
    }

    fn script(self) -> &'static str {
        match self {
            Self::NewSession => NEW_SESSION_LUA,
            Self::Validate => VALIDATE_LUA,
            Self::Rotate => ROTATE_LUA,
            Self::Upload => UPLOAD_LUA,
        }
    }
}

/// Gives each thread its share of the sessions in the file `BENCH_SESSIONS` (line i
/// goes to thread i mod threads); `session`/`csrf` are the thread's current one and
/// `next_session()` moves to its next.
const SESSIONS_LUA: &str = r#"
local counter = 0
function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  thread:set("threads", counter)
end
local mine = {}
local at = 1
function init(args)
  local i = 0
  for line in io.lines(os.getenv("BENCH_SESSIONS")) do
    if i % tonumber(os.getenv("BENCH_THREADS")) == index then
      local s, c = line:match("(%S+) (%S+)")
      table.insert(mine, { s, c })
    end
    i = i + 1
  end
  session, csrf = mine[1][1], mine[1][2]
  math.randomseed(os.time() * 1000 + index)
end
function next_session()
  at = at % #mine + 1
  session, csrf = mine[at][1], mine[at][2]
end
function cookie()
  return "trustyconvert_session=" .. session .. "; csrftoken=" .. csrf
end
"#;

const NEW_SESSION_LUA: &str = r#"
wrk.method = "GET"
wrk.path = "/api/session/init"
"#;

const VALIDATE_LUA: &str = r#"
function request()
  return wrk.format("GET", "/api/session", { ["Cookie"] = cookie() })
end
"#;

/// Each thread is one chain: every request carries the token of the previous answer.
const ROTATE_LUA: &str = r#"
function request()
  return wrk.format("POST", "/api/session/csrf",
    { ["Cookie"] = cookie(), ["X-CSRF-Token"] = csrf, ["Content-Length"] = "0" }, "")
end
function response(status, headers, body)
  local token = body:match('"csrf_token":"([^"]+)"')
  if token then csrf = token end
end
"#;

const UPLOAD_LUA: &str = r#"
local boundary = "benchboundary7MA4YWxkTrZu0gW"
local function uuid4()
  local b = {}
  for i = 1, 16 do b[i] = math.random(0, 255) end
  b[7] = (b[7] % 16) + 64
  b[9] = (b[9] % 64) + 128
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
    b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15], b[16])
end
function request()
  next_session()
  local body = "--" .. boundary .. "\r\n" ..
    'Content-Disposition: form-data; name="job_id"\r\n\r\n' .. uuid4() .. "\r\n" ..
    "--" .. boundary .. "\r\n" ..
    'Content-Disposition: form-data; name="file"; filename="note.txt"\r\n' ..
    "Content-Type: text/plain\r\n\r\n" .. "A small file for the benchmark.\n" .. "\r\n" ..
    "--" .. boundary .. "--\r\n"
  return wrk.format("POST", "/api/upload", {
    ["Cookie"] = cookie(), ["X-CSRF-Token"] = csrf,
    ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }, body)
end
"#;

/// A server under test.
struct Server {
    /// Its name in `BENCH_SERVERS`.
    key: &'static str,
    name: &'static str,
    /// Which comparison its ratios use: the ceiling and the tower-sessions server.
    compare_with: Option<&'static str>,
    command: Command,
}

/// A fresh session: its cookie value and CSRF token.
fn new_session(base: &str) -> (String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(format!("{base}/api/session/init"))
            .await
            .expect("init answers");
        let session = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .find_map(|value| {
                let first = value.to_str().ok()?.split(';').next()?;
                first
                    .strip_prefix("trustyconvert_session=")
                    .map(str::to_owned)
            })
            // The ceiling sets no cookie; its requests carry a dummy one.
            .unwrap_or_else(|| "none".to_owned());
        let body: Value = response.json().await.expect("a JSON body");
        let csrf = body["data"]["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_owned();
        (session, csrf)
    })
}

/// Parses wrk's `--latency` report.
fn parse_wrk(report: &str) -> Figures {
    let mut figures = Figures::default();
    let millis = |text: &str| -> f64 {
        let text = text.trim();
        let (number, factor) = if let Some(n) = text.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = text.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = text.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (text, 1.0)
        };
        number.parse::<f64>().unwrap_or(f64::NAN) * factor
    };
    for line in report.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            figures.requests_per_sec = rest.trim().parse().unwrap_or(0.0);
        } else if let Some(rest) = line.strip_prefix("50%") {
            figures.p50_ms = millis(rest);
        } else if let Some(rest) = line.strip_prefix("99.9%") {
            figures.p999_ms = millis(rest);
        } else if let Some(rest) = line.strip_prefix("99%") {
            figures.p99_ms = millis(rest);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            figures.non_2xx = rest.trim().parse().unwrap_or(0);
        }
    }
    figures
}

struct Settings {
    seconds: u64,
    rounds: usize,
    connections: usize,
    chains: usize,
    scripts: PathBuf,
}

/// Fresh sessions, one line each (`cookie-value csrf-token`), for one wrk run: a
/// rotation run leaves its sessions' first tokens behind. Uploads spread over
/// many sessions, so each holds a realistic number of jobs.
fn write_sessions(settings: &Settings, base: &str, operation: Operation) -> PathBuf {
    let count = match operation {
        Operation::Upload => UPLOAD_SESSIONS,
        _ => settings.chains.max(2),
    };
    let lines: Vec<String> = (0..count)
        .map(|_| {
            let (session, csrf) = new_session(base);
            format!("{session} {csrf}")
        })
        .collect();
    let path = settings.scripts.join("sessions.txt");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// One wrk run of `operation` against the server at `base`, on fresh sessions.
fn run_wrk(settings: &Settings, base: &str, operation: Operation) -> Figures {
    let script = settings.scripts.join(format!("{operation:?}.lua"));
    std::fs::write(
        &script,
        format!("{SESSIONS_LUA}\n{}\n{TAIL_LUA}", operation.script()),
    )
    .unwrap();
    let (threads, connections) = match operation {
        Operation::Rotate => (settings.chains, settings.chains),
        _ => (2, settings.connections),
    };
    let sessions = write_sessions(settings, base, operation);
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{}s", settings.seconds), "--latency", "-s"])
        .arg(&script)
        .arg(base)
        .env("BENCH_SESSIONS", &sessions)
        .env("BENCH_THREADS", threads.to_string())
        .output()
        .expect("wrk runs (scripts/bench.sh installs it)");
    parse_wrk(&String::from_utf8_lossy(&output.stdout))
}

fn main() {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release");
    let ours = target.join("trustyconvert");
    let baseline = target.join("baseline");
    let work = std::env::temp_dir().join(format!("trustyconvert-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let settings = Settings {
        seconds: env_or("BENCH_SECS", 4),
        rounds: env_or("BENCH_ROUNDS", 5),
        connections: env_or("BENCH_CONNECTIONS", 32),
        chains: env_or("BENCH_CHAINS", 4),
        scripts: work.clone(),
    };

    let redis_port = free_port();
    // A `Running` too, so it is stopped (by PID) however this run ends.
    let _redis = Running {
        child: Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/bench.sh installs it)"),
        base: String::new(),
    };
    std::thread::sleep(Duration::from_millis(500));
    let redis_url = format!("redis://127.0.0.1:{redis_port}");

    let serve = |binary: &Path, store: &str, data: &str| {
        let mut command = Command::new(binary);
        command
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--store",
                store,
                "--data-dir",
                data,
            ])
            .args(["--rate-limit-init", "0", "--rate-limit-upload", "0"])
            .args(["--rate-limit-convert", "0", "--rate-limit-download", "0"])
            .args(["--max-session-storage", "100GiB"])
            // wrk's connections all come from one address.
            .args(["--max-connections-per-address", "1024"]);
        command
    };
    let baseline_with = |mode: &str| {
        let mut command = Command::new(&baseline);
        command
            .args([mode, "127.0.0.1:0", &redis_url])
            .env("BENCH_UPLOAD_DIR", work.join(format!("{mode}-uploads")));
        command
    };
    let dir = |name: &str| work.join(name).display().to_string();
    let mut servers = vec![
        Server {
            key: "bare",
            name: "axum (bare, ceiling)",
            compare_with: None,
            command: baseline_with("bare"),
        },
        Server {
            key: "tower-memory",
            name: "axum + tower-sessions (memory)",
            compare_with: None,
            command: baseline_with("tower-memory"),
        },
        Server {
            key: "tower-redis",
            name: "axum + tower-sessions (Redis)",
            compare_with: None,
            command: baseline_with("tower-redis"),
        },
        Server {
            key: "memory",
            name: "TrustyConvert (memory)",
            compare_with: Some("axum + tower-sessions (memory)"),
            command: serve(&ours, "memory", &dir("memory")),
        },
        Server {
            key: "embedded",
            name: "TrustyConvert (embedded)",
            compare_with: Some("axum + tower-sessions (memory)"),
            command: serve(&ours, "embedded", &dir("embedded")),
        },
        Server {
            key: "redis",
            name: "TrustyConvert (Redis)",
            compare_with: Some("axum + tower-sessions (Redis)"),
            command: serve(&ours, &redis_url, &dir("redis")),
        },
    ];
    let earlier = std::env::var_os("BENCH_EARLIER").map(PathBuf::from);
    if let Some(earlier) = &earlier {
        servers.push(Server {
            key: "earlier-memory",
            name: "TrustyConvert, earlier build (memory)",
            compare_with: Some("TrustyConvert (memory)"),
            command: serve(earlier, "memory", &dir("earlier-memory")),
        });
        servers.push(Server {
            key: "earlier-embedded",
            name: "TrustyConvert, earlier build (embedded)",
            compare_with: Some("TrustyConvert (embedded)"),
            command: serve(earlier, "embedded", &dir("earlier-embedded")),
        });
        servers.push(Server {
            key: "earlier-redis",
            name: "TrustyConvert, earlier build (Redis)",
            compare_with: Some("TrustyConvert (Redis)"),
            command: serve(earlier, &redis_url, &dir("earlier-redis")),
        });
    }

    let only = std::env::var("BENCH_SERVERS").unwrap_or_default();
    let chosen = |key: &str| only.is_empty() || only.split(',').any(|k| k.trim() == key);
    // Every server runs for the whole benchmark, and each round of an operation drives
    // them one after the other: a machine that gets slower or faster over the minutes
    // of a run (other tenants, CPU frequency) shifts the servers of one round alike.
    let running: Vec<(&'static str, Option<&'static str>, Running)> = servers
        .into_iter()
        .filter(|server| chosen(server.key))
        .map(|server| (server.name, server.compare_with, start(server.command)))
        .collect();
    // rounds[server][operation][round]
    let mut rounds = vec![vec![Vec::new(); OPERATIONS.len()]; running.len()];
    for (index, operation) in OPERATIONS.iter().enumerate() {
        for round in 1..=settings.rounds {
            for ((name, _, server), measured) in running.iter().zip(&mut rounds) {
                let figures = run_wrk(&settings, &server.base, *operation);
                eprintln!("   {operation:?} round {round}, {name}: {figures:?}");
                measured[index].push(figures);
            }
        }
    }
    let results: Vec<Measured> = running
        .iter()
        .zip(rounds)
        .map(|((name, compare_with, _), rounds)| Measured {
            name,
            compare_with: *compare_with,
            rounds,
        })
        .collect();
    drop(running);
    println!("{}", table(&results, settings.chains));
    let _ = std::fs::remove_dir_all(&work);
}

/// One server's figures: `rounds[operation][round]`.
struct Measured {
    name: &'static str,
    /// The tower-sessions server its ratios compare with (`None` for a comparison server).
    compare_with: Option<&'static str>,
    rounds: Vec<Vec<Figures>>,
}

/// The median of `values` by `key` (the upper one of an even count); `None` for none.
fn median_by<T: Copy>(values: &[T], key: impl Fn(&T) -> f64) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted.get(sorted.len() / 2).copied()
}

/// The median over rounds of `ours / theirs` in the same round: each ratio compares two
/// servers measured seconds apart, and the median drops a round one of them lost to
/// the machine. "—" without a comparison.
fn paired_ratio(ours: &[Figures], theirs: &[Figures]) -> String {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(theirs)
        .filter(|(_, theirs)| theirs.requests_per_sec > 0.0)
        .map(|(ours, theirs)| ours.requests_per_sec / theirs.requests_per_sec)
        .collect();
    median_by(&ratios, |ratio| *ratio).map_or_else(|| "—".to_owned(), |ratio| format!("{ratio:.2}"))
}

/// The markdown table: one row per operation and server, showing the round with the
/// median requests/s among the server's rounds, and the paired ratios.
fn table(results: &[Measured], chains: usize) -> String {
    let find = |name: &str| results.iter().find(|measured| measured.name == name);
    let ceiling = find("axum (bare, ceiling)");
    let mut out = String::from(
        "| operation | server | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | vs ceiling | vs tower-sessions |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (index, operation) in OPERATIONS.iter().enumerate() {
        for measured in results {
            let rounds = &measured.rounds[index];
            let figures = median_by(rounds, |f| f.requests_per_sec).unwrap_or_default();
            // Every round counts: a non-2xx answer in any of them is reported.
            let non_2xx: u64 = rounds.iter().map(|f| f.non_2xx).sum();
            let ratio = |other: Option<&Measured>| {
                other.map_or_else(
                    || "—".to_owned(),
                    |o| paired_ratio(rounds, &o.rounds[index]),
                )
            };
            let (vs_ceiling, vs_tower) = match measured.compare_with {
                Some(tower) => (ratio(ceiling), ratio(find(tower))),
                None => ("—".to_owned(), "—".to_owned()),
            };
            out.push_str(&format!(
                "| {} | {} | {:.0} | {:.2} | {} | {} | {non_2xx} | {vs_ceiling} | {vs_tower} |\n",
                operation.label(chains),
                measured.name,
                figures.requests_per_sec,
                figures.p50_ms,
                tail_cell(figures.p99_ms),
                tail_cell(figures.p999_ms),
            ));
        }
    }
    out
}

/// A tail latency, flagged (**bold** with ⚠) when over [`TAIL_LIMIT_MS`].
fn tail_cell(millis: f64) -> String {
    if millis > TAIL_LIMIT_MS {
        format!("**{millis:.2}** ⚠")
    } else {
        format!("{millis:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::{paired_ratio, parse_wrk, tail_cell, Figures};

    fn at(requests_per_sec: f64) -> Figures {
        Figures {
            requests_per_sec,
            ..Figures::default()
        }
    }

    #[test]
    fn ratios_pair_rounds_and_take_the_median() {
        // Round 2 caught the machine slow for "ours" only: the median ignores it.
        let ours = [at(100.0), at(40.0), at(90.0)];
        let theirs = [at(50.0), at(80.0), at(60.0)];
        assert_eq!(paired_ratio(&ours, &theirs), "1.50");
        assert_eq!(paired_ratio(&ours, &[]), "—");
    }

    #[test]
    fn wrk_reports_are_read() {
        let report = "Running 5s test @ http://127.0.0.1:1\n  Latency Distribution\n     50%  412.00us\n     75%  1.10ms\n     90%    2.31ms\n     99%   10.52ms\n  1000 requests in 5.00s\n  Non-2xx or 3xx responses: 7\nRequests/sec:  20000.51\n99.9%  25.125ms\n";
        let figures = parse_wrk(report);
        assert_eq!(figures.requests_per_sec, 20000.51);
        assert!((figures.p50_ms - 0.412).abs() < 1e-9);
        assert_eq!(figures.p99_ms, 10.52);
        assert_eq!(figures.non_2xx, 7);
        assert_eq!(figures.p999_ms, 25.125);
    }

    #[test]
    fn a_tail_over_five_milliseconds_is_flagged() {
        assert_eq!(tail_cell(4.99), "4.99");
        assert_eq!(tail_cell(5.01), "**5.01** ⚠");
    }
}
