//! Steps, fills and aggregates checked against SQL and the rollups.

use super::*;
use crate::Source;
use crate::series::{StreamKey, UserSet};
use crate::store::read::SeriesFilter;
use crate::store::{Fetch, FetchedSeries, Store};

const DAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z
/// When the tests' queries run: everything they ask for is long due.
const NOW: i64 = crate::timeutil::DATA_TO;

#[test]
fn percentiles_interpolate() {
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(percentile(&v, 50.0), Some(2.5));
    assert_eq!(percentile(&v, 95.0), Some(3.8499999999999996));
    assert_eq!(percentile(&v, 0.0), Some(1.0));
    assert_eq!(percentile(&v, 100.0), Some(4.0));
    assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
    assert_eq!(percentile(&[], 50.0), None);
}

#[test]
fn grids_follow_the_zone() {
    let utc = Tz::UTC;
    assert_eq!(
        grid(DAY, DAY + 3600, 1800, utc),
        [DAY, DAY + 1800, DAY + 3600]
    );
    // a partial first step starts at its boundary
    assert_eq!(
        grid(DAY + 100, DAY + 3600, 1800, utc),
        [DAY, DAY + 1800, DAY + 3600]
    );
    let sh: Tz = "Asia/Shanghai".parse().unwrap();
    let g = grid(DAY, DAY + 2 * 86400, 86400, sh);
    // Shanghai days start at 16:00 UTC
    assert_eq!(
        g,
        [
            DAY - 8 * 3600,
            DAY + 16 * 3600,
            DAY + 40 * 3600,
            DAY + 64 * 3600
        ]
    );
    // an odd step is epoch-aligned
    assert_eq!(grid(DAY + 10, DAY + 800, 420, utc)[0] % 420, 0);
    // a DST day in New York has 25 hours
    let ny: Tz = "America/New_York".parse().unwrap();
    let fall_back = 1_793_592_000; // 2026-11-01T04:00:00Z, local midnight
    let g = grid(fall_back, fall_back + 86400 * 2, 86400, ny);
    assert_eq!(g[1] - g[0], 25 * 3600);
    let hours = grid(fall_back, fall_back + 25 * 3600, 3600, ny);
    assert_eq!(hours.len(), 26);
}

fn store_with(points: &[(i64, f64)]) -> (Store, StoredSeries) {
    let mut store = Store::in_memory().unwrap();
    let key = StreamKey::new("a", None, UserSet::NONE, Source::Operation);
    let fetch = Fetch {
        indicators: &["online_user_count".into()],
        from: points[0].0,
        to: points.last().unwrap().0 + 30,
        series: vec![FetchedSeries {
            dimension_value: None,
            indicator: "online_user_count",
            unit: None,
            points,
        }],
        skipped: 0,
        attempts: 1,
    };
    store.store_fetch(&key, &fetch, DAY).unwrap();
    let s = store
        .select_series(&SeriesFilter::default())
        .unwrap()
        .remove(0);
    (store, s)
}

fn run(
    store: &Store,
    s: &StoredSeries,
    from: i64,
    to: i64,
    step: i64,
    agg: Agg,
    fill: Fill,
) -> Vec<(i64, Option<f64>)> {
    let mut out = Vec::new();
    aggregate_series::<StoreError>(
        store,
        s,
        from,
        to,
        Aggregation {
            step,
            agg,
            fill,
            tz: Tz::UTC,
            now: NOW,
        },
        |ts, v| {
            out.push((ts, v));
            Ok(())
        },
    )
    .unwrap();
    out
}

