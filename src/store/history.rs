//! History from the offline actions (`ListQuality`,
//! `ListQualityDistribution`): 5-minute points stored beside the 30-second
//! ones by the rules of [`super::write`] (real-time wins), the ledger of
//! what was fetched from the offline store (`history_log`, so that a
//! backfill resumes and never asks twice), and the gaps it repaired.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::write::{
    FetchedSeries, StatsDelta, bump_stats, find_stream, store_series, stream_id_in,
};
use super::{Result, Store, WriteStats};
use crate::series::{Dimension, Resolution, Source, StreamKey, UserSet};

/// Seconds in a 5-minute slot.
pub const SLOT_SECS: i64 = 300;

/// The start of the slot holding `ts`.
pub fn slot_floor(ts: i64) -> i64 {
    ts.div_euclid(SLOT_SECS) * SLOT_SECS
}

/// The first slot start at or after `ts`.
pub fn slot_ceil(ts: i64) -> i64 {
    slot_floor(ts.saturating_add(SLOT_SECS - 1))
}

/// What one successful offline request of a stream brought.
#[derive(Debug, Clone)]
pub struct HistoryFetch<'a> {
    /// The requested indicators.
    pub indicators: &'a [String],
    /// Every 5-minute slot starting in `[from, to)` was asked for: its
    /// point is below, or the offline store had none.
    pub from: i64,
    pub to: i64,
    pub series: Vec<FetchedSeries<'a>>,
    /// Requests it took, retries included.
    pub attempts: u32,
}

/// A recorded gap that the offline store may fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairDue {
    pub key: StreamKey,
    /// The requested indicator.
    pub indicator: String,
    /// The gap's start (inclusive) and end (exclusive), as recorded.
    pub start: i64,
    pub end: i64,
}

/// Gaps no offline action can fill, for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Unrepairable {
    /// Gaps of operation data (no offline 5-minute equivalent).
    pub operation_gaps: i64,
    pub operation_seconds: i64,
    /// Quality gaps that slid out of the offline store's 30-day reach
    /// before they were repaired.
    pub expired_gaps: i64,
    pub expired_seconds: i64,
}

/// What the offline actions repaired and what they cannot, for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairStatus {
    /// Recorded gaps filled at 5 minutes, and their seconds.
    pub repaired_gaps: i64,
    pub repaired_seconds: i64,
    /// Gaps still waiting for the offline delay or a retry.
    pub pending_gaps: i64,
    pub unrepairable: Unrepairable,
}

impl Store {
    /// The gap ledger's repair state at `now`, `reach` being the offline
    /// store's (seconds).
    pub fn repair_status(&self, now: i64, reach: i64) -> Result<RepairStatus> {
        let unrepairable = self.unrepairable(now, reach)?;
        let (repaired_gaps, repaired_seconds, open): (i64, i64, i64) = self.conn.query_row(
            "SELECT coalesce(sum(repaired_at IS NOT NULL), 0),
                    coalesce(sum(CASE WHEN repaired_at IS NOT NULL THEN end_ts - start_ts END), 0),
                    coalesce(sum(repaired_at IS NULL), 0)
             FROM gap_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(RepairStatus {
            repaired_gaps,
            repaired_seconds,
            pending_gaps: open - unrepairable.operation_gaps - unrepairable.expired_gaps,
            unrepairable,
        })
    }

    /// Stores what one offline request brought: its 5-minute points (where
    /// no 30-second point covers their slot), the interval it fetched in
    /// the history ledger, and the gaps inside that interval as repaired at
    /// 5 minutes, in one transaction.
    pub fn store_history(
        &mut self,
        key: &StreamKey,
        fetch: &HistoryFetch<'_>,
        now: i64,
    ) -> Result<WriteStats> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        let mut stats = WriteStats::default();
        for series in &fetch.series {
            stats += store_series(&tx, stream, series, Resolution::FiveMinutes)?;
        }
        for indicator in fetch.indicators {
            // a gap longer than one call's span is whole once the calls
            // that fetched it have merged into one logged interval
            let (from, to) = log_fetched(&tx, stream, indicator, fetch.from, fetch.to, now)?;
            tx.execute(
                "UPDATE gap_log SET repaired_resolution = ?5, repaired_at = ?6
                 WHERE stream_id = ?1 AND indicator = ?2 AND start_ts >= ?3 AND end_ts <= ?4
                   AND repaired_at IS NULL",
                params![
                    stream,
                    indicator,
                    from,
                    to,
                    Resolution::FiveMinutes.secs(),
                    now
                ],
            )?;
        }
        bump_stats(
            &tx,
            stream,
            now,
            &StatsDelta {
                offline_requests: i64::from(fetch.attempts),
                ..StatsDelta::default()
            },
        )?;
        tx.commit()?;
        Ok(stats)
    }

