//! Which window to ask the API for, as a pure function of `now` and the
//! stored progress, so that every case (first run, steady state, restart
//! after downtime, the horizon clamp) is tested without clocks or sockets.
//!
//! Times are Unix seconds. A window names bucket starts, both inclusive,
//! because the API's `EndTime` is inclusive (its documented example asks for
//! 00:00:00–00:01:00 and gets 00:00:00, 00:00:30 and 00:01:00).

use crate::timeutil::{bucket_ceil, bucket_floor};
use crate::{BUCKET_SECS, HORIZON_SECS};

/// The knobs of planning, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanParams {
    /// How far back each poll re-reads already archived data, so that late
    /// and revised values land.
    pub overlap: i64,
    /// Kept between the oldest `StartTime` we ask for and the API's
    /// 60-minute limit, for clock skew and request latency.
    pub margin: i64,
    /// The action's data delay: a bucket is asked for once it ended this long ago.
    pub delay: i64,
}

/// `StartTime` and `EndTime` of one request: bucket starts, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    /// The first bucket after the window: where progress stands once it is stored.
    pub fn done(&self) -> i64 {
        self.end + BUCKET_SECS
    }

    pub fn buckets(&self) -> i64 {
        (self.end - self.start) / BUCKET_SECS + 1
    }
}

/// An interval that slid out of the API's reach before it was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// Index of the feed (requested indicator) in the input.
    pub feed: usize,
    /// Start, inclusive.
    pub start: i64,
    /// End, exclusive.
    pub end: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What to ask for, if anything is due.
    pub window: Option<Window>,
    /// What can no longer be fetched.
    pub lost: Vec<Lost>,
}

/// The oldest bucket we may ask for at `now`. `now` is whole seconds,
/// rounded down: the real instant may be up to a second later, and the API
/// refuses a `StartTime` even a fraction of a second beyond its horizon, so
/// the horizon is taken from `now + 1`.
pub fn horizon_start(now: i64, margin: i64) -> i64 {
    bucket_ceil(now + 1 - HORIZON_SECS + margin)
}

/// The newest bucket whose data is complete at `now`: it ended `delay` ago.
/// (`now` rounded down keeps this safe: the real instant is no earlier.)
pub fn last_complete_bucket(now: i64, delay: i64) -> i64 {
    bucket_floor(now - delay) - BUCKET_SECS
}

