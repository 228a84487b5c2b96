//! Reading points in the `samples` format (JSON Lines or CSV, as `export`
//! and `query` write them) back into an archive: every line validated, bad
//! lines reported by number, good ones upserted in batches.
//!
//! Parsing runs on the calling thread and the archive is written on another,
//! so that the two cores of a small machine both work; each batch is one
//! transaction, and upserts are idempotent, so an interrupted import is
//! resumed by running it again.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::sync::mpsc;

use rusqlite::types::Value as SqlValue;
use serde::Deserialize;
use thiserror::Error;

use crate::series::{StreamKey, UserSet};
use crate::store::{Store, StoreError, WriteStats, bucket_of, encode_value};
use crate::{BUCKET_SECS, Source, timeutil};

/// The most lines `--batch` may put in one transaction: several batches are
/// in memory at once (one being parsed, two queued, one being written).
pub const MAX_BATCH: u64 = 1_000_000;

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Jsonl,
    Csv,
}

/// A line that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {reason}")]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// What identifies a series in the input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub app_id: String,
    pub room_id: Option<String>,
    /// Sorted, deduplicated, comma-joined; `None` if none.
    pub user_ids: Option<String>,
    pub source: Source,
    pub indicator: String,
}

/// One valid input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub app_id: Cow<'a, str>,
    pub room_id: Option<Cow<'a, str>>,
    pub user_ids: Option<Cow<'a, str>>,
    pub source: Source,
    pub indicator: Cow<'a, str>,
    pub unit: Option<Cow<'a, str>>,
    pub ts: i64,
    pub value: f64,
}

#[derive(Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow)]
    app_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    room_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_ids: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    indicator: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    unit: Option<Cow<'a, str>>,
    #[serde(default)]
    ts: Option<serde_json::Number>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(default)]
    value: Option<serde_json::Number>,
}

fn non_empty(v: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    v.filter(|s| !s.is_empty())
}

/// Sorts and deduplicates a comma-joined user list, as archives store it.
fn normalize_users(users: Cow<'_, str>) -> Result<Cow<'_, str>, String> {
    let parts: Vec<&str> = users.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("user_ids {users:?} has an empty UserId"));
    }
    if parts.windows(2).all(|w| w[0] < w[1]) && !users.contains(' ') {
        return Ok(users);
    }
    let mut sorted = parts;
    sorted.sort_unstable();
    sorted.dedup();
    Ok(Cow::Owned(sorted.join(",")))
}

/// Checks one line's fields and builds a sample.
#[allow(clippy::too_many_arguments)]
fn build<'a>(
    app_id: Option<Cow<'a, str>>,
    room_id: Option<Cow<'a, str>>,
    user_ids: Option<Cow<'a, str>>,
    source: Option<Cow<'a, str>>,
    indicator: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
    ts: Option<i64>,
    time: Option<Cow<'a, str>>,
    value: Option<f64>,
) -> Result<Sample<'a>, String> {
    let app_id = non_empty(app_id).ok_or("app_id is missing or empty")?;
    let source: Source = match source.as_deref() {
        Some("quality") => Source::Quality,
        Some("operation") => Source::Operation,
        Some(other) => {
            return Err(format!(
                "source {other:?} is not \"quality\" or \"operation\""
            ));
        }
        None => return Err("source is missing".into()),
    };
    let indicator = non_empty(indicator).ok_or("indicator is missing or empty")?;
    let room_id = non_empty(room_id);
    let user_ids = match non_empty(user_ids) {
        Some(u) if room_id.is_none() => return Err(format!("user_ids {u:?} without room_id")),
        Some(u) => Some(normalize_users(u)?),
        None => None,
    };
    if source == Source::Operation && room_id.is_some() {
        return Err("operation data has no room_id".into());
    }
    let unit = non_empty(unit);
    for (field, text) in [
        ("app_id", Some(&app_id)),
        ("room_id", room_id.as_ref()),
        ("user_ids", user_ids.as_ref()),
        ("indicator", Some(&indicator)),
        ("unit", unit.as_ref()),
    ] {
        if let Some(c) = text.and_then(|t| crate::series::control_char(t)) {
            return Err(format!(
                "{field} holds a control character ({}), which no identity may hold",
                c.escape_unicode()
            ));
        }
    }
    let from_time = match time.as_deref() {
        Some(t) => Some(
            timeutil::parse_utc_z(t)
                .or_else(|| timeutil::parse_rfc3339(t))
                .ok_or_else(|| format!("time {t:?} is not RFC 3339"))?,
        ),
        None => None,
    };
    let ts = match (ts, from_time) {
        (Some(ts), Some(t)) if ts != t => {
            return Err(format!(
                "ts {ts} and time {:?} disagree",
                time.as_deref().unwrap_or("")
            ));
        }
        (Some(ts), _) | (None, Some(ts)) => ts,
        (None, None) => return Err("ts and time are both missing".into()),
    };
    if !timeutil::in_data_range(ts) {
        return Err(timeutil::outside_data_range(ts));
    }
    if ts.rem_euclid(BUCKET_SECS) != 0 {
        return Err(format!("ts {ts} is not on the 30-second grid"));
    }
    let value = value.ok_or("value is missing")?;
    if !value.is_finite() {
        return Err(format!("value {value} is not a finite number"));
    }
    Ok(Sample {
        app_id,
        room_id,
        user_ids,
        source,
        indicator,
        unit,
        ts,
        value,
    })
}

