//! The report as Markdown, for chat and email: regressions first, then a
//! table of every series per source, then the gaps.

use std::fmt::Write as _;

use super::format::{change_unit, fmt_change, fmt_clock, fmt_pct, fmt2, no_data_sentence};
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
    lines.push(rule);
    (title, lines)
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
        "Coverage: share of the period's 30-second buckets with a point. \
         Δ day / Δ week: the average minus that of {day} / {week} (n/a without data then)."
    )
}

/// Cells of the regressions table.
pub const REGRESSION_HEADER: [&str; 10] = [
    "indicator",
    "app",
    "room",
    "users",
    "avg",
    "previous",
    "change",
    "against",
    "worse by",
    "threshold",
];

/// The right-aligned (numeric) columns of the regressions table.
pub const REGRESSION_NUMERIC: [usize; 5] = [4, 5, 6, 8, 9];

pub const SERIES_HEADER: [&str; 13] = [
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
    "Δ week",
];

/// The right-aligned (numeric) columns of the series tables.
pub const SERIES_NUMERIC: [usize; 9] = [4, 5, 6, 7, 8, 9, 10, 11, 12];

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
pub fn regression_rows(report: &Report) -> Vec<[String; 10]> {
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
                with_unit(fmt2(Some(r.worsening))),
                fmt_threshold(r.threshold),
            ]
        })
        .collect()
}

/// The numeric cells of a series row (after indicator, app, room, users).
pub fn series_numbers(s: &SeriesReport) -> [String; 9] {
    [
        s.count.to_string(),
        fmt_pct(s.coverage),
        fmt2(s.avg),
        fmt2(s.min),
        fmt2(s.max),
        fmt2(s.p50),
        fmt2(s.p95),
        fmt_change(s.day_change),
        fmt_change(s.week_change),
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

    let _ = writeln!(out, "## All series\n");
    for source in sources(report) {
        let _ = writeln!(out, "### {source}\n");
        let rows: Vec<Vec<String>> = report
            .series
            .iter()
            .filter(|s| s.series.stream.source == source)
            .map(|s| {
                let mut ind = indicator_cell(&s.series.indicator, s.unit.as_deref());
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
