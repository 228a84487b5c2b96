//! Writing the archive. Every write is idempotent against the natural key
//! (series, bucket): a re-fetched bucket is updated in place only if its
//! value changed, and the points, the rollups they feed and the progress
//! they justify are committed in one transaction, so a crash never records
//! progress for data that is not stored. The store takes its own input
//! types: the wire format and the planner stay outside it.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::codec::{
    DAY_HOURS, HOUR_BUCKETS, VALUE_SQL, bucket_in_range, bucket_of, encode_value,
    first_bucket_of_hour, hour_of_bucket, points_sql, ts_of,
};
use super::{Result, Store, StoreError, WriteStats};
use crate::gaps::{self, FailureStreak, GapCause};
use crate::series::{Resolution, SeriesKey, StreamKey};
use crate::timeutil;

/// One answered series of a fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchedSeries<'a> {
    /// The name the API answered with.
    pub indicator: &'a str,
    /// The dimension's value, for a distribution series.
    pub dimension_value: Option<&'a str>,
    pub unit: Option<&'a str>,
    /// (bucket start, value), in bucket order.
    pub points: &'a [(i64, f64)],
}

/// What one successful request of a stream brought.
#[derive(Debug, Clone)]
pub struct Fetch<'a> {
    /// The requested indicators: the feeds whose progress it moves.
    pub indicators: &'a [String],
    /// Every bucket starting in `[from, to)` was fetched: stored below, or
    /// absent because the API had no data for it.
    pub from: i64,
    pub to: i64,
    pub series: Vec<FetchedSeries<'a>>,
    /// Points of the answer that could not be stored (counted, not kept).
    pub skipped: u64,
    /// Requests it took, retries included.
    pub attempts: u32,
}

/// An interval of one feed that slid out of the API's reach unfetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost<'a> {
    /// The requested indicator.
    pub indicator: &'a str,
    /// Start, inclusive.
    pub start: i64,
    /// End, exclusive.
    pub end: i64,
}

impl Store {
    /// The id of a stream, created on first use.
    pub fn stream_id(&mut self, key: &StreamKey) -> Result<i64> {
        stream_id_in(&self.conn, key)
    }

