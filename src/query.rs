//! History from the archive: raw points, or aggregated over steps aligned to
//! a time zone's days, computed by streaming through the points (or the
//! hourly/daily rollups when they give the same answer faster).

use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use clap::ValueEnum;

use crate::BUCKET_SECS;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::read::{Rollup, StoredSeries};
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

/// The most steps a filled query (`--fill` other than none) may produce per
/// series: each is a row whether or not it holds data.
pub const MAX_FILLED_STEPS: u64 = 10_000_000;

/// How steps are laid out.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// From the Unix epoch: `step` neither divides a day nor is whole days.
    Epoch,
    /// From each of the zone's midnights: `step` divides a day (the last
    /// step of a 23- or 25-hour day is cut short by the next midnight).
    InDay,
    /// Calendar days of the zone, `n` at a time from `anchor`.
    Days { n: i64, anchor: NaiveDate },
}

/// The steps of an aggregation, found one at a time: never a list, as a
/// century of 30-second steps is a hundred million of them. Steps that
/// divide a day start at the zone's midnight; whole-day steps follow
/// calendar days (23 or 25 hours across DST changes) from the day `from`
/// falls in; other steps are aligned to the Unix epoch.
#[derive(Debug, Clone)]
pub struct Steps {
    step: i64,
    tz: Tz,
    layout: Layout,
    /// The last day looked up: (start, next day's start), for `InDay`.
    day: Option<(i64, i64)>,
}

impl Steps {
    /// The steps of `step` seconds (> 0) of a query starting at `from`.
    pub fn new(from: i64, step: i64, tz: Tz) -> Steps {
        let step = step.max(1);
        let layout = if step % 86400 == 0 {
            Layout::Days {
                n: step / 86400,
                anchor: timeutil::date_of(from, tz),
            }
        } else if 86400 % step == 0 {
            Layout::InDay
        } else {
            Layout::Epoch
        };
        Steps {
            step,
            tz,
            layout,
            day: None,
        }
    }

    /// The zone's day holding `ts`: (its start, the next day's start).
    fn day_of(&mut self, ts: i64) -> (i64, i64) {
        if let Some((start, next)) = self.day
            && (start..next).contains(&ts)
        {
            return (start, next);
        }
        let mut date = timeutil::date_of(ts, self.tz);
        let mut start = timeutil::day_start(date, self.tz);
        if start > ts {
            date = date.pred_opt().unwrap_or(date);
            start = timeutil::day_start(date, self.tz);
        }
        let next = timeutil::day_start(date + chrono::Duration::days(1), self.tz);
        self.day = Some((start, next));
        (start, next)
    }

    /// The step holding `ts`: `[start, end)`.
    pub fn containing(&mut self, ts: i64) -> (i64, i64) {
        match self.layout {
            Layout::Epoch => {
                let start = ts.div_euclid(self.step) * self.step;
                (start, start + self.step)
            }
            Layout::InDay => {
                let (day, next) = self.day_of(ts);
                let start = day + (ts - day) / self.step * self.step;
                (start, (start + self.step).min(next))
            }
            Layout::Days { n, anchor } => {
                let at =
                    |k: i64| timeutil::day_start(anchor + chrono::Duration::days(k * n), self.tz);
                let days = (timeutil::date_of(ts, self.tz) - anchor).num_days();
                let mut k = days.div_euclid(n);
                if at(k) > ts {
                    k -= 1;
                }
                (at(k), at(k + 1))
            }
        }
    }

    /// How many steps cover `[from, to)`, counted without visiting them
    /// (except day by day for steps within days).
    pub fn count(&mut self, from: i64, to: i64) -> u64 {
        if from >= to {
            return 0;
        }
        let (first, _) = self.containing(from);
        let (last, _) = self.containing(to - 1);
        let n = match self.layout {
            Layout::Epoch => (last - first) / self.step + 1,
            Layout::Days { n, anchor } => {
                let index = |t: i64| (timeutil::date_of(t, self.tz) - anchor).num_days() / n;
                index(last) - index(first) + 1
            }
            Layout::InDay => {
                let mut steps = 0;
                let (mut day, mut next) = self.day_of(first);
                steps -= (first - day) / self.step;
                loop {
                    if (day..next).contains(&last) {
                        steps += (last - day) / self.step + 1;
                        break;
                    }
                    steps += (next - day + self.step - 1) / self.step;
                    (day, next) = self.day_of(next);
                }
                steps
            }
        };
        n.max(0).unsigned_abs()
    }

    /// Whether every step boundary over `[from, to)` is a multiple of
    /// `unit` seconds (then the hourly or daily rollups answer the steps).
    fn aligned(&mut self, from: i64, to: i64, unit: i64) -> bool {
        if from % unit != 0 || to % unit != 0 || self.step % unit != 0 {
            return false;
        }
        match self.layout {
            Layout::Epoch => true,
            Layout::InDay => {
                // a step's boundaries are its day's midnight plus whole steps
                let mut t = self.containing(from).0;
                loop {
                    let (day, next) = self.day_of(t);
                    if day % unit != 0 {
                        return false;
                    }
                    if next >= to {
                        break;
                    }
                    t = next;
                }
                self.containing(to - 1).1 % unit == 0
            }
            Layout::Days { .. } => {
                let (mut start, mut end) = self.containing(from);
                loop {
                    if start % unit != 0 {
                        return false;
                    }
                    if end >= to {
                        return end % unit == 0;
                    }
                    (start, end) = self.containing(end);
                }
            }
        }
    }
}

