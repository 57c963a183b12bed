//! The embedded store's single writer, with group commit.
//!
//! Every write runs on one connection owned by one thread. Writes that arrive while
//! the previous commit is under way queue up, and the writer takes them together: one
//! `BEGIN IMMEDIATE`, each write in its own savepoint (a write that fails is rolled
//! back alone, its error goes to its caller), one `COMMIT`, then every caller gets
//! its answer. A caller hears "done" only after the commit that holds its write.
//!
//! Hand-written because it is what makes the embedded store fast under concurrent
//! writes: with a connection pool, concurrent writers meet on SQLite's write lock,
//! and a writer that finds it taken sleeps in SQLite's busy handler (a millisecond
//! and up); here nobody waits on the lock, and many writes share one commit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

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
    /// Starts the writer thread on `connection`.
    pub(super) fn start(connection: Connection) -> std::io::Result<Self> {
        let (queue, writes) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(&connection, &writes))?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next commit; answers once that commit is done. An error of
    /// `work` rolls back only its own changes.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            work: Some(work),
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
    /// Runs the write inside the open transaction, in its own savepoint. Returns
    /// `false` if the savepoint could not be closed (the transaction is then unusable).
    fn run(&mut self, connection: &Connection) -> bool;
    /// Answers the caller: `committed` is the outcome of the batch's commit, `Err`
    /// with the reason if the batch did not commit (or never began).
    fn finish(self: Box<Self>, committed: Result<(), &str>);
}

struct Pending<T, F> {
    work: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    fn run(&mut self, connection: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return true;
        };
        if let Err(error) = connection.execute_batch("SAVEPOINT write") {
            self.outcome = Some(Err(map_error(error)));
            return false;
        }
        let outcome = match catch_unwind(AssertUnwindSafe(|| work(connection))) {
            Ok(result) => result.map_err(map_error),
            Err(_panic) => Err(StoreError::Unavailable("a store write panicked".to_owned())),
        };
        let closed = match &outcome {
            Ok(_) => connection.execute_batch("RELEASE write"),
            Err(_) => connection.execute_batch("ROLLBACK TO write; RELEASE write"),
        };
        self.outcome = Some(outcome);
        closed.is_ok()
    }

    fn finish(self: Box<Self>, committed: Result<(), &str>) {
        let answer = match (self.outcome, committed) {
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(reason)) => Err(StoreError::Unavailable(reason.to_owned())),
            (None, Ok(())) => Err(StoreError::Unavailable(
                "a store write was not run".to_owned(),
            )),
        };
        // The caller may have gone away (its request was dropped); nothing to tell.
        let _ = self.reply.send(answer);
    }
}

/// The writer thread: takes what is queued, commits it together, answers, repeats.
fn run(connection: &Connection, writes: &mpsc::Receiver<Box<dyn Write>>) {
    while let Ok(first) = writes.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let committed = commit_batch(connection, &mut batch);
        let committed = committed.as_ref().map_err(String::as_str).copied();
        for write in batch {
            write.finish(committed);
        }
    }
}

/// Runs `batch` in one transaction and commits it; the reason it did not commit
/// otherwise (then nothing of it is kept).
fn commit_batch(connection: &Connection, batch: &mut [Box<dyn Write>]) -> Result<(), String> {
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|error| error.to_string())?;
    let mut usable = true;
    for write in batch.iter_mut() {
        usable &= write.run(connection);
        if !usable {
            break;
        }
    }
    let committed = if usable {
        connection
            .execute_batch("COMMIT")
            .map_err(|error| error.to_string())
    } else {
        Err("a savepoint could not be closed".to_owned())
    };
    if committed.is_err() {
        // Leaves no transaction open for the next batch (an error here means none is).
        let _ = connection.execute_batch("ROLLBACK");
    }
    committed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer_on(path: &std::path::Path) -> Writer {
        let connection = Connection::open(path).unwrap();
        connection
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY);")
            .unwrap();
        Writer::start(connection).unwrap()
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
                        .write(move |connection| {
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
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite3");
        let writer = writer_on(&path);
        let panicked = writer
            .write(|connection| -> rusqlite::Result<()> {
                connection.execute("INSERT INTO t (k) VALUES (1)", [])?;
                panic!("bug in a write")
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Unavailable(_))));
        writer
            .write(|connection| connection.execute("INSERT INTO t (k) VALUES (2)", []))
            .await
            .unwrap();
        assert_eq!(count(&path), 1);
    }
}
