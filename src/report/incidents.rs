//! Incidents: stretches of a series that were clearly worse than what is
//! normal for that time of the week, found the way an operator would look
//! at a chart against the weeks before. Pure functions of the 5-minute
//! means and 30-second points [`super::gather`] streamed from the archive,
//! table-tested here without a database.
//!
//! The method, knob by knob (`[report.incidents]`):
//!
//! 1. **Baseline.** For each 5-minute slot, the median of the same slot of
//!    the week in the `weeks` previous weeks (same wall-clock time in the
//!    report's zone); while fewer than `min(3, weeks)` of those weeks hold
//!    data (a young archive), the same slot of the 7 previous days instead.
//! 2. **Spread.** 1.4826 × the median absolute deviation of those weeks'
//!    (or days') slot means, pooled over the slot and its two neighbours
//!    (15 minutes, three times the samples: a steadier estimate), widened
//!    by √(1 + π/2n) for the median's own uncertainty from n samples, and
//!    floored at the series' typical spread (its median over the period's
//!    slots) and at 0.01: a slot whose few samples happened to agree does
//!    not alarm on noise, a slot that is noisier than usual needs more.
//! 3. **Anomalous slot.** Worse than the baseline, in the indicator's
//!    direction, by more than both `k` × spread and the indicator's
//!    threshold from `[report]`; never for indicators without a direction,
//!    never without a baseline, and never while the app has fewer than
//!    `min_users` online (app-wide `online_user_count`), if set.
//! 4. **Incident.** Two or more anomalous slots, consecutive or with one
//!    normal (or empty) slot between. It starts at its first anomalous
//!    30-second bucket (walking back over the bad buckets just before the
//!    first slot), ends after its last, and reports the worst slot: its
//!    mean (peak), baseline and deviation.

use chrono_tz::Tz;

use super::period::shift_days;
use super::rules::Direction;
use crate::BUCKET_SECS;

/// The resolution incidents are judged at.
pub const SLOT_SECS: i64 = 300;
/// Consecutive anomalous slots that make an incident.
pub const MIN_SLOTS: usize = 2;
/// Days the young-archive fallback looks back.
pub const FALLBACK_DAYS: i64 = 7;
/// 1.4826 × MAD estimates the standard deviation of normal data.
pub const MAD_SCALE: f64 = 1.4826;
/// The spread never falls below this (the archive's values have two decimals)...
pub const SPREAD_FLOOR: f64 = 0.01;
/// ...nor below this share of the series' typical spread. (At half of it,
/// one generated normal day in fifty had a false incident; at all of it,
/// none in six hundred, and a planted 6σ incident is still found.)
pub const TYPICAL_SHARE: f64 = 1.0;
/// Periods longer than this are trend reports: no incidents are searched.
pub const MAX_PERIOD_SECS: i64 = 35 * 86400;

/// The start of the slot holding `ts`.
pub fn slot_of(ts: i64) -> i64 {
    ts.div_euclid(SLOT_SECS) * SLOT_SECS
}

/// 5-minute means of a series from `start` (a slot start) on; `None`
/// where the slot holds no point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotMeans {
    pub start: i64,
    pub means: Vec<Option<f64>>,
}

impl SlotMeans {
    /// The mean of the slot starting at `ts` (a slot start).
    pub fn get(&self, ts: i64) -> Option<f64> {
        let i = (ts - self.start).div_euclid(SLOT_SECS);
        usize::try_from(i)
            .ok()
            .and_then(|i| self.means.get(i))
            .copied()
            .flatten()
    }
}

/// Sums per slot while points stream by; [`SlotSums::finish`] gives the means.
#[derive(Debug, Clone)]
pub struct SlotSums {
    start: i64,
    sums: Vec<(u32, f64)>,
}

impl SlotSums {
    /// Slots covering `[from, to)`.
    pub fn new(from: i64, to: i64) -> SlotSums {
        let start = slot_of(from);
        let n = ((to - start).max(0) + SLOT_SECS - 1) / SLOT_SECS;
        SlotSums {
            start,
            sums: vec![(0, 0.0); n as usize],
        }
    }

    /// Adds a value standing for `weight` 30-second buckets (a 5-minute
    /// point: 10).
    pub fn add(&mut self, ts: i64, v: f64, weight: u32) {
        let i = (ts - self.start).div_euclid(SLOT_SECS);
        if let Some(s) = usize::try_from(i).ok().and_then(|i| self.sums.get_mut(i)) {
            s.0 += weight;
            s.1 += v * f64::from(weight);
        }
    }

    pub fn finish(self) -> SlotMeans {
        SlotMeans {
            start: self.start,
            means: self
                .sums
                .into_iter()
                .map(|(n, sum)| (n > 0).then(|| sum / f64::from(n)))
                .collect(),
        }
    }
}

