//! History from the archive: raw points, or aggregated over whole steps
//! aligned to a time zone's days, computed by streaming through the points
//! (or the hourly/daily rollups when they give the same answer faster);
//! a breakdown's steps can be pivoted into one column per value ([`wide`]).

mod steps;
pub mod wide;

use chrono_tz::Tz;
use clap::ValueEnum;

pub use steps::{MAX_FILLED_STEPS, STEP_RANGE, Steps, check_step, grid};

use crate::Source;
use crate::store::read::{Point, Rollup, StoredSeries};
use crate::store::{Store, StoreError};

/// The end of the data of `source` due at `now`: a bucket is complete once
/// it ended the action's data delay ago (see [`crate::planner`]).
pub fn due(now: i64, source: Source) -> i64 {
    now - source.delay_secs()
}

/// The latest end of data due at `now`, whichever the action: what bounds
/// the steps of any series.
pub fn latest_due(now: i64) -> i64 {
    Source::ALL
        .iter()
        .map(|&s| due(now, s))
        .max()
        .unwrap_or(now)
}

/// How to aggregate the points of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Agg {
    /// Mean, a 5-minute point weighing as its ten 30-second buckets
    Avg,
    Min,
    Max,
    /// Sum, a 5-minute point's value counted ten times (its buckets)
    Sum,
    /// Points (a 5-minute point counts once)
    Count,
    /// Median, a 5-minute point counted as ten equal values
    P50,
    /// 95th percentile, a 5-minute point counted as ten equal values
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

/// Accumulates one step's points. A 5-minute point weighs as the ten
/// 30-second buckets it stands for in `avg`, `sum` and the percentiles
/// (ten equal values), and counts as one point in `count`.
#[derive(Debug, Default)]
struct Acc {
    count: i64,
    /// Buckets the points stand for.
    buckets: i64,
    /// Values weighted by their buckets.
    sum: f64,
    min: f64,
    max: f64,
    first: Option<f64>,
    last: Option<f64>,
    values: Vec<f64>,
}

impl Acc {
    fn add(&mut self, p: &Point, keep: bool) {
        let v = p.value;
        if self.count == 0 {
            self.min = v;
            self.max = v;
            self.first = Some(v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        let weight = p.weight();
        self.count += 1;
        self.buckets += weight;
        self.sum += v * weight as f64;
        self.last = Some(v);
        if keep {
            self.values
                .extend(std::iter::repeat_n(v, weight.max(1) as usize));
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
        self.buckets += r.buckets;
        self.sum += r.sum;
    }

    fn value(&mut self, agg: Agg) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match agg {
            Agg::Avg => self.sum / self.buckets.max(1) as f64,
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
    /// When the query runs: a step whose data is not all due by then is
    /// not complete, and is neither printed nor filled.
    pub now: i64,
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

    fn point(&mut self, p: Point) -> Result<(), E> {
        self.advance(p.ts)?;
        self.acc.add(&p, self.keep);
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
/// is printed (`--fill` other than none): its whole steps complete by `due`
/// (see [`Steps::whole`]).
pub fn filled_steps(from: i64, to: i64, step: i64, tz: Tz, due: i64) -> u64 {
    let mut steps = Steps::new(step, tz);
    match steps.whole(from, to, due) {
        Some((from, to)) => steps.count(from, to),
        None => 0,
    }
}

/// Streams the aggregated steps of one series over `[from, to)` to
/// `emit(ts, value)`, holding one step at a time. Only whole steps are
/// aggregated: the range is widened to the steps `from` and `to` fall in,
/// and ends before the first step not complete at `a.now` (see
/// [`Steps::whole`]), so a step has the same value whatever range asked
/// for it, and nothing not yet due is filled.
pub fn aggregate_series<E: From<StoreError>>(
    store: &Store,
    series: &StoredSeries,
    from: i64,
    to: i64,
    a: Aggregation,
    emit: impl FnMut(i64, Option<f64>) -> Result<(), E>,
) -> Result<(), E> {
    if a.step <= 0 {
        return Ok(());
    }
    let mut steps = Steps::new(a.step, a.tz);
    let Some((from, to)) = steps.whole(from, to, due(a.now, series.key.stream.source)) else {
        return Ok(());
    };
    let rollups = a.agg.answerable_by_rollups();
    aggregate_steps(store, series, steps, (from, to), &a, rollups, emit)
}

/// Aggregates the whole steps `[from, to)`, through the rollups where
/// `rollups` allows and the steps line up with them, else through the points.
fn aggregate_steps<E: From<StoreError>>(
    store: &Store,
    series: &StoredSeries,
    mut steps: Steps,
    (from, to): (i64, i64),
    a: &Aggregation,
    rollups: bool,
    emit: impl FnMut(i64, Option<f64>) -> Result<(), E>,
) -> Result<(), E> {
    let current = steps.containing(from);
    let by_day = rollups && steps.aligned(from, to, 86400);
    let by_hour = rollups && !by_day && steps.aligned(from, to, 3600);
    let mut stepper = Stepper {
        steps,
        a,
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
        store.for_each_point::<E>(series.id, from, to, |p| stepper.point(p))?;
    }
    stepper.finish(to)
}

#[cfg(test)]
mod tests;
