//! WAL checkpoints off the write path.
//!
//! SQLite's default moves the write-ahead log back into the database file whenever a
//! commit finds it over 1 000 pages, and the connection that committed does the work,
//! fsyncs included, before its callers hear back: every few thousand sessions, one
//! batch of writes waited several milliseconds on a checkpoint. Here the writer's
//! connection never checkpoints (`wal_autocheckpoint = 0`) and a thread of its own
//! runs a `PASSIVE` checkpoint on its own connection now and then, which neither
//! blocks the writer nor waits for readers. Durability is unchanged: a commit is
//! durable in the log; the checkpoint only moves it.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

use super::schema;

/// How often the log is moved into the database file. At the embedded store's write
/// rate the log holds a few megabytes by then.
const INTERVAL: Duration = Duration::from_millis(100);

/// Keeps the checkpoint thread running; dropping it (with the last store handle) ends
/// the thread, which closes its connection.
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

/// Turns off checkpoints on the writer's `connection`.
pub(super) fn leave_to_checkpointer(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "wal_autocheckpoint", 0)
}

/// Starts the checkpoint thread on its own connection to the database at `path`.
pub(super) fn start(path: &Path) -> std::io::Result<Checkpointer> {
    let connection = schema::connect(path).map_err(std::io::Error::other)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                // Busy (another checkpoint, a reader in the way): the next one catches up.
                if let Err(error) =
                    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::debug!(%error, "WAL checkpoint skipped");
                }
            }
        })?;
    Ok(Checkpointer { _stop: stop })
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

        let _checkpointer = start(&path).unwrap();
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
}
