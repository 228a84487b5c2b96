//! Gathering what a report needs from the archive, through the store's
//! reads: each series' points over the period and its two comparisons,
//! streamed series by series (never the whole archive), the chart's
//! averages, and the gap ledger of each stream.

use std::collections::BTreeSet;

use crate::store::Store;
use chrono_tz::Tz;

use super::incidents::{SlotMeans, SlotSums};
use super::period::Period;
use super::rules::{Summary, merge_intervals};
use super::{ChartLines, GapInterval};
use crate::series::Resolution;
use crate::store::StoreError;
use crate::store::read::StoredSeries;
use crate::timeutil;

/// Chart resolution for periods up to two days: 5-minute averages.
const CHART_STEP: i64 = 300;
/// At most this many chart points per line for longer periods.
pub const CHART_MAX_POINTS: i64 = 576;

/// The 30-second buckets covered and the sum of their values, for the
/// comparison periods: a 5-minute point covers ten buckets with its value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    pub count: i64,
    sum: f64,
}

impl Mean {
    /// Adds a value standing for `weight` buckets.
    fn add(&mut self, v: f64, weight: i64) {
        self.count += weight;
        self.sum += v * weight as f64;
    }

    pub fn value(self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Averages over fixed steps from a start, for the charts.
#[derive(Debug, Clone)]
struct Bins {
    from: i64,
    step: i64,
    bins: Vec<Mean>,
}

impl Bins {
    fn new(from: i64, to: i64, step: i64) -> Bins {
        let n = ((to - from).max(0) + step - 1) / step;
        Bins {
            from,
            step,
            bins: vec![Mean::default(); n as usize],
        }
    }

    fn add(&mut self, ts: i64, v: f64, weight: i64) {
        let i = (ts - self.from).div_euclid(self.step);
        if let Some(b) = usize::try_from(i).ok().and_then(|i| self.bins.get_mut(i)) {
            b.add(v, weight);
        }
    }

    /// (hours since the start of the bin's period, average) of the bins with data.
    fn points(&self) -> Vec<(f64, f64)> {
        self.bins
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                b.value()
                    .map(|v| ((i as i64 * self.step) as f64 / 3600.0, v))
            })
            .collect()
    }
}

/// The chart step for a period: 5 minutes, or longer so a line has at most
/// [`CHART_MAX_POINTS`] points.
pub fn chart_step(seconds: i64) -> i64 {
    let steps = (seconds + CHART_MAX_POINTS * CHART_STEP - 1) / (CHART_MAX_POINTS * CHART_STEP);
    CHART_STEP * steps.max(1)
}

/// What streaming one series through the three periods gives.
pub struct SeriesData {
    /// The period's values, a 5-minute point counted as its ten buckets
    /// (`summary.count` is the buckets covered).
    pub summary: Summary,
    /// Points in the period, whatever their resolution.
    pub points: i64,
    /// 30-second points in the period: the buckets covered in real time.
    pub points_30s: i64,
    pub prev_day: Mean,
    pub prev_week: Mean,
    pub chart: ChartLines,
    /// The history incidents are judged against, when asked for.
    pub history: Option<History>,
}

/// 5-minute means from the start of the history to the end of the
/// period, and the period's 30-second points (for incidents).
pub struct History {
    pub slots: SlotMeans,
    pub points: Vec<(i64, f64)>,
}

