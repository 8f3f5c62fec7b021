//! Connections: where the database is (URL parsing), how each connection is
//! configured (PRAGMAs, SQL functions, statement cache), and how SQLite
//! errors become [`DirectoryError`]s.

use crate::{functions, memory, wal_writes};
use directory::DirectoryError;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `PRAGMA synchronous` of every connection as opened. FULL syncs the WAL on
/// every commit, so a 201/200 answered to a client survives a power cut. A
/// store's writer switches to NORMAL once it can fsync the WAL itself, after
/// each commit and outside the write lock (`crate::wal_sync`).
pub const SYNCHRONOUS: &str = "FULL";

/// WAL pages after which a COMMIT checkpoints (SQLite's default is 1 000).
/// A checkpoint copies each page it finds once, however many commits wrote
/// it, so a longer log copies the hot pages (the ends of the tables and
/// indexes that every create appends to) less often: 1 000 -> 4 000 measured
/// 1-4 % more durable creates per second, 4 000 -> 16 000 another 3.7 %
/// (and 3.6 % less CPU per create), for a log file of up to 64 MiB.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_000;

/// How long a connection waits for a lock before giving up with `Busy`.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// Where a store's database lives.
#[derive(Debug)]
pub enum Location {
    /// A database file named by the caller.
    File(PathBuf),
    /// `sqlite::memory:`: a private temporary file, removed when the store is dropped.
    Temporary(PathBuf),
}

impl Location {
    /// Parses `sqlite://x`, `sqlite:x`, `sqlite:///abs`, `sqlite::memory:` or a plain path.
    /// A `?query` after a URL (e.g. `?mode=rwc`) is ignored.
    pub fn parse(url: &str) -> Result<Location, DirectoryError> {
        let url = url.trim();
        if url == "sqlite::memory:" || url == ":memory:" || url == "sqlite://:memory:" {
            return Ok(Location::Temporary(temporary_path()));
        }
        let path = match url.strip_prefix("sqlite:") {
            Some(rest) => {
                let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
                // `sqlite:///abs` keeps its leading slash; `sqlite://rel` is relative.
                rest.strip_prefix("//").unwrap_or(rest)
            }
            None => url,
        };
        if path.is_empty() {
            return Err(DirectoryError::Store(format!("the database URL \"{url}\" names no file")));
        }
        Ok(Location::File(PathBuf::from(path)))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        match self {
            Location::File(p) | Location::Temporary(p) => p,
        }
    }
}

impl Drop for Location {
    fn drop(&mut self) {
        if let Location::Temporary(p) = self {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = p.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }
}

fn temporary_path() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("roster-memory-{}-{nanos}-{n}.db", std::process::id()))
}

/// Prepares SQLite for this process: its allocator (`crate::memory`), then
/// the `roster` VFS (`crate::wal_writes`), whose registration initialises
/// SQLite. Once per process; later calls return at once.
pub fn initialize() -> Result<(), DirectoryError> {
    memory::configure();
    wal_writes::register().map_err(DirectoryError::Store)
}

/// Opens and configures one connection. Read connections are `query_only`.
pub fn open(path: &Path, read_only: bool) -> Result<Connection, DirectoryError> {
    initialize()?;
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_writes::VFS_NAME)
        .map_err(|e| open_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // journal_mode is persistent in the file; setting it again is a no-op.
    let mode: String = retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db_error))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DirectoryError::Store(format!(
            "{}: could not enable WAL (journal_mode is {mode})",
            path.display()
        )));
    }
    // temp_store=MEMORY keeps the statement journals of group commit's
    // savepoints off the disk.
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {SYNCHRONOUS}; PRAGMA temp_store = MEMORY;"
    ))
    .map_err(db_error)?;
    if read_only {
        conn.execute_batch("PRAGMA query_only = ON").map_err(db_error)?;
    } else {
        conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")).map_err(db_error)?;
    }
    functions::register(&conn).map_err(db_error)?;
    Ok(conn)
}

/// Retries `op` while it fails with `Busy`, up to [`BUSY_TIMEOUT`]. For the
/// set-up steps of a fresh database (switching to WAL, migrating), where
/// SQLite can report a lock held by another opener without calling the busy handler.
pub fn retry_busy<T>(mut op: impl FnMut() -> Result<T, DirectoryError>) -> Result<T, DirectoryError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match op() {
            Err(DirectoryError::Busy(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn open_error(path: &Path, e: rusqlite::Error) -> DirectoryError {
    match db_error(e) {
        DirectoryError::Store(d) => DirectoryError::Store(format!("{}: {d}", path.display())),
        other => other,
    }
}

/// Whether SQLite gave up waiting for a lock.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// A SQLite error as a directory error: lock timeouts are `Busy`, the rest `Store`.
pub fn db_error(e: rusqlite::Error) -> DirectoryError {
    if is_busy(&e) {
        DirectoryError::Busy(e.to_string())
    } else {
        DirectoryError::Store(e.to_string())
    }
}

/// The `table.column` list of a UNIQUE violation (`"users.org_id, users.email"`), if `e` is one.
pub fn unique_violation(e: &rusqlite::Error) -> Option<&str> {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            msg.strip_prefix("UNIQUE constraint failed: ")
        }
        _ => None,
    }
}

/// Runs a transaction-control statement (`BEGIN`, `COMMIT`, `SAVEPOINT job`,
/// …) from the connection's statement cache: `execute_batch` would parse it
/// again on every request.
pub fn control(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.execute([]).map(drop)
}