/// How a series is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub direction: Direction,
    pub k: f64,
    /// The indicator's absolute threshold, from `[report]`.
    pub threshold: f64,
    pub weeks: u32,
}

/// What is normal for one slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub median: f64,
    /// 1.4826 × MAD (widened for the median's uncertainty), before the floor.
    pub spread: f64,
    /// From the same slot of previous weeks (else previous days).
    pub weekly: bool,
}

/// The median of values (sorted in place); `None` for none.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// 1.4826 × the median absolute deviation from `center`.
fn mad_spread(values: &[f64], center: f64) -> f64 {
    let mut dev: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    MAD_SCALE * median(&mut dev).unwrap_or(0.0)
}

/// The slot starts `n` weeks (or days) before `slot`, same wall clock in `tz`.
fn back(slot: i64, tz: Tz, days: i64) -> i64 {
    slot_of(shift_days(slot, tz, -days))
}

/// The baseline of the slot starting at `slot` from the history in
/// `slots`: previous weeks, else previous days (see the module's doc).
pub fn baseline_at(slots: &SlotMeans, slot: i64, tz: Tz, weeks: u32) -> Option<Baseline> {
    let gather = |step_days: i64, n: i64| -> (Vec<f64>, Vec<f64>) {
        let mut same = Vec::new();
        let mut pooled = Vec::new();
        for i in 1..=n {
            let s = back(slot, tz, step_days * i);
            if let Some(v) = slots.get(s) {
                same.push(v);
                pooled.push(v);
            }
            for nb in [s - SLOT_SECS, s + SLOT_SECS] {
                if let Some(v) = slots.get(nb) {
                    pooled.push(v);
                }
            }
        }
        (same, pooled)
    };
    let min_weekly = weeks.min(3) as usize;
    let (mut same, mut pooled, weekly) = {
        let (s, p) = gather(7, i64::from(weeks));
        if s.len() >= min_weekly.max(1) {
            (s, p, true)
        } else {
            let (s, p) = gather(1, FALLBACK_DAYS);
            (s, p, false)
        }
    };
    if same.len() < 3 && !weekly {
        return None;
    }
    let center = median(&mut same)?;
    // each neighbour deviates from its own level, not the slot's: the
    // pooled deviations are taken from the pooled median, close to it
    let pooled_center = median(&mut pooled).unwrap_or(center);
    // a value's difference from a median of n samples varies more than the
    // value itself: the median's own variance is about π/2 · σ²/n
    let n = same.len() as f64;
    let uncertainty = (1.0 + std::f64::consts::FRAC_PI_2 / n).sqrt();
    Some(Baseline {
        median: center,
        spread: mad_spread(&pooled, pooled_center) * uncertainty,
        weekly,
    })
}

/// One slot of the period, judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    pub slot: i64,
    pub value: Option<f64>,
    pub baseline: Option<Baseline>,
    /// The spread after its floor.
    pub spread: f64,
    /// How much worse than the baseline a value must be: the larger of
    /// k × spread and the threshold.
    pub bar: f64,
    /// value − baseline.
    pub deviation: Option<f64>,
    pub anomalous: bool,
}

impl Judged {
    /// Whether a value is worse than this slot's baseline by more than its bar.
    fn is_bad(&self, v: f64, direction: Direction) -> bool {
        match self.baseline {
            Some(b) => direction
                .worsening(v - b.median)
                .is_some_and(|w| w > self.bar),
            None => false,
        }
    }
}

/// Judges the slots of `[from, to)`: their baselines from the history,
/// the spread floor from the series' typical spread, and whether each is
/// anomalous. `quiet(slot)` says the app had too few users then.
pub fn judge(
    slots: &SlotMeans,
    from: i64,
    to: i64,
    tz: Tz,
    rule: &Rule,
    quiet: &dyn Fn(i64) -> bool,
) -> Vec<Judged> {
    let mut out = Vec::new();
    let mut slot = slot_of(from);
    while slot < to {
        let baseline = match rule.direction {
            Direction::None => None,
            _ => baseline_at(slots, slot, tz, rule.weeks),
        };
        let value = slots.get(slot);
        out.push(Judged {
            slot,
            value,
            baseline,
            spread: 0.0,
            bar: 0.0,
            deviation: value.zip(baseline).map(|(v, b)| v - b.median),
            anomalous: false,
        });
        slot += SLOT_SECS;
    }
    let mut spreads: Vec<f64> = out
        .iter()
        .filter_map(|j| j.baseline.map(|b| b.spread))
        .collect();
    let typical = median(&mut spreads).unwrap_or(0.0);
    let floor = SPREAD_FLOOR.max(TYPICAL_SHARE * typical);
    for j in &mut out {
        let Some(b) = j.baseline else { continue };
        j.spread = b.spread.max(floor);
        j.bar = (rule.k * j.spread).max(rule.threshold);
        j.anomalous = j.value.is_some_and(|v| j.is_bad(v, rule.direction)) && !quiet(j.slot);
    }
    out
}