/// Plans one request for a set of feeds (the requested indicators of one
/// target and action, asked for together), given each one's progress: the
/// first bucket not yet fetched, or `None` if it never was.
///
/// The window starts at the earliest of `max(progress − overlap, horizon)`
/// and ends at the last complete bucket. A feed never fetched starts at the
/// horizon: a first run backfills the whole reachable hour. Progress older
/// than the horizon means the interval between is lost, and is reported.
pub fn plan(now: i64, params: PlanParams, feeds: &[Option<i64>]) -> Plan {
    let oldest = horizon_start(now, params.margin);
    let end = last_complete_bucket(now, params.delay);
    let mut lost = Vec::new();
    let mut start: Option<i64> = None;
    for (i, done) in feeds.iter().enumerate() {
        let want = match *done {
            None => oldest,
            Some(done) => {
                if done < oldest {
                    lost.push(Lost {
                        feed: i,
                        start: done,
                        end: oldest,
                    });
                }
                bucket_floor(done - params.overlap).max(oldest)
            }
        };
        start = Some(start.map_or(want, |s: i64| s.min(want)));
    }
    let window = start
        .filter(|&s| s <= end)
        .map(|start| Window { start, end });
    debug_assert!(window.is_none_or(|w| w.end - w.start < HORIZON_SECS));
    Plan { window, lost }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23T12:00:10Z: ten seconds into a bucket.
    const NOW: i64 = 1_795_435_210;
    const MIN: i64 = 60;

    fn quality() -> PlanParams {
        PlanParams {
            overlap: 10 * MIN,
            margin: 60,
            delay: 60,
        }
    }

    fn operation() -> PlanParams {
        PlanParams {
            delay: 20,
            ..quality()
        }
    }

    #[test]
    fn first_run_backfills_the_whole_horizon() {
        let p = plan(NOW, quality(), &[None, None]);
        let w = p.window.unwrap();
        // now − 60 min + 60 s margin (+ 1 s for the fraction of a second
        // `now` may hide), rounded up to a bucket
        assert_eq!(w.start, 1_795_431_690);
        assert_eq!(w.start, bucket_ceil(NOW + 1 - 3600 + 60));
        // 12:00:10 − 60 s = 11:59:10 → the bucket 11:58:30–11:59:00 is the last complete
        assert_eq!(w.end, 1_795_435_110);
        assert!(p.lost.is_empty());
        assert!(w.start >= NOW - HORIZON_SECS);
        assert!(w.end - w.start < HORIZON_SECS);
    }

    #[test]
    fn delays_differ_by_action() {
        let q = plan(NOW, quality(), &[None]).window.unwrap();
        let o = plan(NOW, operation(), &[None]).window.unwrap();
        // 12:00:10 − 20 s = 11:59:50 → last complete bucket 11:59:00
        assert_eq!(o.end, 1_795_435_140);
        assert_eq!(o.end - q.end, 30);
        // no bucket is asked for before it ended `delay` ago
        assert!(q.end + 30 <= NOW - 60);
        assert!(o.end + 30 <= NOW - 20);
    }

    #[test]
    fn steady_state_rereads_the_overlap() {
        // the previous poll, a minute ago, stored everything up to its end
        let prev = plan(NOW - 60, quality(), &[None]).window.unwrap();
        let p = plan(NOW, quality(), &[Some(prev.done())]);
        let w = p.window.unwrap();
        assert_eq!(w.start, prev.done() - 10 * MIN);
        assert_eq!(w.end, prev.end + 60);
        assert!(p.lost.is_empty());
    }

    #[test]
    fn zero_overlap_asks_only_for_new_buckets_or_nothing() {
        let params = PlanParams {
            overlap: 0,
            ..quality()
        };
        let prev = plan(NOW - 60, params, &[None]).window.unwrap();
        let w = plan(NOW, params, &[Some(prev.done())]).window.unwrap();
        assert_eq!(w.start, prev.done());
        // polled again within the same bucket: nothing new is complete
        let done = w.done();
        assert_eq!(plan(NOW + 5, params, &[Some(done)]).window, None);
    }

    #[test]
    fn restart_after_ten_minutes_catches_up_without_loss() {
        let prev = plan(NOW - 10 * MIN, quality(), &[None]).window.unwrap();
        let p = plan(NOW, quality(), &[Some(prev.done())]);
        let w = p.window.unwrap();
        assert_eq!(w.start, prev.done() - 10 * MIN);
        assert!(w.start < prev.done());
        assert!(p.lost.is_empty());
    }

    #[test]
    fn restart_after_three_hours_clamps_to_the_horizon_and_reports_the_loss() {
        let prev = plan(NOW - 180 * MIN, quality(), &[None]).window.unwrap();
        let p = plan(NOW, quality(), &[Some(prev.done())]);
        let w = p.window.unwrap();
        assert_eq!(w.start, horizon_start(NOW, 60));
        assert_eq!(
            p.lost,
            [Lost {
                feed: 0,
                start: prev.done(),
                end: w.start
            }]
        );
        assert!(w.start >= NOW - HORIZON_SECS);
    }

    #[test]
    fn progress_just_inside_the_overlap_of_the_horizon_is_clamped_not_lost() {
        // progress 55 minutes old: its overlap reaches past the horizon
        let done = bucket_floor(NOW - 55 * MIN);
        let p = plan(NOW, quality(), &[Some(done)]);
        assert!(p.lost.is_empty());
        assert_eq!(p.window.unwrap().start, horizon_start(NOW, 60));
    }

    #[test]
    fn a_new_indicator_pulls_the_window_back_to_the_horizon() {
        let prev = plan(NOW - 60, quality(), &[None]).window.unwrap();
        let p = plan(NOW, quality(), &[Some(prev.done()), None]);
        assert_eq!(p.window.unwrap().start, horizon_start(NOW, 60));
        assert!(p.lost.is_empty());
    }

    #[test]
    fn progress_in_the_future_asks_for_nothing() {
        let p = plan(NOW, quality(), &[Some(NOW + 3600)]);
        assert_eq!(p.window, None);
        assert_eq!(plan(NOW, quality(), &[]).window, None);
    }

    #[test]
    fn never_beyond_the_horizon_nor_over_an_hour_whatever_the_inputs() {
        // a deterministic sweep over now, progress and knobs
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let now = NOW + (next() % 100_000) as i64;
            let params = PlanParams {
                overlap: (next() % 3600) as i64,
                margin: (next() % 600) as i64,
                delay: [20, 60][(next() % 2) as usize],
            };
            let feeds: Vec<Option<i64>> = (0..(next() % 4))
                .map(|_| match next() % 3 {
                    0 => None,
                    _ => Some(bucket_floor(now - (next() % 20_000) as i64)),
                })
                .collect();
            let p = plan(now, params, &feeds);
            if let Some(w) = p.window {
                // inside the horizon even a second after `now`
                assert!(w.start > now - HORIZON_SECS + params.margin, "{w:?}");
                assert!(w.end - w.start <= HORIZON_SECS, "{w:?}");
                assert!(w.end + BUCKET_SECS <= now - params.delay, "{w:?}");
                assert_eq!(w.start % 30, 0);
                assert_eq!(w.end % 30, 0);
            }
            for l in p.lost {
                assert!(l.start < l.end);
            }
        }
    }
}
