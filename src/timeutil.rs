//! Times as the archive keeps them (Unix seconds, UTC), as the API writes
//! them (RFC 3339 with an offset), and as people type them on the command line.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::BUCKET_SECS;

/// The offset the API documentation writes its times in (Beijing time).
const API_OFFSET_SECS: i32 = 8 * 3600;

/// The archive's time range, `[DATA_FROM, DATA_TO)`: 2000-01-01T00:00:00Z
/// (inclusive) to 2100-01-01T00:00:00Z (exclusive). Every point stored and
/// every time asked about lies in it: far beyond real RTC data either way,
/// and small enough that no arithmetic on its times, bucket numbers or
/// dates can overflow. Times outside it are refused wherever they come in
/// (import lines, API answers, `--from`/`--to`/`--day`).
pub const DATA_FROM: i64 = 946_684_800;
/// The end of the archive's time range, exclusive.
pub const DATA_TO: i64 = 4_102_444_800;
/// The length of the archive's time range, in seconds.
pub const DATA_SPAN_SECS: u64 = DATA_TO.abs_diff(DATA_FROM);
/// How messages name the range: a skipped point's reason, and more.
pub const DATA_RANGE: &str = "2000–2100";

/// Whether a time lies in the archive's time range.
pub fn in_data_range(ts: i64) -> bool {
    (DATA_FROM..DATA_TO).contains(&ts)
}

