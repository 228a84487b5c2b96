use rusqlite::params;
use rusqlite::types::Value as SqlValue;

use super::read::{self, SeriesFilter};
use super::*;
use crate::Source;
use crate::api::{Answer, AnsweredSeries};
use crate::planner::Window;
use crate::series::{StreamKey, UserSet};
use crate::timeutil;

/// What the collector does with an answer: hands it to the store as a
/// [`Fetch`] of the window, and lost intervals as [`Lost`] by indicator.
trait AsCollector {
    fn store_answer(
        &mut self,
        key: &StreamKey,
        indicators: &[String],
        window: Window,
        answer: &Answer,
        attempts: u32,
        now: i64,
    ) -> Result<WriteStats>;

    fn record_lost_feeds(
        &mut self,
        key: &StreamKey,
        indicators: &[String],
        lost: &[crate::planner::Lost],
        now: i64,
    ) -> Result<()>;
}

impl AsCollector for Store {
    fn store_answer(
        &mut self,
        key: &StreamKey,
        indicators: &[String],
        window: Window,
        answer: &Answer,
        attempts: u32,
        now: i64,
    ) -> Result<WriteStats> {
        let fetch = Fetch {
            indicators,
            from: window.start,
            to: window.done(),
            series: answer
                .series
                .iter()
                .map(|a| FetchedSeries {
                    indicator: &a.name,
                    dimension_value: a.dimension_value.as_deref(),
                    unit: a.unit.as_deref(),
                    points: &a.points,
                })
                .collect(),
            skipped: answer.skipped_total(),
            attempts,
        };
        self.store_fetch(key, &fetch, now)
    }

    fn record_lost_feeds(
        &mut self,
        key: &StreamKey,
        indicators: &[String],
        lost: &[crate::planner::Lost],
        now: i64,
    ) -> Result<()> {
        let lost: Vec<Lost<'_>> = lost
            .iter()
            .map(|l| Lost {
                indicator: &indicators[l.feed],
                start: l.start,
                end: l.end,
            })
            .collect();
        let reach = crate::gaps::Reach {
            delay: key.source.delay_secs(),
            margin: 0,
        };
        Store::record_lost(self, key, &lost, reach, None, now)
    }
}

// 2026-11-23T12:00:00Z
const T0: i64 = 1_795_435_200;

fn key() -> StreamKey {
    StreamKey::new(
        "app1",
        Some("room-1".into()),
        UserSet::new(["u2", "u1"]).unwrap(),
        Source::Quality,
    )
}

fn answer(points: &[(i64, f64)]) -> Answer {
    Answer {
        request_id: Some("r".into()),
        series: vec![AnsweredSeries {
            dimension_value: None,
            name: "audio_stall_rate".into(),
            unit: Some("%".into()),
            points: points.to_vec(),
        }],
        skipped: Default::default(),
    }
}

/// app_id, room_id, user_ids, source, indicator, ts, time, value
type Sample = (
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    String,
    f64,
);

fn samples(store: &Store) -> Vec<Sample> {
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT app_id, room_id, user_ids, source, indicator, ts, time, value
             FROM samples ORDER BY indicator, ts",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn window() -> Window {
    Window {
        start: T0,
        end: T0 + 90,
    }
}

#[test]
fn values_round_trip_exactly() {
    for v in [
        98.68,
        98.2,
        0.0,
        3212.0,
        -1.25,
        0.1 + 0.2,
        1e-9,
        1e20,
        123456789.99,
        0.07,
    ] {
        let stored = encode_value(v);
        let back = decode_value((&stored).into());
        assert_eq!(back.to_bits(), v.to_bits(), "{v} stored as {stored:?}");
    }
    assert_eq!(encode_value(98.68), SqlValue::Integer(9868));
    assert_eq!(encode_value(0.0), SqlValue::Integer(0));
    assert_eq!(encode_value(3212.0), SqlValue::Integer(321200));
    assert!(matches!(encode_value(0.1 + 0.2), SqlValue::Real(_)));
}

#[test]
fn buckets_map_to_times() {
    assert_eq!(bucket_of(BUCKET_EPOCH), 0);
    assert_eq!(ts_of(bucket_of(T0)), T0);
    assert_eq!(bucket_of(BUCKET_EPOCH - 30), -1);
}