/// Parses one JSON Lines line.
pub fn parse_json_line(line: &str) -> Result<Sample<'_>, String> {
    let l: JsonLine<'_> = serde_json::from_str(line)
        .map_err(|e| format!("not a JSON object of the samples format ({e})"))?;
    let ts = match l.ts {
        Some(n) if n.is_u64() && n.as_i64().is_none() => {
            return Err(format!("time outside {} (ts {n})", timeutil::DATA_RANGE));
        }
        Some(n) => Some(
            n.as_i64()
                .ok_or_else(|| format!("ts {n} is not a whole number of seconds"))?,
        ),
        None => None,
    };
    let value = l.value.map(|n| n.as_f64().unwrap_or(f64::NAN));
    build(
        l.app_id,
        l.room_id,
        l.user_ids,
        l.source,
        l.indicator,
        l.unit,
        ts,
        l.time,
        value,
    )
}

/// Column positions of a CSV header.
#[derive(Debug, Clone, Default)]
pub struct CsvColumns {
    app_id: Option<usize>,
    room_id: Option<usize>,
    user_ids: Option<usize>,
    source: Option<usize>,
    indicator: Option<usize>,
    unit: Option<usize>,
    ts: Option<usize>,
    time: Option<usize>,
    value: Option<usize>,
}

impl CsvColumns {
    pub fn from_header(header: &csv::StringRecord) -> Result<CsvColumns, String> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let c = CsvColumns {
            app_id: find("app_id"),
            room_id: find("room_id"),
            user_ids: find("user_ids"),
            source: find("source"),
            indicator: find("indicator"),
            unit: find("unit"),
            ts: find("ts"),
            time: find("time"),
            value: find("value"),
        };
        let mut missing = Vec::new();
        for (name, col) in [
            ("app_id", c.app_id),
            ("source", c.source),
            ("indicator", c.indicator),
            ("value", c.value),
        ] {
            if col.is_none() {
                missing.push(name);
            }
        }
        if c.ts.is_none() && c.time.is_none() {
            missing.push("ts or time");
        }
        if missing.is_empty() {
            Ok(c)
        } else {
            Err(format!(
                "the CSV header lacks {}: expected the columns of the samples view ({})",
                missing.join(", "),
                crate::output::SAMPLE_COLUMNS.join(",")
            ))
        }
    }

    /// Parses one CSV record.
    pub fn parse<'a>(&self, r: &'a csv::StringRecord) -> Result<Sample<'a>, String> {
        // the last field of a CRLF line ends with the `\r`
        let last = r.len().saturating_sub(1);
        let field = |i: usize| {
            r.get(i).map(|f| {
                if i == last {
                    f.strip_suffix('\r').unwrap_or(f)
                } else {
                    f
                }
            })
        };
        let get = |c: Option<usize>| c.and_then(field).map(Cow::Borrowed);
        let ts = match get(self.ts).filter(|s| !s.is_empty()) {
            Some(s) => Some(s.trim().parse::<i64>().map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    format!("time outside {} (ts {s})", timeutil::DATA_RANGE)
                }
                _ => format!("ts {s:?} is not a whole number of seconds"),
            })?),
            None => None,
        };
        let value = match get(self.value).filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("value {s:?} is not a number"))?,
            ),
            None => None,
        };
        build(
            get(self.app_id),
            get(self.room_id),
            get(self.user_ids),
            get(self.source),
            get(self.indicator),
            get(self.unit),
            ts,
            get(self.time).filter(|s| !s.is_empty()),
            value,
        )
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub lines: u64,
    pub imported: u64,
    pub written: WriteStats,
    pub bad: u64,
    pub series: usize,
    /// Stopped at a bad line (`--strict`).
    pub stopped: bool,
}

/// How to run an import.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub format: InputFormat,
    pub strict: bool,
    /// Lines per transaction.
    pub batch: usize,
}

struct Batch {
    /// Series first seen in this batch: (index, key, unit).
    new_series: Vec<(u32, SeriesKey, Option<String>)>,
    rows: Vec<(u32, i64, SqlValue)>,
}

/// The writer thread: maps series to ids (creating them), upserts each batch
/// in one transaction.
fn write_batches(
    mut store: Store,
    batches: mpsc::Receiver<Batch>,
    done: mpsc::Sender<Result<WriteStats, StoreError>>,
) {
    let mut ids: Vec<i64> = Vec::new();
    for batch in batches {
        let result = (|| -> Result<WriteStats, StoreError> {
            for (index, key, unit) in &batch.new_series {
                let stream = StreamKey::new(
                    key.app_id.clone(),
                    key.room_id.clone(),
                    key.user_ids
                        .as_deref()
                        .map_or(Ok(UserSet::NONE), UserSet::parse)
                        .map_err(StoreError::Invalid)?,
                    key.source,
                );
                let id = store.series_id(&stream, &key.indicator, unit.as_deref())?;
                debug_assert_eq!(*index as usize, ids.len());
                ids.push(id);
            }
            let mut rows: Vec<(i64, i64, SqlValue)> = batch
                .rows
                .into_iter()
                .map(|(i, bucket, v)| (ids[i as usize], bucket, v))
                .collect();
            store.upsert_points(&mut rows)
        })();
        let failed = result.is_err();
        if done.send(result).is_err() || failed {
            return;
        }
    }
    // the import's last act: the .db file alone holds what it stored
    if let Err(e) = store.checkpoint() {
        tracing::warn!(error = %e, "checkpoint after the import failed; the WAL still holds everything");
    }
}