#[test]
fn aggregates_match_sql_and_rollups_match_raw() {
    // two days of points with a hole in the second hour
    let pts: Vec<(i64, f64)> = (0..5760)
        .filter(|i| !(120..240).contains(i))
        .map(|i| (DAY + i * 30, ((i * 37) % 101) as f64 + 0.5))
        .collect();
    let (store, s) = store_with(&pts);
    for agg in [Agg::Avg, Agg::Min, Agg::Max, Agg::Sum, Agg::Count] {
        // hour-aligned (rollups) vs. shifted by 30 s (raw points) over the same data
        let by_rollup = run(&store, &s, DAY, DAY + 2 * 86400, 86400, agg, Fill::None);
        let by_hour = run(&store, &s, DAY, DAY + 2 * 86400, 3600, agg, Fill::None);
        assert_eq!(by_rollup.len(), 2);
        assert_eq!(by_hour.len(), 47, "the empty hour is omitted");
        let crate::store::read::SqlStats {
            count,
            buckets: _,
            avg,
            min,
            max,
        } = store.sql_stats(s.id, DAY, DAY + 86400).unwrap();
        let want = match agg {
            Agg::Avg => avg.unwrap(),
            Agg::Min => min.unwrap(),
            Agg::Max => max.unwrap(),
            Agg::Count => count as f64,
            _ => avg.unwrap() * count as f64,
        };
        assert!(
            (by_rollup[0].1.unwrap() - want).abs() < 1e-6,
            "{agg:?}: {by_rollup:?} vs {want}"
        );
        // the same day through raw points
        let mut raw = Vec::new();
        let a = Aggregation {
            step: 86400,
            agg,
            fill: Fill::None,
            tz: Tz::UTC,
            now: NOW,
        };
        aggregate_steps::<StoreError>(
            &store,
            &s,
            Steps::new(86400, Tz::UTC),
            (DAY, DAY + 86400),
            &a,
            false,
            |ts, v| {
                raw.push((ts, v));
                Ok(())
            },
        )
        .unwrap();
        assert!(
            (raw[0].1.unwrap() - want).abs() < 1e-6,
            "{agg:?} raw: {raw:?} vs {want}"
        );
    }
}

#[test]
fn fills_and_first_last_and_percentiles() {
    let pts = [
        (DAY, 1.0),
        (DAY + 30, 5.0),
        (DAY + 60, 3.0),
        (DAY + 3 * 600, 9.0),
    ];
    let (store, s) = store_with(&pts);
    let q = |agg, fill| run(&store, &s, DAY, DAY + 2400, 600, agg, fill);
    assert_eq!(
        q(Agg::First, Fill::None),
        [(DAY, Some(1.0)), (DAY + 1800, Some(9.0))]
    );
    assert_eq!(q(Agg::Last, Fill::None)[0], (DAY, Some(3.0)));
    assert_eq!(q(Agg::P50, Fill::None)[0], (DAY, Some(3.0)));
    assert_eq!(
        q(Agg::Max, Fill::Null),
        [
            (DAY, Some(5.0)),
            (DAY + 600, None),
            (DAY + 1200, None),
            (DAY + 1800, Some(9.0))
        ]
    );
    assert_eq!(q(Agg::Max, Fill::Zero)[1], (DAY + 600, Some(0.0)));
    assert_eq!(q(Agg::Max, Fill::Previous)[2], (DAY + 1200, Some(5.0)));
}

