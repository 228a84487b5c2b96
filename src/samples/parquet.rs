//! The samples as Parquet, for the tools that load years of many
//! collectors' archives at once (DuckDB, ClickHouse, Spark, BigQuery):
//! typed columns instead of text. The identity columns are strings,
//! dictionary-encoded (a series repeats them on every row); `time` is the
//! UTC timestamp logical type in microseconds; `value` a double;
//! `resolution` the seconds a point stands for (30 or 300). `ts` is left
//! out: `time` is the same instant, typed.
//!
//! Rows are buffered a row group at a time (a series' identity once per
//! run of its rows, the times and values as numbers), then written column
//! by column, as Parquet lays them out.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;

use crate::store::read::{Point, StoredSeries};

/// The file's schema: the samples view's columns, `ts` and `time` as one
/// typed `time`.
pub const PARQUET_SCHEMA: &str = "
message samples {
  required binary app_id (STRING);
  optional binary room_id (STRING);
  optional binary user_ids (STRING);
  required binary source (STRING);
  required binary indicator (STRING);
  optional binary unit (STRING);
  required int64 time (TIMESTAMP(MICROS, true));
  required double value;
  required int32 resolution;
  optional binary dimension (STRING);
  optional binary dimension_value (STRING);
}
";

/// The columns written with a dictionary: a series' identity.
const DICTIONARY_COLUMNS: [&str; 8] = [
    "app_id",
    "room_id",
    "user_ids",
    "source",
    "indicator",
    "unit",
    "dimension",
    "dimension_value",
];
/// Which columns of the schema may be null (they carry definition levels).
const OPTIONAL: [bool; 11] = [
    false, true, true, false, false, true, false, false, false, true, true,
];

/// Rows per row group: a million rows (about 20 MB buffered) is the size
/// the readers above like to scan.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Values handed to the column writer at once.
const CHUNK: usize = 1 << 16;

/// A series' identity as Parquet values.
struct Identity {
    app_id: ByteArray,
    room_id: Option<ByteArray>,
    user_ids: Option<ByteArray>,
    source: ByteArray,
    indicator: ByteArray,
    unit: Option<ByteArray>,
    dimension: Option<ByteArray>,
    dimension_value: Option<ByteArray>,
}

impl Identity {
    fn of(s: &StoredSeries) -> Identity {
        let bytes = |v: &str| ByteArray::from(v.as_bytes().to_vec());
        let stream = &s.key.stream;
        Identity {
            app_id: bytes(&stream.app_id),
            room_id: stream.room_id.as_deref().map(bytes),
            user_ids: stream.user_ids.as_option().map(bytes),
            source: bytes(stream.source.as_str()),
            indicator: bytes(&s.key.indicator),
            unit: s.unit.as_deref().map(bytes),
            dimension: stream.dimension.map(|d| bytes(d.as_str())),
            dimension_value: s.key.dimension_value.as_deref().map(bytes),
        }
    }

    /// Column `i` of [`PARQUET_SCHEMA`] among the identity columns.
    fn column(&self, i: usize) -> Option<&ByteArray> {
        match i {
            0 => Some(&self.app_id),
            1 => self.room_id.as_ref(),
            2 => self.user_ids.as_ref(),
            3 => Some(&self.source),
            4 => Some(&self.indicator),
            5 => self.unit.as_ref(),
            9 => self.dimension.as_ref(),
            _ => self.dimension_value.as_ref(),
        }
    }
}

fn to_io(e: parquet::errors::ParquetError) -> io::Error {
    match e {
        parquet::errors::ParquetError::External(e) => match e.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::other(other),
    }
}

/// Streams sample rows into one Parquet file.
pub struct ParquetWriter<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    identities: Vec<Identity>,
    index: HashMap<i64, usize>,
    /// The buffered row group: runs of rows of one series, and each row's
    /// time (microseconds) and value.
    runs: Vec<(usize, usize)>,
    times: Vec<i64>,
    values: Vec<f64>,
    resolutions: Vec<i32>,
    rows: u64,
    group_rows: usize,
}

