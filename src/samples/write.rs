//! Writing rows of the samples view in the formats people and programs
//! read: a table (for a terminal), CSV, a JSON array or JSON Lines. Rows
//! stream out as they come, except for the table, which needs every row to
//! size its columns.

use std::io::{self, Write};

use chrono_tz::Tz;
use serde::Serialize;

use super::SAMPLE_COLUMNS;
use crate::output::{Cell, Format, fit_table, fmt_value, fmt_value_text};
use crate::series::Resolution;
use crate::store::read::StoredSeries;
use crate::timeutil;

/// How values and times are written. The default is the archive's own
/// form, which `export` writes and `import` reads back exactly: values
/// shortest-exact, times in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Tables and CSV print values to 15 significant digits
    /// ([`fmt_value_text`]); JSON keeps the exact value.
    pub text_values: bool,
    /// `time` in this zone, RFC 3339 with its offset, instead of UTC
    /// (`ts` stays Unix seconds).
    pub zone: Option<Tz>,
    /// The width a table is fitted to (see [`crate::output::fitted_table`]);
    /// `None` wraps nothing.
    pub table_width: Option<u16>,
}

impl Style {
    fn time(&self, ts: i64) -> String {
        match self.zone {
            Some(tz) if tz != Tz::UTC => timeutil::fmt_in(ts, tz),
            _ => timeutil::fmt_utc(ts),
        }
    }

    fn text(&self, value: Option<f64>) -> String {
        if self.text_values {
            fmt_value_text(value)
        } else {
            fmt_value(value)
        }
    }
}

/// One row of the samples view: the series (identity and unit) embedded.
/// `resolution` is absent from a row that aggregates points (`query
/// --step`), and the dimension keys from a series without one.
#[derive(Serialize)]
struct SampleRef<'a> {
    #[serde(flatten)]
    series: &'a StoredSeries,
    ts: i64,
    time: String,
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution: Option<i64>,
}

impl<'a> SampleRef<'a> {
    fn new(
        series: &'a StoredSeries,
        ts: i64,
        value: Option<f64>,
        resolution: Option<Resolution>,
        style: &Style,
    ) -> Self {
        SampleRef {
            series,
            ts,
            time: style.time(ts),
            value,
            resolution: resolution.map(Resolution::secs),
        }
    }

    /// The row as text cells, in the order of [`SAMPLE_COLUMNS`].
    fn cells(&self, style: &Style) -> [String; 12] {
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
            style.text(self.value),
            self.resolution
                .map(|r| itoa::Buffer::new().format(r).to_string())
                .unwrap_or_default(),
            key.stream
                .dimension
                .map(|d| d.as_str().to_string())
                .unwrap_or_default(),
            key.dimension_value.clone().unwrap_or_default(),
        ]
    }
}

/// The columns of a series' identity and unit, in the order of
/// [`SAMPLE_COLUMNS`]: what a listing of series (`indicators --archived`)
/// prints first.
pub const SERIES_COLUMNS: [&str; 8] = [
    SAMPLE_COLUMNS[0],
    SAMPLE_COLUMNS[1],
    SAMPLE_COLUMNS[2],
    SAMPLE_COLUMNS[3],
    SAMPLE_COLUMNS[4],
    SAMPLE_COLUMNS[5],
    SAMPLE_COLUMNS[10],
    SAMPLE_COLUMNS[11],
];

/// A series as the cells of [`SERIES_COLUMNS`] (`null` in JSON where the
/// view has NULL).
pub fn series_cells(s: &StoredSeries) -> Vec<Cell> {
    let stream = &s.key.stream;
    vec![
        Cell::text(Some(&stream.app_id)),
        Cell::text(stream.room_id.as_deref()),
        Cell::text(stream.user_ids.as_option()),
        Cell::text(Some(stream.source.as_str())),
        Cell::text(Some(&s.key.indicator)),
        Cell::text(s.unit.as_deref()),
        Cell::text(stream.dimension.map(|d| d.as_str())),
        Cell::text(s.key.dimension_value.as_deref()),
    ]
}

/// Streams sample rows in one format.
pub struct SampleWriter<W: Write> {
    format: Format,
    style: Style,
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
    /// A writer of the archive's own form (see [`Style`]).
    pub fn new(format: Format, out: W) -> io::Result<Self> {
        Self::with_style(format, Style::default(), out)
    }

