//! The report as Markdown, for chat and email: incidents first, then
//! regressions, then where they moved (by dimension value, when the
//! archive holds a breakdown), then a table of every series per source,
//! then the gaps.
//! The rows and notes are built here for the HTML too.

use std::fmt::Write as _;

use super::attribution::{Attribution, Trigger};
use super::format::{
    change_unit, fmt_change, fmt_clock, fmt_duration, fmt_pct, fmt2, no_data_sentence,
};
use super::{Report, SeriesReport, StreamGaps};
use crate::Source;

/// Escapes text for a Markdown table cell or paragraph: characters that
/// would start markup, break out of the cell or begin HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            // underscores inside words (video_stall_rate) are plain text in
            // CommonMark, and escaping them would clutter every indicator name
            '\\' | '|' | '`' | '*' | '[' | ']' | '<' | '>' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(escape).unwrap_or_default()
}

fn indicator_cell(indicator: &str, unit: Option<&str>) -> String {
    match unit {
        Some(u) if !u.is_empty() => format!("{} ({})", escape(indicator), escape(u)),
        _ => escape(indicator),
    }
}

/// `OS=ios` for a breakdown's series, shown beside its indicator.
pub fn breakdown_label(s: &SeriesReport) -> Option<String> {
    let d = s.series.stream.dimension?;
    Some(format!("{d}={}", s.series.dimension_value.as_deref()?))
}

