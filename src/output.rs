//! What every command's output shares: the output formats, values printed
//! as the archive holds them, plain text tables, and files that appear
//! whole or not at all. (Rows of the samples view are written by
//! [`crate::samples`].)

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};

/// Output formats of `query`, `sql` and `indicators` (and, with `csv` and
/// `jsonl` only, `export`).
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

/// Formats a value as the samples view would show it (shortest exact form).
pub fn fmt_value(v: Option<f64>) -> String {
    match v {
        // Display for f64 is the shortest text that reads back as the same value
        Some(v) => format!("{v}"),
        None => String::new(),
    }
}

/// The significant digits a double holds reliably (C's `DBL_DIG`), which
/// the text formats print: beyond them is the noise of binary fractions.
pub const TEXT_DIGITS: usize = 15;

/// Formats a value for people (tables, CSV of `query` and `sql`): rounded
/// to [`TEXT_DIGITS`] significant digits, then as short as that allows,
/// as SQLite's own shell prints a REAL. An average of 2.47 and 2.486 reads
/// `2.478`, not `2.4779999999999998`; values as the API sends them (98.68)
/// print unchanged.
pub fn fmt_value_text(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            // the nearest double to the 15-digit decimal prints in at most 15 digits
            let rounded: f64 = format!("{v:.*e}", TEXT_DIGITS - 1).parse().unwrap_or(v);
            format!("{rounded}")
        }
        other => fmt_value(other),
    }
}

/// The width tables are fitted to: `COLUMNS` if set to a number (as many
/// tools honour it), else the terminal's if stdout is one; none into a
/// pipe or a file, where nothing wraps.
pub fn terminal_width() -> Option<u16> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0)
    {
        return Some(cols);
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_rows, cols)| cols)
}

/// A text table for people: the columns empty in every row are left out
/// (an archive without rooms shows no room column), and where the width
/// is known ([`terminal_width`]) long cells wrap so that the table fits.
/// `query`, `sql` and `indicators` print these; any command's table can.
pub fn fitted_table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    fit_table(header, rows, terminal_width())
}

/// Whether a table fits `width` columns with every cell wrapped between
/// words only (none cut in two), the columns empty in every row left out:
/// where it does not, a caller may prefer another layout.
pub fn table_fits(header: &[&str], rows: &[Vec<String>], width: u16) -> bool {
    let needed: usize = (0..header.len())
        .filter(|&i| {
            rows.is_empty() || rows.iter().any(|r| r.get(i).is_some_and(|c| !c.is_empty()))
        })
        .map(|i| {
            std::iter::once(header[i])
                .chain(rows.iter().filter_map(|r| r.get(i).map(String::as_str)))
                .flat_map(str::split_whitespace)
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0)
                + 3
        })
        .sum::<usize>()
        + 1;
    needed <= usize::from(width)
}

/// `text` wrapped between words to lines of at most `width` characters
/// (a longer word stands alone), the lines after the first indented by
/// `indent` spaces. Without a width, the text as it is.
pub fn wrap_words(text: &str, width: Option<u16>, indent: usize) -> String {
    let Some(width) = width.map(usize::from) else {
        return text.to_string();
    };
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if line > 0 && line + 1 + w > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            line = indent;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += w;
    }
    out
}

/// [`fitted_table`] for a given width.
pub fn fit_table(header: &[&str], rows: Vec<Vec<String>>, width: Option<u16>) -> Table {
    let keep: Vec<bool> = (0..header.len())
        .map(|i| rows.is_empty() || rows.iter().any(|r| r.get(i).is_some_and(|c| !c.is_empty())))
        .collect();
    let pick = |cells: Vec<String>| -> Vec<String> {
        cells
            .into_iter()
            .zip(&keep)
            .filter_map(|(c, &k)| k.then_some(c))
            .collect()
    };
    let header: Vec<&str> = header
        .iter()
        .zip(&keep)
        .filter_map(|(h, &k)| k.then_some(*h))
        .collect();
    let rows: Vec<Vec<String>> = rows.into_iter().map(pick).collect();
    // each column's longest word: where they all fit, cells wrap between
    // words only, so that no name is cut in two
    let words: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(header[i])
                .chain(rows.iter().filter_map(|r| r.get(i).map(String::as_str)))
                .flat_map(str::split_whitespace)
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut table = make_table(&header, rows);
    if let Some(width) = width {
        table
            .set_width(width)
            .set_content_arrangement(ContentArrangement::Dynamic);
        // a column's content, its padding and a separator each
        let needed = words.iter().map(|w| w + 3).sum::<usize>() + 1;
        if needed <= usize::from(width) {
            for (i, w) in words.into_iter().enumerate() {
                // comfy-table's width of a column counts its padding
                if let (Some(column), Ok(w)) = (table.column_mut(i), u16::try_from(w + 2)) {
                    column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(w)));
                }
            }
        }
    }
    table
}

