//! Reading JSON Lines: one object per line, read a bounded line at a time
//! (a line without an end is cut, not held), a UTF-8 BOM accepted at the
//! start, bad bytes a bad line like any other.

use std::io::BufRead;

use super::parse::parse_json_line;
use super::{InputError, Line, MAX_LINE_BYTES, SampleReader, not_utf8, too_long};

/// What a UTF-8 file may start with (and Windows tools like to write).
const BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct JsonlReader<R> {
    input: R,
    buf: Vec<u8>,
    line: u64,
    bytes: u64,
}

impl<R: BufRead> JsonlReader<R> {
    pub fn new(input: R) -> Self {
        JsonlReader {
            input,
            buf: Vec::with_capacity(1024),
            line: 0,
            bytes: 0,
        }
    }
}

impl<R: BufRead> SampleReader for JsonlReader<R> {
    fn next_line(&mut self) -> Option<Result<Line<'_>, InputError>> {
        loop {
            let (n, cut) = match read_line_bounded(&mut self.input, &mut self.buf) {
                Ok(r) => r,
                Err(e) => {
                    return Some(Err(InputError {
                        line: self.line + 1,
                        error: format!("cannot read it: {e}"),
                    }));
                }
            };
            if n == 0 {
                return None;
            }
            self.bytes += n;
            self.line += 1;
            // the line without a BOM (at the start of the file) and its end
            let mut start = 0;
            if self.line == 1 && self.buf.starts_with(BOM) {
                start = BOM.len();
            }
            let mut end = self.buf.len();
            while end > start && matches!(self.buf[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            let blank =
                std::str::from_utf8(&self.buf[start..end]).is_ok_and(|t| t.trim().is_empty());
            if !cut && blank {
                continue;
            }
            let raw = &self.buf[start..end];
            let sample = if cut {
                Err(too_long())
            } else {
                match std::str::from_utf8(raw) {
                    Ok(text) => parse_json_line(text),
                    Err(e) => Err(not_utf8(e)),
                }
            };
            return Some(Ok(Line {
                number: self.line,
                bytes: self.bytes,
                sample,
            }));
        }
    }

    fn lines_read(&self) -> u64 {
        self.line
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
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
