//! A VFS that writes a commit's WAL frames with two system calls, not two per page.
//!
//! SQLite appends each page of a commit to the WAL as a frame, and writes
//! each frame as two `pwrite`s: its 24-byte header, then the page. A create
//! touches some 26 B-tree pages, so one commit cost about 52 system calls,
//! 15 % of the CPU under durable creates. The `roster` VFS is the default
//! VFS with one change: a WAL file gathers writes that follow each other in
//! the file and hands them to the default VFS as one write.
//!
//! What reaches the file, and in what order, is unchanged; only the
//! batching is new. Nothing is held where SQLite or another connection could
//! miss it:
//! - A commit frame's header (its "database size" field is not zero) is
//!   written at once with everything gathered before it, and the write after
//!   it (the commit frame's page) goes straight through. So by the time
//!   SQLite publishes a commit in the wal-index, all of it is in the file, and
//!   `crate::wal_sync` fsyncs it after COMMIT returns.
//! - Every other call on the WAL file (read, sync, size, truncate, close, file
//!   control) writes what is gathered first, so SQLite reads back what it wrote.
//! - A write elsewhere in the file, or one that would make the gathered bytes
//!   more than [`MAX_WRITE`], writes what is gathered first.
//!
//! Other files (the database, its wal-index) keep the default VFS's own methods.

use rusqlite::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

/// The name connections open the VFS by.
pub const VFS_NAME: &str = "roster";
const VFS_NAME_C: &CStr = c"roster";

/// The header of a WAL frame; bytes 4..8 are the database size in pages
/// after a commit, zero in a frame that does not end a transaction.
/// <https://www.sqlite.org/walformat.html> §1.
const FRAME_HEADER_BYTES: usize = 24;

/// The most bytes gathered into one write: the unix VFS writes at most
/// 128 KiB - 1 per call (`seekAndWriteFd` masks the length with `0x1ffff`).
const MAX_WRITE: usize = 0x1ffff;

/// Where the default VFS's file lives inside ours (8-byte aligned).
const INNER_OFFSET: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

/// The default VFS, whose files ours wrap.
static DEFAULT_VFS: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(std::ptr::null_mut());

/// Registers the `roster` VFS (once per process). It is not made the default.
/// Called through [`crate::conn::initialize`], after the allocator is set.
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED.get_or_init(|| unsafe { register_once() }).clone()
}

/// # Safety
/// Called once, through `REGISTERED`.
unsafe fn register_once() -> Result<(), String> {
    let default = ffi::sqlite3_vfs_find(std::ptr::null());
    if default.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    let inner_size = usize::try_from((*default).szOsFile).map_err(|_| "the default VFS has a negative file size")?;
    let size = c_int::try_from(INNER_OFFSET + inner_size).map_err(|_| "the default VFS's files are too large")?;
    DEFAULT_VFS.store(default, Ordering::Release);
    // A copy of the default VFS, so that every other method (and its
    // `pAppData`, which the unix VFS reads) stays the default's.
    let mut vfs: ffi::sqlite3_vfs = *default;
    vfs.zName = VFS_NAME_C.as_ptr();
    vfs.pNext = std::ptr::null_mut();
    vfs.szOsFile = size;
    vfs.xOpen = Some(open);
    let vfs = Box::leak(Box::new(vfs));
    match ffi::sqlite3_vfs_register(vfs, 0) {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(format!("could not register the {VFS_NAME} VFS (SQLite error {rc})")),
    }
}

/// A WAL file: the default VFS's file (at [`INNER_OFFSET`]), and the writes
/// gathered for it.
#[repr(C)]
struct WalFile {
    /// First, so that SQLite's `sqlite3_file*` is a `WalFile*`.
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    gathered: Vec<u8>,
    gathered_at: i64,
    /// The last write was a commit frame's header: the next write is its page.
    write_next_through: bool,
    /// Writes handed to the default VFS (for tests).
    writes: u64,
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let default = DEFAULT_VFS.load(Ordering::Acquire);
    let Some(default_open) = default.as_ref().and_then(|v| v.xOpen) else {
        return ffi::SQLITE_CANTOPEN;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // The default VFS's file, at the start of our (larger) allocation.
        return default_open(default, name, file, flags, out_flags);
    }
    let inner = file.cast::<u8>().add(INNER_OFFSET).cast::<ffi::sqlite3_file>();
    (*inner).pMethods = std::ptr::null();
    let rc = default_open(default, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        if let Some(close_inner) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
            close_inner(inner);
        }
        (*file).pMethods = std::ptr::null();
        return rc;
    }
    file.cast::<WalFile>().write(WalFile {
        base: ffi::sqlite3_file { pMethods: &WAL_METHODS },
        inner,
        gathered: Vec::new(),
        gathered_at: 0,
        write_next_through: false,
        writes: 0,
    });
    ffi::SQLITE_OK
}