    /// Each requested indicator's progress: the first bucket not yet fetched
    /// (`None` for a stream or indicator never fetched). Writes nothing.
    pub fn feed_progress(
        &self,
        key: &StreamKey,
        indicators: &[String],
    ) -> Result<Vec<Option<i64>>> {
        let Some(stream) = find_stream(&self.conn, key)? else {
            return Ok(vec![None; indicators.len()]);
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT done_ts FROM feeds WHERE stream_id = ?1 AND indicator = ?2")?;
        indicators
            .iter()
            .map(|ind| {
                Ok(stmt
                    .query_row(params![stream, ind], |r| r.get(0))
                    .optional()?)
            })
            .collect()
    }

    /// Records intervals that can no longer be fetched as gaps, each cut by
    /// cause ([`gaps::split_lost`]: the stream's failures and when the
    /// collector recording them started, `collecting_since`, decide), and
    /// moves the feeds' progress past them, in one transaction.
    pub fn record_lost(
        &mut self,
        key: &StreamKey,
        lost: &[Lost<'_>],
        reach: gaps::Reach,
        collecting_since: Option<i64>,
        now: i64,
    ) -> Result<()> {
        if lost.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        let (last_error, last_error_at, failing_since): (Option<String>, Option<i64>, Option<i64>) =
            tx.query_row(
                "SELECT last_error, last_error_at, failing_since FROM streams WHERE id = ?1",
                [stream],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        let streak = last_error_at.map(|last| FailureStreak {
            since: failing_since.unwrap_or(last),
            last,
        });
        for l in lost {
            let indicator = l.indicator;
            for (start, end, cause) in
                gaps::split_lost(l.start, l.end, streak, reach, collecting_since)
            {
                let detail = match cause {
                    GapCause::FetchFailed => format!(
                        "requests kept failing until the interval slid out of the API's \
                         60-minute reach; last error: {}",
                        last_error.as_deref().unwrap_or("unknown")
                    ),
                    GapCause::NotCollected => "no collector pass fetched the interval before it \
                         slid out of the API's 60-minute reach (collector not running, or the \
                         indicator not configured)"
                        .to_string(),
                    GapCause::OverBudget => "the collector ran, but the request budget (the \
                         rate limit or daily quota of the action, shared by every target of the \
                         account) did not reach this stream before the interval slid out of the \
                         API's 60-minute reach: collect fewer targets, or split them between \
                         accounts (see `rtc-archiver status`)"
                        .to_string(),
                };
                let cause = cause.as_str();
                // A loss that continues the previous one for the same cause (the
                // API stayed down, pass after pass) extends it: one row per lost
                // interval.
                let extended = tx.execute(
                    "UPDATE gap_log SET end_ts = ?4, detail = ?6, recorded_at = ?7
                     WHERE stream_id = ?1 AND indicator = ?2 AND end_ts = ?3 AND cause = ?5",
                    params![stream, indicator, start, end, cause, detail, now],
                )?;
                if extended == 0 {
                    tx.execute(
                        "INSERT INTO gap_log (stream_id, indicator, start_ts, end_ts, cause, detail, recorded_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (stream_id, indicator, start_ts) DO UPDATE SET
                           end_ts = max(end_ts, excluded.end_ts), cause = excluded.cause,
                           detail = excluded.detail, recorded_at = excluded.recorded_at",
                        params![stream, indicator, start, end, cause, detail, now],
                    )?;
                }
            }
            tx.execute(
                "UPDATE feeds SET done_ts = max(done_ts, ?3) WHERE stream_id = ?1 AND indicator = ?2",
                params![stream, indicator, l.end],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores what one request brought: its points, the rollups they
    /// change, the feeds' progress and the stream's bookkeeping, all in one
    /// transaction.
    pub fn store_fetch(
        &mut self,
        key: &StreamKey,
        fetch: &Fetch<'_>,
        now: i64,
    ) -> Result<WriteStats> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        let mut stats = WriteStats::default();
        for series in &fetch.series {
            stats += store_series(&tx, stream, series, Resolution::RealTime)?;
        }
        for ind in fetch.indicators {
            tx.execute(
                "INSERT INTO feeds (stream_id, indicator, first_ts, done_ts) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (stream_id, indicator) DO UPDATE SET
                   first_ts = min(first_ts, excluded.first_ts),
                   done_ts = max(done_ts, excluded.done_ts)",
                params![stream, ind, fetch.from, fetch.to],
            )?;
        }
        tx.execute(
            "UPDATE streams SET last_attempt_at = ?2, last_success_at = ?2,
                 last_error = NULL, last_error_at = NULL, failing_since = NULL WHERE id = ?1",
            params![stream, now],
        )?;
        bump_stats(
            &tx,
            stream,
            now,
            &StatsDelta {
                requests: i64::from(fetch.attempts),
                failures: i64::from(fetch.attempts.saturating_sub(1)),
                points_new: stats.new as i64,
                points_revised: stats.revised as i64,
                points_skipped: fetch.skipped as i64,
                ..StatsDelta::default()
            },
        )?;
        tx.commit()?;
        Ok(stats)
    }

    /// Records a request (or retries of it) that failed for good.
    pub fn record_failure(
        &mut self,
        key: &StreamKey,
        attempts: u32,
        error: &str,
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        tx.execute(
            "UPDATE streams SET last_attempt_at = ?2, last_error = ?3, last_error_at = ?2,
                 failing_since = coalesce(failing_since, ?2) WHERE id = ?1",
            params![stream, now, error],
        )?;
        bump_stats(
            &tx,
            stream,
            now,
            &StatsDelta {
                requests: attempts as i64,
                failures: attempts as i64,
                ..StatsDelta::default()
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Upserts 30-second points of many series at once: see
    /// [`Store::upsert_samples`]. `rows` are (series id, bucket, stored value).
    pub fn upsert_points(&mut self, rows: &mut [(i64, i64, SqlValue)]) -> Result<WriteStats> {
        let mut rows: Vec<_> = rows
            .iter_mut()
            .map(|(s, b, v)| {
                (
                    *s,
                    *b,
                    std::mem::replace(v, SqlValue::Null),
                    Resolution::RealTime,
                )
            })
            .collect();
        self.upsert_samples(&mut rows)
    }

    /// Upserts points of many series at once (import): one transaction, the
    /// rollups kept in step, each resolution by its rules. `rows` are
    /// (series id, bucket, stored value, resolution).
    pub fn upsert_samples(
        &mut self,
        rows: &mut [(i64, i64, SqlValue, Resolution)],
    ) -> Result<WriteStats> {
        // per series, the 30-second points first: a 5-minute point of the
        // same batch then finds them, whatever the order of the input
        rows.sort_by_key(|r| (r.0, r.3, r.1));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stats = WriteStats::default();
        let mut start = 0;
        while start < rows.len() {
            let (id, resolution) = (rows[start].0, rows[start].3);
            let end = start
                + rows[start..]
                    .iter()
                    .take_while(|r| r.0 == id && r.3 == resolution)
                    .count();
            let points: Vec<(i64, SqlValue)> = rows[start..end]
                .iter()
                .map(|r| (r.1, r.2.clone()))
                .collect();
            stats += upsert_series_points(&tx, id, &points, resolution)?;
            start = end;
        }
        tx.commit()?;
        Ok(stats)
    }

    /// The id of a series without a dimension value, created on first use
    /// (its unit updated if given).
    pub fn series_id(
        &mut self,
        key: &StreamKey,
        indicator: &str,
        unit: Option<&str>,
    ) -> Result<i64> {
        self.series_id_of(&key.series(indicator), unit)
    }

    /// The id of any series, created on first use (its unit updated if given).
    pub fn series_id_of(&mut self, key: &SeriesKey, unit: Option<&str>) -> Result<i64> {
        let stream = stream_id_in(&self.conn, &key.stream)?;
        series_id_in(
            &self.conn,
            stream,
            &key.indicator,
            key.dimension_value.as_deref(),
            unit,
        )
    }
}

/// Stores one answered series of a stream at `resolution`.
pub(super) fn store_series(
    conn: &Connection,
    stream: i64,
    series: &FetchedSeries<'_>,
    resolution: Resolution,
) -> Result<WriteStats> {
    let id = series_id_in(
        conn,
        stream,
        series.indicator,
        series.dimension_value,
        series.unit,
    )?;
    let points: Vec<(i64, SqlValue)> = series
        .points
        .iter()
        .map(|&(ts, v)| (bucket_of(ts), encode_value(v)))
        .collect();
    upsert_series_points(conn, id, &points, resolution)
}

pub(super) fn find_stream(conn: &Connection, key: &StreamKey) -> Result<Option<i64>> {
    let mut find = conn.prepare_cached(
        "SELECT id FROM streams WHERE app_id = ?1 AND room_id = ?2 AND user_ids = ?3 AND source = ?4
           AND dimension = ?5",
    )?;
    let room = key.room_id.as_deref().unwrap_or_default();
    let dimension = key.dimension.map_or("", |d| d.as_str());
    Ok(find
        .query_row(
            params![
                key.app_id,
                room,
                key.user_ids.joined(),
                key.source.as_str(),
                dimension
            ],
            |r| r.get(0),
        )
        .optional()?)
}

/// The id of a stream, created on first use (inside the caller's transaction).
pub(super) fn stream_id_in(conn: &Connection, key: &StreamKey) -> Result<i64> {
    if let Some(id) = find_stream(conn, key)? {
        return Ok(id);
    }
    let room = key.room_id.clone().unwrap_or_default();
    let users = key.user_ids.joined();
    let dimension = key.dimension.map_or("", |d| d.as_str());
    conn.execute(
        "INSERT INTO streams (app_id, room_id, user_ids, source, dimension) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key.app_id, room, users, key.source.as_str(), dimension],
    )?;
    Ok(conn.last_insert_rowid())
}

fn series_id_in(
    conn: &Connection,
    stream: i64,
    indicator: &str,
    dimension_value: Option<&str>,
    unit: Option<&str>,
) -> Result<i64> {
    let mut find = conn.prepare_cached(
        "SELECT id, unit FROM series WHERE stream_id = ?1 AND indicator = ?2 AND dimension_value = ?3",
    )?;
    let value = dimension_value.unwrap_or_default();
    if let Some((id, old_unit)) = find
        .query_row(params![stream, indicator, value], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .optional()?
    {
        if unit.is_some() && unit != old_unit.as_deref() {
            conn.execute(
                "UPDATE series SET unit = ?2 WHERE id = ?1",
                params![id, unit],
            )?;
        }
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO series (stream_id, indicator, unit, dimension_value) VALUES (?1, ?2, ?3, ?4)",
        params![stream, indicator, unit, value],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Upserts one series' points of one resolution, given sorted by bucket (a
/// repeated bucket: the later value wins). Writes only what is new or
/// changed (the `WHERE` of the upsert leaves equal values alone, so a
/// re-fetch writes no page), then refreshes the rollups of the hours (and
/// days) it changed; the rollups' counts before and after tell new points
/// from revised ones.
///
/// The two resolutions never overlap: a 30-second point removes the
/// 5-minute point whose slot it falls in (real-time wins), and a 5-minute
/// point is stored only where its slot has no 30-second point (else it is
/// counted as `covered`).
fn upsert_series_points(
    conn: &Connection,
    series: i64,
    points: &[(i64, SqlValue)],
    resolution: Resolution,
) -> Result<WriteStats> {
    // the callers refuse times outside the range with a reason; this is
    // the last line: nothing outside it is ever stored
    if let Some((bucket, _)) = points.iter().find(|(b, _)| !bucket_in_range(*b)) {
        return Err(StoreError::Invalid(format!(
            "refusing to store a point: {}",
            timeutil::outside_data_range(ts_of(*bucket))
        )));
    }
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Ok(WriteStats::default());
    };
    let slot = Resolution::FiveMinutes.buckets();
    let mut hours: Vec<i64> = Vec::new();
    let mut touch = |bucket: i64| {
        let hour = hour_of_bucket(bucket);
        if hours.last() != Some(&hour) {
            hours.push(hour);
        }
    };
    let mut removed: u64 = 0;
    let mut covered: u64 = 0;
    let mut written: u64 = 0;
    match resolution {
        Resolution::RealTime => {
            // 5-minute points whose slot a point of this batch falls in
            let mut coarse = conn.prepare_cached(
                "SELECT bucket FROM points_5min WHERE series_id = ?1 AND bucket > ?2 AND bucket <= ?3",
            )?;
            let superseded: Vec<i64> = coarse
                .query_map(params![series, first.0 - slot, last.0], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut delete = conn
                .prepare_cached("DELETE FROM points_5min WHERE series_id = ?1 AND bucket = ?2")?;
            for c in superseded {
                let at = points.partition_point(|(b, _)| *b < c);
                if points.get(at).is_some_and(|(b, _)| *b < c + slot) {
                    removed += delete.execute(params![series, c])? as u64;
                    touch(c);
                }
            }
            // typeof() too: SQLite finds INTEGER 5 equal to REAL 5.0, but here
            // they mean different values (hundredths against the value itself)
            let mut upsert = conn.prepare_cached(
                "INSERT INTO points (series_id, bucket, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (series_id, bucket) DO UPDATE SET value = excluded.value
                 WHERE value IS NOT excluded.value OR typeof(value) IS NOT typeof(excluded.value)",
            )?;
            for (bucket, value) in points {
                if upsert.execute(params![series, bucket, value])? > 0 {
                    written += 1;
                    touch(*bucket);
                }
            }
        }
        Resolution::FiveMinutes => {
            // the 30-second points of the batch's slots
            let mut fine = conn.prepare_cached(
                "SELECT bucket FROM points WHERE series_id = ?1 AND bucket >= ?2 AND bucket < ?3",
            )?;
            let real_time: Vec<i64> = fine
                .query_map(params![series, first.0, last.0 + slot], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut upsert = conn.prepare_cached(
                "INSERT INTO points_5min (series_id, bucket, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (series_id, bucket) DO UPDATE SET value = excluded.value
                 WHERE value IS NOT excluded.value OR typeof(value) IS NOT typeof(excluded.value)",
            )?;
            for (bucket, value) in points {
                let at = real_time.partition_point(|b| b < bucket);
                if real_time.get(at).is_some_and(|b| *b < bucket + slot) {
                    covered += 1;
                    continue;
                }
                if upsert.execute(params![series, bucket, value])? > 0 {
                    written += 1;
                    touch(*bucket);
                }
            }
        }
    }
    hours.sort_unstable();
    hours.dedup();
    let gained = refresh_rollups(conn, series, &hours)?;
    // a 30-second point that took a 5-minute point's place is new too
    let new = (gained + removed as i64).clamp(0, written as i64) as u64;
    Ok(WriteStats {
        new,
        revised: written - new,
        unchanged: points.len() as u64 - written - covered,
        covered,
    })
}

/// Recomputes the hourly rollups of `hours` (sorted) from the points, then
/// the daily rollups of the days they fall in from the hourly ones; a
/// 5-minute point weighs as the ten buckets it stands for in `sum` and
/// `buckets`, and counts as one point. Returns how many points those hours
/// gained (negative when 5-minute points gave way).
fn refresh_rollups(conn: &Connection, series: i64, hours: &[i64]) -> Result<i64> {
    if hours.is_empty() {
        return Ok(0);
    }
    let mut before =
        conn.prepare_cached("SELECT count FROM rollup_hourly WHERE series_id = ?1 AND hour = ?2")?;
    let mut hourly = conn.prepare_cached(&format!(
        "INSERT INTO rollup_hourly (series_id, hour, count, sum, min, max, buckets)
         SELECT ?1, ?2, count(*), sum(v * weight), min(v), max(v), sum(weight)
         FROM (SELECT {VALUE_SQL} AS v, weight FROM ({points}))
         WHERE true
         ON CONFLICT (series_id, hour) DO UPDATE SET
           count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
           buckets = excluded.buckets
         RETURNING count",
        points = points_sql("?1", "?3", "?4")
    ))?;
    let mut gained: i64 = 0;
    let mut days: Vec<i64> = Vec::new();
    for &hour in hours {
        let old: i64 = before
            .query_row(params![series, hour], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let b0 = first_bucket_of_hour(hour);
        let new: i64 =
            hourly.query_row(params![series, hour, b0, b0 + HOUR_BUCKETS], |r| r.get(0))?;
        gained += new - old;
        let day = hour.div_euclid(DAY_HOURS);
        if days.last() != Some(&day) {
            days.push(day);
        }
    }
    let mut daily = conn.prepare_cached(
        "INSERT INTO rollup_daily (series_id, day, count, sum, min, max, buckets)
         SELECT ?1, ?2, sum(count), sum(sum), min(min), max(max), sum(coalesce(buckets, count))
         FROM rollup_hourly WHERE series_id = ?1 AND hour >= ?3 AND hour < ?4 AND count > 0
         GROUP BY series_id
         ON CONFLICT (series_id, day) DO UPDATE SET
           count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
           buckets = excluded.buckets",
    )?;
    for day in days {
        daily.execute(params![series, day, day * DAY_HOURS, (day + 1) * DAY_HOURS])?;
    }
    Ok(gained)
}

#[derive(Debug, Default)]
pub(super) struct StatsDelta {
    pub requests: i64,
    pub failures: i64,
    pub points_new: i64,
    pub points_revised: i64,
    pub points_skipped: i64,
    /// Requests of the stream's offline action (history, repairs).
    pub offline_requests: i64,
}

/// Adds to a stream's activity of the hour holding `now`.
pub(super) fn bump_stats(conn: &Connection, stream: i64, now: i64, d: &StatsDelta) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO stream_stats (stream_id, hour, requests, failures, points_new, points_revised,
                                   points_skipped, offline_requests)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (stream_id, hour) DO UPDATE SET
           requests = requests + excluded.requests,
           failures = failures + excluded.failures,
           points_new = points_new + excluded.points_new,
           points_revised = points_revised + excluded.points_revised,
           points_skipped = points_skipped + excluded.points_skipped,
           offline_requests = offline_requests + excluded.offline_requests",
    )?
    .execute(params![
        stream,
        now.div_euclid(3600),
        d.requests,
        d.failures,
        d.points_new,
        d.points_revised,
        d.points_skipped,
        d.offline_requests
    ])?;
    Ok(())
}
