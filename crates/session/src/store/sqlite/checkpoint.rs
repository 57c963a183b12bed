//! WAL checkpoints off the write path, and a log that starts over under writes that
//! never pause.
//!
//! SQLite's default moves the write-ahead log back into the database file whenever a
//! commit finds it over 1 000 pages, and the connection that committed does the work,
//! fsyncs included, before its callers hear back: every few thousand sessions, one
//! batch of writes waited several milliseconds on a checkpoint. Here the writer's
//! connection never checkpoints (`wal_autocheckpoint = 0`) and a thread of its own
//! runs a `PASSIVE` checkpoint on its own connection now and then, which neither
//! blocks the writer (but for the moment a wind-back takes, below) nor waits for
//! readers. Durability is unchanged: a commit is durable in the log; the checkpoint
//! only moves it.
//!
//! The log starts over from its first page only once every page of it has been moved
//! and no reader is in it. A checkpoint on another thread never finds it all moved
//! while writes keep coming (each adds pages while it copies), so under writes that
//! never pause the log grew without bound: 3 GB after 12 s of new sessions at full
//! speed. (Any pause in the writes lets it start over.) So once the log has
//! [`Limits::wind_back_at`] pages or more, the checkpointer runs again at once (up to
//! [`CATCH_UP_RUNS`] times) until a run finds few pages to move, then holds the writer
//! back between two commits ([`CommitGate`]) and runs a `RESTART` checkpoint, which
//! moves the last pages and makes sure no reader is left in the log; the writer's next
//! commit then starts the log over, reusing the file. A reader in the log at that
//! moment makes it give up at once (the checkpoint connection never waits on a lock);
//! the checkpointer tries again [`RETRY_ROUNDS`] rounds later.
//!
//! The limit is a safety net, set high (4 GiB of log, about twenty seconds of new
//! sessions at full speed on the benchmark machine): each wind-back stalled the writes
//! for tens of milliseconds there, far more than its own I/O takes, and at a 64 MiB
//! limit that put new sessions' p99 at 16 ms instead of 5 (docs/BENCHMARKS.md).
//!
//! Hand-written: this is SQLite's own rule for starting the log over, driven from the
//! thread that writes and the thread that checkpoints.

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
    /// The most pages a checkpoint run may have found to move for the next one to be
    /// the wind-back itself, with the writer held back (about as many were added
    /// meanwhile).
    last_pages: i64,
}

/// 4 GiB and 1 MiB of SQLite's 4 KiB pages.
const LIMITS: Limits = Limits {
    wind_back_at: 1 << 20,
    last_pages: 256,
};
/// `PASSIVE` checkpoints a round may run after its first to catch up with a busy writer.
const CATCH_UP_RUNS: usize = 8;
/// Rounds (of [`INTERVAL`]) to wait after a reader made a wind-back give up.
const RETRY_ROUNDS: u32 = 10;

/// Keeps the checkpoint thread running; dropping it (with the last store handle) ends
/// the thread, which closes its connection.
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

/// The writer holds this while it commits; the checkpointer takes it to wind the log
/// back while no write is under way. Clones share the gate.
#[derive(Debug, Clone, Default)]
pub(super) struct CommitGate(Arc<Mutex<()>>);

impl CommitGate {
    /// Waits for the gate: the writer holds it for one commit, the checkpointer for
    /// the end of a wind-back.
    pub(super) fn enter(&self) -> MutexGuard<'_, ()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sets up the writer's `connection`: it never checkpoints on its own.
pub(super) fn leave_to_checkpointer(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "wal_autocheckpoint", 0)
}

/// Starts the checkpoint thread on its own connection to the database at `path`; it
/// holds the writer back at `gate` to wind the log back.
pub(super) fn start(path: &Path, gate: CommitGate) -> std::io::Result<Checkpointer> {
    let connection = checkpoint_connection(path).map_err(std::io::Error::other)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || {
            let mut rounds_to_wait: u32 = 0;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                let limits = (rounds_to_wait == 0).then_some(LIMITS);
                rounds_to_wait = rounds_to_wait.saturating_sub(1);
                match round(&connection, &gate, limits) {
                    Ok(Round::WindBackRefused) => {
                        tracing::debug!("a reader was in the WAL; its wind-back waits");
                        rounds_to_wait = RETRY_ROUNDS;
                    }
                    Ok(Round::Moved | Round::WoundBack) => {}
                    // An I/O error: the next round tries again.
                    Err(error) => tracing::debug!(%error, "WAL checkpoint failed"),
                }
            }
        })?;
    Ok(Checkpointer { _stop: stop })
}

/// The checkpoint thread's connection. It never waits on a lock (`PASSIVE` never
/// does; a wind-back must not hold the writer back while it waits for a reader).
fn checkpoint_connection(path: &Path) -> rusqlite::Result<Connection> {
    let connection = schema::connect(path)?;
    connection.busy_timeout(Duration::ZERO)?;
    Ok(connection)
}

/// What one round of the checkpoint thread did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Moved what it could of the log into the database file.
    Moved,
    /// Moved the whole log, with no reader left in it: the next commit starts it over.
    WoundBack,
    /// Caught up, but a reader in the log made the wind-back give up.
    WindBackRefused,
}

