//! Why data was lost: the causes the `gaps` view records, and how a lost
//! interval is cut by cause, as a pure function of the stream's failures,
//! so that every case is a row of a table test.

use crate::timeutil::bucket_floor;
use crate::{BUCKET_SECS, HORIZON_SECS};

/// Why an interval was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GapCause {
    /// No collector pass asked for it while the API still had it (the
    /// collector was not running, or the indicator not configured).
    NotCollected,
    /// Passes asked for it while the API had it, and kept failing.
    FetchFailed,
}

impl GapCause {
    /// The name stored in the `gaps` view's `cause` column.
    pub fn as_str(self) -> &'static str {
        match self {
            GapCause::NotCollected => "not_collected",
            GapCause::FetchFailed => "fetch_failed",
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
/// end) and before it slid out of the 60-minute horizon. The rest of the
/// interval was never asked for while it could be: `not_collected`, as when
/// the collector was stopped after the failures or before they began.
/// Returns the non-empty pieces in order.
pub fn split_lost(
    start: i64,
    end: i64,
    streak: Option<FailureStreak>,
    delay: i64,
) -> Vec<(i64, i64, GapCause)> {
    let mut out = Vec::new();
    let (tried_from, tried_to) = match streak {
        // first bucket still reachable when the failures began; first
        // bucket not yet due at the last failure
        Some(f) => (
            bucket_floor(f.since - HORIZON_SECS) + BUCKET_SECS,
            bucket_floor(f.last - delay),
        ),
        None => (end, end),
    };
    let a = tried_from.clamp(start, end);
    let b = tried_to.clamp(a, end);
    for (from, to, cause) in [
        (start, a, GapCause::NotCollected),
        (a, b, GapCause::FetchFailed),
        (b, end, GapCause::NotCollected),
    ] {
        if from < to {
            out.push((from, to, cause));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let got = split_lost(start, end, streak, 60);
            assert_eq!(got, want, "{name}");
            // the pieces tile the interval
            assert_eq!(got.first().map(|p| p.0), Some(start), "{name}");
            assert_eq!(got.last().map(|p| p.1), Some(end), "{name}");
            assert!(got.windows(2).all(|w| w[0].1 == w[1].0), "{name}");
        }
    }
}
