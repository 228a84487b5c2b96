//! How values and times are stored: the value codec (integer hundredths
//! where exact, else the REAL itself) and bucket numbering (30-second
//! buckets counted from 2026-01-01, three bytes a row until 2033). The views
//! decode with [`VALUE_SQL`] and the same epoch (`migrations/`).

use rusqlite::types::{Value as SqlValue, ValueRef};

use crate::{BUCKET_SECS, timeutil};

/// Bucket numbers count 30-second buckets from this instant (2026-01-01T00:00:00Z).
pub const BUCKET_EPOCH: i64 = 1_767_225_600;
pub(super) const HOUR_BUCKETS: i64 = 3600 / BUCKET_SECS;
pub(super) const DAY_HOURS: i64 = 24;

/// A value as stored: hundredths when they read back bit for bit, else the
/// value itself. (`-0.0` is a REAL: INTEGER 0 reads back as `0.0`.)
pub fn encode_value(v: f64) -> SqlValue {
    let h = (v * 100.0).round();
    if h.abs() < 9.0e15 && ((h as i64) as f64 / 100.0).to_bits() == v.to_bits() {
        SqlValue::Integer(h as i64)
    } else {
        SqlValue::Real(v)
    }
}

/// The value a stored cell stands for.
pub fn decode_value(v: ValueRef<'_>) -> f64 {
    match v {
        ValueRef::Integer(h) => h as f64 / 100.0,
        ValueRef::Real(r) => r,
        // never written; the schema is STRICT ANY, so be total anyway
        ValueRef::Text(_) | ValueRef::Blob(_) | ValueRef::Null => f64::NAN,
    }
}

/// The bucket number of a bucket start. Times in the archive's range
/// ([`timeutil::DATA_FROM`], [`timeutil::DATA_TO`]) map exactly; others
/// saturate instead of wrapping (and are never stored).
pub fn bucket_of(ts: i64) -> i64 {
    ts.saturating_sub(BUCKET_EPOCH).div_euclid(BUCKET_SECS)
}

/// The start of a bucket number, Unix seconds (saturating, like [`bucket_of`]).
pub fn ts_of(bucket: i64) -> i64 {
    bucket
        .saturating_mul(BUCKET_SECS)
        .saturating_add(BUCKET_EPOCH)
}

/// The first bucket of the archive's time range.
pub const FIRST_BUCKET: i64 = (timeutil::DATA_FROM - BUCKET_EPOCH).div_euclid(BUCKET_SECS);
/// The first bucket after the archive's time range.
pub const END_BUCKET: i64 = (timeutil::DATA_TO - BUCKET_EPOCH).div_euclid(BUCKET_SECS);

/// Whether a bucket number lies in the archive's time range: the only ones
/// ever written.
pub fn bucket_in_range(bucket: i64) -> bool {
    (FIRST_BUCKET..END_BUCKET).contains(&bucket)
}

pub(super) fn hour_of_bucket(bucket: i64) -> i64 {
    ts_of(bucket).div_euclid(3600)
}

pub(super) fn first_bucket_of_hour(hour: i64) -> i64 {
    bucket_of(hour * 3600)
}

/// The SQL expression turning a stored `value` cell back into REAL.
pub const VALUE_SQL: &str = "CASE typeof(value) WHEN 'integer' THEN value / 100.0 ELSE value END";

/// The SQL of both tables' points of the series `series` with `first <=
/// bucket < end` (parameters such as `?1`) as `(bucket, value, weight)`
/// rows (weight: the 30-second buckets a point stands for), in bucket
/// order, merged from the two primary keys (no sort).
pub fn points_sql(series: &str, first: &str, end: &str) -> String {
    format!(
        "SELECT bucket, value, 1 AS weight FROM points
         WHERE series_id = {series} AND bucket >= {first} AND bucket < {end}
         UNION ALL
         SELECT bucket, value, 10 AS weight FROM points_5min
         WHERE series_id = {series} AND bucket >= {first} AND bucket < {end}
         ORDER BY 1"
    )
}

/// The first bucket starting at or after `ts`: the bound of a range of
/// buckets `[first_bucket_from(from), first_bucket_from(to))` that start in
/// `[from, to)`.
pub fn first_bucket_from(ts: i64) -> i64 {
    bucket_of(timeutil::bucket_ceil(ts))
}
