//! Reading the archive back: which series match a selection, their points
//! over a time range, rollups, and the bookkeeping `status` shows.

use rusqlite::{Connection, params_from_iter};

use super::{
    Result, Store, StoreError, VALUE_SQL, bucket_in_range, decode_value, first_bucket_from,
    points_sql, ts_of,
};
use crate::series::{Action, Dimension, Resolution, SeriesKey, StreamKey, UserSet};
use crate::{Source, timeutil};

/// One archived point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Start of its bucket (or 5-minute slot), Unix seconds.
    pub ts: i64,
    pub value: f64,
    pub resolution: Resolution,
}

impl Point {
    /// The 30-second buckets it stands for: its weight in averages and sums.
    pub fn weight(&self) -> i64 {
        self.resolution.buckets()
    }
}

/// A series as the archive holds it: its identity and unit, and the ids
/// the store reads it by.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredSeries {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub stream_id: i64,
    #[serde(flatten)]
    pub key: SeriesKey,
    pub unit: Option<String>,
}

/// Which series to read. Empty lists select everything.
#[derive(Debug, Clone, Default)]
pub struct SeriesFilter {
    /// Indicator names or globs (`*_stall_rate`), answered names.
    pub indicators: Vec<String>,
    pub apps: Vec<String>,
    pub rooms: Vec<String>,
    /// UserIds: a series matches if its user set includes any of them.
    pub users: Vec<String>,
    pub sources: Vec<Source>,
    /// Dimension names or globs (`OS`, `Acc*`): distribution series only.
    pub dimensions: Vec<String>,
    /// Dimension values or globs (`windows`, `广*`).
    pub dimension_values: Vec<String>,
}

/// A stream's identity from five columns starting at `first`: app_id,
/// room_id and user_ids (NULL for none), source, dimension (NULL for none).
fn stream_key(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<StreamKey> {
    let text = |i: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let users: Option<String> = r.get(first + 2)?;
    let user_ids =
        UserSet::parse(users.as_deref().unwrap_or("")).map_err(|e| text(first + 2, e))?;
    let source: Source = r
        .get::<_, String>(first + 3)?
        .parse()
        .map_err(|e| text(first + 3, e))?;
    let dimension: Option<Dimension> = r
        .get::<_, Option<String>>(first + 4)?
        .map(|d| d.parse())
        .transpose()
        .map_err(|e| text(first + 4, e))?;
    Ok(StreamKey {
        dimension,
        ..StreamKey::new(
            r.get::<_, String>(first)?,
            r.get(first + 1)?,
            user_ids,
            source,
        )
    })
}

/// The stream columns [`stream_key`] reads, of `streams` as `st`.
const STREAM_COLUMNS: &str = "st.app_id, NULLIF(st.room_id, ''), NULLIF(st.user_ids, ''), \
     st.source, NULLIF(st.dimension, '')";

/// `(condition OR condition ...)`, one per value, each with its `?` bound
/// to the value; `None` for no values (no restriction).
fn any_of(condition: &str, values: &[String], args: &mut Vec<String>) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    args.extend(values.iter().cloned());
    Some(format!("({})", vec![condition; values.len()].join(" OR ")))
}

/// The points with `first <= bucket <= last`, in bucket order.
fn points_in<E: From<StoreError>>(
    conn: &Connection,
    series: i64,
    first: i64,
    last: i64,
    mut f: impl FnMut(Point) -> Result<(), E>,
) -> Result<(), E> {
    let mut stmt = conn
        .prepare_cached(&points_sql("?1", "?2", "?3"))
        .map_err(StoreError::from)?;
    // (no bucket is i64::MAX: the range check refuses it)
    let mut rows = stmt
        .query(rusqlite::params![series, first, last.saturating_add(1)])
        .map_err(StoreError::from)?;
    while let Some(row) = rows.next().map_err(StoreError::from)? {
        let bucket: i64 = row.get(0).map_err(StoreError::from)?;
        if !bucket_in_range(bucket) {
            return Err(StoreError::OutOfRange { series, bucket }.into());
        }
        let value = decode_value(row.get_ref(1).map_err(StoreError::from)?);
        let weight: i64 = row.get(2).map_err(StoreError::from)?;
        let resolution = if weight == 1 {
            Resolution::RealTime
        } else {
            Resolution::FiveMinutes
        };
        f(Point {
            ts: ts_of(bucket),
            value,
            resolution,
        })?;
    }
    Ok(())
}