/// A plain text table with a header row, every column kept, nothing wrapped.
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

/// One cell of a [`RecordWriter`] row: its text for tables and CSV, its
/// value for JSON.
pub struct Cell {
    pub text: String,
    pub json: serde_json::Value,
}

impl Cell {
    /// A number, or JSON `null` and an empty cell if `None`.
    pub fn int(v: Option<i64>) -> Cell {
        Cell {
            text: v.map(|v| v.to_string()).unwrap_or_default(),
            json: v.map_or(serde_json::Value::Null, Into::into),
        }
    }

    /// A text cell, the same in every format (JSON `null` if `None`).
    pub fn text(s: Option<&str>) -> Cell {
        Cell {
            text: s.unwrap_or_default().to_string(),
            json: s.map_or(serde_json::Value::Null, Into::into),
        }
    }
}

/// Rows of named columns in any [`Format`], columns in the order given:
/// a table (fitted, see [`fitted_table`]), CSV with a header row, one JSON
/// array of objects, or JSON Lines of objects. Everything but the table
/// streams out as it comes.
pub struct RecordWriter<W: Write> {
    format: Format,
    names: Vec<String>,
    out: Option<W>,
    csv: Option<csv::Writer<W>>,
    table: Vec<Vec<String>>,
    rows: u64,
}

