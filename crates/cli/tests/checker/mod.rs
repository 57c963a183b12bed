//! The concurrency checker: concurrent clients with seeded random timing against real
//! servers, every request recorded, invariants judged over the history afterwards.
//! See `docs/RELIABILITY.md`.
//!
//! - [`history`]: the record of every request on one monotonic clock;
//! - [`wire`]: sending one request and recording it;
//! - [`images`]: the PNGs uploaded;
//! - [`workload`]: the browsers, their tabs, the operations and the provoked races;
//! - [`invariants`]: the rules over the history;
//! - [`residue`]: what the disk, SQLite and Redis hold (samplers, and after the run);
//! - [`races`]: which races happened;
//! - [`report`]: the summary.

pub mod history;
pub mod images;
pub mod invariants;
pub mod races;
pub mod report;
pub mod residue;
pub mod wire;
pub mod workload;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use history::{Clock, History};
use invariants::{public_ids, Violation};
pub use residue::Backend;
use residue::Residue;
use wire::Wire;
use workload::Shared;

/// The session quota every instance runs with (`--max-session-storage 100KiB`).
pub const QUOTA: u64 = 100 * 1024;
/// Browsers, and tabs per browser.
const SLOTS: usize = 4;
const TABS: usize = 3;
/// The instances' sweep interval (`--sweep-interval`).
const SWEEP: Duration = Duration::from_secs(1);
/// How long to wait after the load for the conversions asked for to finish: longer than
/// one conversion may take (`--conversion-timeout`) plus the queue.
const SETTLE_JOBS: Duration = Duration::from_secs(20);
/// How long to wait, after every session is closed, for the sweeps to leave nothing:
/// five sweep intervals (polled, so a clean store ends the wait at once).
const SETTLE: Duration = Duration::from_secs(5);

/// Length and seed of a run, from `TRUSTY_CHECKER_SECS` (default 10 per store) and
/// `TRUSTY_CHECKER_SEED` (default: drawn, and printed so a run can be replayed).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub duration: Duration,
    pub seed: u64,
}

impl Settings {
    pub fn from_env() -> Self {
        let secs = std::env::var("TRUSTY_CHECKER_SECS")
            .ok()
            .map(|v| {
                v.parse::<u64>()
                    .expect("TRUSTY_CHECKER_SECS is whole seconds")
            })
            .unwrap_or(10);
        let seed = std::env::var("TRUSTY_CHECKER_SEED")
            .ok()
            .map(|v| v.parse::<u64>().expect("TRUSTY_CHECKER_SEED is a number"))
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        Self {
            duration: Duration::from_secs(secs),
            seed,
        }
    }

    /// The CSRF grace the instances run with: far longer than the run, so a stale
    /// token is explained only by rotations, never by the clock.
    pub fn csrf_grace(&self) -> Duration {
        self.duration * 2 + Duration::from_secs(3600)
    }

    /// The `serve` flags of every instance (besides `--store` and `--data-dir`).
    pub fn serve_flags(&self) -> Vec<String> {
        let grace = format!("{}s", self.csrf_grace().as_secs());
        [
            "--insecure-cookies",
            "--max-session-storage",
            "100KiB",
            "--sweep-interval",
            "1s",
            "--csrf-grace",
            &grace,
            "--rate-limit-init",
            "0",
            "--rate-limit-upload",
            "0",
            "--rate-limit-convert",
            "0",
            "--rate-limit-download",
            "0",
            "--libreoffice",
            "off",
            "--conversion-timeout",
            "10s",
            // One worker: conversions queue, so closes land on queued and running jobs.
            "--workers",
            "1",
        ]
        .iter()
        .map(|flag| (*flag).to_owned())
        .collect()
    }
}

/// With `TRUSTY_CHECKER_HISTORY=PATH`, writes every record, one per line, to
/// `PATH.<store>.txt`.
fn dump(store: &str, records: &[history::Record]) {
    let Ok(path) = std::env::var("TRUSTY_CHECKER_HISTORY") else {
        return;
    };
    let slug: String = store.chars().filter(char::is_ascii_alphanumeric).collect();
    let text: String = records.iter().map(|r| format!("{r:?}\n")).collect();
    let file = format!("{path}.{slug}.txt");
    std::fs::write(&file, text).unwrap();
    println!("[{store}] history written to {file}");
}

/// What a run found.
pub struct Outcome {
    pub store: String,
    pub violations: Vec<Violation>,
    /// Answers that mean the harness or the server broke rather than an invariant:
    /// 5xx, or no answer (outside trickled uploads, which a server may cut off).
    pub unexpected: Vec<String>,
}

