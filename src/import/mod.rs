//! Reading points in the samples format (JSON Lines or CSV, as `export`
//! and `query` write them) back into an archive: every line validated, bad
//! lines reported by number, good ones upserted in batches.
//!
//! Lines are read and checked on the calling thread ([`crate::samples`]
//! hides the format) and the archive is written on another, so that the two
//! cores of a small machine both work; each batch is one transaction, and
//! upserts are idempotent, so an interrupted import is resumed by running
//! it again.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::sync::mpsc;

use rusqlite::types::Value as SqlValue;
use thiserror::Error;

use crate::samples::{self, BadLine, InputError, Sample, SampleFormat};
use crate::series::{Resolution, SeriesKey};
use crate::store::{Store, StoreError, WriteStats, bucket_of, encode_value};

/// The most lines `--batch` may put in one transaction: several batches are
/// in memory at once (one being parsed, two queued, one being written).
pub const MAX_BATCH: u64 = 1_000_000;

/// Why an import stopped before the end of its input.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The input is not the samples format at all (a CSV header that cannot
    /// be used); nothing was imported.
    #[error("{0}")]
    Header(String),
    /// The writer thread could not be started.
    #[error("cannot start the import's writer thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The archive could not be written.
    #[error(
        "the archive could not be written; {}: fix the problem (for a full disk, free \
         space) and {}",
        committed(*.committed_through),
        resume(*.committed_through)
    )]
    Store {
        #[source]
        source: StoreError,
        /// Every input line up to this one is committed.
        committed_through: u64,
    },
    /// The input could not be read from a line on.
    #[error(
        "{input}; {}: fix the input and {}",
        committed(*.committed_through),
        resume(*.committed_through)
    )]
    Input {
        input: InputError,
        committed_through: u64,
    },
}

/// What is on disk for sure after a failed import.
fn committed(through: u64) -> String {
    match through {
        0 => "nothing is committed".to_string(),
        n => format!("lines 1 to {n} are committed, nothing after line {n} is"),
    }
}

/// How to finish a failed import.
fn resume(through: u64) -> String {
    match through {
        0 => "run the same import again".to_string(),
        n => format!(
            "run the same import again (the committed lines are left alone), or import what \
             follows line {n}"
        ),
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
    pub format: SampleFormat,
    pub strict: bool,
    /// Lines per transaction.
    pub batch: usize,
}

struct Batch {
    /// Series first seen in this batch: (index, key, unit).
    new_series: Vec<(u32, SeriesKey, Option<String>)>,
    rows: Vec<(u32, i64, SqlValue, Resolution)>,
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
                let id = store.series_id_of(key, unit.as_deref())?;
                debug_assert_eq!(*index as usize, ids.len());
                ids.push(id);
            }
            let mut rows: Vec<(i64, i64, SqlValue, Resolution)> = batch
                .rows
                .into_iter()
                .map(|(i, bucket, v, r)| (ids[i as usize], bucket, v, r))
                .collect();
            store.upsert_samples(&mut rows)
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
            k.stream.source == s.source
                && k.indicator == s.indicator
                && k.stream.app_id == s.app_id
                && k.stream.room_id.as_deref() == s.room_id.as_deref()
                && k.stream.user_ids.joined() == s.user_ids.as_deref().unwrap_or("")
                // a breakdown's values follow each other in an export: every
                // part of the identity counts (without these, the values of
                // one indicator were all written into its first value's series)
                && k.stream.dimension == s.dimension
                && k.dimension_value.as_deref() == s.dimension_value.as_deref()
        });
        let i = match &self.last {
            Some((_, i)) if same => *i,
            _ => {
                let key = s.series_key();
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
            .push((i, bucket_of(s.ts), encode_value(s.value), s.resolution));
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

/// Why reading stopped before the end of the input.
enum Stop {
    /// A bad line, with --strict.
    Strict,
    /// The archive could not be written.
    Store(StoreError),
    /// The input could not be read from this line on.
    Input(InputError),
}

/// Imports lines from `input` into `store`. `on_progress(bytes_read)` is
/// called after each batch; `on_bad` for each rejected line.
pub fn import(
    store: Store,
    input: impl BufRead,
    options: ImportOptions,
    mut on_progress: impl FnMut(u64),
    mut on_bad: impl FnMut(&BadLine),
) -> Result<ImportReport, ImportError> {
    let mut reader = samples::reader(options.format, input).map_err(ImportError::Header)?;
    let mut pipeline = Pipeline::start(store).map_err(ImportError::Thread)?;
    let mut batcher = Batcher::new(options.batch);
    let mut report = ImportReport::default();
    let mut stop = None;
    while let Some(next) = reader.next_line() {
        let line = match next {
            Ok(line) => line,
            Err(e) => {
                stop = Some(Stop::Input(e));
                break;
            }
        };
        report.lines = line.number;
        match line.sample {
            Ok(s) => {
                batcher.add(s);
                report.imported += 1;
            }
            Err(reason) => {
                report.bad += 1;
                on_bad(&BadLine {
                    line: line.number,
                    reason,
                });
                if options.strict {
                    stop = Some(Stop::Strict);
                    break;
                }
            }
        }
        if batcher.full() {
            if let Some(b) = batcher.take()
                && let Err(e) = pipeline.send(b, line.number)
            {
                stop = Some(Stop::Store(e));
                break;
            }
            on_progress(line.bytes);
        }
    }
    if stop.is_none() {
        // blank lines at the end count as read
        report.lines = reader.lines_read();
    }
    let bytes = reader.bytes_read();
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
    let committed_through = pipeline.committed_through;
    match (stop, finished) {
        (None | Some(Stop::Strict), Ok(written)) => {
            report.written = written;
            report.series = batcher.index.len();
            Ok(report)
        }
        (Some(Stop::Store(source)), _) | (_, Err(source)) => Err(ImportError::Store {
            source,
            committed_through,
        }),
        (Some(Stop::Input(input)), Ok(_)) => Err(ImportError::Input {
            input,
            committed_through,
        }),
    }
}

#[cfg(test)]
mod tests;
