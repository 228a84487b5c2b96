//! Why data was lost: the causes the `gaps` view records, and how a lost
//! interval is cut by cause, as a pure function of the stream's failures
//! and of when the collector started, so that every case is a row of a
//! table test.

use crate::planner::horizon_start;
use crate::timeutil::bucket_floor;

/// What the planner asks for of a stream: buckets `delay` seconds after
/// their end, up to the 60-minute horizon less `margin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub delay: i64,
    pub margin: i64,
}

/// Why an interval was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GapCause {
    /// No collector pass asked for it while the API still had it (the
    /// collector was not running, or the indicator not configured).
    NotCollected,
    /// Passes asked for it while the API had it, and kept failing.
    FetchFailed,
    /// The collector ran while the API had it, but the request budget (the
    /// rate limit or the daily quota, shared by every target of the
    /// account) did not reach the stream in time.
    OverBudget,
}

impl GapCause {
    /// The name stored in the `gaps` view's `cause` column.
    pub fn as_str(self) -> &'static str {
        match self {
            GapCause::NotCollected => "not_collected",
            GapCause::FetchFailed => "fetch_failed",
            GapCause::OverBudget => "over_budget",
        }
    }
}

/// A run of failed attempts of a stream: the first and the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureStreak {
    pub since: i64,
    pub last: i64,
}

/// Splits a lost interval `[start, end)` by cause. A bucket was tried and
/// failed if some failing attempt (between `streak.since` and `streak.last`)
/// came while the API had it: after its data was due (`delay` after its
/// end) and before it slid out of the planner's reach (the 60-minute
/// horizon less `margin`). Of the rest, what the collector could still ask
/// for while it ran (it started at `collecting_since`) waited for the
/// budget: `over_budget`; what slid out before is `not_collected`, as when
/// the collector was stopped after the failures or before they began.
/// Returns the non-empty pieces in order, neighbours of one cause merged.
pub fn split_lost(
    start: i64,
    end: i64,
    streak: Option<FailureStreak>,
    reach: Reach,
    collecting_since: Option<i64>,
) -> Vec<(i64, i64, GapCause)> {
    let (tried_from, tried_to) = match streak {
        // first bucket still asked for when the failures began; first
        // bucket not yet due at the last failure
        Some(f) => (
            horizon_start(f.since, reach.margin),
            bucket_floor(f.last - reach.delay),
        ),
        None => (end, end),
    };
    let running_from = collecting_since.map_or(end, |t| horizon_start(t, reach.margin));
    let cause = |t: i64| {
        if (tried_from..tried_to).contains(&t) {
            GapCause::FetchFailed
        } else if t >= running_from {
            GapCause::OverBudget
        } else {
            GapCause::NotCollected
        }
    };
    let mut cuts: Vec<i64> = [start, end, tried_from, tried_to, running_from]
        .into_iter()
        .map(|t| t.clamp(start, end))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(i64, i64, GapCause)> = Vec::new();
    for w in cuts.windows(2) {
        let (from, to, c) = (w[0], w[1], cause(w[0]));
        match out.last_mut() {
            Some(last) if last.2 == c && last.1 == from => last.1 = to,
            _ => out.push((from, to, c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HORIZON_SECS;

    /// The tests' reach: no margin, as the causes were first written.
    const REACH: Reach = Reach {
        delay: 60,
        margin: 0,
    };

    #[test]
    fn gap_blamed_on_failures_for_time_when_no_pass_ran() {
        use GapCause::*;
        let h = HORIZON_SECS;
        // 2026-11-23T12:00:00Z
        let t = 1_795_435_200;
        let streak = |since, last| Some(FailureStreak { since, last });
        let cases = [
            (
                "no failures: nothing was tried",
                (t, t + 600),
                None,
                vec![(t, t + 600, NotCollected)],
            ),
            (
                "failing all along (the API down, the collector running)",
                (t, t + 600),
                streak(t, t + 600 + h),
                vec![(t, t + 600, FetchFailed)],
            ),
            (
                "failures, then the collector stopped for hours",
                (t, t + 5 * h),
                streak(t + 120, t + 1800),
                vec![
                    (t, t + 1740, FetchFailed),
                    (t + 1740, t + 5 * h, NotCollected),
                ],
            ),
            (
                "stopped for hours, then failing since the restart",
                (t, t + 3 * h),
                streak(t + 2 * h + 600, t + 4 * h),
                vec![
                    (t, t + h + 630, NotCollected),
                    (t + h + 630, t + 3 * h, FetchFailed),
                ],
            ),
            (
                "the last failure came before any of it was due",
                (t, t + 600),
                streak(t - 100, t + 30),
                vec![(t, t + 600, NotCollected)],
            ),
        ];
        for (name, (start, end), streak, want) in cases {
            let got = split_lost(start, end, streak, REACH, None);
            assert_eq!(got, want, "{name}");
            // the pieces tile the interval
            assert_eq!(got.first().map(|p| p.0), Some(start), "{name}");
            assert_eq!(got.last().map(|p| p.1), Some(end), "{name}");
            assert!(got.windows(2).all(|w| w[0].1 == w[1].0), "{name}");
        }
    }

    #[test]
    fn over_budget_is_what_slid_out_while_the_collector_ran_untried() {
        use GapCause::*;
        let h = HORIZON_SECS;
        let t = 1_795_435_200;
        let streak = |since, last| Some(FailureStreak { since, last });
        let cases = [
            (
                "collecting since before the interval: all over budget",
                (t, t + 600),
                None,
                Some(t - h),
                vec![(t, t + 600, OverBudget)],
            ),
            (
                "started after part of it had slid out",
                (t, t + 3000),
                None,
                Some(t + h + 1200),
                vec![
                    (t, t + 1230, NotCollected),
                    (t + 1230, t + 3000, OverBudget),
                ],
            ),
            (
                "failures take precedence over the budget",
                (t, t + 3000),
                streak(t + 600, t + 1000),
                Some(t),
                vec![(t, t + 930, FetchFailed), (t + 930, t + 3000, OverBudget)],
            ),
            (
                "started after it all slid out: not collected",
                (t, t + 600),
                None,
                Some(t + h + 600),
                vec![(t, t + 600, NotCollected)],
            ),
        ];
        for (name, (start, end), streak, since, want) in cases {
            let got = split_lost(start, end, streak, REACH, since);
            assert_eq!(got, want, "{name}");
        }
    }
}