/// One hourly rollup row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollup {
    /// Start of the hour, Unix seconds.
    pub ts: i64,
    /// Points.
    pub count: i64,
    /// The values weighted by the buckets they stand for.
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// The 30-second buckets the points stand for (a 5-minute point: 10).
    pub buckets: i64,
}

#[allow(clippy::too_many_arguments)]
fn rollups<E: From<StoreError>>(
    conn: &Connection,
    table: &str,
    key: &str,
    secs: i64,
    series: i64,
    from: i64,
    to: i64,
    mut f: impl FnMut(Rollup) -> Result<(), E>,
) -> Result<(), E> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {key}, count, sum, min, max, coalesce(buckets, count) FROM {table}
             WHERE series_id = ?1 AND {key} >= ?2 AND {key} < ?3 ORDER BY {key}"
        ))
        .map_err(StoreError::from)?;
    let mut rows = stmt
        .query(rusqlite::params![
            series,
            (from + secs - 1).div_euclid(secs),
            (to + secs - 1).div_euclid(secs)
        ])
        .map_err(StoreError::from)?;
    while let Some(r) = rows.next().map_err(StoreError::from)? {
        let rollup = (|| -> rusqlite::Result<Rollup> {
            Ok(Rollup {
                ts: r.get::<_, i64>(0)? * secs,
                count: r.get(1)?,
                sum: r.get(2)?,
                min: r.get(3)?,
                max: r.get(4)?,
                buckets: r.get(5)?,
            })
        })()
        .map_err(StoreError::from)?;
        f(rollup)?;
    }
    Ok(())
}

/// One row of the gap ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapRow {
    /// The requested indicator.
    pub indicator: String,
    /// Start, inclusive.
    pub start: i64,
    /// End, exclusive.
    pub end: i64,
    pub cause: String,
}

/// Row counts of the archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub streams: i64,
    pub series: i64,
    pub points: i64,
    pub gaps: i64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

/// Statistics of a series' raw points computed by SQLite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SqlStats {
    /// Points.
    pub count: i64,
    /// The 30-second buckets they stand for (a 5-minute point: 10).
    pub buckets: i64,
    /// Weighted by the buckets.
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// What `status` shows for one stream (target and action).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamStatus {
    #[serde(flatten)]
    pub key: StreamKey,
    /// Requested indicators with progress.
    pub indicators: Vec<String>,
    /// Every bucket before this has been fetched (the oldest feed's progress).
    pub fetched_until: Option<i64>,
    /// Start of the newest archived bucket of any of the stream's series.
    pub newest_bucket: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub requests_24h: i64,
    pub failures_24h: i64,
    pub points_24h: i64,
    pub revisions_24h: i64,
    pub skipped_24h: i64,
    pub gaps_24h: i64,
    pub gap_seconds_24h: i64,
    pub gaps_7d: i64,
    pub gap_seconds_7d: i64,
}

impl StreamStatus {
    /// A configured stream the archive has not heard of yet.
    pub fn never_fetched(key: StreamKey, indicators: Vec<String>) -> StreamStatus {
        StreamStatus {
            key,
            indicators,
            fetched_until: None,
            newest_bucket: None,
            last_attempt_at: None,
            last_success_at: None,
            last_error: None,
            last_error_at: None,
            requests_24h: 0,
            failures_24h: 0,
            points_24h: 0,
            revisions_24h: 0,
            skipped_24h: 0,
            gaps_24h: 0,
            gap_seconds_24h: 0,
            gaps_7d: 0,
            gap_seconds_7d: 0,
        }
    }
}

