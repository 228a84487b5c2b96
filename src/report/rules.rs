//! The rules a report applies, as pure functions of the numbers gathered
//! from the archive: which way an indicator gets worse, the statistics of a
//! period, the changes against the comparisons and whether they make a
//! regression. Table-tested here, without a database.

use serde::Serialize;

use crate::query::percentile;

/// Tolerance when comparing a change with a threshold, so that a change of
/// exactly the threshold computed as 1.0000000000000009 is not "more than" it.
const EPSILON: f64 = 1e-9;

/// Which way an indicator gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Success rates.
    HigherIsBetter,
    /// Stall rates and delays.
    LowerIsBetter,
    /// Counts and anything else: never a regression.
    None,
}

impl Direction {
    pub fn of(indicator: &str) -> Direction {
        if indicator.contains("success_rate") {
            Direction::HigherIsBetter
        } else if indicator.contains("stall_rate") || indicator.contains("delay") {
            Direction::LowerIsBetter
        } else {
            Direction::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
            Direction::None => "none",
        }
    }

    /// How much worse a change (current − previous) is: positive when worse,
    /// `None` for indicators without a direction.
    pub fn worsening(self, change: f64) -> Option<f64> {
        match self {
            Direction::HigherIsBetter => Some(-change),
            Direction::LowerIsBetter => Some(change),
            Direction::None => None,
        }
    }
}

/// Count, average, extremes and percentiles of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: i64,
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

impl Summary {
    /// Summarises values given in time order (the sum is taken in that
    /// order, as SQLite's `avg` would); sorts them for the percentiles.
    pub fn of(values: &mut [f64]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        let sum: f64 = values.iter().sum();
        values.sort_by(f64::total_cmp);
        Summary {
            count: values.len() as i64,
            avg: Some(sum / values.len() as f64),
            min: values.first().copied(),
            max: values.last().copied(),
            p50: percentile(values, 50.0),
            p95: percentile(values, 95.0),
        }
    }
}

/// Which comparison a regression is against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Against {
    PreviousDay,
    PreviousWeek,
}

impl Against {
    pub fn as_str(self) -> &'static str {
        match self {
            Against::PreviousDay => "previous_day",
            Against::PreviousWeek => "previous_week",
        }
    }
}

/// The comparison that got worse the most.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Worst {
    pub against: Against,
    /// avg − the comparison's average.
    pub change: f64,
    /// The comparison's average.
    pub previous_avg: f64,
    /// How much worse (positive) or better (negative), in the indicator's unit.
    pub worsening: f64,
}

/// What the rules decide for one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// avg − the previous day's (or period's) average.
    pub day_change: Option<f64>,
    /// avg − the same weekday's a week before.
    pub week_change: Option<f64>,
    /// The comparison that got worse the most, if the indicator has a
    /// direction and any comparison has data.
    pub worst: Option<Worst>,
    /// Worse than the threshold against either comparison.
    pub regression: bool,
}

/// Judges a series' average against its two comparisons: a regression is
/// an average worse than either by more than `threshold`, in the
/// indicator's direction.
pub fn judge(
    avg: Option<f64>,
    prev_day: Option<f64>,
    prev_week: Option<f64>,
    direction: Direction,
    threshold: f64,
) -> Verdict {
    let diff = |prev: Option<f64>| Some(avg? - prev?);
    let (day_change, week_change) = (diff(prev_day), diff(prev_week));
    let mut worst: Option<Worst> = None;
    for (against, change, prev) in [
        (Against::PreviousDay, day_change, prev_day),
        (Against::PreviousWeek, week_change, prev_week),
    ] {
        let (Some(change), Some(previous_avg)) = (change, prev) else {
            continue;
        };
        let Some(worsening) = direction.worsening(change) else {
            continue;
        };
        if worst.is_none_or(|w| worsening > w.worsening) {
            worst = Some(Worst {
                against,
                change,
                previous_avg,
                worsening,
            });
        }
    }
    Verdict {
        day_change,
        week_change,
        worst,
        regression: worst.is_some_and(|w| w.worsening > threshold + EPSILON),
    }
}

/// Why a comparison period cannot be compared with: no data, or fewer
/// than `min_coverage` of its due buckets hold a point (a change against
/// an almost empty baseline is noise). `None`: it can.
pub fn insufficient(count: i64, buckets: i64, min_coverage: f64) -> Option<String> {
    if count == 0 {
        return Some("no data then".into());
    }
    let coverage = ratio(count, buckets);
    (coverage + EPSILON < min_coverage).then(|| {
        format!(
            "{count} of {buckets} buckets then ({:.1}%), under the {}% minimum",
            coverage * 100.0,
            min_coverage * 100.0
        )
    })
}