/// # Safety
/// `file` is a WAL file opened by [`open`] and not yet closed.
unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
    &mut *file.cast::<WalFile>()
}

impl WalFile {
    fn inner_methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: the default VFS set `pMethods` when it opened the file, and
        // it stays valid until `close`.
        unsafe { &*(*self.inner).pMethods }
    }

    /// Hands `len` bytes at `data` to the default VFS's write.
    ///
    /// # Safety
    /// `data` points to `len` readable bytes.
    unsafe fn write_through(&mut self, data: *const c_void, len: usize, offset: i64) -> c_int {
        let Some(inner_write) = self.inner_methods().xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let Ok(len) = c_int::try_from(len) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        self.writes += 1;
        inner_write(self.inner, data, len, offset)
    }

    /// Writes out what is gathered.
    fn flush(&mut self) -> c_int {
        if self.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let gathered = std::mem::take(&mut self.gathered);
        // SAFETY: `gathered` holds `len` bytes.
        let rc = unsafe { self.write_through(gathered.as_ptr().cast(), gathered.len(), self.gathered_at) };
        // Keep the buffer (at most MAX_WRITE long) for the next commit.
        self.gathered = gathered;
        self.gathered.clear();
        rc
    }

    /// Gathers a write, or writes it (and what is gathered) now.
    fn write(&mut self, data: &[u8], offset: i64) -> c_int {
        if std::mem::take(&mut self.write_next_through) {
            let rc = self.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            // SAFETY: `data` is a live slice.
            return unsafe { self.write_through(data.as_ptr().cast(), data.len(), offset) };
        }
        let follows = i64::try_from(self.gathered.len()).is_ok_and(|n| self.gathered_at + n == offset);
        if !follows || self.gathered.len() + data.len() > MAX_WRITE {
            let rc = self.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            self.gathered_at = offset;
        }
        self.gathered.extend_from_slice(data);
        if is_commit_frame_header(data) {
            self.write_next_through = true;
            return self.flush();
        }
        ffi::SQLITE_OK
    }
}

/// Whether `data` is the header of a frame that ends a transaction.
fn is_commit_frame_header(data: &[u8]) -> bool {
    data.len() == FRAME_HEADER_BYTES && data[4..8] != [0; 4]
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let w = file.cast::<WalFile>();
    let flushed = (*w).flush();
    let inner = (*w).inner;
    let closed = match (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
        Some(close_inner) => close_inner(inner),
        None => ffi::SQLITE_OK,
    };
    std::ptr::drop_in_place(w);
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, data: *const c_void, len: c_int, offset: i64) -> c_int {
    let Ok(len) = usize::try_from(len) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    wal(file).write(std::slice::from_raw_parts(data.cast::<u8>(), len), offset)
}

/// Defines a method that writes out what is gathered, then calls the
/// default VFS's method of the same name.
macro_rules! flush_then {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let w = wal(file);
            let rc = w.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match w.inner_methods().$method {
                Some(inner) => inner(w.inner $(, $arg)*),
                None => ffi::SQLITE_IOERR,
            }
        }
    };
}

/// Defines a method that only calls the default VFS's method.
macro_rules! pass {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let w = wal(file);
            match w.inner_methods().$method {
                Some(inner) => inner(w.inner $(, $arg)*),
                None => $missing,
            }
        }
    };
}

flush_then!(read, xRead, (buf: *mut c_void, len: c_int, offset: i64));
flush_then!(truncate, xTruncate, (size: i64));
flush_then!(sync, xSync, (flags: c_int));
flush_then!(file_size, xFileSize, (size: *mut i64));
flush_then!(file_control, xFileControl, (op: c_int, arg: *mut c_void));
pass!(lock, xLock, (level: c_int), ffi::SQLITE_OK);
pass!(unlock, xUnlock, (level: c_int), ffi::SQLITE_OK);
pass!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_OK);
pass!(sector_size, xSectorSize, (), 4096);
pass!(device_characteristics, xDeviceCharacteristics, (), 0);

