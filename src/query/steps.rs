//! The steps of an aggregated query: boundaries on a grid that does not
//! depend on the query (the zone's midnights, calendar days for whole-day
//! steps, 23 or 25 hours across DST changes), found for any time directly,
//! never materialised as a list; and which of them a query prints: whole
//! steps only, none that is not complete yet.

use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::BUCKET_SECS;
use crate::timeutil::{self, DurationRange};

/// `--step`: at least one bucket, at most the archive's whole time range,
/// in whole seconds (and whole buckets: see [`check_step`]).
pub const STEP_RANGE: DurationRange = DurationRange::new(
    Duration::from_secs(BUCKET_SECS.unsigned_abs()),
    Duration::from_secs(timeutil::DATA_SPAN_SECS),
)
.whole_seconds();

/// Refuses a step that is not a whole number of 30-second buckets: a 45 s
/// step would hold one bucket, then two, and label both alike.
pub fn check_step(step: Duration) -> Result<Duration, String> {
    if !step.as_secs().is_multiple_of(BUCKET_SECS.unsigned_abs()) {
        return Err(format!(
            "{} is not a multiple of 30s: a step is a whole number of the API's 30-second \
             buckets (30s, 90s, 5m, 1h, 1d...)",
            humantime::format_duration(step)
        ));
    }
    Ok(step)
}

/// Where steps of whole days are counted from: a Monday, so that 7-day
/// steps are weeks from Monday to Sunday whatever `--from` says.
fn days_anchor() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 3).expect("a valid date")
}

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
    /// Calendar days of the zone, `n` at a time from `anchor` (a Monday).
    Days { n: i64, anchor: NaiveDate },
}

/// The steps of an aggregation, found one at a time: never a list, as a
/// century of 30-second steps is a hundred million of them. Steps that
/// divide a day start at the zone's midnight; whole-day steps follow
/// calendar days (23 or 25 hours across DST changes) counted from Monday
/// 2000-01-03; other steps are aligned to the Unix epoch. The grid is the
/// same whatever range a query asks for, so a step has one value.
#[derive(Debug, Clone)]
pub struct Steps {
    step: i64,
    tz: Tz,
    layout: Layout,
    /// The last day looked up: (start, next day's start), for `InDay`.
    day: Option<(i64, i64)>,
}

impl Steps {
    /// The steps of `step` seconds (> 0) in `tz`.
    pub fn new(step: i64, tz: Tz) -> Steps {
        let step = step.max(1);
        let layout = if step % 86400 == 0 {
            Layout::Days {
                n: step / 86400,
                anchor: days_anchor(),
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
                let index = |t: i64| {
                    (timeutil::date_of(t, self.tz) - anchor)
                        .num_days()
                        .div_euclid(n)
                };
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

    /// The steps a query of `[from, to)` prints, as one range of whole
    /// steps: widened to the start of the step `from` falls in and the end
    /// of the one `to − 1` falls in, so that no step is aggregated over a
    /// part of it; and cut before the step holding `due` (the end of the
    /// data due so far), which is not complete, nor is any after it. `None`
    /// when no step is left.
    pub fn whole(&mut self, from: i64, to: i64, due: i64) -> Option<(i64, i64)> {
        if from >= to {
            return None;
        }
        let start = self.containing(from).0;
        let end = self.containing(to - 1).1.min(self.containing(due).0);
        (start < end).then_some((start, end))
    }

    /// Whether every step boundary over `[from, to)` is a multiple of
    /// `unit` seconds (then the hourly or daily rollups answer the steps).
    pub(super) fn aligned(&mut self, from: i64, to: i64, unit: i64) -> bool {
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
    let mut steps = Steps::new(step, tz);
    let (mut start, mut end) = steps.containing(from);
    out.push(start);
    while end < to {
        (start, end) = steps.containing(end);
        out.push(start);
    }
    out.push(end);
    out
}