/// Batches of parsed lines on their way to the writer thread.
struct Pipeline {
    tx: Option<mpsc::SyncSender<Batch>>,
    done: mpsc::Receiver<Result<WriteStats, StoreError>>,
    writer: Option<std::thread::JoinHandle<()>>,
    sent: u64,
    received: u64,
    written: WriteStats,
    /// The last input line of each batch sent and not yet acknowledged.
    in_flight: VecDeque<u64>,
    /// Every input line up to this one is committed (or was a bad line):
    /// the last line of the last batch the writer acknowledged.
    committed_through: u64,
}

impl Pipeline {
    fn start(store: Store) -> std::io::Result<Pipeline> {
        // two batches in flight: the parser keeps ahead without unbounded memory
        let (tx, rx) = mpsc::sync_channel::<Batch>(2);
        let (done_tx, done) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("import-writer".into())
            .spawn(move || write_batches(store, rx, done_tx))?;
        Ok(Pipeline {
            tx: Some(tx),
            done,
            writer: Some(writer),
            sent: 0,
            received: 0,
            written: WriteStats::default(),
            in_flight: VecDeque::new(),
            committed_through: 0,
        })
    }

    /// Collects finished batches; with `wait`, all of them.
    fn collect(&mut self, wait: bool) -> Result<(), StoreError> {
        while self.received < self.sent {
            let next = if wait {
                self.done.recv().ok()
            } else {
                self.done.try_recv().ok()
            };
            match next {
                Some(Ok(w)) => {
                    self.written += w;
                    self.received += 1;
                    if let Some(line) = self.in_flight.pop_front() {
                        self.committed_through = line;
                    }
                }
                Some(Err(e)) => return Err(e),
                None if wait => {
                    return Err(StoreError::Invalid(
                        "the import writer stopped unexpectedly".into(),
                    ));
                }
                None => break,
            }
        }
        Ok(())
    }

    /// Sends a batch whose last input line is `last_line`.
    fn send(&mut self, batch: Batch, last_line: u64) -> Result<(), StoreError> {
        self.collect(false)?;
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if !sent {
            // the writer stopped: its error is waiting
            self.collect(true)?;
            return Err(StoreError::Invalid(
                "the import writer stopped unexpectedly".into(),
            ));
        }
        self.sent += 1;
        self.in_flight.push_back(last_line);
        Ok(())
    }

    /// Waits for the writer to store (or fail) every batch sent.
    fn finish(&mut self) -> Result<WriteStats, StoreError> {
        self.tx = None;
        let result = self.collect(true);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        result.map(|()| self.written)
    }
}

/// Parsed lines, grouped into batches with their series.
struct Batcher {
    index: HashMap<SeriesKey, u32>,
    last: Option<(SeriesKey, u32)>,
    batch: Batch,
    size: usize,
}

impl Batcher {
    fn new(size: usize) -> Batcher {
        Batcher {
            index: HashMap::new(),
            last: None,
            batch: Batch {
                new_series: Vec::new(),
                rows: Vec::with_capacity(size),
            },
            size,
        }
    }

    fn add(&mut self, s: Sample<'_>) {
        // lines of one series usually follow each other: skip the hashing then
        let same = self.last.as_ref().is_some_and(|(k, _)| {
            k.source == s.source
                && k.indicator == s.indicator
                && k.app_id == s.app_id
                && k.room_id.as_deref() == s.room_id.as_deref()
                && k.user_ids.as_deref() == s.user_ids.as_deref()
        });
        let i = match &self.last {
            Some((_, i)) if same => *i,
            _ => {
                let key = SeriesKey {
                    app_id: s.app_id.into_owned(),
                    room_id: s.room_id.map(Cow::into_owned),
                    user_ids: s.user_ids.map(Cow::into_owned),
                    source: s.source,
                    indicator: s.indicator.into_owned(),
                };
                let next = self.index.len() as u32;
                let batch = &mut self.batch;
                let i = *self.index.entry(key.clone()).or_insert_with(|| {
                    batch.new_series.push((
                        next,
                        key.clone(),
                        s.unit.as_deref().map(str::to_string),
                    ));
                    next
                });
                self.last = Some((key, i));
                i
            }
        };
        self.batch
            .rows
            .push((i, bucket_of(s.ts), encode_value(s.value)));
    }

    fn full(&self) -> bool {
        self.batch.rows.len() >= self.size
    }

    fn take(&mut self) -> Option<Batch> {
        if self.batch.rows.is_empty() && self.batch.new_series.is_empty() {
            return None;
        }
        Some(std::mem::replace(
            &mut self.batch,
            Batch {
                new_series: Vec::new(),
                rows: Vec::with_capacity(self.size),
            },
        ))
    }
}