/// Step boundaries over `[from, to)`: `grid[i]..grid[i+1]` is one step (see
/// [`Steps`]). A list, for tests and small ranges; queries use [`Steps`].
pub fn grid(from: i64, to: i64, step: i64, tz: Tz) -> Vec<i64> {
    let mut out = Vec::new();
    if from >= to || step <= 0 {
        return out;
    }
    let mut steps = Steps::new(from, step, tz);
    let (mut start, mut end) = steps.containing(from);
    out.push(start);
    while end < to {
        (start, end) = steps.containing(end);
        out.push(start);
    }
    out.push(end);
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

/// One series' steps as they stream past: points (or rollups) come in time
/// order, each closes the steps before it, and only the current step is held.
struct Stepper<'a, E, F: FnMut(i64, Option<f64>) -> Result<(), E>> {
    steps: Steps,
    a: &'a Aggregation,
    keep: bool,
    current: (i64, i64),
    acc: Acc,
    previous: Option<f64>,
    emit: F,
}

impl<E, F: FnMut(i64, Option<f64>) -> Result<(), E>> Stepper<'_, E, F> {
    /// Emits the current step (or its fill).
    fn close(&mut self) -> Result<(), E> {
        let ts = self.current.0;
        match (self.acc.value(self.a.agg), self.a.fill) {
            (Some(v), _) => {
                self.previous = Some(v);
                (self.emit)(ts, Some(v))?;
            }
            (None, Fill::None) => {}
            (None, Fill::Null) => (self.emit)(ts, None)?,
            (None, Fill::Zero) => (self.emit)(ts, Some(0.0))?,
            (None, Fill::Previous) => {
                if self.previous.is_some() {
                    (self.emit)(ts, self.previous)?;
                }
            }
        }
        self.acc = Acc::default();
        Ok(())
    }

    /// Makes the step holding `ts` current, closing (and filling) the ones before.
    fn advance(&mut self, ts: i64) -> Result<(), E> {
        if ts < self.current.1 {
            return Ok(());
        }
        self.close()?;
        if self.a.fill == Fill::None {
            // empty steps print nothing: jump straight to the one holding `ts`
            self.current = self.steps.containing(ts);
            return Ok(());
        }
        self.current = self.steps.containing(self.current.1);
        while ts >= self.current.1 {
            self.close()?;
            self.current = self.steps.containing(self.current.1);
        }
        Ok(())
    }

    fn point(&mut self, ts: i64, v: f64) -> Result<(), E> {
        self.advance(ts)?;
        self.acc.add(v, self.keep);
        Ok(())
    }

    fn rollup(&mut self, r: &Rollup) -> Result<(), E> {
        self.advance(r.ts)?;
        self.acc.add_rollup(r);
        Ok(())
    }

    /// Closes the last step holding data, and fills the ones up to `to`.
    fn finish(mut self, to: i64) -> Result<(), E> {
        self.close()?;
        if self.a.fill != Fill::None {
            while self.current.1 < to {
                self.current = self.steps.containing(self.current.1);
                self.close()?;
            }
        }
        Ok(())
    }
}

/// How many rows a query of `[from, to)` produces per series if every step
/// is printed (`--fill` other than none).
pub fn filled_steps(from: i64, to: i64, step: i64, tz: Tz) -> u64 {
    Steps::new(from, step, tz).count(from, to)
}

/// Streams the aggregated steps of one series over `[from, to)` to
/// `emit(ts, value)`, holding one step at a time.
pub fn aggregate_series<E: From<StoreError>>(
    store: &Store,
    series: &StoredSeries,
    from: i64,
    to: i64,
    a: Aggregation,
    emit: impl FnMut(i64, Option<f64>) -> Result<(), E>,
) -> Result<(), E> {
    if from >= to || a.step <= 0 {
        return Ok(());
    }
    let mut steps = Steps::new(from, a.step, a.tz);
    let current = steps.containing(from);
    let by_day = a.agg.answerable_by_rollups() && steps.aligned(from, to, 86400);
    let by_hour = a.agg.answerable_by_rollups() && !by_day && steps.aligned(from, to, 3600);
    let mut stepper = Stepper {
        steps,
        a: &a,
        keep: matches!(a.agg, Agg::P50 | Agg::P95),
        current,
        acc: Acc::default(),
        previous: None,
        emit,
    };
    if by_day {
        store.daily_rollups::<E>(series.id, from, to, |r| stepper.rollup(&r))?;
    } else if by_hour {
        store.hourly_rollups::<E>(series.id, from, to, |r| stepper.rollup(&r))?;
    } else {
        store.for_each_point::<E>(series.id, from, to, |ts, v| stepper.point(ts, v))?;
    }
    stepper.finish(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::series::{StreamKey, UserSet};
    use crate::store::read::SeriesFilter;
    use crate::store::{Fetch, FetchedSeries, Store};

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

    fn store_with(points: &[(i64, f64)]) -> (Store, StoredSeries) {
        let mut store = Store::in_memory().unwrap();
        let key = StreamKey::new("a", None, UserSet::NONE, Source::Operation);
        let fetch = Fetch {
            indicators: &["online_user_count".into()],
            from: points[0].0,
            to: points.last().unwrap().0 + 30,
            series: vec![FetchedSeries {
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
                        filled_steps(from, to, step, tz),
                        (g.len() - 1) as u64,
                        "{tz} step {step} {from}..{to}: {g:?}"
                    );
                    let mut steps = Steps::new(from, step, tz);
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
        assert_eq!(filled_steps(DATA_FROM, DATA_TO, 30, Tz::UTC), 105_192_000);
        assert_eq!(filled_steps(DATA_FROM, DATA_TO, 86_400, Tz::UTC), 36_525);
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
}
