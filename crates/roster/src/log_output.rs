//! Where `roster serve` writes its log: stderr, with the per-request INFO
//! lines batched. Writing each line with its own `write(2)` cost a few
//! percent of a lookup's CPU; here INFO and below collect in a buffer that a
//! background thread writes every [`FLUSH_EVERY`] (or at once past
//! [`FLUSH_AT`] bytes). WARN and ERROR lines are written at once, after
//! whatever is buffered, so order is kept and nothing urgent waits.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;

const FLUSH_EVERY: Duration = Duration::from_millis(100);
const FLUSH_AT: usize = 64 * 1024;

/// A [`MakeWriter`] for the fmt subscriber; see the module documentation.
#[derive(Clone)]
pub struct BatchedStderr {
    buffer: Arc<Mutex<Vec<u8>>>,
    /// False when the flushing thread could not start: then write through.
    batched: bool,
}

impl BatchedStderr {
    /// Starts the flushing thread, which lives as long as the process.
    pub fn start() -> BatchedStderr {
        let mut out = BatchedStderr { buffer: Arc::new(Mutex::new(Vec::with_capacity(FLUSH_AT))), batched: true };
        let flusher = out.clone();
        let spawned = std::thread::Builder::new().name("log-flush".into()).spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            flusher.flush_buffer();
        });
        out.batched = spawned.is_ok();
        out
    }

    /// Writes what is buffered (also called before the process exits).
    pub fn flush_buffer(&self) {
        let mut buffer = self.lock();
        Self::drain(&mut buffer);
    }

    fn drain(buffer: &mut Vec<u8>) {
        if !buffer.is_empty() {
            // A log that cannot be written has nowhere to report it.
            let _ = io::stderr().lock().write_all(buffer);
            buffer.clear();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One event's writer.
pub struct LineWriter<'a> {
    out: &'a BatchedStderr,
    at_once: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut buffer = self.out.lock();
        if self.at_once || !self.out.batched {
            BatchedStderr::drain(&mut buffer);
            io::stderr().lock().write_all(line)?;
        } else {
            buffer.extend_from_slice(line);
            if buffer.len() >= FLUSH_AT {
                BatchedStderr::drain(&mut buffer);
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { out: self, at_once: true }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter { out: self, at_once: *meta.level() <= tracing::Level::WARN }
    }
}
