//! The period a report covers, and the two it is compared with: the day
//! before (or the period of the same length just before) and the same
//! weekday a week before, in calendar days of the report's zone.

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;

use crate::BUCKET_SECS;
use crate::timeutil::{self, bucket_ceil};

/// Which period to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodSpec {
    /// A calendar day in the zone.
    Day(NaiveDate),
    /// `[from, to)`, Unix seconds.
    Range { from: i64, to: i64 },
}

/// A time interval `[from, to)` with its times in the report's zone (not
/// the planner's [`crate::planner::Window`], which names buckets to fetch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub from: i64,
    pub to: i64,
    pub from_time: String,
    pub to_time: String,
    /// The calendar day, for day reports.
    pub day: Option<String>,
}

impl Span {
    fn new(from: i64, to: i64, tz: Tz, day: Option<NaiveDate>) -> Span {
        Span {
            from,
            to,
            from_time: timeutil::fmt_in(from, tz),
            to_time: timeutil::fmt_in(to, tz),
            day: day.map(|d| d.format("%Y-%m-%d").to_string()),
        }
    }

    pub fn seconds(&self) -> i64 {
        self.to - self.from
    }

    /// The number of 30-second buckets starting in the span, as
    /// [`crate::store::read::for_each_point`] counts them.
    pub fn buckets(&self) -> i64 {
        (bucket_ceil(self.to) - bucket_ceil(self.from)) / BUCKET_SECS
    }

    /// The buckets of the span that are due at `now` for data that
    /// arrives `delay` seconds after a bucket ends (see [`due_buckets`]).
    pub fn due_buckets(&self, now: i64, delay: i64) -> i64 {
        due_buckets(self.from, self.to, now, delay)
    }
}

/// The 30-second buckets starting in `[from, to)` whose data is due at
/// `now`: those that ended at least `delay` seconds ago, as the collector
/// plans them. A report of today counts only these, so that a series
/// without gaps is fully covered up to now.
pub fn due_buckets(from: i64, to: i64, now: i64, delay: i64) -> i64 {
    let due_end = crate::timeutil::bucket_floor(now - delay);
    let end = bucket_ceil(to).min(due_end);
    ((end - bucket_ceil(from)) / BUCKET_SECS).max(0)
}

/// The reported period and the two it is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: i64,
    pub to: i64,
    pub from_time: String,
    pub to_time: String,
    #[serde(serialize_with = "zone_name")]
    pub tz: Tz,
    /// `YYYY-MM-DD` for a day report, else null.
    pub day: Option<String>,
    pub seconds: i64,
    pub buckets: i64,
    /// The day before (for a range: the period of the same length just before).
    pub previous_day: Span,
    /// The same weekday a week before (the period shifted by 7 calendar days).
    pub previous_week: Span,
}

impl Period {
    /// The buckets of the period due at `now` (see [`due_buckets`]).
    pub fn due_buckets(&self, now: i64, delay: i64) -> i64 {
        due_buckets(self.from, self.to, now, delay)
    }
}

impl Period {
    pub fn new(spec: PeriodSpec, tz: Tz) -> Period {
        let (current, prev_day, prev_week) = match spec {
            PeriodSpec::Day(d) => {
                let days = |n: i64| d + chrono::Duration::days(n);
                let w = |n: i64| {
                    Span::new(
                        timeutil::day_start(days(n), tz),
                        timeutil::day_start(days(n + 1), tz),
                        tz,
                        Some(days(n)),
                    )
                };
                (w(0), w(-1), w(-7))
            }
            PeriodSpec::Range { from, to } => (
                Span::new(from, to, tz, None),
                Span::new(from - (to - from), from, tz, None),
                Span::new(shift_days(from, tz, -7), shift_days(to, tz, -7), tz, None),
            ),
        };
        Period {
            from: current.from,
            to: current.to,
            from_time: current.from_time.clone(),
            to_time: current.to_time.clone(),
            tz,
            day: current.day.clone(),
            seconds: current.seconds(),
            buckets: current.buckets(),
            previous_day: prev_day,
            previous_week: prev_week,
        }
    }

    pub fn zone(&self) -> Tz {
        self.tz
    }

    /// Whether the period spans more than one day (times then need dates).
    pub fn multi_day(&self) -> bool {
        self.seconds > 25 * 3600
    }