/// Why a time is refused: `time outside 2000–2100 (...)`.
pub fn outside_data_range(ts: i64) -> String {
    format!(
        "time outside {DATA_RANGE} ({}): the archive holds times from {} up to {}",
        fmt_utc(ts),
        fmt_utc(DATA_FROM),
        fmt_utc(DATA_TO)
    )
}

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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`): the hot path of export and import, where chrono's
/// general formatter and parser cost more than the rest of a line.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-23T12:00:30Z`
pub fn fmt_utc(ts: i64) -> String {
    let (y, m, d) = civil_from_days(ts.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return format!("@{ts}");
    }
    let secs = ts.rem_euclid(86_400);
    let mut out = String::with_capacity(20);
    let digits = |out: &mut String, v: i64, n: usize| {
        for k in (0..n).rev() {
            out.push(char::from(b'0' + (v / 10_i64.pow(k as u32) % 10) as u8));
        }
    };
    digits(&mut out, y, 4);
    out.push('-');
    digits(&mut out, m, 2);
    out.push('-');
    digits(&mut out, d, 2);
    out.push('T');
    digits(&mut out, secs / 3600, 2);
    out.push(':');
    digits(&mut out, secs / 60 % 60, 2);
    out.push(':');
    digits(&mut out, secs % 60, 2);
    out.push('Z');
    out
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SSZ` (what `fmt_utc` writes) fast;
/// `None` for anything else, valid or not (callers fall back to
/// `parse_rfc3339`).
pub fn parse_utc_z(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > days_in_month || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
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

/// The durations a config key or a flag accepts, both ends inclusive.
/// Checked on `Duration`s, never on casts: `18446744073709551615s` is as
/// out of range as it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
    /// Only whole seconds (what the archive's arithmetic uses).
    pub whole_seconds: bool,
}

impl DurationRange {
    /// From `min` to `max`, fractions of a second allowed.
    pub const fn new(min: Duration, max: Duration) -> DurationRange {
        DurationRange {
            min,
            max,
            whole_seconds: false,
        }
    }

    /// The same range, in whole seconds only.
    pub const fn whole_seconds(self) -> DurationRange {
        DurationRange {
            whole_seconds: true,
            ..self
        }
    }

    /// `between 1s and 50m`, `more than zero and at most 10m`, `at most 55m`.
    pub fn describe(&self) -> String {
        let max = humantime::format_duration(self.max);
        if self.min.is_zero() {
            format!("at most {max}")
        } else if self.min < Duration::from_secs(1) {
            format!("more than zero and at most {max}")
        } else {
            format!("between {} and {max}", humantime::format_duration(self.min))
        }
    }

    /// Whether `d` is in range; `Err` says what is wrong with it.
    pub fn check(&self, d: Duration) -> Result<Duration, String> {
        if d < self.min || d > self.max {
            return Err(format!("must be {}", self.describe()));
        }
        if self.whole_seconds && d.subsec_nanos() != 0 {
            return Err(format!("must be whole seconds, {}", self.describe()));
        }
        Ok(d)
    }
}

/// Whole seconds of a duration as the archive counts time (saturating, never
/// wrapping: a range-checked duration is far below the limit anyway).
pub fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Parses a duration and checks it against its range: the one way every
/// config key and flag taking a duration reads it.
pub fn parse_duration_in(s: &str, range: DurationRange) -> Result<Duration, String> {
    range.check(parse_duration(s)?)
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

/// The first and last calendar dates of the archive's time range.
fn data_dates() -> (NaiveDate, NaiveDate) {
    (date_of(DATA_FROM, Tz::UTC), date_of(DATA_TO - 1, Tz::UTC))
}

/// Checks a command-line date (`--day`, or a bare date in `--from`/`--to`)
/// against the archive's time range, as a date: the first of January 2000
/// is in range in every zone.
pub fn check_date_arg(date: NaiveDate) -> Result<NaiveDate, String> {
    let (first, last) = data_dates();
    if date < first || date > last {
        return Err(format!(
            "{date} is outside the archive's time range: use a date from {first} to {last}"
        ));
    }
    Ok(date)
}

/// Parses a command-line time: RFC 3339 (`2026-11-23T12:00:00Z`), a date
/// (`2026-11-23`, in `tz`), `now`, `today`, `yesterday`, or a time relative
/// to now (`-7d`, `-90m`, `now-1h`). Times outside the archive's time range
/// (at most its end, for the end of a range) are refused, never wrapped or
/// clamped.
pub fn parse_time_arg(s: &str, now: i64, tz: Tz, bound: Bound) -> Result<i64, String> {
    let s = s.trim();
    let hint = "use RFC 3339 (2026-11-23T12:00:00Z), a date (2026-11-23), now, today, yesterday, \
                or a relative time such as -7d or -90m";
    let out_of_range = || {
        format!(
            "{s:?} is outside the archive's time range, {} to {}: use a time in it",
            fmt_utc(DATA_FROM),
            fmt_utc(DATA_TO)
        )
    };
    let instant = |ts: Option<i64>| match ts {
        Some(ts) if (DATA_FROM..=DATA_TO).contains(&ts) => Ok(ts),
        _ => Err(out_of_range()),
    };
    let day = |date: Option<NaiveDate>| -> Result<i64, String> {
        let date = date.ok_or_else(out_of_range)?;
        let date = check_date_arg(date)?;
        Ok(match bound {
            Bound::Start => day_start(date, tz),
            // the last date in range ends in range: no overflow
            Bound::End => day_start(date + chrono::Duration::days(1), tz),
        })
    };
    if let Some(ts) = parse_rfc3339(s) {
        return instant(Some(ts));
    }
    match s {
        "now" => return instant(Some(now)),
        "today" => return day(Some(date_of(now, tz))),
        "yesterday" => return day(date_of(now, tz).pred_opt()),
        _ => {}
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return day(Some(date));
    }
    let relative = s.strip_prefix("now").unwrap_or(s);
    let offset = |rest: &str| -> Result<i64, String> {
        let d = parse_duration(rest).map_err(|_| format!("invalid time {s:?}: {hint}"))?;
        i64::try_from(d.as_secs()).map_err(|_| out_of_range())
    };
    if let Some(rest) = relative.strip_prefix('-') {
        return instant(now.checked_sub(offset(rest)?));
    }
    if let Some(rest) = relative.strip_prefix('+') {
        return instant(now.checked_add(offset(rest)?));
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
    fn fast_utc_format_and_parse_agree_with_chrono() {
        let mut ts: i64 = -2_208_988_800; // 1900-01-01
        while ts < 4_102_444_800 {
            // 2100-01-01
            let want = DateTime::from_timestamp(ts, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(fmt_utc(ts), want, "{ts}");
            assert_eq!(parse_utc_z(&want), Some(ts), "{want}");
            assert_eq!(parse_rfc3339(&want), Some(ts));
            ts += 86_400 * 7 + 3_607; // every weekday and hour drifts through
        }
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23 12:00:00Z",
            "2026-11-23T12:00:00+00:00",
            "2026-1a-23T12:00:00Z",
        ] {
            assert_eq!(parse_utc_z(bad), None, "{bad}");
        }
        assert_eq!(
            parse_utc_z("2024-02-29T23:59:59Z"),
            parse_rfc3339("2024-02-29T23:59:59Z")
        );
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
    fn time_arguments_outside_2000_2100_are_refused_not_wrapped_or_panicking() {
        let now = 1_795_435_230; // 2026-11-23T12:00:30Z
        let p = |s: &str, b| parse_time_arg(s, now, Tz::UTC, b);
        for (arg, bound) in [
            ("+262142-12-31", Bound::End), // chrono's last date: its end overflowed
            ("+262142-12-31", Bound::Start),
            ("-99999999999999d", Bound::Start), // wrapped past i64::MIN
            ("+99999999999999d", Bound::End),
            ("-18446744073709551615s", Bound::Start), // not an i64 at all
            ("1999-12-31", Bound::Start),
            ("2100-01-01", Bound::Start),
            ("2100-01-01", Bound::End),
            ("1999-12-31T23:59:59Z", Bound::Start),
            ("2100-01-01T00:00:01Z", Bound::End),
            ("9999-12-31T23:59:59Z", Bound::End),
        ] {
            let e = p(arg, bound).unwrap_err();
            assert!(e.contains("outside the archive's time range"), "{arg}: {e}");
        }
        // the ends themselves are in range (the end of a range is exclusive)
        assert_eq!(p("2000-01-01", Bound::Start), Ok(DATA_FROM));
        assert_eq!(p("2099-12-31", Bound::End), Ok(DATA_TO));
        assert_eq!(p("2100-01-01T00:00:00Z", Bound::End), Ok(DATA_TO));
        // a date is checked as a date: 2000-01-01 in Shanghai starts in 1999 UTC
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            parse_time_arg("2000-01-01", now, sh, Bound::Start),
            Ok(DATA_FROM - 8 * 3600)
        );
        assert!(check_date_arg(NaiveDate::MAX).is_err());
        assert!(check_date_arg(NaiveDate::from_ymd_opt(2099, 12, 31).unwrap()).is_ok());
    }

    #[test]
    fn the_data_range_is_2000_to_2100() {
        assert_eq!(fmt_utc(DATA_FROM), "2000-01-01T00:00:00Z");
        assert_eq!(fmt_utc(DATA_TO), "2100-01-01T00:00:00Z");
        assert!(in_data_range(DATA_FROM) && !in_data_range(DATA_FROM - 1));
        assert!(in_data_range(DATA_TO - 1) && !in_data_range(DATA_TO));
        assert!(outside_data_range(i64::MIN).starts_with("time outside 2000–2100 (@"));
    }

    #[test]
    fn duration_ranges_compare_durations_not_wrapped_casts() {
        let r = DurationRange::new(Duration::from_secs(1), Duration::from_secs(3000));
        for huge in [
            "18446744073709551615s",
            "9223372036854775808s",
            "99999999999d",
        ] {
            let e = parse_duration_in(huge, r).unwrap_err();
            assert_eq!(e, "must be between 1s and 50m", "{huge}");
        }
        assert_eq!(parse_duration_in("50m", r), Ok(Duration::from_secs(3000)));
        assert_eq!(parse_duration_in("1s", r), Ok(Duration::from_secs(1)));
        assert!(
            parse_duration_in("sixty", r)
                .unwrap_err()
                .contains("invalid duration")
        );
        let whole =
            DurationRange::new(Duration::from_secs(30), Duration::from_secs(60)).whole_seconds();
        assert_eq!(
            parse_duration_in("30s 500ms", whole).unwrap_err(),
            "must be whole seconds, between 30s and 1m"
        );
        let positive = DurationRange::new(Duration::from_millis(1), Duration::from_secs(600));
        assert_eq!(
            parse_duration_in("0s", positive).unwrap_err(),
            "must be more than zero and at most 10m"
        );
        let up_to = DurationRange::new(Duration::ZERO, Duration::from_secs(1800));
        assert_eq!(
            parse_duration_in("31m", up_to).unwrap_err(),
            "must be at most 30m"
        );
        assert_eq!(secs_i64(Duration::MAX), i64::MAX);
    }

    #[test]
    fn zones() {
        assert!(parse_zone("Asia/Shanghai").is_ok());
        assert!(parse_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
