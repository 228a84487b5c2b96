//! Numbers and times as the human-facing formats (Markdown and HTML) print
//! them: one place, so that the two never disagree about a value.

use chrono::DateTime;

use super::Report;
use super::gather::chart_step;
use super::period::Period;

/// A number with two decimals (`-0.00` shown as `0.00`), or `n/a`.
pub fn fmt2(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let s = format!("{v:.2}");
            if s == "-0.00" { "0.00".into() } else { s }
        }
        Some(v) => format!("{v}"),
        None => "n/a".into(),
    }
}

/// A change with its sign and two decimals (`+1.00`, `-0.50`, `0.00`), or `n/a`.
pub fn fmt_change(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let s = format!("{v:+.2}");
            if s == "+0.00" || s == "-0.00" {
                "0.00".into()
            } else {
                s
            }
        }
        other => fmt2(other),
    }
}

/// A share as a percentage with two decimals.
pub fn fmt_pct(share: f64) -> String {
    fmt2(Some(share * 100.0))
}

/// A time in the zone for tables: `HH:MM:SS` within a day report (the
/// period's end as `24:00:00`), with the date for longer periods.
pub fn fmt_clock(ts: i64, period: &Period) -> String {
    let tz = period.zone();
    if !period.multi_day() && ts == period.to && period.day.is_some() {
        return "24:00:00".into();
    }
    let Some(t) = DateTime::from_timestamp(ts, 0) else {
        return format!("@{ts}");
    };
    let t = t.with_timezone(&tz);
    if period.multi_day() || period.day.is_none() {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

/// A duration for tables: `30 min`, `2 h 5 min`, `24 h`, `45 s`.
pub fn fmt_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// The unit for display: `%` → `pp` for changes of rates.
pub fn change_unit(unit: Option<&str>) -> &str {
    match unit {
        Some("%") => "pp",
        Some(u) => u,
        None => "",
    }
}

/// The sentence a period without data gets.
pub fn no_data_sentence(report: &Report) -> String {
    format!(
        "No data for {} ({}) in {}: nothing was archived in this period.",
        report.period.label(),
        report.period.tz,
        report.database
    )
}

/// `5-minute`, `1-hour`: the chart step, for notes.
pub fn chart_step_label(seconds: i64) -> String {
    let m = chart_step(seconds) / 60;
    if m % 60 == 0 {
        format!("{}-hour", m / 60)
    } else {
        format!("{m}-minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(fmt2(Some(1.005)), "1.00");
        assert_eq!(fmt2(Some(-0.001)), "0.00");
        assert_eq!(fmt2(None), "n/a");
        assert_eq!(fmt_change(Some(1.0)), "+1.00");
        assert_eq!(fmt_change(Some(-0.5)), "-0.50");
        assert_eq!(fmt_change(Some(-0.0001)), "0.00");
        assert_eq!(fmt_pct(0.99652777), "99.65");
        assert_eq!(fmt_duration(1800), "30 min");
        assert_eq!(fmt_duration(1830), "30 min 30 s");
        assert_eq!(fmt_duration(7500), "2 h 5 min");
        assert_eq!(fmt_duration(86400), "24 h");
        assert_eq!(fmt_duration(45), "45 s");
    }
}