/// Writes a table; columns whose index is in `numeric` are right-aligned.
fn table(out: &mut String, header: &[&str], numeric: &[usize], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        (0..header.len())
            .map(|i| if numeric.contains(&i) { "---:" } else { "---" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
}

/// The heading and the lines about the period and the rule.
pub fn intro(report: &Report) -> (String, Vec<String>) {
    let p = &report.period;
    let title = format!("RTC report for {} ({})", p.label(), p.tz);
    let mut lines = vec![format!(
        "Period: {} to {} ({}, {} buckets of 30 s).",
        p.from_time,
        p.to_time,
        fmt_hours(p.seconds),
        p.buckets
    )];
    lines.push(match (&p.previous_day.day, &p.previous_week.day) {
        (Some(d), Some(w)) => format!(
            "Compared with the previous day ({d}) and the same weekday a week before ({w})."
        ),
        _ => format!(
            "Compared with the period just before ({} to {}) and the same period a week before ({} to {}).",
            p.previous_day.from_time,
            p.previous_day.to_time,
            p.previous_week.from_time,
            p.previous_week.to_time
        ),
    });
    let mut rule = format!(
        "A regression is an average worse than either by more than the threshold ({}",
        fmt_threshold(report.thresholds.default)
    );
    for o in &report.thresholds.overrides {
        let _ = write!(rule, "; {} for {}", fmt_threshold(o.threshold), o.pattern);
    }
    rule.push_str(
        "; percentage points for % rates): success rates are better higher, \
         stall rates and delays lower, counts are never regressions.",
    );
    let _ = write!(
        rule,
        " A comparison needs {}% of its buckets covered.",
        fmt_share(report.thresholds.min_coverage)
    );
    lines.push(rule);
    lines.push(incident_rule_line(report));
    (title, lines)
}

/// A share as the shortest percentage (`50`, `12.5`).
fn fmt_share(share: f64) -> String {
    format!("{}", (share * 1000.0).round() / 10.0)
}

/// How incidents are found, in one sentence (with the knobs in force).
pub fn incident_rule_line(report: &Report) -> String {
    let r = &report.incident_rule;
    if !r.searched {
        return "Incidents are searched in periods of up to 35 days; this one is a trend report."
            .into();
    }
    let mut line = format!(
        "An incident is two or more 5-minute slots (one normal slot between allowed) worse than \
         the same slot of the week in the {} weeks before (their median; the days before while \
         the archive is younger) by more than {} robust spreads and the threshold",
        r.weeks, r.k
    );
    if r.min_users > 0.0 {
        let _ = write!(
            line,
            ", while the app has at least {} users online",
            r.min_users
        );
    }
    line.push('.');
    line
}

fn fmt_hours(secs: i64) -> String {
    match secs {
        3600 => "1 hour".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s => format!("{:.2} hours", s as f64 / 3600.0),
    }
}

/// A threshold as the user wrote it (shortest form).
pub fn fmt_threshold(t: f64) -> String {
    format!("{t}")
}

/// The label of the comparison a regression is against.
pub fn against_label(report: &Report, against: super::Against) -> String {
    let p = &report.period;
    match (against, p.day.is_some()) {
        (super::Against::PreviousDay, true) => "previous day".into(),
        (super::Against::PreviousDay, false) => "period before".into(),
        (super::Against::PreviousWeek, _) => "week before".into(),
    }
}

/// What the coverage and change columns mean.
pub fn columns_note(report: &Report) -> String {
    let (day, week) = if report.period.day.is_some() {
        ("the previous day", "the same weekday a week before")
    } else {
        ("the period just before", "the same period a week before")
    };
    format!(
        "Coverage: share of the period's 30-second buckets (those due by now) with a point, \
         a 5-minute point of the offline history covering ten (in brackets, where they \
         differ: the share covered at 30 s alone). \
         Δ day / Δ week: the average minus that of {day} / {week}; day cov / week cov: \
         the coverage then (Δ is n/a under {}%).",
        fmt_share(report.thresholds.min_coverage)
    )
}

/// Cells of the incidents table.
pub const INCIDENT_HEADER: [&str; 10] = [
    "indicator",
    "app",
    "room",
    "users",
    "start",
    "end",
    "duration",
    "peak",
    "baseline",
    "deviation",
];

/// The right-aligned (numeric) columns of the incidents table.
pub const INCIDENT_NUMERIC: [usize; 4] = [6, 7, 8, 9];

/// The incidents the human formats list (worst first); the JSON and CSV
/// list every one.
pub const INCIDENTS_LISTED: usize = 20;

/// The sentence after a list cut at [`INCIDENTS_LISTED`], if it was.
pub fn more_incidents_sentence(report: &Report) -> Option<String> {
    let n = report.incidents.len();
    (n > INCIDENTS_LISTED).then(|| {
        let more = match n - INCIDENTS_LISTED {
            1 => "1 more incident, less severe, is".to_string(),
            m => format!("{m} more incidents, less severe, are"),
        };
        format!("{more} not listed here; the JSON and CSV formats list all {n}.")
    })
}

/// One row per listed incident, raw text (escaped by the caller's format).
pub fn incident_rows(report: &Report) -> Vec<[String; 10]> {
    report
        .incidents
        .iter()
        .take(INCIDENTS_LISTED)
        .map(|i| {
            let u = change_unit(i.unit.as_deref());
            let deviation = fmt_change(Some(i.deviation));
            [
                i.series.indicator.clone(),
                i.series.stream.app_id.clone(),
                i.series.stream.room_id.clone().unwrap_or_default(),
                i.series.stream.user_ids.joined().to_string(),
                fmt_clock(i.start_ts, &report.period),
                fmt_clock(i.end_ts, &report.period),
                fmt_duration(i.duration_s),
                fmt2(Some(i.peak)),
                fmt2(Some(i.baseline)),
                if u.is_empty() {
                    deviation
                } else {
                    format!("{deviation} {u}")
                },
            ]
        })
        .collect()
}

/// What the incidents section says when there are none.
pub fn no_incidents_sentence(report: &Report) -> &'static str {
    if report.incident_rule.searched {
        "No incidents: every series stayed within its usual range."
    } else {
        "Incidents are not searched in periods longer than 35 days."
    }
}

/// Cells of the regressions table.
pub const REGRESSION_HEADER: [&str; 11] = [
    "indicator",
    "app",
    "room",
    "users",
    "avg",
    "previous",
    "change",
    "against",
    "coverage then %",
    "worse by",
    "threshold",
];

/// The right-aligned (numeric) columns of the regressions table.
pub const REGRESSION_NUMERIC: [usize; 6] = [4, 5, 6, 8, 9, 10];

pub const SERIES_HEADER: [&str; 15] = [
    "indicator",
    "app",
    "room",
    "users",
    "count",
    "coverage %",
    "avg",
    "min",
    "max",
    "p50",
    "p95",
    "Δ day",
    "day cov %",
    "Δ week",
    "week cov %",
];

/// The right-aligned (numeric) columns of the series tables.
pub const SERIES_NUMERIC: [usize; 11] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];

pub const GAPS_HEADER: [&str; 7] = [
    "source",
    "app",
    "room",
    "users",
    "gap seconds",
    "share %",
    "intervals",
];

/// The right-aligned (numeric) columns of the gaps table.
pub const GAPS_NUMERIC: [usize; 2] = [4, 5];