/// The longest line read: a samples line is a few hundred bytes, and a
/// line without an end must not fill the memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What a UTF-8 file may start with (and Windows tools like to write).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why reading stopped before the end of the input.
enum Stop {
    /// A bad line, with --strict.
    Strict,
    /// The archive could not be written.
    Store(StoreError),
    /// The input could not be read from this line on.
    Input { line: u64, error: String },
}

/// An import under way: the lines' outcomes, batched to the writer.
struct Session<P: FnMut(u64), B: FnMut(&BadLine)> {
    pipeline: Pipeline,
    batcher: Batcher,
    report: ImportReport,
    strict: bool,
    on_progress: P,
    on_bad: B,
}

impl<P: FnMut(u64), B: FnMut(&BadLine)> Session<P, B> {
    /// One line's outcome; `bytes` read so far, for the progress.
    fn line(
        &mut self,
        line: u64,
        sample: Result<Sample<'_>, String>,
        bytes: u64,
    ) -> Result<(), Stop> {
        self.report.lines = line;
        match sample {
            Ok(s) => {
                self.batcher.add(s);
                self.report.imported += 1;
            }
            Err(reason) => {
                self.report.bad += 1;
                (self.on_bad)(&BadLine { line, reason });
                if self.strict {
                    return Err(Stop::Strict);
                }
            }
        }
        if self.batcher.full() {
            if let Some(b) = self.batcher.take() {
                self.pipeline.send(b, line).map_err(Stop::Store)?;
            }
            (self.on_progress)(bytes);
        }
        Ok(())
    }
}

/// Reads one line into `buf` (with its `\n`), at most [`MAX_LINE_BYTES`] of
/// it: the rest of a longer line is skipped. Returns the bytes consumed (0
/// at the end of the input) and whether the line was cut.
fn read_line_bounded(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<(u64, bool)> {
    buf.clear();
    let limit = MAX_LINE_BYTES as u64 + 1;
    let mut n = std::io::Read::take(&mut *input, limit).read_until(b'\n', buf)? as u64;
    if n < limit || buf.last() == Some(&b'\n') {
        return Ok((n, false));
    }
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        let (used, end) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        input.consume(used);
        n += used as u64;
        if end {
            break;
        }
    }
    Ok((n, true))
}

/// Why a line that is not UTF-8 text is refused.
fn not_utf8(e: std::str::Utf8Error) -> String {
    format!(
        "not UTF-8 text (an invalid byte at byte {} of the line): convert the file to UTF-8",
        e.valid_up_to() + 1
    )
}

/// Why a line longer than [`MAX_LINE_BYTES`] is refused.
fn too_long() -> String {
    format!("longer than {MAX_LINE_BYTES} bytes: not a line of the samples format")
}

fn read_jsonl<P: FnMut(u64), B: FnMut(&BadLine)>(
    session: &mut Session<P, B>,
    mut input: impl BufRead,
) -> (u64, Result<(), Stop>) {
    let mut buf = Vec::with_capacity(1024);
    let mut bytes: u64 = 0;
    let mut line: u64 = 0;
    loop {
        let (n, cut) = match read_line_bounded(&mut input, &mut buf) {
            Ok(r) => r,
            Err(e) => {
                let error = format!("cannot read it: {e}");
                return (
                    bytes,
                    Err(Stop::Input {
                        line: line + 1,
                        error,
                    }),
                );
            }
        };
        if n == 0 {
            return (bytes, Ok(()));
        }
        bytes += n;
        line += 1;
        let mut raw = buf.as_slice();
        if line == 1 {
            raw = raw.strip_prefix(BOM).unwrap_or(raw);
        }
        while let Some(rest) = raw.strip_suffix(b"\n").or_else(|| raw.strip_suffix(b"\r")) {
            raw = rest;
        }
        let sample = if cut {
            Err(too_long())
        } else {
            match std::str::from_utf8(raw) {
                Ok(text) if text.trim().is_empty() => {
                    session.report.lines = line;
                    continue;
                }
                Ok(text) => parse_json_line(text),
                Err(e) => Err(not_utf8(e)),
            }
        };
        if let Err(stop) = session.line(line, sample, bytes) {
            return (bytes, Err(stop));
        }
    }
}

/// A reader that fails once a line (the bytes between two `\n`) grows past
/// [`MAX_LINE_BYTES`]: the CSV parser would otherwise hold it whole.
struct LineLimit<R> {
    inner: R,
    run: usize,
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        let too_long = || std::io::Error::new(std::io::ErrorKind::InvalidData, too_long());
        match chunk.iter().position(|&b| b == b'\n') {
            None => self.run += n,
            Some(first) => {
                if self.run + first > MAX_LINE_BYTES {
                    return Err(too_long());
                }
                // lines inside a chunk are shorter than it: look only at
                // its ends, unless it is longer than a line may be
                let last = chunk.iter().rposition(|&b| b == b'\n').unwrap_or(first);
                if n > MAX_LINE_BYTES
                    && chunk[first..=last]
                        .split(|&b| b == b'\n')
                        .any(|l| l.len() > MAX_LINE_BYTES)
                {
                    return Err(too_long());
                }
                self.run = n - last - 1;
            }
        }
        if self.run > MAX_LINE_BYTES {
            return Err(too_long());
        }
        Ok(n)
    }
}

