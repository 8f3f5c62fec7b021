//! The single writer connection, with group commit.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every
//! COMMIT is an fsync — the cost that bounds durable writes per second. So
//! concurrent writers share a transaction: each caller runs its work inside
//! its own SAVEPOINT (a failure rolls back only that work), and the last
//! caller in line — the one that finds no other writer waiting — commits
//! for everyone. Every caller returns only after the COMMIT that made its
//! work durable, so a 201 still means "on disk". Under no concurrency this
//! is exactly one transaction per write.

use crate::{conn, tx};
use directory::{DirectoryError, Tx};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The most writes sharing one COMMIT; bounds how long the lock is held.
const MAX_BATCH: usize = 64;
/// How many failed batches' errors are kept for their waiters to read.
const FAILED_KEPT: usize = 1024;

pub(crate) struct Writer {
    state: Mutex<State>,
    /// Outcomes of recent batches (`Err` holds the COMMIT error's text),
    /// apart from the connection: a caller waiting for its batch's COMMIT
    /// does not contend with the next batch's writers for `state`.
    finished: Mutex<Outcomes>,
    committed: Condvar,
    /// Callers that want the lock but don't hold it yet.
    waiting: AtomicUsize,
}

struct State {
    conn: Connection,
    /// The batch whose transaction is open, and how many writes it holds.
    open: Option<(u64, usize)>,
    next_batch: u64,
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Writer {
        Writer {
            state: Mutex::new(State { conn, open: None, next_batch: 1 }),
            finished: Mutex::new(Outcomes { done_upto: 0, failed: VecDeque::new() }),
            committed: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The connection outside any write batch (for read-only helpers such as
    /// `EXPLAIN`). Commits an open batch first, so it is never left pending.
    pub(crate) fn with_idle_connection<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, DirectoryError>,
    ) -> Result<T, DirectoryError> {
        let mut st = self.lock();
        if st.open.is_some() {
            // Its waiters read the outcome; this caller only needs the connection.
            let _ = self.commit(&mut st);
        }
        f(&st.conn)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside someone's work poisons the lock; its batch is then
        // rolled back and reported failed, and the connection reused.
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                if let Some((batch, _)) = g.open.take() {
                    let _ = conn::control(&g.conn, "ROLLBACK");
                    self.record(batch, Err("an earlier write in this batch panicked".into()));
                }
                self.state.clear_poison();
                g
            }
        }
    }

    /// Runs `work` durably: `Ok` only once its changes are committed.
    pub(crate) fn write(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        self.waiting.fetch_sub(1, Ordering::SeqCst);

        let batch = match st.open {
            Some((batch, n)) => {
                st.open = Some((batch, n + 1));
                batch
            }
            None => {
                conn::retry_busy(|| conn::control(&st.conn, "BEGIN IMMEDIATE").map_err(conn::db_error))?;
                let batch = st.next_batch;
                st.next_batch += 1;
                st.open = Some((batch, 1));
                batch
            }
        };

        let result = match run_in_savepoint(&st.conn, work) {
            Ok(result) => result,
            Err(broken) => {
                // The savepoint machinery itself failed: the batch can't be
                // trusted any more, so all of it is rolled back.
                let _ = conn::control(&st.conn, "ROLLBACK");
                st.open = None;
                self.record(batch, Err(format!("the write transaction failed: {broken}")));
                return Err(broken);
            }
        };

        let full = st.open.is_some_and(|(_, n)| n >= MAX_BATCH);
        if full || self.waiting.load(Ordering::SeqCst) == 0 {
            let outcome = self.commit(&mut st);
            return match (result, outcome) {
                (Err(e), _) => Err(e),
                (Ok(()), Ok(())) => Ok(()),
                (Ok(()), Err(e)) => Err(DirectoryError::Store(e)),
            };
        }
        // Our work was rolled back to its savepoint: nothing to wait for.
        result?;
        // Someone else will commit this batch; wait for it without holding
        // the connection.
        drop(st);
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(outcome) = finished.of(batch) {
                return outcome.map_err(DirectoryError::Store);
            }
            finished = self.committed.wait(finished).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Commits the open batch and wakes its waiters.
    fn commit(&self, st: &mut State) -> Result<(), String> {
        let Some((batch, _)) = st.open.take() else { return Ok(()) };
        let outcome = match conn::control(&st.conn, "COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn::control(&st.conn, "ROLLBACK");
                Err(e.to_string())
            }
        };
        self.record(batch, outcome.clone());
        outcome
    }

    /// Publishes a batch's outcome and wakes its waiters.
    fn record(&self, batch: u64, outcome: Result<(), String>) {
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        finished.done_upto = finished.done_upto.max(batch);
        if let Err(e) = outcome {
            finished.failed.push_back((batch, e));
            while finished.failed.len() > FAILED_KEPT {
                finished.failed.pop_front();
            }
        }
        self.committed.notify_all();
    }
}

/// Batches end in the order they were opened (one is open at a time), so a
/// batch is done once `done_upto` reaches it, and it succeeded unless it is
/// among the (rare) failed ones.
struct Outcomes {
    done_upto: u64,
    failed: VecDeque<(u64, String)>,
}

impl Outcomes {
    fn of(&self, batch: u64) -> Option<Result<(), String>> {
        if batch > self.done_upto {
            return None;
        }
        Some(match self.failed.iter().find(|(b, _)| *b == batch) {
            Some((_, e)) => Err(e.clone()),
            None => Ok(()),
        })
    }
}

/// Runs `work` inside `SAVEPOINT job`: released on `Ok`, rolled back on
/// `Err`. The outer `Err` means the savepoint itself failed; the inner result
/// is the work's own.
fn run_in_savepoint(
    c: &Connection,
    work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
) -> Result<Result<(), DirectoryError>, DirectoryError> {
    conn::control(c, "SAVEPOINT job").map_err(conn::db_error)?;
    let mut tx = tx::SqliteTx::new(c);
    let result = work(&mut tx);
    match &result {
        Ok(()) => conn::control(c, "RELEASE job").map_err(conn::db_error)?,
        Err(_) => conn::control(c, "ROLLBACK TO job").and_then(|()| conn::control(c, "RELEASE job")).map_err(conn::db_error)?,
    }
    Ok(result)
}