/// One row per regression, raw text (escaped by the caller's format).
pub fn regression_rows(report: &Report) -> Vec<[String; 11]> {
    report
        .regressions
        .iter()
        .map(|r| {
            let u = change_unit(r.unit.as_deref());
            let with_unit = |s: String| {
                if u.is_empty() { s } else { format!("{s} {u}") }
            };
            [
                r.series.indicator.clone(),
                r.series.stream.app_id.clone(),
                r.series.stream.room_id.clone().unwrap_or_default(),
                r.series.stream.user_ids.joined().to_string(),
                fmt2(Some(r.avg)),
                fmt2(Some(r.previous_avg)),
                with_unit(fmt_change(Some(r.change))),
                against_label(report, r.against),
                fmt_pct(r.previous_coverage),
                with_unit(fmt2(Some(r.worsening))),
                fmt_threshold(r.threshold),
            ]
        })
        .collect()
}

/// The columns of an attribution's table.
pub const ATTRIBUTION_HEADER: [&str; 7] = [
    "dimension",
    "value",
    "avg",
    "before",
    "change",
    "share of data %",
    "share of the worsening %",
];

/// The right-aligned (numeric) columns of the attribution table.
pub const ATTRIBUTION_NUMERIC: [usize; 5] = [2, 3, 4, 5, 6];

/// What an attribution is about, in one line: `video_stall_rate of app-a,
/// regression against the same weekday a week before (period ...)`.
pub fn attribution_title(report: &Report, a: &Attribution) -> String {
    let what = match (a.trigger, a.against) {
        (Trigger::Regression, Some(against)) => {
            format!("regression against {}", against_label(report, against))
        }
        _ => format!(
            "incident {}–{}, against the same stretch a week before",
            a.from_time, a.to_time
        ),
    };
    format!("{} of {}: {what}", a.indicator, a.app_id)
}

/// One row per top value of each dimension, raw text.
pub fn attribution_rows(a: &Attribution) -> Vec<[String; 7]> {
    let u = change_unit(a.unit.as_deref());
    let with_unit = |s: String| {
        if u.is_empty() || s.is_empty() {
            s
        } else {
            format!("{s} {u}")
        }
    };
    let mut rows = Vec::new();
    for d in &a.dimensions {
        for m in &d.values {
            rows.push([
                d.dimension.to_string(),
                m.value.clone(),
                fmt2(m.avg),
                fmt2(m.previous_avg),
                with_unit(fmt_change(m.change)),
                fmt_pct(m.data_share),
                m.share.map(fmt_pct).unwrap_or_default(),
            ]);
        }
    }
    rows
}

/// The sentence under the attribution tables.
pub const ATTRIBUTION_NOTE: &str = "Per dimension, the values that made the indicator worse \
     the most: each value's change weighted by its share of the data; the share of the \
     worsening is its part of the dimension's total (a value that improved has a negative share).";

/// A series' coverage: `96`, or `96 (40 at 30 s)` where the 5-minute
/// history covers part of it.
pub fn coverage_cell(s: &SeriesReport) -> String {
    if s.coverage_30s + 1e-9 < s.coverage {
        format!(
            "{} ({} at 30 s)",
            fmt_pct(s.coverage),
            fmt_pct(s.coverage_30s)
        )
    } else {
        fmt_pct(s.coverage)
    }
}

/// The numeric cells of a series row (after indicator, app, room, users).
pub fn series_numbers(s: &SeriesReport) -> [String; 11] {
    [
        s.count.to_string(),
        coverage_cell(s),
        fmt2(s.avg),
        fmt2(s.min),
        fmt2(s.max),
        fmt2(s.p50),
        fmt2(s.p95),
        fmt_change(s.day_change),
        fmt_pct(s.prev_day_coverage),
        fmt_change(s.week_change),
        fmt_pct(s.prev_week_coverage),
    ]
}

/// The intervals of a stream's gaps, `10:00:00–11:00:00 (fetch_failed)`.
pub fn gap_intervals(report: &Report, g: &StreamGaps) -> Vec<String> {
    g.intervals
        .iter()
        .map(|i| {
            format!(
                "{}–{} ({})",
                fmt_clock(i.start, &report.period),
                fmt_clock(i.end, &report.period),
                i.causes.join(", ")
            )
        })
        .collect()
}

/// The sources present, in their usual order.
pub fn sources(report: &Report) -> Vec<Source> {
    Source::ALL
        .into_iter()
        .filter(|s| report.series.iter().any(|r| r.series.stream.source == *s))
        .collect()
}

