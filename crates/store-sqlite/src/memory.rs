//! SQLite's memory: the process's Rust allocator, without SQLite's global
//! memory-statistics mutex.
//!
//! By default SQLite calls the C library's `malloc` and, to keep its memory
//! statistics, takes one process-wide mutex around every allocation and
//! free. Under durable creates those were about 6 % of the CPU (the
//! statement journal of each write's savepoint alone allocates a chunk per
//! KiB of every page it saves). Here SQLite allocates through the global
//! allocator the binary chose (mimalloc for `roster`) and keeps no statistics;
//! Roster reads none of them.
//!
//! SQLite takes this configuration only before it initialises, so
//! [`configure`] runs before the first connection opens
//! ([`crate::initialize`]). If something in the process initialised SQLite
//! first, SQLite keeps its defaults, which work the same, only slower. It
//! must not run while another thread initialises SQLite, so code that opens
//! rusqlite connections of its own calls `store_sqlite::initialize` first.

use rusqlite::ffi;
use std::alloc::Layout;
use std::ffi::{c_int, c_void};

/// Every block starts with its size, so that `free` and `xSize` know it.
const HEADER: usize = 8;
/// SQLite needs 8-byte aligned memory.
const ALIGN: usize = 8;

/// Gives SQLite the methods above, once, before it initialises.
pub(crate) fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(malloc),
            xFree: Some(free),
            xRealloc: Some(realloc),
            xSize: Some(size),
            xRoundup: Some(roundup),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: both options are valid before initialisation, and SQLite
        // copies the methods; after initialisation each call only returns
        // SQLITE_MISUSE and changes nothing.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods);
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int);
        }
    });
}

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, ALIGN).ok()
}

unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
    let Some(layout) = usize::try_from(n).ok().and_then(layout) else { return std::ptr::null_mut() };
    let block = std::alloc::alloc(layout);
    if block.is_null() {
        return block.cast();
    }
    block.cast::<usize>().write(layout.size() - HEADER);
    block.add(HEADER).cast()
}

/// The block that `p` (from [`malloc`]) starts inside, and its layout.
///
/// # Safety
/// `p` came from [`malloc`] or [`realloc`] and was not freed.
unsafe fn block_of(p: *mut c_void) -> (*mut u8, Layout) {
    let block = p.cast::<u8>().sub(HEADER);
    let size = block.cast::<usize>().read();
    // SAFETY: the same size and alignment made a valid layout when allocated.
    (block, Layout::from_size_align_unchecked(size + HEADER, ALIGN))
}

unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let (block, layout) = block_of(p);
    std::alloc::dealloc(block, layout);
}

unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        return malloc(n);
    }
    let Some(new_layout) = usize::try_from(n).ok().and_then(layout) else { return std::ptr::null_mut() };
    let (block, old_layout) = block_of(p);
    let moved = std::alloc::realloc(block, old_layout, new_layout.size());
    if moved.is_null() {
        return moved.cast();
    }
    moved.cast::<usize>().write(new_layout.size() - HEADER);
    moved.add(HEADER).cast()
}

unsafe extern "C" fn size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    c_int::try_from(block_of(p).1.size() - HEADER).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn roundup(n: c_int) -> c_int {
    const MASK: c_int = ALIGN as c_int - 1;
    n.checked_add(MASK).map_or(n, |m| m & !MASK)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_remember_their_size_through_realloc() {
        // SAFETY: each pointer is used only while allocated.
        unsafe {
            let p = malloc(13);
            assert!(!p.is_null());
            assert_eq!(p as usize % ALIGN, 0);
            assert_eq!(size(p), 13);
            p.cast::<u8>().write_bytes(7, 13);
            let q = realloc(p, 5000);
            assert_eq!(size(q), 5000);
            assert_eq!(std::slice::from_raw_parts(q.cast::<u8>(), 13), &[7; 13]);
            free(q);
            assert!(malloc(-1).is_null());
            assert_eq!(roundup(13), 16);
            free(std::ptr::null_mut());
        }
    }
}
