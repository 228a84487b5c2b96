//! History from the archive: raw points, or aggregated over steps aligned to
//! a time zone's days, computed by streaming through the points (or the
//! hourly/daily rollups when they give the same answer faster).

use std::time::Duration;

use chrono_tz::Tz;
use clap::ValueEnum;

use crate::BUCKET_SECS;
use crate::store::StoreError;
use crate::store::read::{self, Rollup, SeriesInfo};
use crate::timeutil::{self, DurationRange};

/// How to aggregate the points of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Agg {
    Avg,
    Min,
    Max,
    Sum,
    Count,
    P50,
    P95,
    First,
    Last,
}

impl Agg {
    /// Whether hourly rollups (count, sum, min, max) can answer it.
    fn answerable_by_rollups(self) -> bool {
        matches!(self, Agg::Avg | Agg::Min | Agg::Max | Agg::Sum | Agg::Count)
    }
}

/// What to print for a step without data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fill {
    /// Leave the step out.
    None,
    /// A row with an empty value.
    Null,
    /// A row with 0.
    Zero,
    /// A row with the previous step's value.
    Previous,
}

/// The `p`-th percentile (0–100) of sorted values, interpolating linearly
/// between the closest ranks (numpy's default, Excel's PERCENTILE.INC).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// `--step`: at least one bucket, at most the archive's whole time range,
/// in whole seconds.
pub const STEP_RANGE: DurationRange = DurationRange::new(
    Duration::from_secs(BUCKET_SECS.unsigned_abs()),
    Duration::from_secs(timeutil::DATA_SPAN_SECS),
)
.whole_seconds();

/// Step boundaries over `[from, to)`: `grid[i]..grid[i+1]` is one step.
/// Steps that divide a day start at the zone's midnight; whole-day steps
/// follow calendar days (23 or 25 hours across DST changes); other steps
/// are aligned to the Unix epoch.
pub fn grid(from: i64, to: i64, step: i64, tz: Tz) -> Vec<i64> {
    let mut out = Vec::new();
    if from >= to || step <= 0 {
        return out;
    }
    let push_until = |out: &mut Vec<i64>, t: i64| {
        if out.last().is_none_or(|&l| t > l) {
            out.push(t);
        }
    };
    if step % 86400 == 0 {
        let days = step / 86400;
        let mut date = timeutil::date_of(from, tz);
        loop {
            let t = timeutil::day_start(date, tz);
            push_until(&mut out, t);
            if t >= to {
                break;
            }
            date += chrono::Duration::days(days);
        }
    } else if 86400 % step == 0 {
        let mut date = timeutil::date_of(from, tz);
        'days: loop {
            let start = timeutil::day_start(date, tz);
            let next = timeutil::day_start(date + chrono::Duration::days(1), tz);
            let mut t = start;
            while t < next {
                push_until(&mut out, t);
                if t >= to {
                    break 'days;
                }
                t += step;
            }
            date += chrono::Duration::days(1);
        }
    } else {
        let mut t = from.div_euclid(step) * step;
        loop {
            push_until(&mut out, t);
            if t >= to {
                break;
            }
            t += step;
        }
    }
    // drop leading steps that end before `from`
    let before = out.partition_point(|&t| t <= from).saturating_sub(1);
    out.drain(..before);
    out
}

/// Accumulates one step's points.
#[derive(Debug, Default)]
struct Acc {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
    first: Option<f64>,
    last: Option<f64>,
    values: Vec<f64>,
}

impl Acc {
    fn add(&mut self, v: f64, keep: bool) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
            self.first = Some(v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
        self.last = Some(v);
        if keep {
            self.values.push(v);
        }
    }

    fn add_rollup(&mut self, r: &Rollup) {
        if r.count == 0 {
            return;
        }
        if self.count == 0 {
            self.min = r.min;
            self.max = r.max;
        } else {
            self.min = self.min.min(r.min);
            self.max = self.max.max(r.max);
        }
        self.count += r.count;
        self.sum += r.sum;
    }

    fn value(&mut self, agg: Agg) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match agg {
            Agg::Avg => self.sum / self.count as f64,
            Agg::Min => self.min,
            Agg::Max => self.max,
            Agg::Sum => self.sum,
            Agg::Count => self.count as f64,
            Agg::First => self.first?,
            Agg::Last => self.last?,
            Agg::P50 | Agg::P95 => {
                self.values.sort_by(f64::total_cmp);
                percentile(&self.values, if agg == Agg::P50 { 50.0 } else { 95.0 })?
            }
        })
    }
}

