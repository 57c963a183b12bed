//! The embedded store's single writer, with group commit.
//!
//! Every write runs on one connection owned by one thread. Writes that arrive while
//! the previous commit is under way queue up, and the writer takes them together: one
//! `BEGIN IMMEDIATE`, each write in its own savepoint (a write that fails is rolled
//! back alone, its error goes to its caller; a write alone in its commit needs no
//! savepoint), one `COMMIT`, then every caller gets its answer. A caller hears "done"
//! only after the commit that holds its write. A write's `settle` step runs on the
//! writer right after that commit, so it runs even if the caller stopped waiting.
//! Each commit holds the checkpointer's [`CommitGate`], which the checkpointer takes
//! (rarely) to let the log start over (see `checkpoint`).
//!
//! Hand-written because it is what makes the embedded store fast under concurrent
//! writes: with a connection pool, concurrent writers meet on SQLite's write lock,
//! and a writer that finds it taken sleeps in SQLite's busy handler (a millisecond
//! and up); here nobody waits on the lock, and many writes share one commit.
//!
//! Writes are never committed on the caller's own (tokio) thread, even when the
//! writer is idle. Measured (docs/BENCHMARKS.md), that made a lone CSRF rotation
//! 1.3-1.4x faster, but its p99 5.5 ms instead of 1 ms (a busy worker thread holding
//! the connection gets preempted; the writer thread, mostly asleep, is scheduled at
//! once when woken) and new sessions 17 % slower (fewer writes per commit). Keeping the
//! thread busy-waiting for the next write instead of sleeping gained only 1.1x.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::CommitGate;
use super::map_error;
use crate::store::StoreError;

/// Most writes committed together; the rest wait for the next commit.
const MAX_BATCH: usize = 256;

/// Sends writes to the writer thread. The thread ends when every handle is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Write>>,
}

impl Writer {
    /// Starts the writer thread on `connection`; it commits through `gate`.
    pub(super) fn start(connection: Connection, gate: CommitGate) -> std::io::Result<Self> {
        let (queue, writes) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(&connection, &writes, &gate))?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next commit, then `settle` with the outcome (on the writer,
    /// whether or not the caller still waits); answers once that commit is done. An
    /// error of `work` rolls back only its own changes.
    pub(super) async fn write<T, F, S>(&self, work: F, settle: S) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        S: FnOnce(&Result<T, StoreError>) + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            work: Some(work),
            settle: Some(settle),
            outcome: None,
            reply,
        };
        self.queue.send(Box::new(pending)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer has stopped".to_owned())
}

/// One queued write, type-erased so writes of any result type share the queue.
trait Write: Send {
    /// Runs the write inside the open transaction: in its own savepoint when it shares
    /// the transaction with other writes, directly when it is `alone` in it (a failure
    /// then rolls back the whole transaction, which holds nothing else; two statements
    /// fewer for the common case of a write arriving at an idle writer). Returns
    /// whether the transaction may be committed: `false` if a savepoint could not be
    /// closed, or if a lone write failed.
    fn run(&mut self, connection: &Connection, alone: bool) -> bool;
    /// Settles and answers the caller: `committed` is the outcome of the batch's
    /// commit, `Err` with the reason if the batch did not commit (or never began).
    fn finish(self: Box<Self>, committed: Result<(), &str>);
}

struct Pending<T, F, S> {
    work: Option<F>,
    settle: Option<S>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F, S> Write for Pending<T, F, S>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    S: FnOnce(&Result<T, StoreError>) + Send + 'static,
{
    fn run(&mut self, connection: &Connection, alone: bool) -> bool {
        let Some(work) = self.work.take() else {
            return true;
        };
        if !alone {
            if let Err(error) = statement(connection, "SAVEPOINT write") {
                self.outcome = Some(Err(map_error(error)));
                return false;
            }
        }
        let outcome = match catch_unwind(AssertUnwindSafe(|| work(connection))) {
            Ok(result) => result.map_err(map_error),
            Err(_panic) => Err(StoreError::Unavailable("a store write panicked".to_owned())),
        };
        let committable = match (&outcome, alone) {
            (Ok(_), true) => true,
            (Err(_), true) => false,
            (Ok(_), false) => statement(connection, "RELEASE write").is_ok(),
            (Err(_), false) => {
                statement(connection, "ROLLBACK TO write").is_ok()
                    && statement(connection, "RELEASE write").is_ok()
            }
        };
        self.outcome = Some(outcome);
        committable
    }

    fn finish(mut self: Box<Self>, committed: Result<(), &str>) {
        let answer = match (self.outcome.take(), committed) {
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(reason)) => Err(StoreError::Unavailable(reason.to_owned())),
            (None, Ok(())) => Err(StoreError::Unavailable(
                "a store write was not run".to_owned(),
            )),
        };
        if let Some(settle) = self.settle.take() {
            // A settle step that panics must not take the writer down with it.
            let _ = catch_unwind(AssertUnwindSafe(|| settle(&answer)));
        }
        // The caller may have gone away (its request was dropped); nothing to tell.
        let _ = self.reply.send(answer);
    }
}

/// The writer thread: takes what is queued, commits it together (through `gate`),
/// answers, repeats.
fn run(connection: &Connection, writes: &mpsc::Receiver<Box<dyn Write>>, gate: &CommitGate) {
    while let Ok(first) = writes.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let committed = {
            let _committing = gate.enter();
            commit_batch(connection, &mut batch)
        };
        let committed = committed.as_ref().map_err(String::as_str).copied();
        for write in batch {
            write.finish(committed);
        }
    }
}