impl Store {
    /// The series matching a filter, ordered by app, room, users, source, indicator.
    pub fn select_series(&self, filter: &SeriesFilter) -> Result<Vec<StoredSeries>> {
        let mut args = Vec::new();
        let sources: Vec<String> = filter
            .sources
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        let clauses: Vec<String> = [
            any_of("se.indicator GLOB ?", &filter.indicators, &mut args),
            any_of("st.app_id = ?", &filter.apps, &mut args),
            any_of("st.room_id = ?", &filter.rooms, &mut args),
            // a user set includes the UserId: ",u1,u2," holds ",u2,"
            any_of(
                "instr(',' || st.user_ids || ',', ',' || ? || ',') > 0",
                &filter.users,
                &mut args,
            ),
            any_of("st.source = ?", &sources, &mut args),
            any_of("st.dimension GLOB ?", &filter.dimensions, &mut args),
            any_of(
                "se.dimension_value GLOB ?",
                &filter.dimension_values,
                &mut args,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT se.id, st.id, {STREAM_COLUMNS},
                    se.indicator, se.unit, NULLIF(se.dimension_value, '')
             FROM series se JOIN streams st ON st.id = se.stream_id
             {where_clause}
             ORDER BY st.app_id, st.room_id, st.user_ids, st.source, st.dimension, se.indicator,
                      se.dimension_value"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
            Ok(StoredSeries {
                id: r.get(0)?,
                stream_id: r.get(1)?,
                key: stream_key(r, 2)?.series_by(r.get::<_, String>(7)?, r.get(9)?),
                unit: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Calls `f(point)` for each point of a series with `from <= ts < to`,
    /// in time order. Only the archive's time range is read: points outside it
    /// (which no current writer stores) are left out; [`for_each_point_all`]
    /// reads every one.
    pub fn for_each_point<E: From<StoreError>>(
        &self,
        series: i64,
        from: i64,
        to: i64,
        f: impl FnMut(Point) -> Result<(), E>,
    ) -> Result<(), E> {
        let from = from.clamp(timeutil::DATA_FROM, timeutil::DATA_TO);
        let to = to.clamp(timeutil::DATA_FROM, timeutil::DATA_TO);
        // first bucket starting at or after `from`; first one at or after `to`
        let first = first_bucket_from(from);
        let end = first_bucket_from(to);
        if first >= end {
            return Ok(());
        }
        points_in(&self.conn, series, first, end - 1, f)
    }

    /// Calls `f(point)` for every point of a series, in time order (export:
    /// nothing may be left out silently). A point outside the archive's time
    /// range, which an archive written before the range was enforced may hold,
    /// is an error naming it.
    pub fn for_each_point_all<E: From<StoreError>>(
        &self,
        series: i64,
        f: impl FnMut(Point) -> Result<(), E>,
    ) -> Result<(), E> {
        points_in(&self.conn, series, i64::MIN, i64::MAX, f)
    }

    /// Hourly rollups of a series for the hours starting in `[from, to)`.
    pub fn hourly_rollups<E: From<StoreError>>(
        &self,
        series: i64,
        from: i64,
        to: i64,
        f: impl FnMut(Rollup) -> Result<(), E>,
    ) -> Result<(), E> {
        rollups(
            &self.conn,
            "rollup_hourly",
            "hour",
            3600,
            series,
            from,
            to,
            f,
        )
    }

    /// Daily (UTC) rollups of a series for the days starting in `[from, to)`.
    pub fn daily_rollups<E: From<StoreError>>(
        &self,
        series: i64,
        from: i64,
        to: i64,
        f: impl FnMut(Rollup) -> Result<(), E>,
    ) -> Result<(), E> {
        rollups(
            &self.conn,
            "rollup_daily",
            "day",
            86400,
            series,
            from,
            to,
            f,
        )
    }

    /// The ledger's gaps of a stream overlapping `[from, to)`, by start.
    pub fn gaps_overlapping(&self, stream: i64, from: i64, to: i64) -> Result<Vec<GapRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT indicator, start_ts, end_ts, cause FROM gap_log
             WHERE stream_id = ?1 AND end_ts > ?2 AND start_ts < ?3 ORDER BY start_ts, indicator",
        )?;
        let rows = stmt.query_map(rusqlite::params![stream, from, to], |r| {
            Ok(GapRow {
                indicator: r.get(0)?,
                start: r.get(1)?,
                end: r.get(2)?,
                cause: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn counts(&self) -> Result<Counts> {
        let one = |sql: &str| -> Result<i64> { Ok(self.conn.query_row(sql, [], |r| r.get(0))?) };
        // never a scan of the points: the ends of each series through the primary
        // key, the count from the rollups
        let (first, last): (Option<i64>, Option<i64>) = self.conn.query_row(
            "SELECT min(first), max(last) FROM (
                 SELECT (SELECT min(bucket) FROM points p WHERE p.series_id = s.id) AS first,
                        (SELECT max(bucket) FROM points p WHERE p.series_id = s.id) AS last
                 FROM series s
                 UNION ALL
                 SELECT (SELECT min(bucket) FROM points_5min p WHERE p.series_id = s.id),
                        (SELECT max(bucket) FROM points_5min p WHERE p.series_id = s.id)
                 FROM series s)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Counts {
            streams: one("SELECT count(*) FROM streams")?,
            series: one("SELECT count(*) FROM series")?,
            points: one("SELECT coalesce(sum(count), 0) FROM rollup_daily")?,
            gaps: one("SELECT count(*) FROM gap_log")?,
            first_ts: first.map(ts_of),
            last_ts: last.map(ts_of),
        })
    }

    /// First and last point time and point count of a series.
    pub fn series_extent(&self, series: i64) -> Result<(Option<i64>, Option<i64>, i64)> {
        let count: i64 = self.conn.query_row(
            "SELECT coalesce(sum(count), 0) FROM rollup_daily WHERE series_id = ?1",
            [series],
            |r| r.get(0),
        )?;
        // min and max of a primary-key prefix are single index lookups
        let first: Option<i64> = self.conn.query_row(
            "SELECT min(b) FROM (SELECT min(bucket) AS b FROM points WHERE series_id = ?1
                                 UNION ALL
                                 SELECT min(bucket) FROM points_5min WHERE series_id = ?1)",
            [series],
            |r| r.get(0),
        )?;
        let last: Option<i64> = self.conn.query_row(
            "SELECT max(b) FROM (SELECT max(bucket) AS b FROM points WHERE series_id = ?1
                                 UNION ALL
                                 SELECT max(bucket) FROM points_5min WHERE series_id = ?1)",
            [series],
            |r| r.get(0),
        )?;
        Ok((first.map(ts_of), last.map(ts_of), count))
    }

    /// The raw value statistics of a series over `[from, to)`, computed in SQL
    /// (the average weighted by the buckets each point stands for), to
    /// cross-check the aggregations done in Rust.
    pub fn sql_stats(&self, series: i64, from: i64, to: i64) -> Result<SqlStats> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT count(*), coalesce(sum(weight), 0), sum(v * weight) / sum(weight), min(v), max(v)
                 FROM (SELECT {VALUE_SQL} AS v, weight FROM ({points}))",
                points = points_sql("?1", "?2", "?3")
            ),
            rusqlite::params![series, first_bucket_from(from), first_bucket_from(to)],
            |r| {
                Ok(SqlStats {
                    count: r.get(0)?,
                    buckets: r.get(1)?,
                    avg: r.get(2)?,
                    min: r.get(3)?,
                    max: r.get(4)?,
                })
            },
        )?)
    }

    /// An action's requests as the archive knows them: when the last one
    /// left (Unix seconds, as stored when its outcome was: no earlier than
    /// it left) and how many left today (UTC), from every stream of the
    /// action (retries included). For an offline action, the last is the
    /// newest history fetch or repair try of the action's streams.
    pub fn api_usage(&self, action: Action, now: i64) -> Result<(Option<i64>, u32)> {
        let today_hour = now.div_euclid(86_400) * 24;
        let (column, last_sql) = if action.is_offline() {
            (
                "offline_requests",
                "SELECT max(t) FROM (
                     SELECT max(h.fetched_at) AS t FROM history_log h
                     JOIN streams st ON st.id = h.stream_id WHERE st.source = ?1
                     UNION ALL
                     SELECT max(g.repair_tried_at) FROM gap_log g
                     JOIN streams st ON st.id = g.stream_id WHERE st.source = ?1)",
            )
        } else {
            (
                "requests",
                "SELECT max(last_attempt_at) FROM streams WHERE source = ?1",
            )
        };
        let (last, today): (Option<i64>, i64) = self.conn.query_row(
            &format!(
                "SELECT ({last_sql}),
                        (SELECT coalesce(sum(s.{column}), 0) FROM stream_stats s
                         JOIN streams st ON st.id = s.stream_id
                         WHERE st.source = ?1 AND s.hour >= ?2)"
            ),
            rusqlite::params![action.source().as_str(), today_hour],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((last, u32::try_from(today).unwrap_or(u32::MAX)))
    }

    /// The status of every stream in the archive.
    pub fn stream_status(&self, now: i64) -> Result<Vec<StreamStatus>> {
        let mut stmt = self.conn.prepare(
            "SELECT st.id, st.app_id, NULLIF(st.room_id, ''), NULLIF(st.user_ids, ''), st.source,
                    NULLIF(st.dimension, ''),
                    st.last_attempt_at, st.last_success_at, st.last_error, st.last_error_at,
                    (SELECT min(done_ts) FROM feeds f WHERE f.stream_id = st.id),
                    (SELECT group_concat(indicator, ',') FROM (SELECT indicator FROM feeds f WHERE f.stream_id = st.id ORDER BY indicator)),
                    coalesce(s.requests, 0), coalesce(s.failures, 0), coalesce(s.points_new, 0),
                    coalesce(s.points_revised, 0), coalesce(s.points_skipped, 0)
             FROM streams st
             LEFT JOIN (SELECT stream_id, sum(requests) AS requests, sum(failures) AS failures,
                               sum(points_new) AS points_new, sum(points_revised) AS points_revised,
                               sum(points_skipped) AS points_skipped
                        FROM stream_stats WHERE hour >= ?1 GROUP BY stream_id) s ON s.stream_id = st.id
             ORDER BY st.app_id, st.room_id, st.user_ids, st.source, st.dimension",
        )?;
        let hour_24h_ago = (now - 86400).div_euclid(3600);
        let rows = stmt.query_map([hour_24h_ago], |r| {
            let inds: Option<String> = r.get(11)?;
            Ok((
                r.get::<_, i64>(0)?,
                StreamStatus {
                    key: stream_key(r, 1)?,
                    last_attempt_at: r.get(6)?,
                    last_success_at: r.get(7)?,
                    last_error: r.get(8)?,
                    last_error_at: r.get(9)?,
                    fetched_until: r.get(10)?,
                    indicators: inds
                        .map(|s| s.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                    newest_bucket: None,
                    requests_24h: r.get(12)?,
                    failures_24h: r.get(13)?,
                    points_24h: r.get(14)?,
                    revisions_24h: r.get(15)?,
                    skipped_24h: r.get(16)?,
                    gaps_24h: 0,
                    gap_seconds_24h: 0,
                    gaps_7d: 0,
                    gap_seconds_7d: 0,
                },
            ))
        })?;
        let mut out = Vec::new();
        let mut newest = self.conn.prepare_cached(
            "SELECT max((SELECT max(bucket) FROM points p WHERE p.series_id = se.id)) FROM series se WHERE se.stream_id = ?1",
        )?;
        let mut gaps = self.conn.prepare_cached(
            "SELECT count(*), coalesce(sum(min(end_ts, ?3) - max(start_ts, ?2)), 0)
             FROM gap_log WHERE stream_id = ?1 AND end_ts > ?2 AND start_ts < ?3",
        )?;
        for row in rows {
            let (id, mut status) = row?;
            let b: Option<i64> = newest.query_row([id], |r| r.get(0))?;
            status.newest_bucket = b.map(ts_of);
            (status.gaps_24h, status.gap_seconds_24h) = gaps
                .query_row(rusqlite::params![id, now - 86400, now], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            (status.gaps_7d, status.gap_seconds_7d) = gaps
                .query_row(rusqlite::params![id, now - 7 * 86400, now], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            out.push(status);
        }
        Ok(out)
    }
}