/// One round of the checkpoint thread: moves the log into the database file. With
/// `limits`, a long log is then wound back: more runs until one finds few pages to
/// move, then a `RESTART` checkpoint with the writer held back.
fn round(
    connection: &Connection,
    gate: &CommitGate,
    limits: Option<Limits>,
) -> rusqlite::Result<Round> {
    let mut moved_before = None;
    for _ in 0..=CATCH_UP_RUNS {
        let log = checkpoint(connection, Mode::Passive)?;
        let Some(limits) = limits.filter(|limits| log.pages >= limits.wind_back_at) else {
            return Ok(Round::Moved);
        };
        if moved_before.is_some_and(|before| log.pages - before <= limits.last_pages) {
            let _writes_wait = gate.enter();
            let restart = checkpoint(connection, Mode::Restart)?;
            return Ok(if restart.blocked {
                Round::WindBackRefused
            } else {
                Round::WoundBack
            });
        }
        moved_before = Some(log.moved);
    }
    Ok(Round::Moved)
}

/// Which checkpoint to run.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Moves what no reader still needs; never blocks anyone.
    Passive,
    /// Moves the whole log and makes sure no reader is left in it, so that the next
    /// commit starts it over; unless a writer or a reader is in the way (then
    /// `blocked`).
    Restart,
}

/// The log as a checkpoint left it.
#[derive(Debug, Clone, Copy)]
struct LogState {
    /// A `RESTART` could not finish (another checkpoint, a writer or a reader).
    blocked: bool,
    /// Pages in the log (-1 if another checkpoint was running).
    pages: i64,
    /// Pages of it now in the database file.
    moved: i64,
}

fn checkpoint(connection: &Connection, mode: Mode) -> rusqlite::Result<LogState> {
    let sql = match mode {
        Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
        Mode::Restart => "PRAGMA wal_checkpoint(RESTART)",
    };
    connection.query_row(sql, [], |row| {
        Ok(LogState {
            blocked: row.get::<_, i64>(0)? != 0,
            pages: row.get(1)?,
            moved: row.get(2)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::writer::Writer;
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A connection set up as the writer's, on a new database with a table `t`.
    fn writer_connection(path: &Path) -> Connection {
        let connection = schema::connect(path).unwrap();
        leave_to_checkpointer(&connection).unwrap();
        connection
            .execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        connection
    }

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |meta| meta.len())
    }

    #[test]
    fn the_writer_leaves_the_log_alone_and_the_checkpointer_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let log = dir.path().join("store.sqlite3-wal");
        let writer = writer_connection(&path);
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
        use std::io::Read as _;
        let mut header = [0; 16];
        std::fs::File::open(log)
            .unwrap()
            .read_exact(&mut header)
            .unwrap();
        u32::from_be_bytes([header[12], header[13], header[14], header[15]])
    }

    /// Winds back at once: every log is long enough, and every run found few pages.
    const ALWAYS: Limits = Limits {
        wind_back_at: 0,
        last_pages: i64::MAX,
    };

    fn insert(connection: &Connection) -> rusqlite::Result<usize> {
        connection.execute("INSERT INTO t (v) VALUES (zeroblob(3000))", [])
    }

    /// A database with a table `t`, its writer, and the checkpoint thread's connection.
    fn database(dir: &Path) -> (Writer, CommitGate, Connection) {
        let path = dir.join("store.sqlite3");
        let gate = CommitGate::default();
        let writer = Writer::start(writer_connection(&path), gate.clone()).unwrap();
        (writer, gate, checkpoint_connection(&path).unwrap())
    }

    /// Writes that never pause leave no moment in which every page of the log has been
    /// moved, so on its own the log never starts over; a wind-back holds the writer
    /// back between two commits and starts it over.
    #[test]
    fn under_writes_that_never_pause_a_wind_back_starts_the_log_over() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, gate, checkpointer) = database(dir.path());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(writer.write(insert, |_| ())).unwrap();
        let before = log_generation(&dir.path().join("store.sqlite3-wal"));

        // Sixteen writers, each queueing its next write as soon as the last is answered;
        // the wind-back comes once they are under way.
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let (writer, stop) = (writer.clone(), Arc::clone(&stop));
                let written = Arc::clone(&written);
                runtime.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        writer.write(insert, |_| ()).await.unwrap();
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while written.load(Ordering::Relaxed) < 100 {
            assert!(std::time::Instant::now() < deadline, "the writers stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
        let outcome = round(&checkpointer, &gate, Some(ALWAYS)).unwrap();
        // A write queued now commits after the wind-back, from the log's first page.
        runtime.block_on(writer.write(insert, |_| ())).unwrap();
        stop.store(true, Ordering::Relaxed);
        for task in writers {
            runtime.block_on(task).unwrap();
        }

        assert_eq!(outcome, Round::WoundBack);
        assert_ne!(
            log_generation(&dir.path().join("store.sqlite3-wal")),
            before,
            "the log did not start over after the wind-back"
        );
    }

    /// A reader in the log makes a wind-back give up without waiting for it (the
    /// writer is held back meanwhile); once the reader is done, it succeeds.
    #[test]
    fn a_wind_back_gives_up_at_once_while_a_reader_is_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, gate, checkpointer) = database(dir.path());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(writer.write(insert, |_| ())).unwrap();
        let busy_timeout: i64 = checkpointer
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .unwrap();
        assert_eq!(busy_timeout, 0, "a wind-back could wait for a lock");

        let reader = schema::connect(&dir.path().join("store.sqlite3")).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let rows: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        runtime.block_on(writer.write(insert, |_| ())).unwrap();
        assert_eq!(
            round(&checkpointer, &gate, Some(ALWAYS)).unwrap(),
            Round::WindBackRefused
        );

        reader.execute_batch("COMMIT").unwrap();
        assert_eq!(
            round(&checkpointer, &gate, Some(ALWAYS)).unwrap(),
            Round::WoundBack
        );
        runtime.block_on(writer.write(insert, |_| ())).unwrap();
        let rows: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 3, "a write was lost");
    }
}