fn read_csv<P: FnMut(u64), B: FnMut(&BadLine)>(
    session: &mut Session<P, B>,
    input: impl BufRead,
) -> anyhow::Result<(u64, Result<(), Stop>)> {
    // The csv reader strips a UTF-8 BOM from the header itself. Records end
    // at `\n` only: with CRLF as terminator it numbers every line after
    // the header one too low (the `\n` of a `\r\n` counts towards the next
    // record); the `\r` is taken off the last field instead.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(LineLimit {
            inner: input,
            run: 0,
        });
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let reason = match e.kind() {
                csv::ErrorKind::Utf8 { .. } => {
                    "is not UTF-8 text: convert the file to UTF-8".into()
                }
                _ => format!("cannot be read ({e})"),
            };
            return Err(crate::exit::UsageError(format!("line 1: the CSV header {reason}")).into());
        }
    };
    let columns = CsvColumns::from_header(&header).map_err(crate::exit::UsageError)?;
    session.report.lines = 1;
    let mut record = csv::StringRecord::new();
    loop {
        let fallback = session.report.lines + 1;
        let (line, sample) = match reader.read_record(&mut record) {
            Ok(false) => break,
            // a blank CRLF line
            Ok(true) if record.len() == 1 && &record[0] == "\r" => continue,
            Ok(true) => {
                let line = record.position().map_or(fallback, |p| p.line());
                (line, columns.parse(&record))
            }
            Err(e) => {
                let line = e.position().map_or(fallback, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => (
                        line,
                        Err(format!("not UTF-8 text: convert the file to UTF-8 ({e})")),
                    ),
                    // the parser cannot resume inside a line it could not read
                    csv::ErrorKind::Io(io) => {
                        let error = io.to_string();
                        return Ok((reader.position().byte(), Err(Stop::Input { line, error })));
                    }
                    _ => (line, Err(format!("not a CSV record ({e})"))),
                }
            }
        };
        if let Err(stop) = session.line(line, sample, reader.position().byte()) {
            return Ok((reader.position().byte(), Err(stop)));
        }
    }
    Ok((reader.position().byte(), Ok(())))
}

