//! The single writer connection, with group commit.
//!
//! SQLite allows one writer at a time, and every COMMIT must reach the disk
//! (an fsync) before its writes are reported done — the cost that bounds
//! durable writes per second. So concurrent writers share a transaction:
//! each caller runs its work inside its own SAVEPOINT (a failure rolls back
//! only that work), and the last caller in line — the one that finds no
//! other writer waiting — commits for everyone. Every caller returns only after the COMMIT that made its
//! work durable, so a 201 still means "on disk". Under no concurrency this
//! is exactly one transaction per write.
//!
//! A server may also run writes one after another on one thread inside
//! [`Writer::batch`]: each write then returns as soon as its savepoint is
//! released, and the batch commits once at its end. That saves the hand-offs
//! between threads that the waiting above costs, but the caller must hold
//! every answer until the batch is durable: the batch returns once it is
//! committed, and its fsync is left to [`Writer::wait_durable`], so that the
//! next batch can run while the disk works (see [`crate::wal_sync`]).

use crate::wal_index::WalIndex;
use crate::wal_sync::WalSync;
use crate::{conn, tx};
use directory::{ChangeStamp, DirectoryError, Tx};
use rusqlite::Connection;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// The most writes sharing one COMMIT; bounds how long the lock is held.
const MAX_BATCH: usize = 64;
/// How many failed batches' errors are kept for their waiters to read.
const FAILED_KEPT: usize = 1024;

thread_local! {
    /// The batch this thread is running ([`Writer::batch`]), if any.
    static BATCHING: RefCell<Option<Batching>> = const { RefCell::new(None) };
}

/// A batch in progress on this thread: which writer it belongs to (by
/// address), the group-commit batches its writes went into (whose outcomes
/// decide the batch's), and whether the thread is inside a write's work,
/// holding the writer's lock (a read nested in it must not lock again).
struct Batching {
    writer: usize,
    batches: Vec<u64>,
    in_write: bool,
}

/// Ends this thread's batch even if a job panics.
struct BatchingGuard;

impl Drop for BatchingGuard {
    fn drop(&mut self) {
        let _ = BATCHING.try_with(|b| b.borrow_mut().take());
    }
}

/// Marks this thread's batch as inside a write's work until dropped (also
/// on panic: the write queue catches a job's panic and goes on).
struct InWrite;

impl InWrite {
    fn enter() -> InWrite {
        set_in_write(true);
        InWrite
    }
}

impl Drop for InWrite {
    fn drop(&mut self) {
        set_in_write(false);
    }
}

fn set_in_write(inside: bool) {
    let _ = BATCHING.try_with(|b| {
        if let Some(run) = b.borrow_mut().as_mut() {
            run.in_write = inside;
        }
    });
}

pub(crate) struct Writer {
    state: Mutex<State>,
    /// Outcomes of recent batches (`Err` holds the COMMIT error's text),
    /// apart from the connection: a caller waiting for its batch's COMMIT
    /// does not contend with the next batch's writers for `state`.
    finished: Mutex<Outcomes>,
    committed: Condvar,
    /// Callers that want the lock but don't hold it yet.
    waiting: AtomicUsize,
    /// Our own fsync of the WAL, when the connection commits without one
    /// (`synchronous=NORMAL`); `None`: every COMMIT syncs (`FULL`).
    sync: Option<WalSync>,
    /// The connection's view of the wal-index (`None`: no change stamps).
    wal_index: Option<WalIndex>,
    /// The stamp our latest commit left and the auth generation it holds,
    /// while known to be exactly that commit's (see [`Writer::commit`]).
    latest: Mutex<Option<(ChangeStamp, i64)>>,
}

struct State {
    conn: Connection,
    /// The batch whose transaction is open, and how many writes it holds.
    open: Option<(u64, usize)>,
    next_batch: u64,
}

