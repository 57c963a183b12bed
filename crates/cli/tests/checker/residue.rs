//! What the stores hold, read from outside the servers: session folders on disk, the
//! embedded SQLite database (read-only), and every Redis key. Samplers watch disk and
//! Redis during the run; after it, [`Residue::of`] lists what is left of closed
//! sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::history::{short, Clock, Micros};
use super::invariants::{session_name, Rule, Violation};

/// Where a run's state lives besides the data directory.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The SQLite file of `--store embedded`.
    Embedded { database: PathBuf },
    /// A Redis shared by the instances.
    Redis { url: String },
}

/// Bytes of each session folder's `input` and `output` files, by folder name (the
/// session's store key in hex).
pub fn folder_bytes(data_dir: &Path) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    let Ok(folders) = std::fs::read_dir(data_dir.join("jobs")) else {
        return sizes;
    };
    for folder in folders.flatten() {
        let name = folder.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let mut bytes = 0;
        for job in std::fs::read_dir(folder.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for file in ["input", "output"] {
                if let Ok(meta) = std::fs::metadata(job.path().join(file)) {
                    bytes += meta.len();
                }
            }
        }
        sizes.insert(name, bytes);
    }
    sizes
}

/// A background thread calling `sample` every `period` until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn every(period: Duration, mut sample: impl FnMut() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                sample();
                std::thread::sleep(period);
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops it after a last sample.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("a sampler panicked");
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The largest size each session folder was seen with, and when.
pub type Peaks = Arc<Mutex<BTreeMap<String, (u64, Micros)>>>;

/// Samples the session folders every 250 ms into `peaks`.
pub fn watch_disk(data_dir: PathBuf, clock: Clock, peaks: Peaks) -> Sampler {
    Sampler::every(Duration::from_millis(250), move || {
        let now = clock.now();
        let mut peaks = peaks.lock().unwrap();
        for (folder, bytes) in folder_bytes(&data_dir) {
            let entry = peaks.entry(folder).or_insert((0, now));
            if bytes > entry.0 {
                *entry = (bytes, now);
            }
        }
    })
}

/// Keys seen without an expiry: key → when first seen.
pub type Immortal = Arc<Mutex<BTreeMap<String, Micros>>>;

/// Scans every Redis key once a second and notes those without an expiry.
pub fn watch_redis(url: String, clock: Clock, immortal: Immortal) -> Sampler {
    let mut redis = None;
    Sampler::every(Duration::from_secs(1), move || {
        if redis.is_none() {
            redis = RedisView::connect(&url);
        }
        let Some(view) = redis.as_mut() else { return };
        match view.without_expiry() {
            Some(keys) => {
                let now = clock.now();
                let mut immortal = immortal.lock().unwrap();
                for key in keys {
                    immortal.entry(key).or_insert(now);
                }
            }
            None => redis = None,
        }
    })
}

/// One synchronous connection for reading what Redis holds.
pub struct RedisView {
    connection: redis::Connection,
}

impl RedisView {
    pub fn connect(url: &str) -> Option<Self> {
        let client = redis::Client::open(url).ok()?;
        let connection = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .ok()?;
        Some(Self { connection })
    }

    /// Every key (`SCAN`; keys created during the scan may be missed).
    pub fn keys(&mut self) -> Option<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut self.connection)
                .ok()?;
            keys.extend(batch);
            if next == 0 {
                return Some(keys);
            }
            cursor = next;
        }
    }

    /// The keys whose `PTTL` is -1 (no expiry); -2 (gone meanwhile) is skipped.
    pub fn without_expiry(&mut self) -> Option<Vec<String>> {
        let keys = self.keys()?;
        let mut immortal = Vec::new();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query(&mut self.connection)
                .ok()?;
            if ttl == -1 {
                immortal.push(key);
            }
        }
        Some(immortal)
    }

    fn get(&mut self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(key)
            .query(&mut self.connection)
            .ok()
            .flatten()
    }

    fn members(&mut self, key: &str) -> Vec<String> {
        redis::cmd("SMEMBERS")
            .arg(key)
            .query(&mut self.connection)
            .unwrap_or_default()
    }
}

