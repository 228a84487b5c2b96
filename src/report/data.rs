//! The report for programs: one JSON object, or CSV with one row per series.

use super::{RenderError, Report, SeriesReport};
use crate::output::fmt_value;

/// The whole report as pretty-printed JSON.
pub fn json(report: &Report) -> Result<String, RenderError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// The CSV columns: the keys of the JSON series objects, in order, then
/// the period (times in the zone), so that days of CSV can be concatenated.
pub const CSV_COLUMNS: [&str; 26] = [
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
    "day_change",
    "prev_week_avg",
    "week_change",
    "direction",
    "threshold",
    "worsening",
    "regression",
    "period_from",
    "period_to",
];

fn row(s: &SeriesReport, report: &Report) -> Vec<String> {
    let v = |x: Option<f64>| fmt_value(x);
    vec![
        s.series.stream.app_id.clone(),
        s.series.stream.room_id.clone().unwrap_or_default(),
        s.series.stream.user_ids.joined().to_string(),
        s.series.stream.source.to_string(),
        s.series.indicator.clone(),
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
        v(s.day_change),
        v(s.prev_week_avg),
        v(s.week_change),
        s.direction.as_str().to_string(),
        v(Some(s.threshold)),
        v(s.worsening),
        s.regression.to_string(),
        report.period.from_time.clone(),
        report.period.to_time.clone(),
    ]
}

/// One row per series (empty cells for nulls), with a header row.
pub fn csv(report: &Report) -> Result<String, RenderError> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(CSV_COLUMNS)?;
    for s in &report.series {
        w.write_record(row(s, report))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    // every field is a Rust string: the bytes are UTF-8
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
