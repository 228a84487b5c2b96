//! The samples format: one row per point with the columns of the `samples`
//! view, as JSON Lines or CSV. `export` and `query` write it ([`write`]),
//! `import` reads it back through a [`SampleReader`] that hides which of the
//! two formats it is ([`jsonl`], [`csv`]); every line is checked by the same
//! rules ([`parse`]). One module for both sides, so they never drift apart.

mod csv;
mod jsonl;
mod parquet;
mod parse;
mod write;

use std::io::BufRead;
use std::path::Path;

use clap::ValueEnum;
use thiserror::Error;

pub use self::parquet::{PARQUET_SCHEMA, ParquetWriter, ROW_GROUP_ROWS};
pub use parse::{CsvColumns, Sample, parse_json_line};
pub use write::{SERIES_COLUMNS, SampleWriter, Style, series_cells};

/// The columns of the samples view, in order: every format's fields.
pub const SAMPLE_COLUMNS: [&str; 12] = [
    "app_id",
    "room_id",
    "user_ids",
    "source",
    "indicator",
    "unit",
    "ts",
    "time",
    "value",
    "resolution",
    "dimension",
    "dimension_value",
];

/// The longest line read: a samples line is a few hundred bytes, and a
/// line without an end must not fill the memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The samples format on disk (`export --format`, `import --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SampleFormat {
    /// JSON Lines: one object per line with the samples view's keys.
    Jsonl,
    /// CSV with a header row of the samples view's columns.
    Csv,
}

impl SampleFormat {
    /// The format a file name suggests: CSV for `*.csv`, else JSON Lines.
    pub fn of_path(path: &Path) -> SampleFormat {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            SampleFormat::Csv
        } else {
            SampleFormat::Jsonl
        }
    }
}

/// A line that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {reason}")]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// The input cannot be read from this line on (an I/O error, or a CSV line
/// the parser cannot resume after).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {error}")]
pub struct InputError {
    pub line: u64,
    pub error: String,
}

/// One line read: its number, the bytes consumed so far, and the sample it
/// holds or why it cannot be imported.
#[derive(Debug)]
pub struct Line<'a> {
    pub number: u64,
    pub bytes: u64,
    pub sample: Result<Sample<'a>, String>,
}

/// The lines of a samples file, whatever its format. Each sample borrows
/// the reader's buffer, so lines are taken one at a time.
pub trait SampleReader {
    /// The next line with something on it; `None` at the end.
    fn next_line(&mut self) -> Option<Result<Line<'_>, InputError>>;
    /// Lines read so far, blank ones and the header included.
    fn lines_read(&self) -> u64;
    /// Bytes consumed so far.
    fn bytes_read(&self) -> u64;
}

/// A reader of `format` over `input`. A CSV file whose header cannot be
/// used is refused here, naming line 1.
pub fn reader<'a>(
    format: SampleFormat,
    input: impl BufRead + 'a,
) -> Result<Box<dyn SampleReader + 'a>, String> {
    Ok(match format {
        SampleFormat::Jsonl => Box::new(jsonl::JsonlReader::new(input)),
        SampleFormat::Csv => Box::new(csv::CsvReader::new(input)?),
    })
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
