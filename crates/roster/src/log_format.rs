//! The plain text log line, written directly.
//!
//! `roster serve` logs one line per request. With `tracing-subscriber`'s
//! default format, formatting that line (an RFC 3339 timestamp computed per
//! event, every string field through `Debug`, colour checks even with colour
//! off) was 7.6 % of a cached GET's CPU. [`PlainLine`] writes the same line
//! (the default `Full` format without colour, byte for byte: a test holds
//! them equal) with the date and time formatted once per second, and plain
//! strings copied without an escape pass. Roster opens no spans, and the
//! line holds none.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format; see the module documentation.
pub struct PlainLine;

impl<S, N> FormatEvent<S, N> for PlainLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        write_timestamp(&mut writer)?;
        writer.write_str(match *meta.level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = Fields { writer: &mut writer, first: true, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// `2026-11-29T10:18:16.936077Z`: the part up to the seconds is kept per
/// thread and formatted again only when the second changes.
fn write_timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return writer.write_str("<unknown time>");
    };
    let (seconds, micros) = (since_epoch.as_secs(), since_epoch.subsec_micros());
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != seconds {
            let at = i64::try_from(seconds).ok().and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok());
            let Some(at) = at else { return writer.write_str("<unknown time>") };
            cached.1.clear();
            write!(
                cached.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            )?;
            cached.0 = seconds;
        }
        writer.write_str(&cached.1)?;
        write!(writer, ".{micros:06}Z")
    })
}

/// Writes an event's fields as the default format does: the message as it
/// is, the others as `name=value` with `Debug` values, separated by spaces.
struct Fields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn separate(&mut self) -> fmt::Result {
        if std::mem::take(&mut self.first) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    fn write_name(&mut self, field: &Field) -> fmt::Result {
        let name = field.name();
        self.writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }

    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = self.separate().and_then(|()| {
            if field.name() != "message" {
                self.write_name(field)?;
            }
            value(self.writer)
        });
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let message = field.name() == "message";
        self.field(field, |w| {
            if message {
                Sanitizing(w).write_str(value)
            } else if value.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') {
                // What `Debug` would write, without its per-character escape pass.
                w.write_char('"')?;
                w.write_str(value)?;
                w.write_char('"')
            } else {
                write!(w, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let message = field.name() == "message";
        self.field(field, |w| if message { write!(Sanitizing(w), "{value:?}") } else { write!(w, "{value:?}") });
    }
}

/// Writes a message with terminal control characters escaped, as the default
/// format does, so that a logged value cannot drive the reader's terminal.
struct Sanitizing<'w, 'a>(&'w mut Writer<'a>);

impl fmt::Write for Sanitizing<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !s.chars().any(is_escaped) {
            return self.0.write_str(s);
        }
        for ch in s.chars() {
            match ch {
                '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => write!(self.0, "\\x{:02x}", ch as u32)?,
                ch if is_escaped(ch) => write!(self.0, "\\u{{{:x}}}", ch as u32)?,
                ch => self.0.write_char(ch)?,
            }
        }
        Ok(())
    }
}

fn is_escaped(ch: char) -> bool {
    matches!(ch, '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn events() {
        let method = "GET";
        let path = String::from("/scim/v2/Users/2b1c");
        tracing::info!(target: "roster::http", %method, path, status = 200u16, latency_us = 412u64, org = "bench", "request");
        tracing::warn!(
            quoted = "say \"hi\"\\now",
            tab = "a\tb",
            accent = "Zoë",
            delta = -3i64,
            ok = true,
            "odd values"
        );
        tracing::error!(error = %"disk full", "a write failed: \x1b[31mred\x1b[0m \u{85}");
        tracing::info!(detail = ?Some(3), r#type = "user");
        tracing::info!("message only");
        let n = 7;
        tracing::info!("formatted {n} and {}", "args");
    }

    /// Every line without its timestamp (its first 27 bytes, which differ
    /// by the microsecond between two runs).
    fn lines_of(captured: &Captured) -> Vec<String> {
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| l[27..].to_string()).collect()
    }

    #[test]
    fn the_plain_line_is_the_default_format_without_colour() {
        let default = Captured::default();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(default.clone()).finish();
        tracing::subscriber::with_default(subscriber, events);
        let plain = Captured::default();
        let subscriber =
            tracing_subscriber::fmt().with_ansi(false).with_writer(plain.clone()).event_format(PlainLine).finish();
        tracing::subscriber::with_default(subscriber, events);

        let (default, plain) = (lines_of(&default), lines_of(&plain));
        assert_eq!(default.len(), 6, "{default:?}");
        assert_eq!(plain, default);
        assert!(plain[0].ends_with(
            "INFO roster::http: request method=GET path=\"/scim/v2/Users/2b1c\" status=200 latency_us=412 org=\"bench\""
        ));
    }

    #[test]
    fn the_timestamp_is_rfc_3339_utc_with_microseconds() {
        let plain = Captured::default();
        let subscriber = tracing_subscriber::fmt().with_writer(plain.clone()).event_format(PlainLine).finish();
        let before = time::OffsetDateTime::now_utc();
        tracing::subscriber::with_default(subscriber, || tracing::info!("now"));
        let text = String::from_utf8(plain.0.lock().unwrap().clone()).unwrap();
        let stamp = &text[..27];
        let parsed = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).unwrap();
        assert!((parsed - before).abs() < time::Duration::seconds(5), "{stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.', "{stamp}");
    }
}