/// An incident as found: times in Unix seconds, the worst slot's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub start: i64,
    /// Exclusive.
    pub end: i64,
    /// The worst slot's mean, its start, its baseline.
    pub peak: f64,
    pub peak_ts: i64,
    pub baseline: f64,
    /// peak − baseline.
    pub deviation: f64,
    /// How far past its bar the peak is (deviation in the bad direction ÷
    /// bar): what "worst first" sorts by.
    pub severity: f64,
}

/// Groups anomalous slots into runs: consecutive, or with one slot between.
fn runs(judged: &[Judged]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, j) in judged.iter().enumerate() {
        if !j.anomalous {
            continue;
        }
        match out.last_mut() {
            Some(run) if i - run[run.len() - 1] <= 2 => run.push(i),
            _ => out.push(vec![i]),
        }
    }
    out.retain(|r| r.len() >= MIN_SLOTS);
    out
}

/// The incidents among judged slots, with their start and end refined to
/// the 30-second `points` of the period (in time order) where they exist,
/// clipped to `[from, to)`.
pub fn find(
    judged: &[Judged],
    points: &[(i64, f64)],
    from: i64,
    to: i64,
    direction: Direction,
) -> Vec<Found> {
    let mut out = Vec::new();
    for run in runs(judged) {
        let first = &judged[run[0]];
        let last = &judged[run[run.len() - 1]];
        let start = refine_start(first, judged.get(run[0].wrapping_sub(1)), points, direction);
        let end = refine_end(last, judged.get(run[run.len() - 1] + 1), points, direction);
        let worst = run
            .iter()
            .map(|&i| &judged[i])
            .filter_map(|j| {
                let w = direction.worsening(j.deviation?)?;
                Some((j, w))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((peak, worsening)) = worst else {
            continue;
        };
        out.push(Found {
            start: start.max(from),
            end: end.min(to),
            peak: peak.value.unwrap_or(f64::NAN),
            peak_ts: peak.slot,
            baseline: peak.baseline.map_or(f64::NAN, |b| b.median),
            deviation: peak.deviation.unwrap_or(f64::NAN),
            severity: if peak.bar > 0.0 {
                worsening / peak.bar
            } else {
                worsening
            },
        });
    }
    out
}

/// The points with `from <= ts < to`.
fn points_in(points: &[(i64, f64)], from: i64, to: i64) -> &[(i64, f64)] {
    let a = points.partition_point(|p| p.0 < from);
    let b = points.partition_point(|p| p.0 < to);
    &points[a..b]
}

/// The first bad 30-second bucket of the first slot, walked back over the
/// contiguous bad buckets before it (into the previous slot, judged by its
/// own baseline where it has one); the slot's start without points.
fn refine_start(
    first: &Judged,
    before: Option<&Judged>,
    points: &[(i64, f64)],
    direction: Direction,
) -> i64 {
    let inside = points_in(points, first.slot, first.slot + SLOT_SECS);
    let Some(&(mut start, _)) = inside.iter().find(|p| first.is_bad(p.1, direction)) else {
        return first.slot;
    };
    let judge_before = before.filter(|b| b.baseline.is_some()).unwrap_or(first);
    let earlier = points_in(points, first.slot - SLOT_SECS, start);
    for &(ts, v) in earlier.iter().rev() {
        let by = if ts < first.slot { judge_before } else { first };
        if ts != start - BUCKET_SECS || !by.is_bad(v, direction) {
            break;
        }
        start = ts;
    }
    start
}

/// The end of the last bad 30-second bucket of the last slot, walked
/// forward over contiguous bad buckets after it; the slot's end without points.
fn refine_end(
    last: &Judged,
    after: Option<&Judged>,
    points: &[(i64, f64)],
    direction: Direction,
) -> i64 {
    let slot_end = last.slot + SLOT_SECS;
    let inside = points_in(points, last.slot, slot_end);
    let Some(&(last_bad, _)) = inside.iter().rev().find(|p| last.is_bad(p.1, direction)) else {
        return slot_end;
    };
    let mut end = last_bad + BUCKET_SECS;
    let judge_after = after.filter(|a| a.baseline.is_some()).unwrap_or(last);
    for &(ts, v) in points_in(points, end, slot_end + SLOT_SECS) {
        let by = if ts >= slot_end { judge_after } else { last };
        if ts != end || !by.is_bad(v, direction) {
            break;
        }
        end = ts + BUCKET_SECS;
    }
    end
}

#[cfg(test)]
#[path = "incidents_tests.rs"]
mod tests;