/// Imports lines from `input` into `store`. `on_progress(bytes_read)` is
/// called after each batch; `on_bad` for each rejected line.
pub fn import(
    store: Store,
    input: impl BufRead,
    options: ImportOptions,
    on_progress: impl FnMut(u64),
    on_bad: impl FnMut(&BadLine),
) -> anyhow::Result<ImportReport> {
    let mut session = Session {
        pipeline: Pipeline::start(store)?,
        batcher: Batcher::new(options.batch),
        report: ImportReport::default(),
        strict: options.strict,
        on_progress,
        on_bad,
    };
    let (bytes, read) = match options.format {
        InputFormat::Jsonl => read_jsonl(&mut session, input),
        InputFormat::Csv => read_csv(&mut session, input)?,
    };
    let Session {
        mut pipeline,
        mut batcher,
        mut report,
        mut on_progress,
        ..
    } = session;
    let mut stop = read.err();
    // the lines read so far are stored, except the batch holding the bad
    // line that stopped a --strict import
    if !matches!(stop, Some(Stop::Strict | Stop::Store(_)))
        && let Some(b) = batcher.take()
        && let Err(e) = pipeline.send(b, report.lines)
    {
        stop = Some(Stop::Store(e));
    }
    report.stopped = matches!(stop, Some(Stop::Strict));
    let finished = pipeline.finish();
    on_progress(bytes);
    // what is on disk for sure: the batches the writer acknowledged
    let committed = match pipeline.committed_through {
        0 => "nothing is committed".to_string(),
        n => format!("lines 1 to {n} are committed, nothing after line {n} is"),
    };
    let resume = match pipeline.committed_through {
        0 => "run the same import again".to_string(),
        n => format!(
            "run the same import again (the committed lines are left alone), or import what \
             follows line {n}"
        ),
    };
    match (stop, finished) {
        (None | Some(Stop::Strict), Ok(written)) => {
            report.written = written;
            report.series = batcher.index.len();
            Ok(report)
        }
        (Some(Stop::Store(e)), _) | (_, Err(e)) => Err(anyhow::Error::new(e).context(format!(
            "the archive could not be written; {committed}: fix the problem (for a full disk, \
             free space) and {resume}"
        ))),
        (Some(Stop::Input { line, error }), Ok(_)) => Err(anyhow::anyhow!(
            "line {line}: {error}; {committed}: fix the input and {resume}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"app_id":"app1","room_id":"room-1","user_ids":"u1,u2","source":"quality","indicator":"audio_stall_rate","unit":"%","ts":1795435200,"time":"2026-11-23T12:00:00Z","value":98.68}"#;

    #[test]
    fn a_samples_line_parses() {
        let s = parse_json_line(LINE).unwrap();
        assert_eq!(s.app_id, "app1");
        assert_eq!(s.room_id.as_deref(), Some("room-1"));
        assert_eq!(s.user_ids.as_deref(), Some("u1,u2"));
        assert_eq!(s.source, Source::Quality);
        assert_eq!(s.ts, 1_795_435_200);
        assert_eq!(s.value, 98.68);
        // time alone, another offset, nulls, extra keys
        let s = parse_json_line(
            r#"{"app_id":"a","room_id":null,"source":"operation","indicator":"online_user_count","time":"2026-11-23T20:00:30+08:00","value":3212,"note":"x"}"#,
        )
        .unwrap();
        assert_eq!(s.ts, 1_795_435_230);
        assert_eq!(s.room_id, None);
        assert_eq!(s.unit, None);
    }

    #[test]
    fn users_are_normalized() {
        let line = LINE.replace("u1,u2", "u2,u1,u2");
        let s = parse_json_line(&line).unwrap();
        assert_eq!(s.user_ids.as_deref(), Some("u1,u2"));
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("not json", "not a JSON object"),
            ("[1,2]", "not a JSON object"),
            (&LINE.replace("\"app1\"", "\"\""), "app_id"),
            (&LINE.replace("\"quality\"", "\"qos\""), "source \"qos\""),
            (&LINE.replace("1795435200", "1795435201"), "disagree"),
            (
                &LINE
                    .replace("1795435200", "1795435201")
                    .replace(",\"time\":\"2026-11-23T12:00:00Z\"", ""),
                "30-second grid",
            ),
            (&LINE.replace("98.68", "null"), "value is missing"),
            (&LINE.replace("98.68", "\"98.68\""), "not a JSON object"),
            (
                &LINE.replace("2026-11-23T12:00:00Z", "yesterday"),
                "not RFC 3339",
            ),
            (
                &LINE.replace("\"room_id\":\"room-1\",", ""),
                "without room_id",
            ),
            (&LINE.replace("1795435200", "1795435200.5"), "whole number"),
            (&LINE.replace("u1,u2", "u1,,u2"), "empty UserId"),
        ];
        for (line, want) in cases {
            let e = parse_json_line(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn extreme_timestamps_are_refused_not_wrapped() {
        let no_time = LINE.replace(",\"time\":\"2026-11-23T12:00:00Z\"", "");
        for ts in [
            "-9223372036854775800",
            "9223372036854775800",
            "0",
            "946684770",
            "4102444800",
        ] {
            let e = parse_json_line(&no_time.replace("1795435200", ts)).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100"), "{ts}: {e}");
        }
        let no_ts = LINE.replace("\"ts\":1795435200,", "");
        for time in [
            "1999-12-31T23:59:30Z",
            "2100-01-01T00:00:00Z",
            "9999-12-31T23:59:30+08:00",
        ] {
            let e = parse_json_line(&no_ts.replace("2026-11-23T12:00:00Z", time)).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100"), "{time}: {e}");
        }
        // beyond i64 either way: out of range too, not "not a whole number"
        for ts in ["18446744073709551615", "9223372036854775808"] {
            let e = parse_json_line(&no_time.replace("1795435200", ts)).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100 (ts "), "{ts}: {e}");
        }
        let csv = format!(
            "app_id,source,indicator,ts,value\na,quality,x,{},1\na,quality,x,-99999999999999999999,1\n",
            u64::MAX
        );
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let cols = CsvColumns::from_header(r.headers().unwrap()).unwrap();
        for rec in r.records() {
            let e = cols.parse(&rec.unwrap()).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100 (ts "), "{e}");
        }
        assert!(parse_json_line(&no_time.replace("1795435200", "946684800")).is_ok());
        assert!(parse_json_line(&no_time.replace("1795435200", "4102444770")).is_ok());
    }

    #[test]
    fn control_characters_in_identities_are_bad_lines() {
        for (from, to, field) in [
            (
                "\"app1\"",
                "\"app\\u0000\"",
                "app_id holds a control character (\\u{0})",
            ),
            (
                "\"room-1\"",
                "\"room\\u001b[2J\"",
                "room_id holds a control character (\\u{1b})",
            ),
            (
                "\"u1,u2\"",
                "\"u1,u\\r2\"",
                "user_ids holds a control character (\\u{d})",
            ),
            (
                "\"audio_stall_rate\"",
                "\"stall\\nrate\"",
                "indicator holds",
            ),
            ("\"%\"", "\"%\\t\"", "unit holds"),
        ] {
            let e = parse_json_line(&LINE.replace(from, to)).unwrap_err();
            assert!(e.starts_with(field), "{to}: {e}");
        }
        // CSV: a NUL byte, and a CR inside a quoted field
        let csv = "app_id,source,indicator,ts,value\n\
                   a\0b,operation,x,1795435200,1\n\
                   \"a\rb\",operation,x,1795435230,1\n\
                   ab,operation,x,1795435260,1\n";
        let (_dir, _, report, bad) = run_bytes(csv.as_bytes(), InputFormat::Csv, false, 10);
        assert_eq!(report.unwrap().imported, 1);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [2, 3]);
        assert!(
            bad.iter()
                .all(|b| b.reason.starts_with("app_id holds a control character"))
        );
    }

    #[test]
    fn csv_records_parse_by_header() {
        let text = "ts,value,indicator,source,app_id,room_id,user_ids,unit\n1795435200,1.5,x,quality,a,,,%\n1795435230,,x,quality,a,,,%\n";
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let cols = CsvColumns::from_header(r.headers().unwrap()).unwrap();
        let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        let s = cols.parse(&recs[0]).unwrap();
        assert_eq!(
            (s.ts, s.value, s.room_id.clone()),
            (1_795_435_200, 1.5, None)
        );
        assert!(
            cols.parse(&recs[1])
                .unwrap_err()
                .contains("value is missing")
        );
        let bad = csv::StringRecord::from(vec!["app_id", "value"]);
        let e = CsvColumns::from_header(&bad).unwrap_err();
        assert!(e.contains("source") && e.contains("ts or time"), "{e}");
    }

    fn run(
        text: &str,
        strict: bool,
        batch: usize,
    ) -> (tempfile::TempDir, Store, ImportReport, Vec<BadLine>) {
        let (dir, store, report, bad) =
            run_bytes(text.as_bytes(), InputFormat::Jsonl, strict, batch);
        (dir, store, report.unwrap(), bad)
    }

    /// Imports `input` into a new archive: the archive reopened, the outcome, the bad lines.
    fn run_bytes(
        input: &[u8],
        format: InputFormat,
        strict: bool,
        batch: usize,
    ) -> (
        tempfile::TempDir,
        Store,
        anyhow::Result<ImportReport>,
        Vec<BadLine>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let store = Store::open(&path, crate::store::OpenMode::Create).unwrap();
        let mut bad = Vec::new();
        let report = import(
            store,
            input,
            ImportOptions {
                format,
                strict,
                batch,
            },
            |_| {},
            |b| bad.push(b.clone()),
        );
        let store = Store::open(&path, crate::store::OpenMode::Existing).unwrap();
        (dir, store, report, bad)
    }

    fn count(store: &Store) -> i64 {
        store
            .conn()
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn invalid_utf8_in_a_jsonl_line_is_a_bad_line_not_an_aborted_import() {
        let text = lines(4);
        let mut input = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if i == 1 {
                // one bad byte inside a string, as a Latin-1 editor writes "ü"
                let mut bytes = l.replace("app1", "app?").into_bytes();
                let at = bytes.iter().position(|&b| b == b'?').unwrap();
                bytes[at] = 0xFC;
                input.extend_from_slice(&bytes);
            } else {
                input.extend_from_slice(l.as_bytes());
            }
            input.push(b'\n');
        }
        let (_dir, store, report, bad) = run_bytes(&input, InputFormat::Jsonl, false, 2);
        let report = report.unwrap();
        assert_eq!((report.imported, report.bad, report.lines), (3, 1, 4));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert!(bad[0].reason.starts_with("not UTF-8 text"), "{:?}", bad[0]);
        assert_eq!(count(&store), 3);
        // --strict stops there; the batch before it is stored
        let (_dir, store, report, _) = run_bytes(&input, InputFormat::Jsonl, true, 1);
        assert!(report.unwrap().stopped);
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn a_utf8_bom_at_the_start_of_a_file_is_accepted() {
        let mut input = b"\xEF\xBB\xBF".to_vec();
        input.extend_from_slice(lines(2).as_bytes());
        let (_dir, store, report, bad) = run_bytes(&input, InputFormat::Jsonl, false, 10);
        assert_eq!(report.unwrap().imported, 2, "{bad:?}");
        assert_eq!(count(&store), 2);
        // CRLF line ends too
        let crlf = lines(2).replace('\n', "\r\n");
        let (_dir, _, report, bad) = run_bytes(crlf.as_bytes(), InputFormat::Jsonl, false, 10);
        assert_eq!(report.unwrap().imported, 2, "{bad:?}");

        let csv = "\u{feff}app_id,source,indicator,ts,value\r\napp1,operation,online_user_count,1795435200,3\r\n";
        let (_dir, store, report, bad) = run_bytes(csv.as_bytes(), InputFormat::Csv, false, 10);
        assert_eq!(report.unwrap().imported, 1, "{bad:?}");
        assert_eq!(count(&store), 1);
    }

    #[test]
    fn invalid_utf8_in_csv_is_a_bad_line_and_in_its_header_a_usage_error() {
        let mut input = b"app_id,source,indicator,ts,value\n".to_vec();
        input.extend_from_slice(b"app1,operation,online_user_count,1795435200,3\n");
        input.extend_from_slice(b"app\xFC,operation,online_user_count,1795435230,3\n");
        input.extend_from_slice(b"app1,operation,online_user_count,1795435260,3\n");
        let (_dir, store, report, bad) = run_bytes(&input, InputFormat::Csv, false, 10);
        assert_eq!(report.unwrap().imported, 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
        assert!(bad[0].reason.starts_with("not UTF-8 text"), "{:?}", bad[0]);
        assert_eq!(count(&store), 2);

        let header = b"app_id,sou\xFFrce,indicator,ts,value\napp1,operation,x,1795435200,3\n";
        let (_dir, store, report, _) = run_bytes(header, InputFormat::Csv, false, 10);
        let e = report.unwrap_err();
        assert!(e.is::<crate::exit::UsageError>(), "{e:#}");
        assert!(
            e.to_string()
                .contains("line 1: the CSV header is not UTF-8"),
            "{e:#}"
        );
        assert_eq!(count(&store), 0);
    }

    #[test]
    fn csv_line_numbers_are_right_with_crlf_line_ends() {
        // the csv crate numbered every CRLF line after the header one too low
        let text = "app_id,source,indicator,ts,value,unit\r\n\
                    app1,operation,x,1795435200,1,%\r\n\
                    \r\n\
                    app1,operation,x,1795435230,x,%\r\n\
                    app1,operation,x,1795435260,1,\"%\"\r\n";
        let (_dir, store, report, bad) = run_bytes(text.as_bytes(), InputFormat::Csv, false, 10);
        assert_eq!(report.unwrap().imported, 2, "{bad:?}");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4, "{bad:?}");
        assert_eq!(bad[0].reason, "value \"x\" is not a number");
        // the last field lost its \r
        let units: Vec<String> = store
            .conn()
            .prepare("SELECT DISTINCT unit FROM samples")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(units, ["%"]);
    }

    #[test]
    fn a_line_longer_than_a_mebibyte_is_refused_without_holding_it() {
        let good = lines(2);
        let huge = format!("{{\"app_id\":\"{}\"}}", "a".repeat(3 * MAX_LINE_BYTES));
        let text = format!(
            "{}\n{huge}\n{}\n",
            good.lines().next().unwrap(),
            good.lines().nth(1).unwrap()
        );
        let (_dir, store, report, bad) = run_bytes(text.as_bytes(), InputFormat::Jsonl, false, 10);
        assert_eq!(report.unwrap().imported, 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert!(
            bad[0].reason.starts_with("longer than 1048576 bytes"),
            "{:?}",
            bad[0]
        );
        assert_eq!(count(&store), 2);
        // without a line end at all
        let (_dir, _, report, bad) = run_bytes(huge.as_bytes(), InputFormat::Jsonl, false, 10);
        assert_eq!((report.unwrap().bad, bad[0].line), (1, 1));

        // CSV cannot resume inside such a line: the import stops there,
        // naming it, with what came before committed
        let csv = format!(
            "app_id,source,indicator,ts,value\napp1,operation,x,1795435200,3\n{}\napp1,operation,x,1795435260,3\n",
            "a".repeat(3 * MAX_LINE_BYTES)
        );
        let (_dir, store, report, _) = run_bytes(csv.as_bytes(), InputFormat::Csv, false, 10);
        let e = format!("{:#}", report.unwrap_err());
        assert!(e.contains("line 3: longer than 1048576 bytes"), "{e}");
        assert_eq!(count(&store), 1);
    }

    fn lines(n: i64) -> String {
        (0..n)
            .map(|i| {
                LINE.replace("1795435200", &(1_795_435_200 + i * 30).to_string())
                    .replace(",\"time\":\"2026-11-23T12:00:00Z\"", "")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn imports_in_batches_idempotently() {
        let text = lines(10);
        let (_dir, store, report, bad) = run(&text, false, 3);
        assert!(bad.is_empty());
        assert_eq!(report.imported, 10);
        assert_eq!(
            report.written,
            WriteStats {
                new: 10,
                revised: 0,
                unchanged: 0
            }
        );
        assert_eq!(report.series, 1);
        let n: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 10);
    }

    #[test]
    fn a_disk_full_import_says_which_lines_were_committed() {
        // the message used to give the parser's position ("after line
        // 300000"), a batch or two ahead of what the writer had committed
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        let store = Store::open(&path, crate::store::OpenMode::Create).unwrap();
        let pages: i64 = store
            .conn()
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        // SQLITE_FULL once the file may not grow: a full disk, a few batches in
        store
            .conn()
            .pragma_update(None, "max_page_count", pages + 12)
            .unwrap();
        let text = lines(40_000);
        let e = import(
            store,
            text.as_bytes(),
            ImportOptions {
                format: InputFormat::Jsonl,
                strict: false,
                batch: 1000,
            },
            |_| {},
            |_| {},
        )
        .unwrap_err();
        let store = Store::open(&path, crate::store::OpenMode::Existing).unwrap();
        let stored = count(&store);
        assert!(
            stored > 0 && stored < 40_000 && stored % 1000 == 0,
            "{stored}"
        );
        let message = format!("{e:#}");
        assert!(
            message.starts_with(&format!(
                "the archive could not be written; lines 1 to {stored} are committed, \
                 nothing after line {stored} is: fix the problem (for a full disk, free space) \
                 and run the same import again (the committed lines are left alone), or import \
                 what follows line {stored}: "
            )),
            "{message}"
        );
        assert!(
            e.chain().any(|c| c
                .downcast_ref::<StoreError>()
                .is_some_and(StoreError::is_io)),
            "a storage error (exit 74): {message}"
        );
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_skipped_or_stop() {
        let mut text = lines(6);
        text = text
            .replacen("98.68", "null", 1)
            .replace('\n', "\nnot json\n");
        let (_dir, _, report, bad) = run(&text, false, 100);
        assert_eq!(report.imported, 5);
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            [1, 2, 4, 6, 8, 10]
        );
        assert!(bad[0].reason.contains("value is missing"), "{:?}", bad[0]);
        assert!(bad[1].reason.contains("not a JSON object"), "{:?}", bad[1]);

        // strict: stop at the first bad line; the batch holding it is not stored
        let mut strict: Vec<String> = lines(10).lines().map(str::to_string).collect();
        strict.insert(6, "{}".into());
        let (_dir2, store, report, bad) = run(&strict.join("\n"), true, 4);
        assert!(report.stopped);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 7);
        let n: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM points", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 4, "only the batch before the bad line's");
    }
}