#[test]
fn steps_are_counted_and_found_without_a_list() {
    let zones: Vec<Tz> = ["UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"]
        .iter()
        .map(|z| z.parse().unwrap())
        .collect();
    let fall_back = 1_793_592_000; // 2026-11-01T04:00:00Z, a 25-hour day in New York
    for tz in zones {
        for step in [30, 420, 1800, 3600, 7200, 25_200, 86_400, 3 * 86_400] {
            for (from, to) in [
                (DAY, DAY + 3600),
                (DAY + 10, DAY + 2 * 86_400 - 7),
                (fall_back - 3 * 86_400, fall_back + 5 * 86_400 + 1),
            ] {
                let g = grid(from, to, step, tz);
                assert_eq!(
                    filled_steps(from, to, step, tz, NOW),
                    (g.len() - 1) as u64,
                    "{tz} step {step} {from}..{to}: {g:?}"
                );
                let mut steps = Steps::new(step, tz);
                for w in g.windows(2) {
                    for ts in [w[0], (w[0] + w[1]) / 2, w[1] - 1] {
                        assert_eq!(steps.containing(ts), (w[0], w[1]), "{tz} {step} {ts}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_century_of_30s_steps_streams_without_a_grid() {
    use crate::timeutil::{DATA_FROM, DATA_TO};
    // the list this used to build was 105 million steps (and an
    // accumulator each): gigabytes before the first row
    assert_eq!(
        filled_steps(DATA_FROM, DATA_TO, 30, Tz::UTC, NOW),
        105_192_000
    );
    assert_eq!(
        filled_steps(DATA_FROM, DATA_TO, 86_400, Tz::UTC, NOW),
        36_525
    );
    let (store, s) = store_with(&[(DAY, 1.0), (DAY + 30, 2.0), (DAY + 86_400, 3.0)]);
    let started = std::time::Instant::now();
    for agg in [Agg::Avg, Agg::P95] {
        let rows = run(&store, &s, DATA_FROM, DATA_TO, 30, agg, Fill::None);
        assert_eq!(
            rows,
            [
                (DAY, Some(1.0)),
                (DAY + 30, Some(2.0)),
                (DAY + 86_400, Some(3.0))
            ]
        );
    }
    // filled, over a few days: every step, in order
    let rows = run(
        &store,
        &s,
        DAY - 86_400,
        DAY + 2 * 86_400,
        3600,
        Agg::Max,
        Fill::Zero,
    );
    assert_eq!(rows.len(), 72);
    assert!(rows.windows(2).all(|w| w[1].0 - w[0].0 == 3600));
    assert_eq!(rows[24], (DAY, Some(2.0)));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_partial_first_step_is_widened_so_a_step_has_one_value() {
    // issue 9: `--agg p95` of the same step differed between `--from -1h`
    // and `--from -30m`, as the first step held only the points after --from
    let pts: Vec<(i64, f64)> = (0..240).map(|i| (DAY + i * 30, (i % 17) as f64)).collect();
    let (store, s) = store_with(&pts);
    for agg in [Agg::P95, Agg::Avg, Agg::Count, Agg::First] {
        let whole = run(&store, &s, DAY, DAY + 7200, 3600, agg, Fill::None);
        for from in [DAY + 30, DAY + 1800, DAY + 3570] {
            let part = run(&store, &s, from, DAY + 7200, 3600, agg, Fill::None);
            assert_eq!(part, whole, "{agg:?} from {from}");
        }
        // and the last step, asked for in part, is whole too
        let end = run(&store, &s, DAY, DAY + 3601, 3600, agg, Fill::None);
        assert_eq!(end, whole, "{agg:?}");
    }
}

#[test]
fn the_step_not_yet_complete_is_neither_printed_nor_filled() {
    let (store, s) = store_with(&[(DAY, 1.0), (DAY + 3600, 2.0)]);
    let at = |now: i64, fill| {
        let mut out = Vec::new();
        aggregate_series::<StoreError>(
            &store,
            &s,
            DAY,
            now,
            Aggregation {
                step: 3600,
                agg: Agg::Max,
                fill,
                tz: Tz::UTC,
                now,
            },
            |ts, v| {
                out.push((ts, v));
                Ok(())
            },
        )
        .unwrap();
        out
    };
    // 12 minutes into the second hour: it holds a point, but is not complete
    for fill in [Fill::None, Fill::Zero, Fill::Null, Fill::Previous] {
        assert_eq!(at(DAY + 4320, fill), [(DAY, Some(1.0))], "{fill:?}");
    }
    // operation data is due 20 s after its bucket ends: the hour is
    // complete 20 s after it ended, not before
    assert_eq!(at(DAY + 7219, Fill::Zero), [(DAY, Some(1.0))]);
    assert_eq!(
        at(DAY + 7220, Fill::Zero),
        [(DAY, Some(1.0)), (DAY + 3600, Some(2.0))]
    );
    // a fill never reaches into the future: two hours later, two rows more
    assert_eq!(at(DAY + 3 * 3600 + 20, Fill::Zero).len(), 3);
    assert_eq!(
        at(DAY + 3 * 3600 + 20, Fill::Zero)[2],
        (DAY + 7200, Some(0.0))
    );
}

#[test]
fn whole_steps_widen_to_the_grid_and_stop_before_what_is_due() {
    let mut steps = Steps::new(600, Tz::UTC);
    let far = NOW;
    assert_eq!(
        steps.whole(DAY + 10, DAY + 1190, far),
        Some((DAY, DAY + 1200))
    );
    assert_eq!(steps.whole(DAY, DAY + 1200, far), Some((DAY, DAY + 1200)));
    // the step holding `due` is cut, the one ending at `due` kept
    assert_eq!(
        steps.whole(DAY, DAY + 3600, DAY + 1300),
        Some((DAY, DAY + 1200))
    );
    assert_eq!(
        steps.whole(DAY, DAY + 3600, DAY + 1200),
        Some((DAY, DAY + 1200))
    );
    assert_eq!(steps.whole(DAY + 100, DAY + 500, DAY + 500), None);
    assert_eq!(steps.whole(DAY, DAY, far), None);
    // filled rows are counted over the same whole steps
    assert_eq!(filled_steps(DAY + 10, DAY + 1190, 600, Tz::UTC, far), 2);
    assert_eq!(filled_steps(DAY, DAY + 86_400, 600, Tz::UTC, DAY + 1300), 2);
}

#[test]
fn multi_day_steps_are_weeks_from_monday_whatever_the_range() {
    // 2026-11-23 is a Monday
    for from in [DAY, DAY + 86_400, DAY + 3 * 86_400 + 7] {
        let g = grid(from, DAY + 7 * 86_400, 7 * 86_400, Tz::UTC);
        assert_eq!(g, [DAY, DAY + 7 * 86_400], "from {from}");
    }
    let sh: Tz = "Asia/Shanghai".parse().unwrap();
    let g = grid(DAY, DAY + 86_400, 7 * 86_400, sh);
    assert_eq!(g[0], DAY - 8 * 3600, "Monday midnight in Shanghai");
}

#[test]
fn steps_are_whole_buckets() {
    use std::time::Duration;
    for ok in [30, 90, 300, 3600, 86_400] {
        assert!(check_step(Duration::from_secs(ok)).is_ok(), "{ok}");
    }
    for bad in [45, 31, 100, 3601] {
        let e = check_step(Duration::from_secs(bad)).unwrap_err();
        assert!(e.contains("not a multiple of 30s"), "{bad}: {e}");
    }
}

#[test]
fn a_5_minute_point_weighs_as_its_ten_buckets_in_every_aggregate() {
    // an hour: its first 5 minutes at 30 s (ten points of 1.0), the next
    // slot a 5-minute point of 4.0, nothing else
    let (mut store, s) = store_with(&(0..10).map(|i| (DAY + i * 30, 1.0)).collect::<Vec<_>>());
    let mut rows = vec![(
        s.id,
        crate::store::bucket_of(DAY + 300),
        crate::store::encode_value(4.0),
        crate::series::Resolution::FiveMinutes,
    )];
    assert_eq!(store.upsert_samples(&mut rows).unwrap().new, 1);
    let one = |agg| run(&store, &s, DAY, DAY + 3600, 3600, agg, Fill::None)[0].1;
    assert_eq!(one(Agg::Avg), Some(2.5));
    assert_eq!(one(Agg::Sum), Some(50.0));
    assert_eq!(one(Agg::Count), Some(11.0));
    assert_eq!(one(Agg::P50), Some(2.5));
    assert_eq!(one(Agg::P95), Some(4.0));
    assert_eq!((one(Agg::Min), one(Agg::Max)), (Some(1.0), Some(4.0)));
    assert_eq!((one(Agg::First), one(Agg::Last)), (Some(1.0), Some(4.0)));
    // the rollups answer the same (an hour step over whole hours uses them)
    let sql = store.sql_stats(s.id, DAY, DAY + 3600).unwrap();
    assert_eq!((sql.count, sql.buckets, sql.avg), (11, 20, Some(2.5)));
    // a 30-minute step: the 5-minute point falls in the step its slot starts in
    let steps = run(&store, &s, DAY, DAY + 3600, 1800, Agg::Count, Fill::None);
    assert_eq!(steps, [(DAY, Some(11.0))]);
}
