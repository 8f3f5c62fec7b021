//! `roster import`: reads users from CSV (JumpCloud `systemusers` column
//! names) or JSON Lines (SCIM user objects or the same flat field names),
//! hands them to [`directory::import`] in batches, shows progress and
//! reports skipped rows with their line numbers and the users per second.

use anyhow::{anyhow, Context, Result};
use directory::import::{import_batch, scim_from_row, ImportRow, Rejected};
use directory::{store, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub imported: u64,
    pub rejected: Vec<Rejected>,
    pub unknown_columns: BTreeSet<String>,
    pub seconds: f64,
}

/// Guesses the format from the file name, else from the first character.
fn detect(path: &Path) -> Result<Format> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "csv" => return Ok(Format::Csv),
        "jsonl" | "ndjson" | "json" => return Ok(Format::Jsonl),
        _ => {}
    }
    let file = std::fs::File::open(path)?;
    let mut first = String::new();
    for line in BufReader::new(file).lines() {
        first = line?;
        if !first.trim().is_empty() {
            break;
        }
    }
    Ok(if first.trim_start().starts_with('{') { Format::Jsonl } else { Format::Csv })
}

/// Imports `path` into organisation `org_name`.
pub fn run(
    store: &dyn Store,
    org_name: &str,
    path: &Path,
    format: Option<Format>,
    batch_size: usize,
) -> Result<Summary> {
    let org = store::read(store, |tx| tx.org_by_name(org_name))?
        .ok_or_else(|| anyhow!("no organisation named {org_name:?} (create it with `roster org create`)"))?;
    let format = match format {
        Some(f) => f,
        None => detect(path).with_context(|| format!("reading {}", path.display()))?,
    };
    let total_bytes = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut summary = Summary::default();
    let batch_size = batch_size.max(1);
    let mut batch: Vec<ImportRow> = Vec::with_capacity(batch_size);
    let flush = |batch: &mut Vec<ImportRow>, summary: &mut Summary, position: u64| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let report = import_batch(store, &org, batch)?;
        summary.imported += report.imported;
        summary.rejected.extend(report.rejected);
        batch.clear();
        bar.set_position(position);
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{} imported, {} skipped, {:.0} users/s",
            summary.imported,
            summary.rejected.len(),
            summary.imported as f64 / secs
        ));
        Ok(())
    };
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(file);
            let headers = reader.headers().context("reading the CSV header")?.clone();
            let mut record = csv::StringRecord::new();
            loop {
                let line_before = reader.position().line();
                match reader.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        let line = record.position().map_or(line_before, |p| p.line());
                        let mut row = Map::new();
                        for (h, v) in headers.iter().zip(record.iter()) {
                            row.insert(h.to_string(), Value::String(v.to_string()));
                        }
                        if record.len() != headers.len() {
                            summary.rejected.push(Rejected {
                                line,
                                reason: format!("{} fields, the header has {}", record.len(), headers.len()),
                            });
                            continue;
                        }
                        push_row(&mut batch, &mut summary, line, &row);
                    }
                    Err(e) => {
                        let line = e.position().map_or(line_before + 1, |p| p.line());
                        summary.rejected.push(Rejected { line, reason: format!("unreadable CSV: {e}") });
                        if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }) {
                            break;
                        }
                    }
                }
                if batch.len() >= batch_size {
                    flush(&mut batch, &mut summary, reader.position().byte())?;
                }
            }
            flush(&mut batch, &mut summary, total_bytes)?;
        }
        Format::Jsonl => {
            let mut reader = BufReader::new(file);
            let mut buf = String::new();
            let (mut line, mut bytes) = (0u64, 0u64);
            loop {
                buf.clear();
                let n = match reader.read_line(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        line += 1;
                        summary.rejected.push(Rejected { line, reason: format!("unreadable line: {e}") });
                        // Skip the rest of an invalid UTF-8 line.
                        let mut skip = Vec::new();
                        reader.read_until(b'\n', &mut skip)?;
                        bytes += skip.len() as u64;
                        continue;
                    }
                };
                line += 1;
                bytes += n as u64;
                let text = buf.trim();
                if text.is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(row)) => push_row(&mut batch, &mut summary, line, &row),
                    Ok(_) => summary.rejected.push(Rejected { line, reason: "not a JSON object".into() }),
                    Err(e) => summary.rejected.push(Rejected { line, reason: format!("invalid JSON: {e}") }),
                }
                if batch.len() >= batch_size {
                    flush(&mut batch, &mut summary, bytes)?;
                }
            }
            flush(&mut batch, &mut summary, total_bytes)?;
        }
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.rejected.sort_by_key(|r| r.line);
    Ok(summary)
}

fn push_row(batch: &mut Vec<ImportRow>, summary: &mut Summary, line: u64, row: &Map<String, Value>) {
    let (user, unknown) = scim_from_row(row);
    summary.unknown_columns.extend(unknown);
    batch.push(ImportRow { line, user });
}

/// Prints the outcome: skipped rows on stderr, the totals on stdout.
pub fn print(summary: &Summary) {
    for r in &summary.rejected {
        eprintln!("line {}: skipped: {}", r.line, r.reason);
    }
    if !summary.unknown_columns.is_empty() {
        let names: Vec<&str> = summary.unknown_columns.iter().map(String::as_str).collect();
        eprintln!("ignored unknown columns: {}", names.join(", "));
    }
    let rate = summary.imported as f64 / summary.seconds.max(1e-9);
    println!(
        "imported {} users, skipped {} rows in {:.1} s ({:.0} users/s)",
        summary.imported,
        summary.rejected.len(),
        summary.seconds,
        rate
    );
}