impl Outcome {
    pub fn assert_clean(&self) {
        assert!(
            self.violations.is_empty() && self.unexpected.is_empty(),
            "{}: {} invariant violation(s), {} unexpected answer(s) (5xx or none); see the report above",
            self.store,
            self.violations.len(),
            self.unexpected.len()
        );
    }
}

/// Runs the clients against `bases` (instances sharing `data_dir` and `backend`),
/// then closes every session, waits for the sweeps and judges the history.
pub async fn check(
    store: &str,
    bases: Vec<String>,
    data_dir: &Path,
    backend: Backend,
    settings: Settings,
) -> Outcome {
    println!(
        "[{store}] concurrency checker: {} s, seed {} (TRUSTY_CHECKER_SEED={} to replay), {} instance(s), {SLOTS} browsers × {TABS} tabs",
        settings.duration.as_secs(),
        settings.seed,
        settings.seed,
        bases.len()
    );
    let started = Instant::now();
    let clock = Clock::start();
    let history = History::default();
    let wire = Wire::new(bases, clock, history.clone());

    let peaks: residue::Peaks = Arc::default();
    let disk = residue::watch_disk(data_dir.to_owned(), clock, Arc::clone(&peaks));
    let immortal: residue::Immortal = Arc::default();
    let redis = match &backend {
        Backend::Redis { url } => Some(residue::watch_redis(
            url.clone(),
            clock,
            Arc::clone(&immortal),
        )),
        Backend::Embedded { .. } => None,
    };

    let shared = Arc::new(Shared {
        wire,
        images: images::pngs(settings.seed),
        sessions: Mutex::default(),
        deadline: u64::try_from(settings.duration.as_micros()).unwrap_or(u64::MAX),
    });
    workload::run(Arc::clone(&shared), settings.seed, SLOTS, TABS).await;
    let load_ended = started.elapsed();
    // What the sessions keep on disk, once nothing is in flight any more.
    let settled_jobs = workload::settle_jobs(&shared, SETTLE_JOBS).await;
    let kept_at = clock.now();
    let kept = residue::folder_bytes(data_dir);

    // Every session of the run ends; then the sweeps get their time.
    workload::close_everything(&shared).await;
    let closed: BTreeSet<String> = shared.sessions.lock().unwrap().keys().cloned().collect();
    let settle_started = Instant::now();
    let residue = loop {
        let data_dir = data_dir.to_owned();
        let (backend, closed) = (backend.clone(), closed.clone());
        let residue =
            tokio::task::spawn_blocking(move || Residue::of(&data_dir, &backend, &closed))
                .await
                .unwrap();
        if residue.is_empty() || settle_started.elapsed() >= SETTLE {
            break residue;
        }
        tokio::time::sleep(SWEEP / 4).await;
    };
    let settled = settle_started.elapsed();
    disk.finish();
    if let Some(redis) = redis {
        redis.finish();
    }
    // A last look for keys without an expiry, now that everything is closed.
    if let Backend::Redis { url } = &backend {
        if let Some(keys) = residue::RedisView::connect(url).and_then(|mut v| v.without_expiry()) {
            let now = clock.now();
            let mut immortal = immortal.lock().unwrap();
            for key in keys {
                immortal.entry(key).or_insert(now);
            }
        }
    }

    let records = history.snapshot();
    dump(store, &records);
    let ids = public_ids(&records);
    let grace = u64::try_from(settings.csrf_grace().as_micros()).unwrap_or(u64::MAX);
    let mut violations = Vec::new();
    violations.extend(invariants::csrf_grace(&records, grace));
    violations.extend(invariants::success_after_close(&records));
    violations.extend(invariants::quota(&records, QUOTA));
    violations.extend(invariants::quota_on_disk(&kept, kept_at, QUOTA, &ids));
    violations.extend(residue.violations(&ids));
    violations.extend(invariants::immortal_keys(&immortal.lock().unwrap()));

    let unexpected: Vec<String> = records
        .iter()
        .filter(|r| match r.status {
            Some(status) => status >= 500,
            None => r.op != history::Op::SlowUpload,
        })
        .map(|r| r.describe())
        .collect();

    let largest_folder = peaks
        .lock()
        .unwrap()
        .values()
        .copied()
        .max_by_key(|(bytes, _)| *bytes);
    report::print(&report::Summary {
        store,
        records: &records,
        largest_folder,
        settled_jobs,
        sessions: closed.len(),
        violations: &violations,
        unexpected: &unexpected,
        unknown_residue: &residue.unknown,
        load: load_ended,
        settle: settled,
        total: started.elapsed(),
    });
    Outcome {
        store: store.to_owned(),
        violations,
        unexpected,
    }
}
