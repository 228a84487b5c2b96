//! The report for programs: one JSON object, or CSV with one row per
//! incident (worst first), then one per top dimension value of each
//! attribution, then one per series.

use super::attribution::Attribution;
use super::{Incident, RenderError, Report, SeriesReport};
use crate::output::fmt_value;

/// The whole report as pretty-printed JSON.
pub fn json(report: &Report) -> Result<String, RenderError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// The CSV columns: `record` (`incident` or `series`), the keys of the
/// JSON series objects in order, the period (times in the zone, so that
/// days of CSV can be concatenated), then the keys of the JSON incident
/// objects that series rows do not have. A row leaves the other kind's
/// cells empty. Last, the breakdown columns: a series row of a breakdown
/// names its dimension and value; an attribution row (one per top value
/// of each dimension) its window in `start`..`end`, the value's average in
/// `avg`, and how it moved.
pub const CSV_COLUMNS: [&str; 50] = [
    "record",
    "app_id",
    "room_id",
    "user_ids",
    "source",
    "indicator",
    "unit",
    "count",
    "buckets",
    "coverage",
    "gap_seconds",
    "gap_share",
    "avg",
    "min",
    "max",
    "p50",
    "p95",
    "prev_day_avg",
    "prev_day_count",
    "prev_day_coverage",
    "day_change",
    "day_change_note",
    "prev_week_avg",
    "prev_week_count",
    "prev_week_coverage",
    "week_change",
    "week_change_note",
    "direction",
    "threshold",
    "worsening",
    "regression",
    "period_from",
    "period_to",
    "start",
    "end",
    "start_ts",
    "end_ts",
    "peak",
    "baseline",
    "deviation",
    "duration_s",
    "dimension",
    "dimension_value",
    "trigger",
    "previous_avg",
    "change",
    "data_share",
    "contribution",
    "share",
    "coverage_30s",
];

/// The identity cells shared by both kinds of row.
fn identity(key: &crate::series::SeriesKey) -> [String; 5] {
    [
        key.stream.app_id.clone(),
        key.stream.room_id.clone().unwrap_or_default(),
        key.stream.user_ids.joined().to_string(),
        key.stream.source.to_string(),
        key.indicator.clone(),
    ]
}

fn incident_row(i: &Incident, report: &Report) -> Vec<String> {
    let mut r = vec!["incident".to_string()];
    r.extend(identity(&i.series));
    r.push(i.unit.clone().unwrap_or_default());
    // the series statistics
    r.extend(std::iter::repeat_n(String::new(), 24));
    r.push(report.period.from_time.clone());
    r.push(report.period.to_time.clone());
    r.extend([
        i.start.clone(),
        i.end.clone(),
        i.start_ts.to_string(),
        i.end_ts.to_string(),
        fmt_value(Some(i.peak)),
        fmt_value(Some(i.baseline)),
        fmt_value(Some(i.deviation)),
        i.duration_s.to_string(),
    ]);
    r.extend(std::iter::repeat_n(String::new(), 8));
    r
}

/// One row per top value of each dimension of an attribution.
fn attribution_rows(a: &Attribution, report: &Report) -> Vec<Vec<String>> {
    let trigger = match a.against {
        Some(against) => format!("{}:{}", a.trigger.as_str(), against.as_str()),
        None => a.trigger.as_str().to_string(),
    };
    let mut rows = Vec::new();
    for d in &a.dimensions {
        for m in &d.values {
            let mut r = vec![
                "attribution".to_string(),
                a.app_id.clone(),
                String::new(),
                String::new(),
                crate::Source::Distribution.to_string(),
                a.indicator.clone(),
                a.unit.clone().unwrap_or_default(),
            ];
            // count .. gap_share: empty; avg: the value's; the rest empty
            r.extend(std::iter::repeat_n(String::new(), 5));
            r.push(fmt_value(m.avg));
            r.extend(std::iter::repeat_n(String::new(), 18));
            r.push(report.period.from_time.clone());
            r.push(report.period.to_time.clone());
            r.extend([
                a.from_time.clone(),
                a.to_time.clone(),
                a.from.to_string(),
                a.to.to_string(),
            ]);
            r.extend(std::iter::repeat_n(String::new(), 3));
            r.push((a.to - a.from).to_string());
            r.extend([
                d.dimension.to_string(),
                m.value.clone(),
                trigger.clone(),
                fmt_value(m.previous_avg),
                fmt_value(m.change),
                fmt_value(Some(m.data_share)),
                fmt_value(m.contribution),
                fmt_value(m.share),
            ]);
            rows.push(r);
        }
    }
    rows
}

fn row(s: &SeriesReport, report: &Report) -> Vec<String> {
    let v = |x: Option<f64>| fmt_value(x);
    let mut r = vec!["series".to_string()];
    r.extend(identity(&s.series));
    r.extend([
        s.unit.clone().unwrap_or_default(),
        s.count.to_string(),
        s.buckets.to_string(),
        v(Some(s.coverage)),
        s.gap_seconds.to_string(),
        v(Some(s.gap_share)),
        v(s.avg),
        v(s.min),
        v(s.max),
        v(s.p50),
        v(s.p95),
        v(s.prev_day_avg),
        s.prev_day_count.to_string(),
        v(Some(s.prev_day_coverage)),
        v(s.day_change),
        s.day_change_note.clone().unwrap_or_default(),
        v(s.prev_week_avg),
        s.prev_week_count.to_string(),
        v(Some(s.prev_week_coverage)),
        v(s.week_change),
        s.week_change_note.clone().unwrap_or_default(),
        s.direction.as_str().to_string(),
        v(Some(s.threshold)),
        v(s.worsening),
        s.regression.to_string(),
        report.period.from_time.clone(),
        report.period.to_time.clone(),
    ]);
    r.extend(std::iter::repeat_n(String::new(), 8));
    r.push(
        s.series
            .stream
            .dimension
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    r.push(s.series.dimension_value.clone().unwrap_or_default());
    r.extend(std::iter::repeat_n(String::new(), 6));
    r.push(v(Some(s.coverage_30s)));
    r
}

/// A header row, one row per incident, then one per series (empty cells
/// for nulls).
pub fn csv(report: &Report) -> Result<String, RenderError> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(CSV_COLUMNS)?;
    // the columns after a kind of row's last are empty in it
    let mut write = |mut r: Vec<String>| {
        r.resize(CSV_COLUMNS.len(), String::new());
        w.write_record(r)
    };
    for i in &report.incidents {
        write(incident_row(i, report))?;
    }
    for a in &report.attribution {
        for r in attribution_rows(a, report) {
            write(r)?;
        }
    }
    for s in &report.series {
        write(row(s, report))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    // every field is a Rust string: the bytes are UTF-8
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_of_row_fill_every_column() {
        // 1 + 5 identity + unit + 24 statistics + 2 period + 8 incident + 8 breakdown
        // + coverage_30s
        assert_eq!(CSV_COLUMNS.len(), 50);
        assert_eq!(CSV_COLUMNS[12], "avg");
        let i = CSV_COLUMNS
            .iter()
            .position(|c| *c == "period_from")
            .unwrap();
        assert_eq!(i, 31);
        assert_eq!(CSV_COLUMNS[i + 2], "start");
    }
}