/// Streams a series' points once, from the earliest of the period, its
/// two comparisons and `history_from` (if incidents are looked for) to the
/// end of the period, and hands each point to whatever it falls in.
pub fn series_data(
    store: &Store,
    s: &StoredSeries,
    period: &Period,
    history_from: Option<i64>,
) -> Result<SeriesData, StoreError> {
    let step = chart_step(period.seconds);
    let (pd, pw) = (&period.previous_day, &period.previous_week);
    let in_span = |ts: i64, from: i64, to: i64| from <= ts && ts < to;
    // as many as the points that come, not as the period could hold: a
    // century's buckets would be gigabytes before the first point
    let mut values = Vec::new();
    let (mut points, mut points_30s) = (0, 0);
    let mut bins = Bins::new(period.from, period.to, step);
    let mut prev_bins = Bins::new(pd.from, pd.to, step);
    let (mut prev_day, mut prev_week) = (Mean::default(), Mean::default());
    let mut history = history_from.map(|h| (h, SlotSums::new(h, period.to), Vec::new()));
    let from = [period.from, pd.from, pw.from]
        .into_iter()
        .chain(history_from)
        .min()
        .unwrap_or(period.from);
    let to = period.to.max(pd.to).max(pw.to);
    store.for_each_point::<StoreError>(s.id, from, to, |p| {
        let (ts, v) = (p.ts, p.value);
        if in_span(ts, period.from, period.to) {
            // a 5-minute point stands for ten buckets of its value
            values.extend(std::iter::repeat_n(v, p.weight() as usize));
            points += 1;
            if p.resolution == Resolution::RealTime {
                points_30s += 1;
            }
            bins.add(ts, v, p.weight());
        }
        if in_span(ts, pd.from, pd.to) {
            prev_day.add(v, p.weight());
            prev_bins.add(ts, v, p.weight());
        }
        if in_span(ts, pw.from, pw.to) {
            prev_week.add(v, p.weight());
        }
        if let Some((h, slots, points)) = &mut history
            && in_span(ts, *h, period.to)
        {
            slots.add(ts, v, p.weight() as u32);
            if ts >= period.from && p.resolution == Resolution::RealTime {
                points.push((ts, v));
            }
        }
        Ok(())
    })?;
    Ok(SeriesData {
        summary: Summary::of(&mut values),
        points,
        points_30s,
        prev_day,
        prev_week,
        chart: ChartLines {
            step,
            current: bins.points(),
            previous: prev_bins.points(),
            ..ChartLines::default()
        },
        history: history.map(|(_, slots, points)| History {
            slots: slots.finish(),
            points,
        }),
    })
}

/// The 5-minute means of a series over `[from, to)` (the app's users
/// online, for the traffic floor).
pub fn slot_means(store: &Store, series: i64, from: i64, to: i64) -> Result<SlotMeans, StoreError> {
    let mut sums = SlotSums::new(from, to);
    store.for_each_point::<StoreError>(series, from, to, |p| {
        sums.add(p.ts, p.value, p.weight() as u32);
        Ok(())
    })?;
    Ok(sums.finish())
}

/// The ledger's gaps of a stream overlapping `[from, to)`, merged and clipped.
pub fn stream_gaps(
    store: &Store,
    stream: i64,
    from: i64,
    to: i64,
    tz: Tz,
) -> Result<Vec<GapInterval>, StoreError> {
    let rows = store.gaps_overlapping(stream, from, to)?;
    let clipped: Vec<(i64, i64)> = rows
        .iter()
        .map(|g| (g.start.max(from), g.end.min(to)))
        .collect();
    Ok(merge_intervals(clipped)
        .into_iter()
        .map(|(start, end)| {
            let mut causes = BTreeSet::new();
            let mut indicators = BTreeSet::new();
            for g in rows.iter().filter(|g| g.start < end && g.end > start) {
                causes.insert(g.cause.clone());
                indicators.insert(g.indicator.clone());
            }
            GapInterval {
                start,
                end,
                start_time: timeutil::fmt_in(start, tz),
                end_time: timeutil::fmt_in(end, tz),
                seconds: end - start,
                causes: causes.into_iter().collect(),
                indicators: indicators.into_iter().collect(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z

    #[test]
    fn chart_bins_average_and_skip_empty_steps() {
        let mut b = Bins::new(DAY, DAY + 3600, 300);
        b.add(DAY, 1.0, 1);
        b.add(DAY + 30, 3.0, 1);
        b.add(DAY + 900, 5.0, 1);
        b.add(DAY + 3600, 100.0, 1); // outside
        b.add(DAY - 30, 100.0, 1); // outside
        assert_eq!(b.points(), [(0.0, 2.0), (0.25, 5.0)]);
        assert_eq!(chart_step(86400), 300);
        assert_eq!(chart_step(25 * 3600), 300);
        assert!(86400 * 30 / chart_step(86400 * 30) <= CHART_MAX_POINTS);
    }
}