    /// A short name: the day, or `from – to`.
    pub fn label(&self) -> String {
        match &self.day {
            Some(d) => d.clone(),
            None => format!("{} – {}", self.from_time, self.to_time),
        }
    }
}

/// A zone as its IANA name.
fn zone_name<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// The same wall-clock time `days` calendar days later (earlier if negative)
/// in a zone; across a DST change the result is 23 or 25 hours per day away.
pub fn shift_days(ts: i64, tz: Tz, days: i64) -> i64 {
    let Some(t) = DateTime::from_timestamp(ts, 0) else {
        return ts + days * 86400;
    };
    let local = t.with_timezone(&tz).naive_local() + chrono::Duration::days(days);
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => t.timestamp(),
        // inside a DST gap: the wall-clock time does not exist that day
        None => ts + days * 86400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z

    #[test]
    fn periods_follow_the_zone() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let utc = Period::new(PeriodSpec::Day(d), Tz::UTC);
        assert_eq!((utc.from, utc.to, utc.buckets), (DAY, DAY + 86400, 2880));
        assert_eq!(utc.previous_day.from, DAY - 86400);
        assert_eq!(utc.previous_week.from, DAY - 7 * 86400);
        assert_eq!(utc.previous_week.day.as_deref(), Some("2026-11-16"));
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let p = Period::new(PeriodSpec::Day(d), sh);
        assert_eq!(p.from, DAY - 8 * 3600);
        assert_eq!(p.from_time, "2026-11-23T00:00:00+08:00");
        // New York falls back on 2026-11-01: 25 hours, 3000 buckets; the
        // week after, the same weekday a week before is that long day
        let ny: Tz = "America/New_York".parse().unwrap();
        let fall = Period::new(
            PeriodSpec::Day(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
            ny,
        );
        assert_eq!((fall.seconds, fall.buckets), (25 * 3600, 3000));
        let next = Period::new(
            PeriodSpec::Day(NaiveDate::from_ymd_opt(2026, 11, 8).unwrap()),
            ny,
        );
        assert_eq!(next.previous_week.to - next.previous_week.from, 25 * 3600);
        // a range: the period just before, and 7 calendar days before
        let r = Period::new(
            PeriodSpec::Range {
                from: DAY + 3600,
                to: DAY + 7200,
            },
            Tz::UTC,
        );
        assert_eq!((r.previous_day.from, r.previous_day.to), (DAY, DAY + 3600));
        assert_eq!(r.previous_week.from, DAY + 3600 - 7 * 86400);
        assert_eq!(r.day, None);
        // an unaligned range counts the buckets starting in it
        let r = Period::new(
            PeriodSpec::Range {
                from: DAY + 1,
                to: DAY + 61,
            },
            Tz::UTC,
        );
        assert_eq!(r.buckets, 2);
    }

    #[test]
    fn only_due_buckets_count() {
        // a day reported at 18:24:10 with quality data (60 s delay): the
        // buckets up to 18:23:00 have ended more than a minute ago
        let now = DAY + 18 * 3600 + 24 * 60 + 10;
        assert_eq!(due_buckets(DAY, DAY + 86400, now, 60), (18 * 60 + 23) * 2);
        // operation data (20 s delay): one bucket more
        assert_eq!(
            due_buckets(DAY, DAY + 86400, now, 20),
            (18 * 60 + 23) * 2 + 1
        );
        // a past day: all of it; a future one: none
        assert_eq!(due_buckets(DAY - 86400, DAY, now, 60), 2880);
        assert_eq!(due_buckets(DAY + 86400, DAY + 2 * 86400, now, 60), 0);
    }

    #[test]
    fn shifting_by_calendar_days_keeps_the_wall_clock() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2026-11-08T12:00 EST → 2026-11-01T12:00 EST (already standard time)
        let t = 1_794_157_200; // 2026-11-08T17:00:00Z
        assert_eq!(shift_days(t, ny, -7), t - 7 * 86400);
        // 2026-11-02T00:00 EST → 2026-10-26T00:00 EDT: 7 days and one hour
        let t = 1_793_595_600; // 2026-11-02T05:00:00Z
        assert_eq!(shift_days(t, ny, -7), t - 7 * 86400 - 3600);
        assert_eq!(shift_days(DAY, Tz::UTC, -1), DAY - 86400);
    }
}