/// What is left of closed sessions: each entry names the session and the thing.
#[derive(Debug, Default)]
pub struct Residue {
    pub items: Vec<(String, String)>,
    /// Things belonging to sessions the run never saw (not judged, but shown).
    pub unknown: Vec<String>,
}

impl Residue {
    /// Looks at the data directory and the backend once.
    pub fn of(data_dir: &Path, backend: &Backend, closed: &BTreeSet<String>) -> Self {
        let mut residue = Residue::default();
        let mut note = |key: &str, what: String| {
            if closed.contains(key) {
                residue.items.push((key.to_owned(), what));
            } else {
                residue.unknown.push(what);
            }
        };
        for (folder, bytes) in folder_bytes(data_dir) {
            note(
                &folder,
                format!("folder jobs/{}… ({bytes} bytes of files)", short(&folder)),
            );
        }
        match backend {
            Backend::Embedded { database } => {
                for (table, key, rows) in sqlite_rows(database) {
                    note(&key, format!("{rows} row(s) in SQLite table {table}"));
                }
            }
            Backend::Redis { url } => {
                let Some(mut view) = RedisView::connect(url) else {
                    residue.unknown.push("Redis did not answer".into());
                    return residue;
                };
                for key in view.keys().unwrap_or_default() {
                    if let Some(session) = tagged_session(&key) {
                        note(session, format!("Redis key {key}"));
                    } else if key.starts_with("tc:grant:") {
                        let owner = view
                            .get(&key)
                            .and_then(|value| {
                                serde_json::from_str::<serde_json::Value>(&value).ok()
                            })
                            .and_then(|grant| grant["session"].as_str().map(str::to_owned));
                        if let Some(owner) = owner {
                            note(&owner, format!("Redis key {key} (a download grant)"));
                        }
                    } else if key == "tc:job-sessions" {
                        for member in view.members(&key) {
                            note(
                                &member,
                                format!("member {}… of Redis set {key}", short(&member)),
                            );
                        }
                    }
                }
            }
        }
        residue
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// **Rule `residue-after-sweep`**: once every session of the run is closed and the
    /// sweeps had their time (polled for up to five sweep intervals), nothing belongs to
    /// any of them: no folder `DATA/jobs/<key>`; with the embedded store no row of
    /// `sessions`, `jobs` or `download_grants` under its key; with Redis no key
    /// `tc:{<key>}:*`, no `tc:grant:*` whose value names it, no member `<key>` of
    /// `tc:job-sessions`.
    pub fn violations(&self, ids: &HashMap<String, String>) -> Vec<Violation> {
        self.items
            .iter()
            .map(|(key, what)| {
                Violation::new(
                    Rule::Residue,
                    format!("closed session {}: {what}", session_name(ids, key)),
                )
            })
            .collect()
    }
}

/// `S` of a key `tc:{S}:…`.
fn tagged_session(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("tc:{")?;
    let (session, _) = rest.split_once("}:")?;
    Some(session)
}

/// (table, session key in hex, rows) of every session, job and download grant in the
/// embedded database, read through a read-only connection.
fn sqlite_rows(database: &Path) -> Vec<(&'static str, String, u64)> {
    let Ok(connection) =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let _ = connection.busy_timeout(Duration::from_secs(2));
    let mut rows = Vec::new();
    for (table, column) in [
        ("sessions", "key"),
        ("jobs", "session_key"),
        ("download_grants", "session_key"),
    ] {
        let sql = format!("SELECT lower(hex({column})), count(*) FROM {table} GROUP BY {column}");
        let Ok(mut statement) = connection.prepare(&sql) else {
            continue;
        };
        let found = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map(|mapped| mapped.flatten().collect::<Vec<_>>())
            .unwrap_or_default();
        for (key, count) in found {
            rows.push((table, key, count.unsigned_abs()));
        }
    }
    rows
}
