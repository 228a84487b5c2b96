//! Writing rows of the `samples` shape (and other tables) to stdout as a
//! table, CSV, JSON or JSON Lines. Rows stream out as they come, except for
//! the table, which needs every row to size its columns.

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::store::read::StoredSeries;
use crate::timeutil;

/// Output formats of `query` and `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
}

impl Format {
    /// The format to use when none was asked for: a table for people, JSON
    /// Lines for programs.
    pub fn default_for_stdout() -> Format {
        if io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Jsonl
        }
    }
}

/// The column names, in order.
pub const SAMPLE_COLUMNS: [&str; 9] = [
    "app_id",
    "room_id",
    "user_ids",
    "source",
    "indicator",
    "unit",
    "ts",
    "time",
    "value",
];

/// One row of the samples view: the series (identity and unit) embedded.
#[derive(Serialize)]
struct SampleRef<'a> {
    #[serde(flatten)]
    series: &'a StoredSeries,
    ts: i64,
    time: String,
    value: Option<f64>,
}

impl<'a> SampleRef<'a> {
    fn new(series: &'a StoredSeries, ts: i64, value: Option<f64>) -> Self {
        SampleRef {
            series,
            ts,
            time: timeutil::fmt_utc(ts),
            value,
        }
    }

    /// The row as text cells, in the order of [`SAMPLE_COLUMNS`].
    fn cells(&self) -> [String; 9] {
        let key = &self.series.key;
        [
            key.stream.app_id.clone(),
            key.stream.room_id.clone().unwrap_or_default(),
            key.stream.user_ids.joined().to_string(),
            key.stream.source.as_str().to_string(),
            key.indicator.clone(),
            self.series.unit.clone().unwrap_or_default(),
            itoa::Buffer::new().format(self.ts).to_string(),
            self.time.clone(),
            fmt_value(self.value),
        ]
    }
}

/// Formats a value as the samples view would show it (shortest exact form).
pub fn fmt_value(v: Option<f64>) -> String {
    match v {
        // Display for f64 is the shortest text that reads back as the same value
        Some(v) => format!("{v}"),
        None => String::new(),
    }
}

/// Streams sample rows in one format.
pub struct SampleWriter<W: Write> {
    format: Format,
    sink: Sink<W>,
    table: Vec<Vec<String>>,
    rows: u64,
}