/// Renders the report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let (title, lines) = intro(report);
    let _ = writeln!(out, "# {}\n", escape(&title));
    if report.no_data {
        let _ = writeln!(out, "{}", escape(&no_data_sentence(report)));
        if !report.gaps.is_empty() {
            out.push('\n');
            gaps(&mut out, report);
        }
        return out;
    }
    for l in &lines {
        let _ = writeln!(out, "{}", escape(l));
    }
    out.push('\n');

    let _ = writeln!(out, "## Incidents\n");
    if report.incidents.is_empty() {
        let _ = writeln!(out, "{}\n", no_incidents_sentence(report));
    } else {
        let rows: Vec<Vec<String>> = incident_rows(report)
            .into_iter()
            .map(|r| {
                let mut r: Vec<String> = r.iter().map(|c| escape(c)).collect();
                r[0] = format!("**{}**", r[0]);
                r
            })
            .collect();
        table(&mut out, &INCIDENT_HEADER, &INCIDENT_NUMERIC, &rows);
        out.push('\n');
        if let Some(more) = more_incidents_sentence(report) {
            let _ = writeln!(out, "{}\n", escape(&more));
        }
    }

    let _ = writeln!(out, "## Regressions\n");
    if report.regressions.is_empty() {
        let _ = writeln!(out, "No regressions beyond the thresholds.\n");
    } else {
        let rows: Vec<Vec<String>> = regression_rows(report)
            .into_iter()
            .map(|r| {
                let mut r: Vec<String> = r.iter().map(|c| escape(c)).collect();
                r[0] = format!("**{}**", r[0]);
                r
            })
            .collect();
        table(&mut out, &REGRESSION_HEADER, &REGRESSION_NUMERIC, &rows);
        out.push('\n');
    }

    if !report.attribution.is_empty() {
        let _ = writeln!(out, "## Where it moved\n");
        for a in &report.attribution {
            let _ = writeln!(out, "### {}\n", escape(&attribution_title(report, a)));
            let rows: Vec<Vec<String>> = attribution_rows(a)
                .into_iter()
                .map(|r| r.iter().map(|c| escape(c)).collect())
                .collect();
            table(&mut out, &ATTRIBUTION_HEADER, &ATTRIBUTION_NUMERIC, &rows);
            out.push('\n');
        }
        let _ = writeln!(out, "{ATTRIBUTION_NOTE}\n");
    }

    let _ = writeln!(out, "## All series\n");
    for source in sources(report) {
        let _ = writeln!(out, "### {source}\n");
        let rows: Vec<Vec<String>> = report
            .series
            .iter()
            .filter(|s| s.series.stream.source == source)
            .map(|s| {
                let mut ind = indicator_cell(&s.series.indicator, s.unit.as_deref());
                if let Some(by) = breakdown_label(s) {
                    ind = format!("{ind} {}", escape(&by));
                }
                if s.regression {
                    ind = format!("**{ind}** (regression)");
                }
                let stream = &s.series.stream;
                let mut row = vec![
                    ind,
                    escape(&stream.app_id),
                    opt(&stream.room_id),
                    escape(stream.user_ids.joined()),
                ];
                row.extend(series_numbers(s));
                row
            })
            .collect();
        table(&mut out, &SERIES_HEADER, &SERIES_NUMERIC, &rows);
        out.push('\n');
    }
    let _ = writeln!(out, "{}\n", escape(&columns_note(report)));
    gaps(&mut out, report);
    out
}

fn gaps(out: &mut String, report: &Report) {
    let _ = writeln!(out, "## Gaps\n");
    if report.gaps.is_empty() {
        let _ = writeln!(out, "No gaps recorded in this period.");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .gaps
        .iter()
        .map(|g| {
            vec![
                g.stream.source.to_string(),
                escape(&g.stream.app_id),
                opt(&g.stream.room_id),
                escape(g.stream.user_ids.joined()),
                g.seconds.to_string(),
                fmt_pct(g.share),
                escape(&gap_intervals(report, g).join("; ")),
            ]
        })
        .collect();
    table(out, &GAPS_HEADER, &GAPS_NUMERIC, &rows);
    out.push('\n');
    let _ = writeln!(
        out,
        "Gaps are intervals that slid out of the API's 60-minute reach unfetched; \
         they count against every series of their stream."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("video_stall_rate"), "video_stall_rate");
        assert_eq!(escape("<b>*x*</b>"), "\\<b\\>\\*x\\*\\</b\\>");
        assert_eq!(escape("line\nbreak"), "line break");
    }
}