    pub fn with_style(format: Format, style: Style, out: W) -> io::Result<Self> {
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
            style,
            sink,
            table: Vec::new(),
            rows: 0,
        })
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes one row: a point (with its resolution), or a step's
    /// aggregate (`resolution` `None`).
    pub fn write(
        &mut self,
        s: &StoredSeries,
        ts: i64,
        value: Option<f64>,
        resolution: Option<Resolution>,
    ) -> io::Result<()> {
        let row = SampleRef::new(s, ts, value, resolution, &self.style);
        match (&mut self.sink, self.format) {
            (Sink::Csv(w), _) => {
                if self.rows == 0 {
                    w.write_record(SAMPLE_COLUMNS)?;
                }
                let (key, unit) = (&s.key, s.unit.as_deref());
                let mut res = itoa::Buffer::new();
                w.write_record([
                    key.stream.app_id.as_str(),
                    key.stream.room_id.as_deref().unwrap_or(""),
                    key.stream.user_ids.joined(),
                    key.stream.source.as_str(),
                    key.indicator.as_str(),
                    unit.unwrap_or(""),
                    itoa::Buffer::new().format(row.ts),
                    &row.time,
                    &self.style.text(row.value),
                    row.resolution.map_or("", |r| res.format(r)),
                    key.stream.dimension.map_or("", |d| d.as_str()),
                    key.dimension_value.as_deref().unwrap_or(""),
                ])?;
            }
            (Sink::Plain(out), Format::Json) => {
                out.write_all(if self.rows == 0 { b"[\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *out, &row)?;
            }
            (Sink::Plain(_), Format::Table) => {
                // the table shows the time, not the Unix seconds; a
                // breakdown's value beside its indicator, a 5-minute point
                // marked at its time
                let [
                    app,
                    room,
                    users,
                    source,
                    indicator,
                    unit,
                    _ts,
                    time,
                    value,
                    _,
                    dim,
                    dim_value,
                ] = row.cells(&self.style);
                let indicator = if dim.is_empty() {
                    indicator
                } else {
                    format!("{indicator} {dim}={dim_value}")
                };
                let time = if resolution == Some(Resolution::FiveMinutes) {
                    format!("{time} (5 min)")
                } else {
                    time
                };
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
                    writeln!(
                        out,
                        "{}",
                        fit_table(&header, self.table, self.style.table_width)
                    )?;
                }
            }
            Format::Csv | Format::Jsonl => {}
        }
        out.flush()?;
        Ok(out)
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
        w.write(
            &series(),
            1_795_435_200,
            Some(98.68),
            Some(Resolution::RealTime),
        )
        .unwrap();
        w.write(&series(), 1_795_435_230, None, None).unwrap();
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn jsonl_has_the_samples_keys() {
        let text = render(Format::Jsonl);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"app_id":"app1","room_id":"room, \"1\"","user_ids":null,"source":"quality","indicator":"audio_stall_rate","unit":"%","ts":1795435200,"time":"2026-11-23T12:00:00Z","value":98.68,"resolution":30}"#
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
        assert_eq!(&rows[0][9], "30");
        assert_eq!(&rows[1][8], "");
        assert_eq!(&rows[1][9], "");
    }

    #[test]
    fn text_formats_round_values_and_json_keeps_them_if_asked() {
        let style = Style {
            text_values: true,
            ..Style::default()
        };
        let render = |format| {
            let mut w = SampleWriter::with_style(format, style, Vec::new()).unwrap();
            w.write(&series(), 1_795_435_200, Some(2.4779999999999998), None)
                .unwrap();
            String::from_utf8(w.finish().unwrap()).unwrap()
        };
        for format in [Format::Table, Format::Csv] {
            let text = render(format);
            assert!(text.contains("2.478"), "{text}");
            assert!(!text.contains("2.4779999999999998"), "{text}");
        }
        for format in [Format::Json, Format::Jsonl] {
            assert!(render(format).contains("2.4779999999999998"));
        }
        // the archive's own form (export) stays exact in every format
        let mut w = SampleWriter::new(Format::Csv, Vec::new()).unwrap();
        w.write(&series(), 1_795_435_200, Some(2.4779999999999998), None)
            .unwrap();
        assert!(
            String::from_utf8(w.finish().unwrap())
                .unwrap()
                .contains("2.4779999999999998")
        );
    }

    #[test]
    fn times_print_in_the_zone_asked_for_with_its_offset() {
        let zone = |name: &str| Style {
            zone: Some(name.parse().unwrap()),
            ..Style::default()
        };
        for (style, want) in [
            (Style::default(), "2026-11-23T12:00:00Z"),
            (zone("UTC"), "2026-11-23T12:00:00Z"),
            (zone("Asia/Shanghai"), "2026-11-23T20:00:00+08:00"),
            (zone("America/New_York"), "2026-11-23T07:00:00-05:00"),
        ] {
            for format in [Format::Jsonl, Format::Csv, Format::Table] {
                let mut w = SampleWriter::with_style(format, style, Vec::new()).unwrap();
                w.write(&series(), 1_795_435_200, Some(1.0), None).unwrap();
                let text = String::from_utf8(w.finish().unwrap()).unwrap();
                assert!(text.contains(want), "{format:?}: {text}");
                if format != Format::Table {
                    assert!(text.contains("1795435200"), "ts stays Unix seconds: {text}");
                }
            }
        }
    }

    #[test]
    fn table_shows_values() {
        let text = render(Format::Table);
        assert!(text.contains("audio_stall_rate"), "{text}");
        assert!(text.contains("98.68"), "{text}");
        assert!(text.contains("2026-11-23T12:00:30Z"), "{text}");
    }
}
