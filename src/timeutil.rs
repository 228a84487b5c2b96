//! Times as the archive keeps them (Unix seconds, UTC), as the API writes
//! them (RFC 3339 with an offset), and as people type them on the command line.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::BUCKET_SECS;

/// The offset the API documentation writes its times in (Beijing time).
const API_OFFSET_SECS: i32 = 8 * 3600;

/// Current time, Unix seconds.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// Rounds down to the start of a 30-second bucket.
pub fn bucket_floor(ts: i64) -> i64 {
    ts.div_euclid(BUCKET_SECS) * BUCKET_SECS
}

/// Rounds up to the start of a 30-second bucket.
pub fn bucket_ceil(ts: i64) -> i64 {
    -bucket_floor(-ts)
}

/// `2026-11-23T12:00:30Z`
pub fn fmt_utc(ts: i64) -> String {
    match DateTime::from_timestamp(ts, 0) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => format!("@{ts}"),
    }
}

/// A time in a zone, RFC 3339 with its offset: `2026-11-23T20:00:30+08:00`.
pub fn fmt_in(ts: i64, tz: Tz) -> String {
    match DateTime::from_timestamp(ts, 0) {
        Some(t) => t
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        None => format!("@{ts}"),
    }
}

/// How the API documentation writes times: RFC 3339 at `+08:00`.
pub fn fmt_api(ts: i64) -> String {
    let offset = FixedOffset::east_opt(API_OFFSET_SECS).expect("valid offset");
    match DateTime::from_timestamp(ts, 0) {
        Some(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        None => format!("@{ts}"),
    }
}

/// Parses an RFC 3339 time with any offset (or `Z`) into Unix seconds.
/// Fractions of a second are kept out: `None` unless the time is whole.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(s.trim()).ok()?;
    if t.timestamp_subsec_nanos() != 0 {
        return None;
    }
    Some(t.timestamp())
}

/// A short human duration: `90s`, `10m`, `1h30m`, `2d`.
pub fn fmt_duration_secs(secs: i64) -> String {
    if secs < 0 {
        return format!("-{}", fmt_duration_secs(-secs));
    }
    humantime::format_duration(Duration::from_secs(secs as u64)).to_string()
}

/// Parses `60s`, `10m`, `1h 30m`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!(
            "invalid duration {s:?} ({e}): use a number with a unit, such as 30s, 10m, 1h or 7d"
        )
    })
}

/// The machine's time zone, or UTC when it cannot be told.
pub fn local_zone() -> Tz {
    iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(Tz::UTC)
}

/// Parses an IANA zone name such as `Asia/Shanghai` or `UTC`.
pub fn parse_zone(s: &str) -> Result<Tz, String> {
    s.trim().parse::<Tz>().map_err(|_| {
        format!("unknown time zone {s:?}: use an IANA name such as UTC or Asia/Shanghai")
    })
}

/// The instant a calendar day starts in a zone (the first valid local time
/// of that day, for days that begin inside a DST gap).
pub fn day_start(date: NaiveDate, tz: Tz) -> i64 {
    let mut t = date.and_time(NaiveTime::MIN);
    for _ in 0..48 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.timestamp();
        }
        t += chrono::Duration::minutes(30);
    }
    date.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// The calendar date of an instant in a zone.
pub fn date_of(ts: i64, tz: Tz) -> NaiveDate {
    DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// Which end of a range a time argument is for: a bare date means the start
/// of that day for `--from`, and its end (the next day's start) for `--to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Start,
    End,
}

/// Parses a command-line time: RFC 3339 (`2026-11-23T12:00:00Z`), a date
/// (`2026-11-23`, in `tz`), `now`, `today`, `yesterday`, or a time relative
/// to now (`-7d`, `-90m`, `now-1h`).
pub fn parse_time_arg(s: &str, now: i64, tz: Tz, bound: Bound) -> Result<i64, String> {
    let s = s.trim();
    let hint = "use RFC 3339 (2026-11-23T12:00:00Z), a date (2026-11-23), now, today, yesterday, \
                or a relative time such as -7d or -90m";
    if let Some(ts) = parse_rfc3339(s) {
        return Ok(ts);
    }
    let day = |date: NaiveDate| match bound {
        Bound::Start => day_start(date, tz),
        Bound::End => day_start(date + chrono::Duration::days(1), tz),
    };
    match s {
        "now" => return Ok(now),
        "today" => return Ok(day(date_of(now, tz))),
        "yesterday" => return Ok(day(date_of(now, tz) - chrono::Duration::days(1))),
        _ => {}
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(day(date));
    }
    let relative = s.strip_prefix("now").unwrap_or(s);
    if let Some(rest) = relative.strip_prefix('-') {
        let d = parse_duration(rest).map_err(|_| format!("invalid time {s:?}: {hint}"))?;
        return Ok(now - d.as_secs() as i64);
    }
    if let Some(rest) = relative.strip_prefix('+') {
        let d = parse_duration(rest).map_err(|_| format!("invalid time {s:?}: {hint}"))?;
        return Ok(now + d.as_secs() as i64);
    }
    Err(format!("invalid time {s:?}: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align() {
        assert_eq!(bucket_floor(59), 30);
        assert_eq!(bucket_floor(60), 60);
        assert_eq!(bucket_floor(-1), -30);
        assert_eq!(bucket_ceil(31), 60);
        assert_eq!(bucket_ceil(30), 30);
        assert_eq!(bucket_ceil(-29), 0);
    }

    #[test]
    fn formats() {
        let ts = 1_795_435_230; // 2026-11-23T12:00:30Z
        assert_eq!(fmt_utc(ts), "2026-11-23T12:00:30Z");
        assert_eq!(fmt_api(ts), "2026-11-23T20:00:30+08:00");
        assert_eq!(parse_rfc3339("2026-11-23T20:00:30+08:00"), Some(ts));
        assert_eq!(parse_rfc3339("2026-11-23T12:00:30Z"), Some(ts));
        assert_eq!(parse_rfc3339("2026-11-23T12:00:30.5Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(fmt_in(ts, shanghai), "2026-11-23T20:00:30+08:00");
    }

    #[test]
    fn time_arguments() {
        let now = 1_795_435_230; // 2026-11-23T12:00:30Z
        let utc = Tz::UTC;
        let p = |s: &str, b| parse_time_arg(s, now, utc, b);
        assert_eq!(p("now", Bound::Start), Ok(now));
        assert_eq!(p("-90m", Bound::Start), Ok(now - 5400));
        assert_eq!(p("-7d", Bound::Start), Ok(now - 7 * 86400));
        assert_eq!(p("now-1h", Bound::Start), Ok(now - 3600));
        assert_eq!(p("2026-11-23", Bound::Start), Ok(1_795_392_000));
        assert_eq!(p("2026-11-23", Bound::End), Ok(1_795_392_000 + 86400));
        assert_eq!(p("today", Bound::Start), Ok(1_795_392_000));
        assert_eq!(p("yesterday", Bound::Start), Ok(1_795_392_000 - 86400));
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            parse_time_arg("2026-11-23", now, shanghai, Bound::Start),
            Ok(1_795_392_000 - 8 * 3600)
        );
        let err = p("last tuesday", Bound::Start).unwrap_err();
        assert!(
            err.contains("last tuesday") && err.contains("RFC 3339"),
            "{err}"
        );
    }

    #[test]
    fn zones() {
        assert!(parse_zone("Asia/Shanghai").is_ok());
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