/// What a connection's WAL file has handed to the default VFS so far, and
/// whether it holds anything not yet written (for tests).
#[cfg(test)]
pub(crate) fn wal_file_writes(conn: &rusqlite::Connection) -> Option<(u64, usize)> {
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: the connection is open; the pointer is only read while it is.
    unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_JOURNAL_POINTER,
            (&raw mut file).cast::<c_void>(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || !std::ptr::eq((*file).pMethods, &WAL_METHODS) {
            return None;
        }
        let w = wal(file);
        Some((w.writes, w.gathered.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};
    use std::path::Path;

    fn open(path: &Path) -> Connection {
        crate::conn::initialize().unwrap();
        let c = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), VFS_NAME).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT);
             CREATE INDEX IF NOT EXISTS t_v ON t (v);",
        )
        .unwrap();
        c
    }

    fn insert(c: &Connection, from: i64, n: i64) {
        c.execute_batch("BEGIN").unwrap();
        for i in from..from + n {
            c.execute("INSERT INTO t (id, v) VALUES (?1, ?2)", (i, format!("{i:08}-{}", "x".repeat(200))))
                .unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
    }

    fn count(c: &Connection) -> i64 {
        c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    /// After one committed row, commits `rows` more in one transaction and
    /// returns the writes the WAL handed on for it and the frames the WAL
    /// holds; checks that nothing stays gathered after either COMMIT.
    fn writes_and_frames_of_one_commit(c: &Connection, rows: i64) -> (u64, u64) {
        insert(c, 0, 1);
        let (before, gathered) = wal_file_writes(c).unwrap();
        assert_eq!(gathered, 0);
        insert(c, 1, rows);
        let (after, gathered) = wal_file_writes(c).unwrap();
        assert_eq!(gathered, 0, "a commit left bytes unwritten");
        let frames: u64 = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)).unwrap();
        (after - before, frames)
    }

    #[test]
    fn a_commit_of_many_pages_is_two_writes_and_nothing_stays_gathered() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("t.db"));
        // ~100 rows of ~220 bytes: several table and index pages.
        let (writes, frames) = writes_and_frames_of_one_commit(&c, 100);
        assert_eq!(writes, 2, "frames before the commit frame, then the commit frame's page");
        assert!(frames > 4, "{frames} frames in the WAL");
    }

    #[test]
    fn a_commit_larger_than_one_write_is_split_and_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("t.db"));
        // ~2 000 rows of ~220 bytes: ~1 MiB of frames.
        let (writes, frames) = writes_and_frames_of_one_commit(&c, 2000);
        let max_frames_per_write = (MAX_WRITE / (4096 + FRAME_HEADER_BYTES)) as u64;
        assert!(writes >= frames.div_ceil(max_frames_per_write), "{writes} writes, {frames} frames");
        assert!(writes < frames, "{writes} writes, {frames} frames");
        let copy = reopen_as_after_a_crash(dir.path());
        assert_eq!(count(&copy), 2001);
    }

    #[test]
    fn another_connection_sees_each_commit_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = open(&path);
        // A reader through the default VFS reads the file itself.
        let reader = Connection::open(&path).unwrap();
        for round in 0..20 {
            insert(&writer, round * 50, 50);
            assert_eq!(count(&reader), (round + 1) * 50);
        }
    }

    /// Copies the database and its WAL while the writer is open, as a power
    /// cut after COMMIT would leave them, and opens the copy: SQLite then
    /// rebuilds the wal-index from the WAL, checking every frame's checksum.
    fn reopen_as_after_a_crash(dir: &Path) -> Connection {
        let crash = dir.join("crash");
        std::fs::create_dir(&crash).unwrap();
        for name in ["t.db", "t.db-wal"] {
            std::fs::copy(dir.join(name), crash.join(name)).unwrap();
        }
        let copy = Connection::open(crash.join("t.db")).unwrap();
        let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        copy
    }

    #[test]
    fn every_committed_transaction_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("t.db"));
        for round in 0..10 {
            insert(&c, round * 30, 30);
        }
        let copy = reopen_as_after_a_crash(dir.path());
        assert_eq!(count(&copy), 300);
    }

    #[test]
    fn a_transaction_larger_than_the_page_cache_rewrites_its_frames_and_survives_a_crash() {
        // A tiny cache spills pages to the WAL mid-transaction; pages written
        // again overwrite their frames, and COMMIT rewrites the checksums of
        // every frame from the first one overwritten, commit frame included.
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("t.db"));
        c.execute_batch("PRAGMA cache_size = 2").unwrap();
        c.execute_batch("BEGIN").unwrap();
        for i in 0..3000_i64 {
            c.execute("INSERT INTO t (id, v) VALUES (?1, ?2)", (i, format!("{:08}", (i * 7919) % 3001))).unwrap();
        }
        c.execute("UPDATE t SET v = v || 'y' WHERE id % 3 = 0", []).unwrap();
        c.execute_batch("COMMIT").unwrap();
        let (_, gathered) = wal_file_writes(&c).unwrap();
        assert_eq!(gathered, 0);
        let copy = reopen_as_after_a_crash(dir.path());
        assert_eq!(count(&copy), 3000);
        let updated: i64 = copy.query_row("SELECT count(*) FROM t WHERE v LIKE '%y'", [], |r| r.get(0)).unwrap();
        assert_eq!(updated, 1000);
    }

    #[test]
    fn other_files_keep_the_default_vfs_methods() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("t.db"));
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: reads the main database file's method table while `c` is open.
        let main_methods = unsafe {
            ffi::sqlite3_file_control(
                c.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast::<c_void>(),
            );
            (*file).pMethods
        };
        assert!(!std::ptr::eq(main_methods, &WAL_METHODS));
        // SAFETY: the default VFS's methods are those of its own files.
        assert!(unsafe { (*main_methods).iVersion } >= 2, "the database keeps its wal-index methods");
    }
}
