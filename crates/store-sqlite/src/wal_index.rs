//! The change stamp of a WAL database, read from its wal-index (`-shm`).
//!
//! Every COMMIT, by any connection of any process, rewrites the wal-index
//! header with a larger change counter (`iChange`) and the new last frame;
//! a checkpoint that restarts the log rewrites it with new salts. SQLite
//! itself compares this header with its last copy to learn, at the start of
//! a read, whether anything changed. Reading it costs no lock and no system
//! call, so a server can check per request whether an answer it holds is
//! still current. Layout: <https://www.sqlite.org/walformat.html> §2.
//!
//! The header is read where SQLite's own readers read it: in the mapping of
//! the `-shm` file that SQLite's VFS made for this process, found through
//! the VFS interface (`xShmMap`). Roster must not open the `-shm` file
//! itself: closing any descriptor of a file drops every POSIX lock the
//! process holds on it, SQLite's included, and another process would then
//! take the wal-index for unused and truncate it under this one.
//!
//! The header is kept twice (bytes 0–47 and 48–95); a writer updates the
//! second copy, then the first. Reading the first, then the second, and
//! accepting only equal copies therefore never accepts a torn header.

use directory::ChangeStamp;
use rusqlite::{ffi, Connection};
use std::ffi::c_void;
use std::sync::atomic::{fence, Ordering};

const HEADER_BYTES: usize = 48;
/// `isInit`: zero while the wal-index has not been built (or is being rebuilt).
const IS_INIT_OFFSET: usize = 12;
/// The size of a wal-index region, as SQLite maps them (`WALINDEX_PGSZ`).
const REGION_BYTES: i32 = 32 * 1024;

/// The start of a database's wal-index, as mapped by SQLite in this process.
pub struct WalIndex {
    header: *const [u8; HEADER_BYTES],
}

// SAFETY: the pointer is to shared memory that SQLite keeps mapped for the
// life of the connection it came from (see `WalIndex::of`); it is only read,
// by value, with volatile reads, which any thread may do.
unsafe impl Send for WalIndex {}
unsafe impl Sync for WalIndex {}

impl WalIndex {
    /// The wal-index of `conn`'s main database, if it is in WAL mode and its
    /// first region is mapped (it is once the connection has read or written).
    ///
    /// # Safety
    /// The result must not be used after `conn` is closed: SQLite unmaps the
    /// region when the process's last connection to the database closes it.
    /// `conn` must not be in use by another thread during this call.
    pub unsafe fn of(conn: &Connection) -> Option<WalIndex> {
        let db = conn.handle();
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        let rc = ffi::sqlite3_file_control(
            db,
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast::<c_void>(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
            return None;
        }
        let methods = &*(*file).pMethods;
        let shm_map = methods.xShmMap.filter(|_| methods.iVersion >= 2)?;
        let mut region: *mut c_void = std::ptr::null_mut();
        // Region 0, not extended: only an existing mapping is wanted.
        if shm_map(file, 0, REGION_BYTES, 0, &raw mut region) != ffi::SQLITE_OK || region.is_null() {
            return None;
        }
        Some(WalIndex { header: region.cast_const().cast() })
    }

    /// The current header, or `None` while a writer is rewriting it (or it
    /// is not built yet): then nothing is known, and nothing may be reused.
    pub fn stamp(&self) -> Option<ChangeStamp> {
        // SAFETY: the region is at least 2 * HEADER_BYTES long and mapped
        // while the store that owns `self` and its writer connection lives;
        // other processes write these bytes, so they are read by value with
        // volatile reads, never through a reference.
        let first = unsafe { self.header.read_volatile() };
        fence(Ordering::SeqCst);
        // SAFETY: as above, for the second copy.
        let second = unsafe { self.header.add(1).read_volatile() };
        (first == second && first[IS_INIT_OFFSET] != 0).then_some(ChangeStamp(first))
    }
}