#[test]
fn an_answer_lands_in_the_samples_view() {
    let mut store = Store::in_memory().unwrap();
    let stream = key();
    let inds = vec!["stall_rate".to_string()];
    let stats = store
        .store_answer(
            &stream,
            &inds,
            window(),
            &answer(&[(T0, 1.5), (T0 + 60, 2.25)]),
            1,
            T0 + 200,
        )
        .unwrap();
    assert_eq!(
        stats,
        WriteStats {
            covered: 0,
            new: 2,
            revised: 0,
            unchanged: 0
        }
    );
    assert_eq!(
        samples(&store),
        [
            (
                "app1".into(),
                Some("room-1".into()),
                Some("u1,u2".into()),
                "quality".into(),
                "audio_stall_rate".into(),
                T0,
                "2026-11-23T12:00:00Z".into(),
                1.5
            ),
            (
                "app1".into(),
                Some("room-1".into()),
                Some("u1,u2".into()),
                "quality".into(),
                "audio_stall_rate".into(),
                T0 + 60,
                "2026-11-23T12:01:00Z".into(),
                2.25
            ),
        ]
    );
    assert_eq!(
        store.feed_progress(&stream, &inds).unwrap(),
        [Some(T0 + 120)]
    );
    let unit: Option<String> = store
        .conn()
        .query_row("SELECT unit FROM samples LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(unit.as_deref(), Some("%"));
}

#[test]
fn the_same_answer_twice_gives_the_same_rows() {
    let mut store = Store::in_memory().unwrap();
    let stream = key();
    let inds = vec!["stall_rate".to_string()];
    let a = answer(&[(T0, 1.5), (T0 + 30, 0.1 + 0.2), (T0 + 90, 7.0)]);
    store
        .store_answer(&stream, &inds, window(), &a, 1, T0)
        .unwrap();
    let before = samples(&store);
    let stats = store
        .store_answer(&stream, &inds, window(), &a, 1, T0 + 60)
        .unwrap();
    assert_eq!(
        stats,
        WriteStats {
            covered: 0,
            new: 0,
            revised: 0,
            unchanged: 3
        }
    );
    assert_eq!(samples(&store), before);
    let n: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM points", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn a_revision_updates_the_value_in_place_and_absent_stays_absent() {
    let mut store = Store::in_memory().unwrap();
    let stream = key();
    let inds = vec!["stall_rate".to_string()];
    store
        .store_answer(
            &stream,
            &inds,
            window(),
            &answer(&[(T0, 1.5), (T0 + 30, 2.0)]),
            1,
            T0,
        )
        .unwrap();
    // the re-read answers a new value for T0, drops T0+30, adds T0+60
    let stats = store
        .store_answer(
            &stream,
            &inds,
            window(),
            &answer(&[(T0, 1.75), (T0 + 60, 3.0)]),
            1,
            T0,
        )
        .unwrap();
    assert_eq!(
        stats,
        WriteStats {
            covered: 0,
            new: 1,
            revised: 1,
            unchanged: 0
        }
    );
    let values: Vec<(i64, f64)> = samples(&store).into_iter().map(|s| (s.5, s.7)).collect();
    // a bucket the API no longer answers keeps its archived value: absent is not zero
    assert_eq!(values, [(T0, 1.75), (T0 + 30, 2.0), (T0 + 60, 3.0)]);
}

#[test]
fn rollups_follow_points_through_revisions() {
    let mut store = Store::in_memory().unwrap();
    let stream = key();
    let inds = vec!["stall_rate".to_string()];
    let w = Window {
        start: T0 - 3600,
        end: T0 + 3570,
    };
    let pts: Vec<(i64, f64)> = (0..240)
        .map(|i| (T0 - 3600 + i * 30, (i % 7) as f64 + 0.25))
        .collect();
    store
        .store_answer(&stream, &inds, w, &answer(&pts), 1, T0)
        .unwrap();
    // revise the max of the second hour down
    let mut revised = pts.clone();
    for p in revised.iter_mut().skip(120) {
        p.1 = p.1.min(3.0);
    }
    store
        .store_answer(&stream, &inds, w, &answer(&revised), 1, T0)
        .unwrap();
    let series = store.select_series(&SeriesFilter::default()).unwrap();
    let id = series[0].id;
    let mut hours = Vec::new();
    store
        .hourly_rollups::<StoreError>(id, T0 - 3600, T0 + 3600, |r| {
            hours.push(r);
            Ok(())
        })
        .unwrap();
    assert_eq!(hours.len(), 2);
    for (h, r) in hours.iter().enumerate() {
        let read::SqlStats {
            count,
            buckets: _,
            avg,
            min,
            max,
        } = store.sql_stats(id, r.ts, r.ts + 3600).unwrap();
        assert_eq!(r.ts, T0 - 3600 + h as i64 * 3600);
        assert_eq!(r.count, count);
        assert!((r.sum / r.count as f64 - avg.unwrap()).abs() < 1e-9);
        assert_eq!(Some(r.min), min);
        assert_eq!(Some(r.max), max);
    }
    assert_eq!(hours[1].max, 3.0);
    let mut days = Vec::new();
    store
        .daily_rollups::<StoreError>(id, T0 - 86400, T0 + 86400, |r| {
            days.push(r);
            Ok(())
        })
        .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].count, 240);
    assert_eq!(days[0].max, 6.25);
}