impl<W: Write + Send> ParquetWriter<W> {
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_group_rows(out, ROW_GROUP_ROWS)
    }

    fn with_group_rows(out: W, group_rows: usize) -> io::Result<Self> {
        let schema = Arc::new(parse_message_type(PARQUET_SCHEMA).map_err(to_io)?);
        let mut props = WriterProperties::builder()
            .set_created_by(concat!("rtc-archiver ", env!("CARGO_PKG_VERSION")).to_string())
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(group_rows));
        for column in DICTIONARY_COLUMNS {
            props = props.set_column_dictionary_enabled(ColumnPath::from(column), true);
        }
        let writer =
            SerializedFileWriter::new(out, schema, Arc::new(props.build())).map_err(to_io)?;
        Ok(ParquetWriter {
            writer,
            identities: Vec::new(),
            index: HashMap::new(),
            runs: Vec::new(),
            times: Vec::new(),
            values: Vec::new(),
            resolutions: Vec::new(),
            rows: 0,
            group_rows,
        })
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn write(&mut self, s: &StoredSeries, p: Point) -> io::Result<()> {
        let next = self.identities.len();
        let series = *self.index.entry(s.id).or_insert(next);
        if series == next {
            self.identities.push(Identity::of(s));
        }
        match self.runs.last_mut() {
            Some((last, n)) if *last == series => *n += 1,
            _ => self.runs.push((series, 1)),
        }
        self.times.push(p.ts.saturating_mul(1_000_000));
        self.values.push(p.value);
        self.resolutions.push(p.resolution.secs() as i32);
        self.rows += 1;
        if self.times.len() >= self.group_rows {
            self.flush_group()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush_group(&mut self) -> io::Result<()> {
        if self.times.is_empty() {
            return Ok(());
        }
        let mut group = self.writer.next_row_group().map_err(to_io)?;
        let mut i = 0;
        while let Some(mut column) = group.next_column().map_err(to_io)? {
            match i {
                0..=5 | 9 | 10 => {
                    let w = column.typed::<ByteArrayType>();
                    for &(series, n) in &self.runs {
                        let value = self.identities[series].column(i);
                        let mut left = n;
                        while left > 0 {
                            let k = left.min(CHUNK);
                            match value {
                                Some(v) => {
                                    let values = vec![v.clone(); k];
                                    let present = vec![1i16; k];
                                    w.write_batch(
                                        &values,
                                        OPTIONAL[i].then_some(&present[..]),
                                        None,
                                    )
                                }
                                None => w.write_batch(&[], Some(&vec![0i16; k]), None),
                            }
                            .map_err(to_io)?;
                            left -= k;
                        }
                    }
                }
                6 => {
                    for chunk in self.times.chunks(CHUNK) {
                        column
                            .typed::<Int64Type>()
                            .write_batch(chunk, None, None)
                            .map_err(to_io)?;
                    }
                }
                7 => {
                    for chunk in self.values.chunks(CHUNK) {
                        column
                            .typed::<DoubleType>()
                            .write_batch(chunk, None, None)
                            .map_err(to_io)?;
                    }
                }
                _ => {
                    for chunk in self.resolutions.chunks(CHUNK) {
                        column
                            .typed::<Int32Type>()
                            .write_batch(chunk, None, None)
                            .map_err(to_io)?;
                    }
                }
            }
            column.close().map_err(to_io)?;
            i += 1;
        }
        group.close().map_err(to_io)?;
        self.runs.clear();
        self.times.clear();
        self.values.clear();
        self.resolutions.clear();
        Ok(())
    }

    /// Writes what is buffered and the footer; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_group()?;
        self.writer.into_inner().map_err(to_io)
    }
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader as _, SerializedFileReader};
    use parquet::record::RowAccessor as _;

    use super::*;
    use crate::Source;
    use crate::series::{Dimension, Resolution, StreamKey, UserSet};

    fn series(id: i64, room: Option<&str>, unit: Option<&str>) -> StoredSeries {
        StoredSeries {
            id,
            stream_id: id,
            key: StreamKey::new(
                "app1",
                room.map(String::from),
                if room.is_some() {
                    UserSet::new(["u2", "u1"]).unwrap()
                } else {
                    UserSet::NONE
                },
                Source::Quality,
            )
            .series(format!("indicator_{id}")),
            unit: unit.map(String::from),
        }
    }

    #[test]
    fn runs_of_series_cross_row_groups_with_their_nulls_in_place() {
        let mut by_os = series(3, None, Some("ms"));
        by_os.key = StreamKey::distribution("app1", Dimension::Os)
            .series_by("audio_stall_rate", Some("windows".into()));
        let all = [
            series(1, Some("r"), Some("%")),
            series(2, None, None),
            by_os,
        ];
        // runs of 3, 5, 1, 2 rows over row groups of 4
        let rows: Vec<(usize, i64, f64)> = [(0, 3), (1, 5), (2, 1), (0, 2)]
            .iter()
            .flat_map(|&(s, n)| (0..n).map(move |_| s))
            .enumerate()
            .map(|(i, s)| (s, 1_795_435_200 + 30 * i as i64, i as f64 + 0.25))
            .collect();
        let mut w = ParquetWriter::with_group_rows(Vec::new(), 4).unwrap();
        let resolution = |i: usize| {
            if i.is_multiple_of(3) {
                Resolution::FiveMinutes
            } else {
                Resolution::RealTime
            }
        };
        for (i, &(s, ts, value)) in rows.iter().enumerate() {
            let point = Point {
                ts,
                value,
                resolution: resolution(i),
            };
            w.write(&all[s], point).unwrap();
        }
        assert_eq!(w.rows(), 11);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&w.finish().unwrap()).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        let read: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read.len(), rows.len());
        for (i, (row, &(s, ts, v))) in read.iter().zip(&rows).enumerate() {
            let want = &all[s];
            assert_eq!(row.get_string(0).unwrap(), "app1");
            assert_eq!(
                row.get_string(1).ok().map(String::as_str),
                want.key.stream.room_id.as_deref()
            );
            assert_eq!(
                row.get_string(2).ok().map(String::as_str),
                want.key.stream.user_ids.as_option()
            );
            assert_eq!(row.get_string(3).unwrap(), want.key.stream.source.as_str());
            assert_eq!(row.get_string(4).unwrap(), &want.key.indicator);
            assert_eq!(
                row.get_string(5).ok().map(String::as_str),
                want.unit.as_deref()
            );
            assert_eq!(row.get_timestamp_micros(6).unwrap(), ts * 1_000_000);
            assert_eq!(row.get_double(7).unwrap(), v);
            assert_eq!(i64::from(row.get_int(8).unwrap()), resolution(i).secs());
            assert_eq!(
                row.get_string(9).ok().map(String::as_str),
                want.key.stream.dimension.map(|d| d.as_str())
            );
            assert_eq!(
                row.get_string(10).ok().map(String::as_str),
                want.key.dimension_value.as_deref()
            );
        }
    }
}