/// `a / b`, 0 for an empty denominator.
pub fn ratio(a: i64, b: i64) -> f64 {
    if b <= 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Interval `[a, b)` pieces merged into their union, sorted.
pub fn merge_intervals(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.retain(|(a, b)| a < b);
    v.sort();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_a_reference() {
        let mut v = vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let s = Summary::of(&mut v);
        assert_eq!(s.count, 8);
        assert_eq!(s.avg, Some(31.0 / 8.0));
        assert_eq!((s.min, s.max), (Some(1.0), Some(9.0)));
        // sorted 1 1 2 3 4 5 6 9: rank 3.5 → 3.5; rank 6.65 → 6 + 0.65 * 3
        assert_eq!(s.p50, Some(3.5));
        assert!((s.p95.unwrap() - 7.95).abs() < 1e-12);
        assert_eq!(Summary::of(&mut []), Summary::default());
        let one = Summary::of(&mut [2.5]);
        assert_eq!((one.p50, one.p95), (Some(2.5), Some(2.5)));
    }

    #[test]
    fn directions() {
        assert_eq!(
            Direction::of("5s_join_room_success_rate"),
            Direction::HigherIsBetter
        );
        assert_eq!(
            Direction::of("video_first_frame_recv_success_rate"),
            Direction::HigherIsBetter
        );
        assert_eq!(
            Direction::of("80ms_audio_stall_rate"),
            Direction::LowerIsBetter
        );
        assert_eq!(
            Direction::of("network_trans_delay"),
            Direction::LowerIsBetter
        );
        assert_eq!(Direction::of("online_user_count"), Direction::None);
        assert_eq!(Direction::HigherIsBetter.worsening(-0.5), Some(0.5));
        assert_eq!(Direction::LowerIsBetter.worsening(-0.5), Some(-0.5));
        assert_eq!(Direction::None.worsening(100.0), None);
    }

    #[test]
    fn a_comparison_needs_enough_of_its_buckets() {
        // (points, due buckets, minimum share, usable)
        for (count, buckets, min, usable) in [
            (2850, 2880, 0.5, true),
            (1440, 2880, 0.5, true),
            (1439, 2880, 0.5, false),
            // the archive began three minutes before an hour's comparison
            (6, 120, 0.5, false),
            (0, 120, 0.0, false),
            (1, 120, 0.0, true),
        ] {
            assert_eq!(
                insufficient(count, buckets, min).is_none(),
                usable,
                "{count}/{buckets} at {min}"
            );
        }
        assert_eq!(
            insufficient(6, 120, 0.5).unwrap(),
            "6 of 120 buckets then (5.0%), under the 50% minimum"
        );
        assert_eq!(insufficient(0, 120, 0.5).unwrap(), "no data then");
    }

    #[test]
    fn intervals_merge() {
        assert_eq!(
            merge_intervals(vec![
                (10, 20),
                (0, 5),
                (15, 30),
                (30, 40),
                (50, 50),
                (45, 60)
            ]),
            [(0, 5), (10, 40), (45, 60)]
        );
        assert!(merge_intervals(vec![]).is_empty());
    }

    #[test]
    fn regressions_are_judged_by_direction_threshold_and_the_worse_comparison() {
        use Against::*;
        use Direction::{HigherIsBetter, LowerIsBetter};
        // (case, avg, previous day, previous week, direction, threshold,
        //  want: day change, week change, worst (against, worsening), regression)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Direction,
            f64,
            (Option<f64>, Option<f64>, Option<(Against, f64)>, bool),
        )> = vec![
            (
                "a success rate falling past the threshold",
                Some(97.0),
                Some(98.0),
                None,
                HigherIsBetter,
                0.5,
                (Some(-1.0), None, Some((PreviousDay, 1.0)), true),
            ),
            (
                "a stall rate rising, worse against the week",
                Some(3.0),
                Some(2.5),
                Some(2.0),
                LowerIsBetter,
                0.5,
                (Some(0.5), Some(1.0), Some((PreviousWeek, 1.0)), true),
            ),
            (
                "within the threshold",
                Some(2.25),
                Some(2.0),
                None,
                LowerIsBetter,
                0.5,
                (Some(0.25), None, Some((PreviousDay, 0.25)), false),
            ),
            (
                "exactly the threshold is not more than it",
                Some(2.5),
                Some(2.0),
                None,
                LowerIsBetter,
                0.5,
                (Some(0.5), None, Some((PreviousDay, 0.5)), false),
            ),
            (
                "better is negative worsening",
                Some(99.0),
                Some(98.0),
                Some(97.0),
                HigherIsBetter,
                0.2,
                (Some(1.0), Some(2.0), Some((PreviousDay, -1.0)), false),
            ),
            (
                "counts never regress, their changes still show",
                Some(100.0),
                Some(5000.0),
                None,
                Direction::None,
                0.2,
                (Some(-4900.0), None, None, false),
            ),
            (
                "no comparison data",
                Some(2.0),
                None,
                None,
                LowerIsBetter,
                0.2,
                (None, None, None, false),
            ),
            (
                "no data in the period",
                None,
                Some(2.0),
                Some(2.0),
                LowerIsBetter,
                0.2,
                (None, None, None, false),
            ),
            (
                "a zero threshold: any worsening",
                Some(2.01),
                Some(2.0),
                None,
                LowerIsBetter,
                0.0,
                (
                    Some(0.009999999999999787),
                    None,
                    Some((PreviousDay, 0.009999999999999787)),
                    true,
                ),
            ),
        ];
        for (name, avg, day, week, direction, threshold, want) in cases {
            let v = judge(avg, day, week, direction, threshold);
            let worst = v.worst.map(|w| (w.against, w.worsening));
            assert_eq!(
                (v.day_change, v.week_change, worst, v.regression),
                want,
                "{name}"
            );
        }
    }
}