/// An aggregation request.
#[derive(Debug, Clone, Copy)]
pub struct Aggregation {
    pub step: i64,
    pub agg: Agg,
    pub fill: Fill,
    pub tz: Tz,
}

/// Streams the aggregated steps of one series over `[from, to)` to `emit(ts, value)`.
pub fn aggregate_series<E: From<StoreError>>(
    conn: &rusqlite::Connection,
    series: &SeriesInfo,
    from: i64,
    to: i64,
    a: Aggregation,
    mut emit: impl FnMut(i64, Option<f64>) -> Result<(), E>,
) -> Result<(), E> {
    let grid = grid(from, to, a.step, a.tz);
    if grid.len() < 2 {
        return Ok(());
    }
    let mut accs: Vec<Acc> = (0..grid.len() - 1).map(|_| Acc::default()).collect();
    let step_of = |ts: i64| -> Option<usize> {
        let i = grid.partition_point(|&g| g <= ts);
        (i >= 1 && i < grid.len()).then(|| i - 1)
    };
    let hour_aligned = from % 3600 == 0 && to % 3600 == 0 && grid.iter().all(|g| g % 3600 == 0);
    let day_aligned = from % 86400 == 0 && to % 86400 == 0 && grid.iter().all(|g| g % 86400 == 0);
    if a.agg.answerable_by_rollups() && day_aligned {
        read::daily_rollups::<E>(conn, series.id, from, to, |r| {
            if let Some(i) = step_of(r.ts) {
                accs[i].add_rollup(&r);
            }
            Ok(())
        })?;
    } else if a.agg.answerable_by_rollups() && hour_aligned {
        read::hourly_rollups::<E>(conn, series.id, from, to, |r| {
            if let Some(i) = step_of(r.ts) {
                accs[i].add_rollup(&r);
            }
            Ok(())
        })?;
    } else {
        let keep = matches!(a.agg, Agg::P50 | Agg::P95);
        read::for_each_point::<E>(conn, series.id, from, to, |ts, v| {
            if let Some(i) = step_of(ts) {
                accs[i].add(v, keep);
            }
            Ok(())
        })?;
    }
    let mut previous: Option<f64> = None;
    for (i, acc) in accs.iter_mut().enumerate() {
        let ts = grid[i];
        match (acc.value(a.agg), a.fill) {
            (Some(v), _) => {
                previous = Some(v);
                emit(ts, Some(v))?;
            }
            (None, Fill::None) => {}
            (None, Fill::Null) => emit(ts, None)?,
            (None, Fill::Zero) => emit(ts, Some(0.0))?,
            (None, Fill::Previous) => {
                if previous.is_some() {
                    emit(ts, previous)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::api::{Answer, AnsweredSeries};
    use crate::planner::Window;
    use crate::store::read::SeriesFilter;
    use crate::store::{Store, StreamKey};

    const DAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z

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

    fn store_with(points: &[(i64, f64)]) -> (Store, SeriesInfo) {
        let mut store = Store::in_memory().unwrap();
        let key = StreamKey::new("a", None, vec![], Source::Operation);
        let answer = Answer {
            request_id: None,
            series: vec![AnsweredSeries {
                name: "online_user_count".into(),
                unit: None,
                points: points.to_vec(),
            }],
            skipped: Default::default(),
        };
        let w = Window {
            start: points[0].0,
            end: points.last().unwrap().0,
        };
        store
            .store_answer(&key, &["online_user_count".into()], w, &answer, 1, DAY)
            .unwrap();
        let s = read::select_series(store.conn(), &SeriesFilter::default())
            .unwrap()
            .remove(0);
        (store, s)
    }

    fn run(
        store: &Store,
        s: &SeriesInfo,
        from: i64,
        to: i64,
        step: i64,
        agg: Agg,
        fill: Fill,
    ) -> Vec<(i64, Option<f64>)> {
        let mut out = Vec::new();
        aggregate_series::<StoreError>(
            store.conn(),
            s,
            from,
            to,
            Aggregation {
                step,
                agg,
                fill,
                tz: Tz::UTC,
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
            let read::SqlStats {
                count,
                avg,
                min,
                max,
            } = read::sql_stats(store.conn(), s.id, DAY, DAY + 86400).unwrap();
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
            // the same day through raw points (an unaligned end forces the raw path)
            let raw = run(&store, &s, DAY, DAY + 86400 - 1, 86400, agg, Fill::None);
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
}