/// csv::Writer wants to own the writer it buffers into.
enum Sink<W: Write> {
    Plain(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> SampleWriter<W> {
    pub fn new(format: Format, out: W) -> io::Result<Self> {
        let sink = match format {
            Format::Csv => Sink::Csv(Box::new(
                csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out),
            )),
            _ => Sink::Plain(out),
        };
        Ok(SampleWriter {
            format,
            sink,
            table: Vec::new(),
            rows: 0,
        })
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn write(&mut self, s: &StoredSeries, ts: i64, value: Option<f64>) -> io::Result<()> {
        let row = SampleRef::new(s, ts, value);
        match (&mut self.sink, self.format) {
            (Sink::Csv(w), _) => {
                if self.rows == 0 {
                    w.write_record(SAMPLE_COLUMNS)?;
                }
                let (key, unit) = (&s.key, s.unit.as_deref());
                w.write_record([
                    key.stream.app_id.as_str(),
                    key.stream.room_id.as_deref().unwrap_or(""),
                    key.stream.user_ids.joined(),
                    key.stream.source.as_str(),
                    key.indicator.as_str(),
                    unit.unwrap_or(""),
                    itoa::Buffer::new().format(row.ts),
                    &row.time,
                    &fmt_value(row.value),
                ])?;
            }
            (Sink::Plain(out), Format::Json) => {
                out.write_all(if self.rows == 0 { b"[\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *out, &row)?;
            }
            (Sink::Plain(_), Format::Table) => {
                // the table shows the time, not the Unix seconds
                let [app, room, users, source, indicator, unit, _ts, time, value] = row.cells();
                self.table
                    .push(vec![app, room, users, source, indicator, unit, time, value]);
            }
            (Sink::Plain(out), _) => {
                serde_json::to_writer(&mut *out, &row)?;
                out.write_all(b"\n")?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn finish(self) -> io::Result<W> {
        let mut out = match self.sink {
            Sink::Csv(w) => w.into_inner().map_err(|e| e.into_error())?,
            Sink::Plain(out) => out,
        };
        match self.format {
            Format::Json => {
                out.write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?;
            }
            Format::Table => {
                if self.table.is_empty() {
                    writeln!(out, "(no data)")?;
                } else {
                    let header = [
                        "app_id",
                        "room_id",
                        "user_ids",
                        "source",
                        "indicator",
                        "unit",
                        "time",
                        "value",
                    ];
                    writeln!(out, "{}", make_table(&header, self.table))?;
                }
            }
            Format::Csv | Format::Jsonl => {}
        }
        out.flush()?;
        Ok(out)
    }
}

/// A plain text table with a header row.
pub fn make_table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for r in rows {
        table.add_row(r);
    }
    table
}

/// A file written beside its destination and renamed over it on commit, so
/// that readers (a web server, the next import) never see half of it.
///
/// A new file gets what any file the user writes gets, 0666 less the umask;
/// one that replaces a file keeps that file's mode (and, where allowed, its
/// owner and group). Only a regular file is replaced: a link, a FIFO or a
/// device at the destination is refused, never written through or over.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl AtomicFile {
    pub fn create(path: &std::path::Path) -> io::Result<AtomicFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        let existing = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => Some(meta),
            Ok(meta) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "it is {}, and only a regular file is replaced: give a file's path",
                        crate::store::kind_of(&meta)
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".rtc-archiver-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // the mode goes to open(2), which takes the umask off
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = builder.tempfile_in(dir)?;
        #[cfg(unix)]
        if let Some(meta) = existing {
            use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
            // not ours to change: only root may give a file away, others keep theirs
            let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o777))?;
        }
        #[cfg(not(unix))]
        let _ = existing;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    /// Flushes to disk and moves the file into place.
    pub fn commit(mut self) -> io::Result<()> {
        self.tmp.as_file_mut().flush()?;
        self.tmp.as_file().sync_all()?;
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    fn series() -> StoredSeries {
        StoredSeries {
            id: 1,
            stream_id: 1,
            key: crate::series::StreamKey::new(
                "app1",
                Some("room, \"1\"".into()),
                crate::series::UserSet::NONE,
                Source::Quality,
            )
            .series("audio_stall_rate"),
            unit: Some("%".into()),
        }
    }

    fn render(format: Format) -> String {
        let mut w = SampleWriter::new(format, Vec::new()).unwrap();
        w.write(&series(), 1_795_435_200, Some(98.68)).unwrap();
        w.write(&series(), 1_795_435_230, None).unwrap();
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn jsonl_has_the_samples_keys() {
        let text = render(Format::Jsonl);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"app_id":"app1","room_id":"room, \"1\"","user_ids":null,"source":"quality","indicator":"audio_stall_rate","unit":"%","ts":1795435200,"time":"2026-11-23T12:00:00Z","value":98.68}"#
        );
        let row: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(row["value"], serde_json::Value::Null);
    }

    #[test]
    fn json_is_one_array() {
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let empty = SampleWriter::new(Format::Json, Vec::new())
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(empty, b"[]\n");
    }

    #[test]
    fn csv_quotes_and_has_a_header() {
        let text = render(Format::Csv);
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            SAMPLE_COLUMNS
        );
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][1], "room, \"1\"");
        assert_eq!(&rows[0][8], "98.68");
        assert_eq!(&rows[1][8], "");
    }

    #[test]
    fn table_shows_values() {
        let text = render(Format::Table);
        assert!(text.contains("audio_stall_rate"), "{text}");
        assert!(text.contains("98.68"), "{text}");
        assert!(text.contains("2026-11-23T12:00:30Z"), "{text}");
    }

    #[test]
    fn atomic_files_appear_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        std::fs::write(&path, "old").unwrap();
        let old_mode = std::fs::metadata(&path).unwrap().permissions();
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new content").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new content");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions(),
            old_mode,
            "the replaced file's mode"
        );
        // dropped without commit: the destination is untouched, no temp file left
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new content");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_files_respect_the_umask_and_keep_a_replaced_files_mode() {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // what the umask leaves of 0666, as any program's new file gets
        let probe = dir.path().join("probe");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&probe)
            .unwrap();
        let fresh = dir.path().join("fresh.html");
        AtomicFile::create(&fresh).unwrap().commit().unwrap();
        assert_eq!(mode(&fresh), mode(&probe), "0666 less the umask");
        // a private file stays private, a shared one shared
        for kept in [0o600, 0o640, 0o664] {
            std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(kept)).unwrap();
            AtomicFile::create(&fresh).unwrap().commit().unwrap();
            assert_eq!(mode(&fresh), kept, "{kept:o}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn atomic_files_never_replace_links_fifos_or_directories() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for path in [&link, &sub, &std::path::PathBuf::from("/dev/null")] {
            let err = AtomicFile::create(path).err().expect("refused");
            assert_eq!(
                err.kind(),
                io::ErrorKind::InvalidInput,
                "{}: {err}",
                path.display()
            );
            assert!(err.to_string().contains("only a regular file"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            3,
            "no temporary file left"
        );
    }

    #[test]
    fn values_print_shortest() {
        assert_eq!(fmt_value(Some(3212.0)), "3212");
        assert_eq!(fmt_value(Some(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(fmt_value(Some(98.2)), "98.2");
    }
}