impl Writer {
    /// A writer on `conn`. With `sync`, `conn` must run with
    /// `synchronous=NORMAL`, and every commit is made durable through it.
    /// `wal_index` must be `conn`'s own (`WalIndex::of`), which stays valid
    /// as long as the writer keeps `conn` open.
    pub(crate) fn new(conn: Connection, sync: Option<WalSync>, wal_index: Option<WalIndex>) -> Writer {
        Writer {
            wal_index,
            latest: Mutex::new(None),
            state: Mutex::new(State { conn, open: None, next_batch: 1 }),
            finished: Mutex::new(Outcomes { done_upto: 0, failed: VecDeque::new() }),
            committed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            sync,
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
            let _ = self.commit(&mut st, SyncWhen::Now);
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

        let in_write = InWrite::enter();
        let ran = run_in_savepoint(&st.conn, work);
        drop(in_write);
        let result = match ran {
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
        if !full && self.note_in_batch(batch, result.is_ok()) {
            // This thread's batch commits it; its caller waits for that.
            return result;
        }
        if full || self.waiting.load(Ordering::SeqCst) == 0 {
            let outcome = self.commit(&mut st, SyncWhen::Now);
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

    /// Whether this thread runs a batch of this writer's; if so, and the write
    /// was applied, remembers the group-commit batch it went into.
    fn note_in_batch(&self, batch: u64, applied: bool) -> bool {
        BATCHING.with(|b| match b.borrow_mut().as_mut() {
            Some(run) if run.writer == self.id() => {
                if applied && run.batches.last() != Some(&batch) {
                    run.batches.push(batch);
                }
                true
            }
            _ => false,
        })
    }

    /// This writer's identity in a thread's [`Batching`].
    fn id(&self) -> usize {
        self as *const Writer as usize
    }

    /// Runs `jobs` as one batch (see the module's documentation) and commits
    /// it, without waiting for the disk: the batch's writes are durable once
    /// [`Writer::wait_durable`] of the returned commit number returns `Ok`.
    /// `Err` when a COMMIT that one of its writes depended on failed.
    pub(crate) fn batch(&self, jobs: &mut dyn FnMut()) -> Result<u64, DirectoryError> {
        if BATCHING.with(|b| b.borrow().is_some()) {
            // Already inside a batch: its end commits these writes too, and
            // its caller waits for the disk.
            jobs();
            return Ok(0);
        }
        BATCHING.with(|b| *b.borrow_mut() = Some(Batching { writer: self.id(), batches: Vec::new(), in_write: false }));
        let guard = BatchingGuard;
        jobs();
        let batches = BATCHING.with(|b| b.borrow_mut().take()).map(|run| run.batches).unwrap_or_default();
        drop(guard);

        let mut st = self.lock();
        // Its outcome is recorded for every batch member, read below.
        let _ = self.commit(&mut st, SyncWhen::Later);
        // The latest commit covers this one and any that other threads made
        // of the batch's writes.
        let durable_at = self.sync.as_ref().map_or(0, WalSync::latest);
        drop(st);
        let finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        for batch in batches {
            match finished.of(batch) {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(DirectoryError::Store(e)),
                None => return Err(DirectoryError::Store(format!("write batch {batch} was never committed"))),
            }
        }
        Ok(durable_at)
    }

    /// Returns once every commit up to number `upto` ([`Writer::batch`]) is
    /// on disk. `Err` when the fsync failed: those writes may be lost.
    pub(crate) fn wait_durable(&self, upto: u64) -> Result<(), DirectoryError> {
        match &self.sync {
            Some(sync) => sync.wait_durable(upto).map_err(DirectoryError::Store),
            None => Ok(()),
        }
    }

    /// Runs a read inside this thread's batch of this writer's, so that it
    /// sees the batch's writes. `None` when there is no such batch, when no
    /// transaction is open (committed data is then all there is to see), or
    /// when the read is nested in a write's work (which holds the lock; it
    /// then reads committed data, as on any other thread).
    pub(crate) fn read_in_batch(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
    ) -> Option<Result<(), DirectoryError>> {
        let batching_here =
            BATCHING.with(|b| b.borrow().as_ref().is_some_and(|run| run.writer == self.id() && !run.in_write));
        if !batching_here {
            return None;
        }
        let st = self.lock();
        st.open?;
        Some(work(&mut tx::SqliteTx::new(&st.conn)))
    }

    /// Commits the open batch, if any, and wakes its waiters. With
    /// [`SyncWhen::Now`] the waiters (and the caller) hear only once it is
    /// durable; with [`SyncWhen::Later`] the caller must
    /// [`Writer::wait_durable`] before reporting any of it done.
    fn commit(&self, st: &mut State, sync: SyncWhen) -> Result<(), String> {
        let Some((batch, _)) = st.open.take() else { return Ok(()) };
        let outcome = match conn::control(&st.conn, "COMMIT") {
            Ok(()) => {
                self.note_auth_generation(&st.conn);
                match &self.sync {
                    Some(wal) => {
                        // Every commit is numbered, whether it waits for its sync now or not.
                        let number = wal.committed();
                        match sync {
                            SyncWhen::Now => wal.wait_durable(number),
                            SyncWhen::Later => Ok(()),
                        }
                    }
                    None => Ok(()),
                }
            }
            Err(e) => {
                let _ = conn::control(&st.conn, "ROLLBACK");
                Err(e.to_string())
            }
        };
        self.record(batch, outcome.clone());
        outcome
    }

    /// What every process has committed, as of now (`Store::change_stamp`).
    pub(crate) fn stamp(&self) -> Option<ChangeStamp> {
        self.wal_index.as_ref()?.stamp()
    }

    /// The auth generation of the state `stamp` marks, if it is the one
    /// read after our latest commit and nothing was committed since.
    pub(crate) fn auth_generation_at(&self, stamp: &ChangeStamp) -> Option<i64> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        latest.as_ref().filter(|(at, _)| at == stamp).map(|(_, generation)| *generation)
    }

    /// Reads the auth generation right after a COMMIT, between two reads of
    /// the stamp. The read's snapshot is taken between them, so when they are
    /// equal (a stamp only grows: no commit by anyone came between) the
    /// generation is the one of the state that stamp marks. One indexed read
    /// of a cached page per commit spares every caller until the next commit
    /// a read transaction of its own.
    fn note_auth_generation(&self, conn: &Connection) {
        let known = (|| {
            let before = self.stamp()?;
            let generation = tx::SqliteTx::new(conn).auth_generation().ok()?;
            let after = self.stamp()?;
            (before == after).then_some((after, generation))
        })();
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = known;
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

/// When a commit must be on disk: before [`Writer::commit`] returns, or when
/// its caller asks ([`Writer::wait_durable`]).
#[derive(Clone, Copy)]
enum SyncWhen {
    Now,
    Later,
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
        Err(_) => conn::control(c, "ROLLBACK TO job")
            .and_then(|()| conn::control(c, "RELEASE job"))
            .map_err(conn::db_error)?,
    }
    Ok(result)
}