#[test]
fn lost_intervals_become_gaps_and_move_progress() {
    let mut store = Store::in_memory().unwrap();
    let stream = key();
    let inds = vec![
        "stall_rate".to_string(),
        "join_room_success_rate".to_string(),
    ];
    store
        .store_answer(&stream, &inds, window(), &answer(&[(T0, 1.0)]), 1, T0)
        .unwrap();
    let lost = [
        crate::planner::Lost {
            feed: 0,
            start: T0 + 120,
            end: T0 + 7200,
        },
        crate::planner::Lost {
            feed: 1,
            start: T0 + 120,
            end: T0 + 7200,
        },
    ];
    store
        .record_lost_feeds(&stream, &inds, &lost, T0 + 10_000)
        .unwrap();
    assert_eq!(
        store.feed_progress(&stream, &inds).unwrap(),
        [Some(T0 + 7200), Some(T0 + 7200)]
    );
    let gaps: Vec<(String, String, i64, i64, String, String)> = store
        .conn()
        .prepare("SELECT indicator, room_id, start_ts, end_ts, cause, start_time FROM gaps ORDER BY indicator")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(gaps.len(), 2);
    assert_eq!(gaps[1].0, "stall_rate");
    assert_eq!((gaps[1].2, gaps[1].3), (T0 + 120, T0 + 7200));
    assert_eq!(gaps[1].4, "not_collected");
    assert_eq!(gaps[1].5, "2026-11-23T12:02:00Z");

    // the API goes down: a pass every minute fails, and what slides out of
    // reach meanwhile is one growing fetch_failed gap
    let lost_at = |now: i64, start: i64| crate::planner::Lost {
        feed: 0,
        start,
        end: crate::planner::horizon_start(now, 60),
    };
    let mut done = T0 + 7200;
    let mut now = T0 + 7300;
    while now <= T0 + 12_100 {
        store
            .record_failure(&stream, 3, "server error: HTTP 503", now)
            .unwrap();
        let l = lost_at(now, done);
        if l.end > l.start {
            store.record_lost_feeds(&stream, &inds, &[l], now).unwrap();
            done = l.end;
        }
        now += 60;
    }
    let (cause, detail): (String, String) = store
        .conn()
        .query_row(
            "SELECT cause, detail FROM gaps WHERE start_ts = ?1",
            [T0 + 7200],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(cause, "fetch_failed");
    assert!(detail.contains("HTTP 503"), "{detail}");
    // then the collector is stopped for five hours: what slid out of reach
    // while nothing ran is not blamed on the failures
    let restart = T0 + 12_100 + 5 * 3600;
    let l = lost_at(restart, done);
    store
        .record_lost_feeds(&stream, &inds, &[l], restart)
        .unwrap();
    let rows: Vec<(i64, i64, String)> = store
        .conn()
        .prepare(
            "SELECT start_ts, end_ts, cause FROM gaps WHERE indicator = 'stall_rate' ORDER BY start_ts",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // the last failure, at T0 + 12 100, asked for every bucket due by then:
    // those ending a minute (the data delay) before it
    let last_due = T0 + 12_030;
    assert_eq!(
        rows,
        [
            (T0 + 120, T0 + 7200, "not_collected".into()),
            (T0 + 7200, last_due, "fetch_failed".into()),
            (last_due, l.end, "not_collected".into()),
        ]
    );
}

#[test]
fn progress_never_moves_backwards() {
    let mut store = Store::in_memory().unwrap();
    let stream = key();
    let inds = vec!["stall_rate".to_string()];
    let later = Window {
        start: T0 + 600,
        end: T0 + 900,
    };
    store
        .store_answer(&stream, &inds, later, &answer(&[]), 1, T0)
        .unwrap();
    store
        .store_answer(&stream, &inds, window(), &answer(&[]), 1, T0)
        .unwrap();
    assert_eq!(
        store.feed_progress(&stream, &inds).unwrap(),
        [Some(T0 + 930)]
    );
    let first: i64 = store
        .conn()
        .query_row("SELECT first_ts FROM feeds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(first, T0);
}

#[test]
fn stream_keys_ignore_user_order() {
    let mut store = Store::in_memory().unwrap();
    let a = store.stream_id(&key()).unwrap();
    let b = store
        .stream_id(&StreamKey::new(
            "app1",
            Some("room-1".into()),
            UserSet::new(["u1", "u2", "u1"]).unwrap(),
            Source::Quality,
        ))
        .unwrap();
    assert_eq!(a, b);
    let c = store
        .stream_id(&StreamKey::new(
            "app1",
            None,
            UserSet::NONE,
            Source::Quality,
        ))
        .unwrap();
    assert_ne!(a, c);
}

#[test]
fn files_open_with_wal_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    assert!(matches!(
        Store::open(&path, OpenMode::Existing),
        Err(StoreError::Missing(_))
    ));
    {
        let mut store = Store::open(&path, OpenMode::Create).unwrap();
        let stream = key();
        store
            .store_answer(
                &stream,
                &["x".into()],
                window(),
                &answer(&[(T0, 1.0)]),
                1,
                T0,
            )
            .unwrap();
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let store = Store::open(&path, OpenMode::Existing).unwrap();
    assert_eq!(store.counts().unwrap().points, 1);
    store.integrity_check().unwrap();
}

#[test]
fn a_full_disk_is_a_clear_storage_error_and_nothing_is_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let mut store = Store::open(&path, OpenMode::Create).unwrap();
    let stream = key();
    let inds = vec!["stall_rate".to_string()];
    store
        .store_answer(&stream, &inds, window(), &answer(&[(T0, 1.0)]), 1, T0)
        .unwrap();
    let before = samples(&store);
    let progress = store.feed_progress(&stream, &inds).unwrap();
    // SQLite answers SQLITE_FULL once the file may not grow: a full disk
    let pages: i64 = store
        .conn()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    store
        .conn()
        .pragma_update(None, "max_page_count", pages)
        .unwrap();
    let big: Vec<(i64, f64)> = (0..20_000).map(|i| (T0 + i * 30, i as f64 + 0.5)).collect();
    let w = Window {
        start: T0,
        end: T0 + 19_999 * 30,
    };
    let err = store
        .store_answer(&stream, &inds, w, &answer(&big), 1, T0)
        .unwrap_err();
    assert!(err.is_io(), "{err:?}");
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(samples(&store), before);
    assert_eq!(store.feed_progress(&stream, &inds).unwrap(), progress);
    store.integrity_check().unwrap();
}

#[test]
fn compact_packs_pages_and_keeps_every_point() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let mut store = Store::open(&path, OpenMode::Create).unwrap();
    let mut rows = Vec::new();
    for s in 0..4 {
        let id = store
            .series_id(
                &StreamKey::new(format!("app{s}"), None, UserSet::NONE, Source::Operation),
                "online_user_count",
                None,
            )
            .unwrap();
        rows.extend(
            (0..20_000).map(|i| (id, bucket_of(T0 + i * 30), encode_value((i % 977) as f64))),
        );
    }
    // appended in small transactions, as imports and the collector do
    for chunk in rows.chunks_mut(1000) {
        store.upsert_points(chunk).unwrap();
    }
    let before = samples(&store);
    assert_eq!(store.point_count().unwrap(), 80_000);
    let (size_before, size_after) = store.compact().unwrap();
    assert!(size_after < size_before, "{size_before} -> {size_after}");
    assert_eq!(samples(&store), before);
    store.integrity_check().unwrap();
}

#[test]
fn points_outside_2000_2100_are_never_stored_nor_wrapped() {
    let mut store = Store::in_memory().unwrap();
    let id = store.series_id(&key(), "x", None).unwrap();
    // saturating, not wrapping: the old arithmetic overflowed here
    assert_eq!(
        bucket_of(-9_223_372_036_854_775_800),
        i64::MIN.div_euclid(30)
    );
    assert_eq!(ts_of(i64::MAX), i64::MAX);
    for ts in [
        timeutil::DATA_FROM - 30,
        timeutil::DATA_TO,
        -9_223_372_036_854_775_800,
    ] {
        let mut rows = vec![(id, bucket_of(ts), encode_value(1.0))];
        let e = store.upsert_points(&mut rows).unwrap_err();
        assert!(
            e.to_string().contains("time outside 2000–2100"),
            "{ts}: {e}"
        );
    }
    let mut rows = vec![
        (id, bucket_of(timeutil::DATA_FROM), encode_value(1.0)),
        (id, bucket_of(timeutil::DATA_TO - 30), encode_value(2.0)),
    ];
    assert_eq!(store.upsert_points(&mut rows).unwrap().new, 2);
}

#[test]
fn a_point_outside_the_range_fails_a_full_read_instead_of_vanishing() {
    let mut store = Store::in_memory().unwrap();
    let id = store.series_id(&key(), "x", None).unwrap();
    let mut rows = vec![(id, bucket_of(T0), encode_value(1.0))];
    store.upsert_points(&mut rows).unwrap();
    // what an older version stored for "ts": -9223372036854775800 (wrapped)
    let wrapped = (-9_223_372_036_854_775_800_i64)
        .wrapping_sub(BUCKET_EPOCH)
        .div_euclid(30);
    store
        .conn()
        .execute(
            "INSERT INTO points (series_id, bucket, value) VALUES (?1, ?2, 100)",
            params![id, wrapped],
        )
        .unwrap();
    let mut seen = Vec::new();
    let e = store
        .for_each_point_all::<StoreError>(id, |p| {
            seen.push(p.ts);
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(e, StoreError::OutOfRange { bucket, .. } if bucket == wrapped),
        "{e:?}"
    );
    assert!(e.to_string().contains("--from/--to"), "{e}");
    assert_eq!(seen, [T0]);
    // a read of a time range sees only the range, whatever its bounds
    let mut seen = Vec::new();
    store
        .for_each_point::<StoreError>(id, i64::MIN, i64::MAX, |p| {
            seen.push(p.ts);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, [T0]);
}

#[test]
fn negative_zero_keeps_its_sign_through_the_store_and_the_samples_view() {
    // hundredths have no -0: it was stored as INTEGER 0 and read back as 0
    let stored = encode_value(-0.0);
    assert_eq!(stored, SqlValue::Real(-0.0));
    let back = decode_value((&stored).into());
    assert_eq!(back.to_bits(), (-0.0f64).to_bits());

    let mut store = Store::in_memory().unwrap();
    let id = store.series_id(&key(), "x", None).unwrap();
    let mut rows = vec![
        (id, bucket_of(T0), encode_value(-0.0)),
        (id, bucket_of(T0 + 30), encode_value(0.0)),
    ];
    assert_eq!(store.upsert_points(&mut rows).unwrap().new, 2);
    let view: Vec<u64> = store
        .conn()
        .prepare("SELECT value FROM samples ORDER BY ts")
        .unwrap()
        .query_map([], |r| r.get::<_, f64>(0))
        .unwrap()
        .map(|v| v.unwrap().to_bits())
        .collect();
    assert_eq!(view, [(-0.0f64).to_bits(), 0.0f64.to_bits()]);
    let mut read_back = Vec::new();
    store
        .for_each_point::<StoreError>(id, T0, T0 + 60, |p| {
            read_back.push(p.value.to_bits());
            Ok(())
        })
        .unwrap();
    assert_eq!(read_back, view);
    // 0 replacing -0 (and back) is a revision, not "unchanged"
    let mut rows = vec![(id, bucket_of(T0), encode_value(0.0))];
    assert_eq!(store.upsert_points(&mut rows).unwrap().revised, 1);
    let mut rows = vec![(id, bucket_of(T0), encode_value(-0.0))];
    assert_eq!(store.upsert_points(&mut rows).unwrap().revised, 1);
    let mut rows = vec![(id, bucket_of(T0), encode_value(-0.0))];
    assert_eq!(store.upsert_points(&mut rows).unwrap().unchanged, 1);
}
