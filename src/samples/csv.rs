//! Reading CSV: columns found by the header (any order, extra columns
//! ignored), records ending at `\n` so that line numbers stay right with
//! CRLF ends, a line longer than [`MAX_LINE_BYTES`] refused without holding it.

use std::io::BufRead;

use super::parse::CsvColumns;
use super::{InputError, Line, MAX_LINE_BYTES, SampleReader, too_long};

pub struct CsvReader<R: std::io::Read> {
    reader: csv::Reader<LineLimit<R>>,
    columns: CsvColumns,
    record: csv::StringRecord,
    line: u64,
}

impl<R: BufRead> CsvReader<R> {
    /// Reads the header; a header that cannot be used is refused, naming line 1.
    pub fn new(input: R) -> Result<Self, String> {
        // The csv reader strips a UTF-8 BOM from the header itself. Records
        // end at `\n` only: with CRLF as terminator it numbers every line
        // after the header one too low (the `\n` of a `\r\n` counts towards
        // the next record); the `\r` is taken off the last field instead.
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
                return Err(format!("line 1: the CSV header {reason}"));
            }
        };
        let columns = CsvColumns::from_header(&header)?;
        Ok(CsvReader {
            reader,
            columns,
            record: csv::StringRecord::new(),
            line: 1,
        })
    }
}

impl<R: BufRead> SampleReader for CsvReader<R> {
    fn next_line(&mut self) -> Option<Result<Line<'_>, InputError>> {
        loop {
            let fallback = self.line + 1;
            let sample = match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                // a blank CRLF line
                Ok(true) if self.record.len() == 1 && &self.record[0] == "\r" => continue,
                Ok(true) => {
                    self.line = self.record.position().map_or(fallback, |p| p.line());
                    Ok(())
                }
                Err(e) => {
                    self.line = e.position().map_or(fallback, |p| p.line());
                    match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => {
                            Err(format!("not UTF-8 text: convert the file to UTF-8 ({e})"))
                        }
                        // the parser cannot resume inside a line it could not read
                        csv::ErrorKind::Io(io) => {
                            return Some(Err(InputError {
                                line: self.line,
                                error: io.to_string(),
                            }));
                        }
                        _ => Err(format!("not a CSV record ({e})")),
                    }
                }
            };
            let bytes = self.reader.position().byte();
            return Some(Ok(Line {
                number: self.line,
                bytes,
                sample: sample.and_then(|()| self.columns.parse(&self.record)),
            }));
        }
    }

    fn lines_read(&self) -> u64 {
        self.line
    }

    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }
}

/// A reader that fails once a line (the bytes between two `\n`) grows past
/// [`MAX_LINE_BYTES`]: the CSV parser would otherwise hold it whole.
pub struct LineLimit<R> {
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
