//! WAL checkpoints off the write path, and a log that starts over under steady writes.
//!
//! SQLite's default moves the write-ahead log back into the database file whenever a
//! commit finds it over 1 000 pages, and the connection that committed does the work,
//! fsyncs included, before its callers hear back: every few thousand sessions, one
//! batch of writes waited several milliseconds on a checkpoint. Here the writer's
//! connection never checkpoints (`wal_autocheckpoint = 0`) and a thread of its own
//! runs a `PASSIVE` checkpoint on its own connection now and then, which neither
//! blocks the writer nor waits for readers. Durability is unchanged: a commit is
//! durable in the log; the checkpoint only moves it.
//!
//! The log starts over from its first page only when a write begins while every page
//! of it has been moved. A checkpoint on another thread never gets there while writes
//! keep coming (each adds pages while it copies), so under writes that never pause the
//! log grew without bound: 3 GB after 12 s of new sessions at full speed. (Any
//! pause in the writes lets it start over.) So once the log is over
//! [`Limits::wind_back_at`] pages, the checkpointer runs again at once until a run
//! finds few pages to move, then moves the rest while it holds the writer back
//! ([`CommitGate`]); the writer's next commit starts the log over, reusing the file.
//!
//! The limit is a safety net, set high (4 GiB of log, about twenty seconds of new
//! sessions at full speed on the benchmark machine): each wind-back stalled the writes
//! for tens of milliseconds there, far more than its own I/O takes, and at a 64 MiB
//! limit that put new sessions' p99 at 16 ms instead of 5 (docs/BENCHMARKS.md). Hand-written: this is SQLite's own rule for restarting the
//! log, driven from the two threads that own it.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use super::schema;

/// How often the log is moved into the database file. At the embedded store's write
/// rate the log holds a few megabytes by then.
const INTERVAL: Duration = Duration::from_millis(100);

/// When the checkpointer winds the log back.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// A log of at least this many pages is wound back to its start.
    wind_back_at: i64,
    /// The most pages a checkpoint run may have found to move for the next run to be
    /// made with the writer held back (about as many as were added meanwhile).
    last_pages: i64,
}

/// 4 GiB and 1 MiB of SQLite's 4 KiB pages.
const LIMITS: Limits = Limits {
    wind_back_at: 1 << 20,
    last_pages: 256,
};
/// Checkpoints one round runs back to back to catch up with a busy writer.
const CATCH_UP_RUNS: usize = 8;

/// Keeps the checkpoint thread running; dropping it (with the last store handle) ends
/// the thread, which closes its connection.
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

/// The writer holds this while it commits; the checkpointer takes it to move the log's
/// last pages while no write can add to them, so that the writer's next commit starts
/// the log over. Clones share the gate.
#[derive(Debug, Clone, Default)]
pub(super) struct CommitGate(Arc<Mutex<()>>);

impl CommitGate {
    /// Held while one batch of writes commits.
    pub(super) fn enter(&self) -> MutexGuard<'_, ()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sets up the writer's `connection`: it never checkpoints on its own.
pub(super) fn leave_to_checkpointer(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "wal_autocheckpoint", 0)
}

/// Starts the checkpoint thread on its own connection to the database at `path`; it
/// holds the writer back at `gate` for the last pages of a wind-back.
pub(super) fn start(path: &Path, gate: CommitGate) -> std::io::Result<Checkpointer> {
    let connection = schema::connect(path).map_err(std::io::Error::other)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                // A reader in the way: the next round catches up.
                if let Err(error) = round(&connection, &gate, LIMITS) {
                    tracing::debug!(%error, "WAL checkpoint skipped");
                }
            }
        })?;
    Ok(Checkpointer { _stop: stop })
}

/// One round of the checkpoint thread: moves the log into the database file; if the
/// log is long (see [`Limits`]), runs again until a run finds few pages to move, then
/// moves the rest with the writer held back.
fn round(connection: &Connection, gate: &CommitGate, limits: Limits) -> rusqlite::Result<()> {
    let mut moved_before = None;
    for _ in 0..=CATCH_UP_RUNS {
        let (log, moved) = checkpoint(connection)?;
        if log < limits.wind_back_at {
            return Ok(());
        }
        if moved_before.is_some_and(|before: i64| log - before <= limits.last_pages) {
            let _writes_wait = gate.enter();
            return checkpoint(connection).map(drop);
        }
        moved_before = Some(moved);
    }
    Ok(())
}

/// A `PASSIVE` checkpoint: the pages in the log, and how many of them are now in the
/// database file.
fn checkpoint(connection: &Connection) -> rusqlite::Result<(i64, i64)> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |meta| meta.len())
    }

    #[test]
    fn the_writer_leaves_the_log_alone_and_the_checkpointer_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let log = dir.path().join("store.sqlite3-wal");
        let writer = schema::connect(&path).unwrap();
        leave_to_checkpointer(&writer).unwrap();
        writer
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        // 12 MB of rows, far over the 1 000 pages (4 MB) at which SQLite would move
        // the log into the database file on its own.
        for k in 0..3_000 {
            writer
                .execute("INSERT INTO t VALUES (?1, zeroblob(4000))", [k])
                .unwrap();
        }
        const ROWS_BYTES: u64 = 12_000_000;
        assert!(size(&log) > ROWS_BYTES, "the rows are in the log");
        assert!(
            size(&path) < ROWS_BYTES / 10,
            "the writer did not checkpoint"
        );

        let _checkpointer = start(&path, CommitGate::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while size(&path) < ROWS_BYTES {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint within a minute"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 3_000);
    }

    /// The log's checkpoint sequence number (its header's bytes 12..16), which SQLite
    /// moves on every start-over of the log.
    fn log_generation(log: &Path) -> u32 {
        let header = std::fs::read(log).unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    }

    /// Writes that never pause leave no moment in which every page of the log has been
    /// moved, so on its own the log never starts over; a wind-back holds the writer
    /// back for the last pages, and the writer's next commit starts the log over.
    #[test]
    fn under_writes_that_never_pause_a_wind_back_starts_the_log_over() {
        use super::super::writer::Writer;
        use std::sync::atomic::{AtomicBool, Ordering};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let log = dir.path().join("store.sqlite3-wal");
        let connection = schema::connect(&path).unwrap();
        leave_to_checkpointer(&connection).unwrap();
        connection
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        let gate = CommitGate::default();
        let writer = Writer::start(connection, gate.clone()).unwrap();
        let insert = |connection: &Connection| {
            connection.execute("INSERT INTO t (v) VALUES (zeroblob(3000))", [])
        };

        // Four writers, each queueing its next write as soon as the last is answered.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (writer, stop) = (writer.clone(), Arc::clone(&stop));
                runtime.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        writer.write(insert, |_| ()).await.unwrap();
                    }
                })
            })
            .collect();

        let checkpointer = schema::connect(&path).unwrap();
        while checkpoint(&checkpointer).unwrap().0 < 64 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let before = log_generation(&log);
        let limits = Limits {
            wind_back_at: 64,
            last_pages: i64::MAX,
        };
        round(&checkpointer, &gate, limits).unwrap();
        // A write queued now commits after the wind-back.
        runtime.block_on(writer.write(insert, |_| ())).unwrap();
        assert_ne!(
            log_generation(&log),
            before,
            "the log did not start over after the wind-back"
        );

        stop.store(true, Ordering::Relaxed);
        for task in writers {
            runtime.block_on(task).unwrap();
        }
    }
}
