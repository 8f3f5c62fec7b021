//! Connections: a small blocking pool of `postgres::Client`s, each with its
//! own prepared-statement cache, and how PostgreSQL errors become
//! [`DirectoryError`]s.

use directory::DirectoryError;
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The most connections one store opens at once. Every instance of a
/// scaled-out deployment has its own pool, so keep instances × this below
/// the server's `max_connections`.
pub const MAX_CONNECTIONS: usize = 16;

/// How long a caller waits for a free connection before giving up with `Busy`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Statements kept per connection; the cache is emptied when it is full
/// (filter queries are dynamic SQL, so it must not grow without bound).
const STATEMENT_CACHE: usize = 256;

/// One connection and its prepared statements.
pub struct Conn {
    pub client: Client,
    stmts: HashMap<String, Statement>,
}

impl Conn {
    /// A prepared statement for `sql`, from the cache if it was prepared before.
    pub fn prepare(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.prepare(sql)?;
        if self.stmts.len() >= STATEMENT_CACHE {
            self.stmts.clear();
        }
        self.stmts.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

/// A blocking connection pool.
pub struct Pool {
    config: Config,
    state: Mutex<PoolState>,
    freed: Condvar,
}

impl Pool {
    pub fn new(config: Config) -> Pool {
        Pool { config, state: Mutex::new(PoolState { idle: Vec::new(), open: 0 }), freed: Condvar::new() }
    }

    /// Opens a connection outside the pool's count (for set-up).
    pub fn connect(&self) -> Result<Client, DirectoryError> {
        self.config.connect(NoTls).map_err(|e| DirectoryError::Store(format!("connecting to PostgreSQL: {e}")))
    }

    /// An idle connection, a new one, or (at the limit) the next one returned.
    pub fn take(&self) -> Result<Conn, DirectoryError> {
        let deadline = std::time::Instant::now() + ACQUIRE_TIMEOUT;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = state.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                state.open = state.open.saturating_sub(1);
                continue;
            }
            if state.open < MAX_CONNECTIONS {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(Conn { client, stmts: HashMap::new() }),
                    Err(e) => {
                        self.release_slot();
                        Err(e)
                    }
                };
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(DirectoryError::Busy("no free PostgreSQL connection".into()));
            }
            state = self.freed.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Returns a connection; a broken one is dropped and its slot freed.
    pub fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            self.release_slot();
            return;
        }
        self.state.lock().unwrap_or_else(|p| p.into_inner()).idle.push(conn);
        self.freed.notify_one();
    }

    /// Forgets a connection that will not be returned.
    pub fn release_slot(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.freed.notify_one();
    }
}

impl Drop for Pool {
    /// Each `postgres::Client` runs a small runtime of its own, which may not
    /// be dropped on an async runtime's thread (the server drops its store
    /// there on shutdown): close the connections on a plain thread.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.state.get_mut().unwrap_or_else(|p| p.into_inner()).idle);
        if idle.is_empty() {
            return;
        }
        let _ = std::thread::spawn(move || drop(idle)).join();
    }
}

/// Whether the transaction failed only because of a concurrent one and may be retried.
pub fn is_retryable(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// A PostgreSQL error as a directory error: contention is `Busy`, the rest `Store`.
pub fn db_error(e: postgres::Error) -> DirectoryError {
    let busy = is_retryable(&e) || matches!(e.code(), Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE);
    let detail = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    if busy {
        DirectoryError::Busy(detail)
    } else {
        DirectoryError::Store(detail)
    }
}

/// The constraint a UNIQUE violation broke, if `e` is one.
pub fn unique_violation(e: &postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    if *db.code() != SqlState::UNIQUE_VIOLATION {
        return None;
    }
    Some(db.constraint().unwrap_or(""))
}