/// Runs `batch` in one transaction and commits it; the reason it did not commit
/// otherwise (then nothing of it is kept).
fn commit_batch(connection: &Connection, batch: &mut [Box<dyn Write>]) -> Result<(), String> {
    statement(connection, "BEGIN IMMEDIATE").map_err(|error| error.to_string())?;
    let alone = batch.len() == 1;
    let mut usable = true;
    for write in batch.iter_mut() {
        usable &= write.run(connection, alone);
        if !usable {
            break;
        }
    }
    let committed = if usable {
        statement(connection, "COMMIT").map_err(|error| error.to_string())
    } else {
        // A lone write's own error is what its caller hears; this reason is only
        // heard when a savepoint could not be closed.
        Err("the write's transaction could not be completed".to_owned())
    };
    if committed.is_err() {
        // Leaves no transaction open for the next batch (an error here means none is).
        let _ = statement(connection, "ROLLBACK");
    }
    committed
}

/// Runs one transaction-control statement, prepared once per connection (the writer
/// runs three or five of them per commit; parsing each anew was measurable).
fn statement(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer_on(path: &std::path::Path) -> Writer {
        let connection = Connection::open(path).unwrap();
        connection
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY);")
            .unwrap();
        Writer::start(connection, CommitGate::default()).unwrap()
    }

    impl Writer {
        /// A write with nothing to settle.
        async fn write_now<T, F>(&self, work: F) -> Result<T, StoreError>
        where
            T: Send + 'static,
            F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        {
            self.write(work, |_| ()).await
        }
    }

    fn count(path: &std::path::Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_all_land_and_a_failing_one_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3");
        let writer = writer_on(&path);
        let tasks: Vec<_> = (0..500i64)
            .map(|k| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write_now(move |connection| {
                            connection.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
                            if k % 100 == 7 {
                                // A second row, then a failure: neither may stay.
                                connection.execute("INSERT INTO t (k) VALUES (?1)", [k + 1000])?;
                                connection.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
                            }
                            Ok(k)
                        })
                        .await
                })
            })
            .collect();
        let mut failed = 0;
        for (k, task) in tasks.into_iter().enumerate() {
            match task.await.unwrap() {
                Ok(value) => assert_eq!(value, k as i64),
                Err(StoreError::Duplicate) => failed += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(failed, 5);
        // Every answered write is in the file (a fresh connection reads it).
        assert_eq!(count(&path), 495);
    }

    #[tokio::test]
    async fn a_write_is_settled_after_its_commit_even_if_its_caller_stops_waiting() {
        use futures::FutureExt as _;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3");
        let writer = writer_on(&path);
        let settled = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&settled);
        // The writer is kept busy, so the write below waits in the queue.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let busy = writer.write_now(move |_| Ok(held.recv().is_ok()));
        assert!(busy.now_or_never().is_none());
        let dropped = writer
            .write(
                |connection| connection.execute("INSERT INTO t (k) VALUES (1)", []),
                move |outcome| {
                    assert!(matches!(outcome, Ok(1)));
                    counter.fetch_add(1, Ordering::SeqCst);
                },
            )
            .now_or_never();
        assert!(dropped.is_none(), "answered before the writer committed");
        release.send(()).unwrap();
        // Writes are committed in order: once a later one is answered, the first is in.
        writer
            .write_now(|connection| connection.execute("INSERT INTO t (k) VALUES (2)", []))
            .await
            .unwrap();
        assert_eq!(settled.load(Ordering::SeqCst), 1);
        assert_eq!(count(&path), 2);
    }

    #[tokio::test]
    async fn a_failing_write_alone_in_its_commit_keeps_nothing_and_reports_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3");
        let writer = writer_on(&path);
        writer
            .write_now(|connection| connection.execute("INSERT INTO t (k) VALUES (1)", []))
            .await
            .unwrap();
        // Awaited one at a time, so each write is alone in its transaction.
        let failed = writer
            .write_now(|connection| {
                connection.execute("INSERT INTO t (k) VALUES (2)", [])?;
                connection.execute("INSERT INTO t (k) VALUES (1)", [])
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Duplicate)), "{failed:?}");
        writer
            .write_now(|connection| connection.execute("INSERT INTO t (k) VALUES (3)", []))
            .await
            .unwrap();
        let kept: Vec<i64> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT k FROM t ORDER BY k")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(kept, vec![1, 3]);
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3");
        let writer = writer_on(&path);
        let panicked = writer
            .write_now(|connection| -> rusqlite::Result<()> {
                connection.execute("INSERT INTO t (k) VALUES (1)", [])?;
                panic!("bug in a write")
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Unavailable(_))));
        writer
            .write_now(|connection| connection.execute("INSERT INTO t (k) VALUES (2)", []))
            .await
            .unwrap();
        assert_eq!(count(&path), 1);
    }
}
