//! The change stamp of a WAL database, read from its wal-index (`-shm`).
//!
//! Every COMMIT, by any connection of any process, rewrites the wal-index
//! header with a larger change counter (`iChange`) and the new last frame;
//! a checkpoint that restarts the log rewrites it with new salts. SQLite
//! itself compares this header with its last copy to learn, at the start of
//! a read, whether anything changed. Reading it from a shared mapping of the
//! file, as SQLite does, costs no lock and no system call, so a server can
//! check per request whether an answer it holds is still current. Layout:
//! <https://www.sqlite.org/walformat.html> §2.
//!
//! The header is kept twice (bytes 0–47 and 48–95); a writer updates the
//! second copy, then the first. Reading the first, then the second, and
//! accepting only equal copies therefore never accepts a torn header.

use directory::ChangeStamp;
use memmap2::{MmapOptions, MmapRaw};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};

const HEADER_BYTES: usize = 48;
/// `isInit`: zero while the wal-index has not been built (or is being rebuilt).
const IS_INIT_OFFSET: usize = 12;

/// The first bytes of a database's `-shm` file, mapped shared and read-only.
pub struct WalIndex {
    map: MmapRaw,
}

impl WalIndex {
    /// The wal-index of the database whose main file is `db` (as SQLite
    /// names it: `sqlite3_db_filename`), if it exists and is built. It is
    /// once a connection has used the database in WAL mode. SQLite neither
    /// truncates nor rebuilds it while any connection has it open (the store
    /// keeps its writer open), so the mapped bytes stay backed by the file.
    pub fn open(db: &Path) -> Option<WalIndex> {
        let mut name = PathBuf::from(db).into_os_string();
        name.push("-shm");
        let shm = File::open(name).ok()?;
        if shm.metadata().ok()?.len() < 2 * HEADER_BYTES as u64 {
            return None;
        }
        let map = MmapOptions::new().len(2 * HEADER_BYTES).map_raw_read_only(&shm).ok()?;
        Some(WalIndex { map })
    }

    /// The current header, or `None` while a writer is rewriting it (or it
    /// is not built yet): then nothing is known, and nothing may be reused.
    pub fn stamp(&self) -> Option<ChangeStamp> {
        let base = self.map.as_ptr().cast::<[u8; HEADER_BYTES]>();
        // SAFETY: the mapping is 2 * HEADER_BYTES long and stays mapped while
        // `self` lives (checked in `open`); other processes write these bytes,
        // so they are read by value with volatile reads, never by reference.
        let first = unsafe { base.read_volatile() };
        fence(Ordering::SeqCst);
        // SAFETY: as above, for the second copy, which ends at the mapping's end.
        let second = unsafe { base.add(1).read_volatile() };
        (first == second && first[IS_INIT_OFFSET] != 0).then_some(ChangeStamp(first))
    }
}