    /// Counts offline requests that failed for good (the daily quota counts
    /// them too).
    pub fn record_history_failure(
        &mut self,
        key: &StreamKey,
        attempts: u32,
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stream = stream_id_in(&tx, key)?;
        bump_stats(
            &tx,
            stream,
            now,
            &StatsDelta {
                offline_requests: i64::from(attempts),
                failures: i64::from(attempts),
                ..StatsDelta::default()
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The parts of `[from, to)` of one feed (a stream's requested
    /// indicator) that the archive does not cover: neither fetched at 30
    /// seconds (the feed's progress, less its gaps) nor fetched from the
    /// offline store before. Widened to whole 5-minute slots, merged, in
    /// time order.
    pub fn history_due(
        &self,
        key: &StreamKey,
        indicator: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let (from, to) = (slot_floor(from), slot_ceil(to));
        if from >= to {
            return Ok(Vec::new());
        }
        let Some(stream) = find_stream(&self.conn, key)? else {
            return Ok(vec![(from, to)]);
        };
        let mut covered: Vec<(i64, i64)> = Vec::new();
        let feed: Option<(i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT first_ts, done_ts FROM feeds WHERE stream_id = ?1 AND indicator = ?2",
            )?
            .query_row(params![stream, indicator], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((first, done)) = feed {
            let mut gaps = self.conn.prepare_cached(
                "SELECT start_ts, end_ts FROM gap_log
                 WHERE stream_id = ?1 AND indicator = ?2 AND end_ts > ?3 AND start_ts < ?4
                 ORDER BY start_ts",
            )?;
            let holes: Vec<(i64, i64)> = gaps
                .query_map(params![stream, indicator, first, done], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            covered.extend(subtract(&[(first, done)], &holes));
        }
        let mut logged = self.conn.prepare_cached(
            "SELECT start_ts, end_ts FROM history_log
             WHERE stream_id = ?1 AND indicator = ?2 AND end_ts > ?3 AND start_ts < ?4",
        )?;
        for row in logged.query_map(params![stream, indicator, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })? {
            covered.push(row?);
        }
        covered.sort_unstable();
        let due = subtract(&[(from, to)], &covered);
        let mut slots: Vec<(i64, i64)> = Vec::new();
        for (a, b) in due {
            let (a, b) = (slot_floor(a).max(from), slot_ceil(b).min(to));
            match slots.last_mut() {
                Some(last) if last.1 >= a => last.1 = last.1.max(b),
                _ => slots.push((a, b)),
            }
        }
        Ok(slots)
    }

    /// Recorded gaps of the quality sources that the offline store can fill
    /// now: not repaired, ending at least `delay` before `now` (the offline
    /// data delay), ending inside its reach (`now - reach`), and not tried
    /// in the last `retry_after` seconds. Oldest first, so what is about to
    /// leave the reach goes first.
    pub fn repairs_due(
        &self,
        now: i64,
        delay: i64,
        reach: i64,
        retry_after: i64,
    ) -> Result<Vec<RepairDue>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT st.app_id, NULLIF(st.room_id, ''), NULLIF(st.user_ids, ''), st.source,
                    NULLIF(st.dimension, ''), g.indicator, g.start_ts, g.end_ts
             FROM gap_log g JOIN streams st ON st.id = g.stream_id
             WHERE g.repaired_at IS NULL AND st.source IN ('quality', 'distribution')
               AND g.end_ts <= ?1 AND g.end_ts > ?2
               AND (g.repair_tried_at IS NULL OR g.repair_tried_at <= ?3)
             ORDER BY g.start_ts, st.id, g.indicator",
        )?;
        let rows = stmt.query_map(
            params![
                slot_floor(now - delay),
                now.saturating_sub(reach),
                now - retry_after
            ],
            |r| {
                let users: Option<String> = r.get(2)?;
                let source: String = r.get(3)?;
                let dimension: Option<String> = r.get(4)?;
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    users,
                    source,
                    dimension,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (app, room, users, source, dimension, indicator, start, end) = row?;
            let bad =
                |e: String| super::StoreError::Invalid(format!("a stream of the archive: {e}"));
            let source: Source = source.parse().map_err(bad)?;
            let dimension: Option<Dimension> =
                dimension.map(|d| d.parse()).transpose().map_err(bad)?;
            let users = UserSet::parse(users.as_deref().unwrap_or("")).map_err(bad)?;
            out.push(RepairDue {
                key: StreamKey {
                    dimension,
                    ..StreamKey::new(app, room, users, source)
                },
                indicator,
                start,
                end,
            });
        }
        Ok(out)
    }

    /// Notes that a repair of the gap starting at `start` was tried at
    /// `now` (and failed): it waits before the next try.
    pub fn note_repair_tried(
        &mut self,
        key: &StreamKey,
        indicator: &str,
        start: i64,
        now: i64,
    ) -> Result<()> {
        let Some(stream) = find_stream(&self.conn, key)? else {
            return Ok(());
        };
        self.conn.execute(
            "UPDATE gap_log SET repair_tried_at = ?4
             WHERE stream_id = ?1 AND indicator = ?2 AND start_ts = ?3",
            params![stream, indicator, start, now],
        )?;
        Ok(())
    }

    /// The gaps that will never be repaired: operation data's, and quality
    /// gaps that left the offline reach (`now - reach`) unrepaired.
    pub fn unrepairable(&self, now: i64, reach: i64) -> Result<Unrepairable> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(st.source = 'operation'), 0),
                    coalesce(sum(CASE WHEN st.source = 'operation' THEN g.end_ts - g.start_ts END), 0),
                    coalesce(sum(st.source != 'operation' AND g.end_ts <= ?1), 0),
                    coalesce(sum(CASE WHEN st.source != 'operation' AND g.end_ts <= ?1
                                      THEN g.end_ts - g.start_ts END), 0)
             FROM gap_log g JOIN streams st ON st.id = g.stream_id
             WHERE g.repaired_at IS NULL",
            [now.saturating_sub(reach)],
            |r| {
                Ok(Unrepairable {
                    operation_gaps: r.get(0)?,
                    operation_seconds: r.get(1)?,
                    expired_gaps: r.get(2)?,
                    expired_seconds: r.get(3)?,
                })
            },
        )?)
    }
}

/// Adds `[from, to)` to a feed's history ledger, merged with the intervals
/// it touches; returns the merged interval.
fn log_fetched(
    conn: &Connection,
    stream: i64,
    indicator: &str,
    from: i64,
    to: i64,
    now: i64,
) -> Result<(i64, i64)> {
    let mut touching = conn.prepare_cached(
        "SELECT start_ts, end_ts FROM history_log
         WHERE stream_id = ?1 AND indicator = ?2 AND start_ts <= ?4 AND end_ts >= ?3",
    )?;
    let (mut start, mut end) = (from, to);
    let old: Vec<(i64, i64)> = touching
        .query_map(params![stream, indicator, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (a, b) in &old {
        start = start.min(*a);
        end = end.max(*b);
    }
    conn.execute(
        "DELETE FROM history_log
         WHERE stream_id = ?1 AND indicator = ?2 AND start_ts <= ?4 AND end_ts >= ?3",
        params![stream, indicator, from, to],
    )?;
    conn.execute(
        "INSERT INTO history_log (stream_id, indicator, start_ts, end_ts, resolution, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            stream,
            indicator,
            start,
            end,
            Resolution::FiveMinutes.secs(),
            now
        ],
    )?;
    Ok((start, end))
}

/// `intervals` less `holes` (both half-open; `holes` sorted by start).
fn subtract(intervals: &[(i64, i64)], holes: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(a, b) in intervals {
        let mut at = a;
        for &(h0, h1) in holes {
            if h1 <= at || h0 >= b {
                continue;
            }
            if h0 > at {
                out.push((at, h0));
            }
            at = at.max(h1);
            if at >= b {
                break;
            }
        }
        if at < b {
            out.push((at, b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracting_intervals() {
        assert_eq!(subtract(&[(0, 100)], &[]), [(0, 100)]);
        assert_eq!(
            subtract(&[(0, 100)], &[(10, 20), (50, 60)]),
            [(0, 10), (20, 50), (60, 100)]
        );
        assert_eq!(subtract(&[(0, 100)], &[(-5, 5), (95, 200)]), [(5, 95)]);
        assert_eq!(subtract(&[(0, 100)], &[(0, 100)]), []);
        assert_eq!(
            subtract(&[(0, 100)], &[(10, 30), (20, 40)]),
            [(0, 10), (40, 100)]
        );
    }

    #[test]
    fn slots() {
        assert_eq!(slot_floor(299), 0);
        assert_eq!(slot_floor(-1), -300);
        assert_eq!(slot_ceil(1), 300);
        assert_eq!(slot_ceil(300), 300);
    }

    const T0: i64 = 1_795_435_200; // 2026-11-23T12:00:00Z, a slot start

    fn quality() -> StreamKey {
        StreamKey::new("app1", None, UserSet::NONE, Source::Quality)
    }

    fn samples(store: &Store) -> Vec<(i64, f64, i64)> {
        store
            .conn()
            .prepare("SELECT ts, value, resolution FROM samples ORDER BY ts")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn history(store: &mut Store, from: i64, to: i64, points: &[(i64, f64)]) -> WriteStats {
        let indicators = ["stall_rate".to_string()];
        let fetch = HistoryFetch {
            indicators: &indicators,
            from,
            to,
            series: vec![FetchedSeries {
                indicator: "video_stall_rate",
                dimension_value: None,
                unit: Some("%"),
                points,
            }],
            attempts: 1,
        };
        store
            .store_history(&quality(), &fetch, T0 + 86_400)
            .unwrap()
    }

    fn real_time(store: &mut Store, points: &[(i64, f64)]) -> WriteStats {
        let id = store
            .series_id(&quality(), "video_stall_rate", Some("%"))
            .unwrap();
        let mut rows: Vec<_> = points
            .iter()
            .map(|&(ts, v)| {
                (
                    id,
                    super::super::bucket_of(ts),
                    super::super::encode_value(v),
                )
            })
            .collect();
        store.upsert_points(&mut rows).unwrap()
    }

    /// `stall_rate` of [`quality`] collected at 30 s over `[T0, done)`,
    /// less a recorded gap.
    fn collected_with_a_gap(store: &mut Store, done: i64, gap: (i64, i64)) {
        let indicators = ["stall_rate".to_string()];
        let fetch = super::super::Fetch {
            indicators: &indicators,
            from: T0,
            to: done,
            series: vec![],
            skipped: 0,
            attempts: 1,
        };
        store.store_fetch(&quality(), &fetch, done).unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO gap_log (stream_id, indicator, start_ts, end_ts, cause, detail, recorded_at)
                 VALUES (1, 'stall_rate', ?1, ?2, 'not_collected', '', ?2)",
                params![gap.0, gap.1],
            )
            .unwrap();
    }

    #[test]
    fn a_5_minute_point_lands_only_where_no_30_second_point_covers_its_slot() {
        let mut store = Store::in_memory().unwrap();
        // real-time data in the second slot only (one bucket of it)
        real_time(&mut store, &[(T0 + 300 + 120, 2.0)]);
        let stats = history(
            &mut store,
            T0,
            T0 + 900,
            &[(T0, 1.0), (T0 + 300, 9.0), (T0 + 600, 3.0)],
        );
        assert_eq!((stats.new, stats.covered), (2, 1));
        assert_eq!(
            samples(&store),
            [(T0, 1.0, 300), (T0 + 420, 2.0, 30), (T0 + 600, 3.0, 300)]
        );
        // again: nothing changes; a revised value replaces the 5-minute point in place
        let stats = history(
            &mut store,
            T0,
            T0 + 900,
            &[(T0, 1.5), (T0 + 300, 9.0), (T0 + 600, 3.0)],
        );
        assert_eq!(
            (stats.new, stats.revised, stats.unchanged, stats.covered),
            (0, 1, 1, 1)
        );
    }

    #[test]
    fn real_time_points_replace_the_5_minute_point_of_their_slot() {
        let mut store = Store::in_memory().unwrap();
        history(&mut store, T0, T0 + 600, &[(T0, 1.0), (T0 + 300, 4.0)]);
        // a late real-time point in the middle of the first slot
        let stats = real_time(&mut store, &[(T0 + 90, 2.0)]);
        assert_eq!(stats.new, 1);
        assert_eq!(samples(&store), [(T0 + 90, 2.0, 30), (T0 + 300, 4.0, 300)]);
        // and one at the very start of the second slot (the same bucket)
        let stats = real_time(&mut store, &[(T0 + 300, 5.0)]);
        assert_eq!(stats.new, 1);
        assert_eq!(samples(&store), [(T0 + 90, 2.0, 30), (T0 + 300, 5.0, 30)]);
        let (points, buckets, avg): (i64, i64, f64) = store
            .conn()
            .query_row("SELECT count, buckets, avg FROM samples_hourly", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((points, buckets, avg), (2, 2, 3.5));
    }

    #[test]
    fn a_breakdown_value_is_covered_only_by_its_own_30_second_points() {
        let mut store = Store::in_memory().unwrap();
        let by_os = StreamKey::distribution("app1", Dimension::Os);
        // real-time data of `ios` in the first slot, none of `android`
        let ios = store
            .series_id_of(
                &by_os.series_by("video_stall_rate", Some("ios".into())),
                None,
            )
            .unwrap();
        let mut rows = vec![(
            ios,
            super::super::bucket_of(T0 + 60),
            super::super::encode_value(2.0),
        )];
        store.upsert_points(&mut rows).unwrap();
        let indicators = ["stall_rate".to_string()];
        let (android, ios) = ([(T0, 1.0)], [(T0, 7.0)]);
        let fetch = HistoryFetch {
            indicators: &indicators,
            from: T0,
            to: T0 + 300,
            series: vec![
                FetchedSeries {
                    indicator: "video_stall_rate",
                    dimension_value: Some("android"),
                    unit: None,
                    points: &android,
                },
                FetchedSeries {
                    indicator: "video_stall_rate",
                    dimension_value: Some("ios"),
                    unit: None,
                    points: &ios,
                },
            ],
            attempts: 1,
        };
        let stats = store.store_history(&by_os, &fetch, T0 + 86_400).unwrap();
        assert_eq!((stats.new, stats.covered), (1, 1));
        let rows: Vec<(String, i64, f64, i64)> = store
            .conn()
            .prepare(
                "SELECT dimension_value, ts, value, resolution FROM samples
                 WHERE dimension = 'OS' ORDER BY dimension_value",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [
                ("android".to_string(), T0, 1.0, 300),
                ("ios".to_string(), T0 + 60, 2.0, 30)
            ]
        );
    }

    #[test]
    fn rollups_weigh_a_5_minute_point_as_ten_buckets() {
        let mut store = Store::in_memory().unwrap();
        real_time(&mut store, &[(T0, 1.0), (T0 + 30, 1.0)]);
        history(&mut store, T0 + 300, T0 + 600, &[(T0 + 300, 4.0)]);
        for view in ["samples_hourly", "samples_daily"] {
            let (count, buckets, sum, avg): (i64, i64, f64, f64) = store
                .conn()
                .query_row(
                    &format!("SELECT count, buckets, sum, avg FROM {view}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            assert_eq!((count, buckets, sum), (3, 12, 42.0), "{view}");
            assert_eq!(avg, 3.5, "{view}");
        }
    }

    #[test]
    fn history_repairs_the_gaps_inside_what_it_fetched_and_is_not_asked_twice() {
        let mut store = Store::in_memory().unwrap();
        let key = quality();
        // collected [T0, T0 + 3h) at 30 s, less a gap [T0 + 1h + 90 s, T0 + 2h)
        let gap = (T0 + 3600 + 90, T0 + 7200);
        collected_with_a_gap(&mut store, T0 + 3 * 3600, gap);
        let day = T0 - 86_400;
        assert_eq!(
            store
                .history_due(&key, "stall_rate", day, T0 + 4 * 3600)
                .unwrap(),
            [
                (day, T0),
                (T0 + 3600, T0 + 7200),
                (T0 + 3 * 3600, T0 + 4 * 3600)
            ]
        );
        let now = T0 + 12 * 3600;
        let due = store.repairs_due(now, 8 * 3600, 30 * 86_400, 3600).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].start, due[0].end), gap);
        // not yet: the offline data of the gap are not due before 8 h
        assert!(
            store
                .repairs_due(gap.1 + 3600, 8 * 3600, 30 * 86_400, 3600)
                .unwrap()
                .is_empty()
        );
        // a failed try waits an hour
        store
            .note_repair_tried(&key, "stall_rate", gap.0, now)
            .unwrap();
        assert!(
            store
                .repairs_due(now + 60, 8 * 3600, 30 * 86_400, 3600)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .repairs_due(now + 3600, 8 * 3600, 30 * 86_400, 3600)
                .unwrap()
                .len(),
            1
        );
        // the repair: slots [T0 + 1h, T0 + 2h)
        history(
            &mut store,
            slot_floor(gap.0),
            slot_ceil(gap.1),
            &[(T0 + 3600, 1.0), (T0 + 3900, 2.0)],
        );
        let (res, at): (Option<i64>, Option<String>) = store
            .conn()
            .query_row(
                "SELECT repaired_resolution, repaired_at FROM gaps",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(res, Some(300));
        assert!(at.is_some());
        assert!(
            store
                .repairs_due(now + 7200, 8 * 3600, 30 * 86_400, 3600)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .history_due(&key, "stall_rate", day, T0 + 4 * 3600)
                .unwrap(),
            [(day, T0), (T0 + 3 * 3600, T0 + 4 * 3600)]
        );
        // a backfill of the day before merges with nothing, then everything is covered
        history(&mut store, day, T0, &[]);
        history(&mut store, T0 + 3 * 3600, T0 + 4 * 3600, &[]);
        assert_eq!(
            store
                .history_due(&key, "stall_rate", day, T0 + 4 * 3600)
                .unwrap(),
            []
        );
        let logged: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM history_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(logged, 3);
        // gaps beyond the 30-day reach are unrepairable; operation gaps always
        let u = store.unrepairable(T0 + 40 * 86_400, 30 * 86_400).unwrap();
        assert_eq!(u.expired_gaps, 0, "the only gap was repaired");
    }

    #[test]
    fn offline_requests_are_known_to_the_next_process_pacer() {
        // a --once process right after another must keep the spacing of the
        // offline action too: the archive says when its last call was
        let mut store = Store::in_memory().unwrap();
        let action = crate::series::Action::Quality;
        assert_eq!(store.api_usage(action, T0 + 86_400).unwrap(), (None, 0));
        history(&mut store, T0, T0 + 300, &[(T0, 1.0)]);
        assert_eq!(
            store.api_usage(action, T0 + 86_400).unwrap(),
            (Some(T0 + 86_400), 1)
        );
        // the real-time action of the same source counts on its own
        let realtime = store
            .api_usage(crate::series::Action::RealTimeQuality, T0 + 86_400)
            .unwrap();
        assert_eq!(realtime, (None, 0));
    }

    #[test]
    fn a_gap_longer_than_one_call_is_repaired_once_its_calls_meet() {
        let mut store = Store::in_memory().unwrap();
        // ten days lost: two calls of at most seven days each
        let gap = (T0 + 86_400, T0 + 11 * 86_400);
        collected_with_a_gap(&mut store, T0 + 12 * 86_400, gap);
        let repaired = |store: &Store| -> Option<i64> {
            store
                .conn()
                .query_row("SELECT repaired_resolution FROM gaps", [], |r| r.get(0))
                .unwrap()
        };
        history(&mut store, gap.0, gap.0 + 7 * 86_400, &[]);
        assert_eq!(repaired(&store), None, "three days are still missing");
        history(&mut store, gap.0 + 7 * 86_400, gap.1, &[]);
        assert_eq!(repaired(&store), Some(300));
    }
}