impl<W: Write> RecordWriter<W> {
    pub fn new(format: Format, names: Vec<String>, out: W) -> io::Result<Self> {
        let (out, csv) = match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(&names)?;
                (None, Some(w))
            }
            _ => (Some(out), None),
        };
        Ok(RecordWriter {
            format,
            names,
            out,
            csv,
            table: Vec::new(),
            rows: 0,
        })
    }

    pub fn write(&mut self, row: Vec<Cell>) -> io::Result<()> {
        if let Some(w) = &mut self.csv {
            w.write_record(row.iter().map(|c| c.text.as_str()))?;
        } else if let Some(out) = &mut self.out {
            match self.format {
                Format::Table => self.table.push(row.into_iter().map(|c| c.text).collect()),
                Format::Json | Format::Jsonl => {
                    if self.format == Format::Json {
                        out.write_all(if self.rows == 0 { b"[\n" } else { b",\n" })?;
                    }
                    // by hand: a serde_json Map would sort the keys
                    out.write_all(b"{")?;
                    for (i, (name, cell)) in self.names.iter().zip(&row).enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        serde_json::to_writer(&mut *out, name)?;
                        out.write_all(b":")?;
                        serde_json::to_writer(&mut *out, &cell.json)?;
                    }
                    out.write_all(if self.format == Format::Jsonl {
                        b"}\n"
                    } else {
                        b"}"
                    })?;
                }
                Format::Csv => unreachable!("CSV has its writer"),
            }
        }
        self.rows += 1;
        Ok(())
    }

    pub fn finish(self) -> io::Result<W> {
        let mut out = match (self.out, self.csv) {
            (Some(out), _) => out,
            (None, Some(w)) => w.into_inner().map_err(|e| e.into_error())?,
            (None, None) => unreachable!("one of the two is set"),
        };
        match self.format {
            Format::Json => out.write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?,
            Format::Table => {
                let header: Vec<&str> = self.names.iter().map(String::as_str).collect();
                writeln!(out, "{}", fitted_table(&header, self.table))?;
            }
            Format::Csv | Format::Jsonl => {}
        }
        out.flush()?;
        Ok(out)
    }
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
    fn tables_drop_columns_empty_in_every_row_and_fit_the_width() {
        let rows = vec![
            vec![
                "app1".to_string(),
                String::new(),
                "a long meaning ".repeat(8),
            ],
            vec!["app2".to_string(), String::new(), "short".to_string()],
        ];
        let text = fit_table(&["app", "room", "meaning"], rows.clone(), None).to_string();
        assert!(!text.contains("room"), "{text}");
        assert!(text.contains("app2"), "{text}");
        assert!(
            text.lines().any(|l| l.chars().count() > 100),
            "unwrapped: {text}"
        );
        let narrow = fit_table(&["app", "room", "meaning"], rows, Some(40)).to_string();
        assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
        assert!(
            narrow.contains("meaning") && narrow.contains("short"),
            "{narrow}"
        );
        // where every word fits, cells wrap between words, never inside one
        let names = vec![vec![
            "first_frame_send_success_rate".to_string(),
            "share of streams whose first frame was sent".to_string(),
        ]];
        let text = fit_table(&["name", "meaning"], names, Some(50)).to_string();
        assert!(text.lines().all(|l| l.chars().count() <= 50), "{text}");
        assert!(text.contains("first_frame_send_success_rate"), "{text}");
        assert!(text.contains("streams"), "{text}");
        // a column with one value somewhere stays; an empty result keeps its header
        let some = vec![
            vec!["a".to_string(), "r".to_string()],
            vec!["b".to_string(), String::new()],
        ];
        assert!(
            fit_table(&["app", "room"], some, None)
                .to_string()
                .contains("room")
        );
        assert!(
            fit_table(&["app", "room"], Vec::new(), None)
                .to_string()
                .contains("room")
        );
    }

    #[test]
    fn records_keep_the_column_order_in_every_format() {
        let render = |format| {
            let names = vec!["zeta".to_string(), "alpha".to_string(), "n".to_string()];
            let mut w = RecordWriter::new(format, names, Vec::new()).unwrap();
            for (z, n) in [("b", 2), ("a", 1)] {
                w.write(vec![
                    Cell::text(Some(z)),
                    Cell::text(None),
                    Cell {
                        text: n.to_string(),
                        json: n.into(),
                    },
                ])
                .unwrap();
            }
            String::from_utf8(w.finish().unwrap()).unwrap()
        };
        assert_eq!(
            render(Format::Jsonl),
            "{\"zeta\":\"b\",\"alpha\":null,\"n\":2}\n{\"zeta\":\"a\",\"alpha\":null,\"n\":1}\n"
        );
        let json: serde_json::Value = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(json[1]["n"], 1);
        assert_eq!(render(Format::Csv), "zeta,alpha,n\nb,,2\na,,1\n");
        let table = render(Format::Table);
        assert!(
            table.contains("zeta") && !table.contains("alpha"),
            "{table}"
        );
        let empty = RecordWriter::new(Format::Json, vec!["x".into()], Vec::new()).unwrap();
        assert_eq!(empty.finish().unwrap(), b"[]\n");
    }

    #[test]
    fn values_print_shortest() {
        assert_eq!(fmt_value(Some(3212.0)), "3212");
        assert_eq!(fmt_value(Some(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(fmt_value(Some(98.2)), "98.2");
    }

    #[test]
    fn text_values_drop_the_noise_of_binary_fractions() {
        // issue 9: an average printed as 2.4779999999999998
        assert_eq!(fmt_value_text(Some(2.4779999999999998)), "2.478");
        assert_eq!(fmt_value_text(Some((2.47 + 2.486) / 2.0)), "2.478");
        assert_eq!(fmt_value_text(Some(0.1 + 0.2)), "0.3");
        // what the API sends, and what has no noise, is unchanged
        for (v, text) in [
            (98.68, "98.68"),
            (3212.0, "3212"),
            (0.0, "0"),
            (-0.0, "-0"),
            (-3.25, "-3.25"),
            (1e-9, "0.000000001"),
            (123_456_789.125, "123456789.125"),
            (0.123456789012345, "0.123456789012345"),
        ] {
            assert_eq!(fmt_value_text(Some(v)), text, "{v:e}");
        }
        assert_eq!(fmt_value_text(None), "");
        // 15 digits: the 16th is rounded
        assert_eq!(fmt_value_text(Some(1.0000000000000002)), "1");
        assert_eq!(
            fmt_value_text(Some(12_345_678.901_234_567)),
            "12345678.9012346"
        );
    }

    #[test]
    fn words_wrap_to_the_width_with_an_indent() {
        let text = "ListRealTimeQuality: 2 requests a round, taking 1s at 2/s";
        let wrapped = wrap_words(text, Some(24), 2);
        assert_eq!(
            wrapped,
            "ListRealTimeQuality: 2\n  requests a round,\n  taking 1s at 2/s"
        );
        assert!(wrapped.lines().all(|l| l.chars().count() <= 24));
        assert_eq!(wrap_words(text, None, 2), text);
        // a word longer than the width stands alone, uncut
        assert_eq!(
            wrap_words("a verylongword b", Some(5), 0),
            "a\nverylongword\nb"
        );
    }

    #[test]
    fn a_table_fits_where_its_longest_words_do() {
        let rows = vec![vec!["distribution".to_string(), String::new()]];
        // 12 + 3, the empty column left out, + 1
        assert!(table_fits(&["source", "room"], &rows, 16));
        assert!(!table_fits(&["source", "room"], &rows, 15));
    }
}
