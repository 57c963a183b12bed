//! Scale figures of the memory store: resident memory per live session at 100 000 and
//! 1 000 000 sessions, the longest single insert while the table grows (a table that
//! rehashes everything at once shows it here), and the time one sweep takes over
//! 1 000 000 sessions (a tenth of them expired). Run by `./scripts/bench.sh` after the
//! HTTP table; prints markdown.

use std::time::{Duration, Instant};

use trustyconvert_server::storage::{CsrfState, MemoryStorage, SessionRecord, SessionStore};
use trustyconvert_session::crypto::{generate_csrf_nonce, generate_public_id, SessionSecret};
use trustyconvert_session::Timestamp;

/// The same allocator as the server binary, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resident memory once the allocator has handed back what it holds freed: after a
/// resize the hash table's previous array is freed, and mimalloc returns such memory
/// to the system a little later on its own; forcing it now measures the sessions, not
/// that moment.
fn resident_bytes() -> u64 {
    // SAFETY: `mi_collect` only frees memory that no allocation uses any more.
    unsafe { libmimalloc_sys::mi_collect(true) };
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

fn record(now: Timestamp, idle: Duration) -> SessionRecord {
    SessionRecord {
        key: SessionSecret::generate().store_key(),
        public_id: generate_public_id(),
        created_at: now,
        idle_expires_at: now.plus(idle),
        absolute_expires_at: now.plus(Duration::from_secs(86_400)),
        csrf: CsrfState {
            current: generate_csrf_nonce(),
            previous: None,
        },
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let store = MemoryStorage::default();
    let now = Timestamp::now();
    let start = resident_bytes();
    let mut inserted = 0u64;
    let mut longest_insert = Duration::ZERO;
    let mut inserts_over_1_ms = 0u64;
    println!("| live sessions (memory store) | resident memory | per session |");
    println!("|---:|---:|---:|");
    for target in [100_000u64, 1_000_000] {
        while inserted < target {
            // A tenth expire within the second, for the sweep below.
            let idle = if inserted.is_multiple_of(10) {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(3600)
            };
            let session = record(now, idle);
            let started = Instant::now();
            store.insert_session(&session).await.unwrap();
            let took = started.elapsed();
            longest_insert = longest_insert.max(took);
            inserts_over_1_ms += u64::from(took > Duration::from_millis(1));
            inserted += 1;
        }
        let grown = resident_bytes().saturating_sub(start);
        println!(
            "| {target} | {:.1} MiB | {} bytes |",
            grown as f64 / (1024.0 * 1024.0),
            grown / target
        );
    }
    println!();
    println!(
        "The longest of {inserted} inserts took {:.2} ms (the table growing under it); \
         {inserts_over_1_ms} took over 1 ms.",
        longest_insert.as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let swept = store.sweep_expired(Timestamp::now()).await.unwrap();
    println!();
    println!(
        "One sweep over {inserted} sessions removed {} expired ones in {:.0} ms.",
        swept.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}
