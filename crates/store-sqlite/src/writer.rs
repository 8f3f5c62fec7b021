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
/// How many finished batches' outcomes are kept for waiters to read.
const FINISHED_KEPT: usize = 256;

pub(crate) struct Writer {
    state: Mutex<State>,
    committed: Condvar,
    /// Callers that want the lock but don't hold it yet.
    waiting: AtomicUsize,
}

struct State {
    conn: Connection,
    /// The batch whose transaction is open, and how many writes it holds.
    open: Option<(u64, usize)>,
    next_batch: u64,
    /// Outcomes of recent batches: `Err` holds the COMMIT error's text.
    finished: VecDeque<(u64, Result<(), String>)>,
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Writer {
        Writer {
            state: Mutex::new(State { conn, open: None, next_batch: 1, finished: VecDeque::new() }),
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
                    g.record(batch, Err("an earlier write in this batch panicked".into()));
                    self.committed.notify_all();
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
                st.record(batch, Err(format!("the write transaction failed: {broken}")));
                self.committed.notify_all();
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
        // Someone else will commit this batch; wait for it.
        loop {
            if let Some((_, outcome)) = st.finished.iter().find(|(b, _)| *b == batch) {
                return outcome.clone().map_err(DirectoryError::Store);
            }
            st = match self.committed.wait(st) {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }

    /// Commits the open batch and wakes its waiters.
    fn commit(&self, st: &mut State) -> Result<(), String> {
        let Some((batch, n)) = st.open.take() else { return Ok(()) };
        static W: AtomicUsize = AtomicUsize::new(0);
        let w = W.fetch_add(n, Ordering::Relaxed) + n;
        if batch % 500 == 0 { eprintln!("DEBUG batches={batch} writes={w} avg={:.2}", w as f64 / batch as f64); }
        let outcome = match conn::control(&st.conn, "COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn::control(&st.conn, "ROLLBACK");
                Err(e.to_string())
            }
        };
        st.record(batch, outcome.clone());
        self.committed.notify_all();
        outcome
    }
}

impl State {
    fn record(&mut self, batch: u64, outcome: Result<(), String>) {
        self.finished.push_back((batch, outcome));
        while self.finished.len() > FINISHED_KEPT {
            self.finished.pop_front();
        }
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
