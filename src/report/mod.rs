//! `rtc-archiver report`: per-series statistics of a day (or any period),
//! the incidents in it (stretches clearly worse than the same time of the
//! weeks before), the change of each average against the previous day and
//! the same weekday a week before, the regressions among them, and the
//! gaps the ledger records, and, where the archive holds a breakdown by
//! dimension, which values moved a regression or incident most
//! ([`attribution`]).
//!
//! Stage by stage: [`gather`] reads what is needed through the store
//! (points streamed series by series, never the whole archive), [`rules`]
//! and [`incidents`] decide (pure functions, table-tested), [`build`] puts
//! them together into a [`Report`], and the formats only render it
//! ([`markdown`], [`html`] with [`chart`], and [`data`] for JSON and CSV),
//! with the numbers and times printed by [`format`], so they never disagree.

pub mod attribution;
mod build;
pub mod chart;
pub mod data;
pub mod format;
pub mod gather;
pub mod html;
pub mod incidents;
pub mod markdown;
pub mod period;
pub mod rules;

use chrono_tz::Tz;
use serde::Serialize;

pub use build::build;
pub use period::{Period, PeriodSpec, Span, shift_days};
pub use rules::{Against, Direction, Summary};

use crate::config::ReportConfig;
use crate::series::{SeriesKey, StreamKey};
use crate::store::read::SeriesFilter;

/// A report that could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot draw a chart: {0}")]
    Chart(String),
    #[error("cannot write the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write the report as CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
}

/// What to report on.
#[derive(Debug, Clone)]
pub struct Options {
    pub period: PeriodSpec,
    pub tz: Tz,
    pub filter: SeriesFilter,
    pub thresholds: ReportConfig,
    /// How to name the archive in the "no data" sentence.
    pub database: String,
    /// The time of the report: buckets not yet due are not counted.
    pub now: i64,
}

/// Downsampled lines of one series for its chart: x in hours since the
/// start of the period (of the previous period, for `previous`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartLines {
    pub step: i64,
    pub current: Vec<(f64, f64)>,
    pub previous: Vec<(f64, f64)>,
    /// The normal band (x, low, high): the baseline ± the anomaly bar, for
    /// a series with incidents.
    pub band: Vec<(f64, f64, f64)>,
    /// The series' incidents, (start, end) in hours since the period's start.
    pub incidents: Vec<(f64, f64)>,
}

/// One series' statistics and changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesReport {
    #[serde(flatten)]
    pub series: SeriesKey,
    pub unit: Option<String>,
    /// Points in the period (a 5-minute point of the offline history
    /// counts once).
    pub count: i64,
    /// 30-second buckets in the period that are due (for a period reaching
    /// into the present, those whose data the API serves by now).
    pub buckets: i64,
    /// The share of those buckets a point covers, with the 5-minute history
    /// (a 5-minute point covers ten).
    pub coverage: f64,
    /// The share of them covered by a 30-second point: the real-time data
    /// alone. Equal to `coverage` where the archive holds no 5-minute points.
    pub coverage_30s: f64,
    /// Seconds of the period the gaps ledger records as lost for the stream.
    pub gap_seconds: i64,
    /// gap_seconds / the period's length.
    pub gap_share: f64,
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub prev_day_avg: Option<f64>,
    /// Buckets covered in the previous day (or period; a 5-minute point
    /// covers ten), and their share of its buckets.
    pub prev_day_count: i64,
    pub prev_day_coverage: f64,
    /// avg − prev_day_avg; null without enough data then.
    pub day_change: Option<f64>,
    /// Why `day_change` is null, if it is.
    pub day_change_note: Option<String>,
    pub prev_week_avg: Option<f64>,
    pub prev_week_count: i64,
    pub prev_week_coverage: f64,
    /// avg − prev_week_avg; null without enough data then.
    pub week_change: Option<f64>,
    pub week_change_note: Option<String>,
    pub direction: Direction,
    pub threshold: f64,
    /// How much worse the average got against the worse of the two
    /// comparisons (negative: better); null without a direction or comparison.
    pub worsening: Option<f64>,
    pub regression: bool,
    #[serde(skip)]
    pub stream_id: i64,
    #[serde(skip)]
    pub chart: ChartLines,
}

impl SeriesReport {
    /// `app / room / users` for legends.
    pub fn label(&self) -> String {
        self.series.stream.label()
    }
}

/// A series whose average got worse by more than its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    #[serde(flatten)]
    pub series: SeriesKey,
    pub unit: Option<String>,
    pub avg: f64,
    /// The comparison it got worse against the most.
    pub against: Against,
    /// The average it is compared with.
    pub previous_avg: f64,
    /// The points behind that average, and their share of its buckets.
    pub previous_count: i64,
    pub previous_coverage: f64,
    /// avg − previous_avg.
    pub change: f64,
    /// How much worse (positive), in the indicator's unit.
    pub worsening: f64,
    pub threshold: f64,
    pub day_change: Option<f64>,
    pub week_change: Option<f64>,
}

/// A stretch of a series clearly worse than the same time of the weeks
/// before (see [`incidents`] for the method).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    #[serde(flatten)]
    pub series: SeriesKey,
    /// The first anomalous 30-second bucket (or 5-minute slot), RFC 3339
    /// in the report's zone.
    pub start: String,
    /// The end of the last anomalous bucket or slot (exclusive).
    pub end: String,
    pub start_ts: i64,
    pub end_ts: i64,
    /// The worst 5-minute mean.
    pub peak: f64,
    /// What is normal for that slot: the median of the same slot of the
    /// previous weeks (or days).
    pub baseline: f64,
    /// peak − baseline, in the indicator's unit.
    pub deviation: f64,
    pub duration_s: i64,
    #[serde(skip)]
    pub unit: Option<String>,
    /// The start of the worst slot.
    #[serde(skip)]
    pub peak_ts: i64,
    /// How far past its bar the peak is (worst first).
    #[serde(skip)]
    pub severity: f64,
}

/// One merged interval of gaps of a stream, clipped to the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GapInterval {
    pub start: i64,
    pub end: i64,
    pub start_time: String,
    pub end_time: String,
    pub seconds: i64,
    pub causes: Vec<String>,
    /// The requested indicators the ledger names.
    pub indicators: Vec<String>,
}

/// The gaps of one stream in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamGaps {
    #[serde(flatten)]
    pub stream: StreamKey,
    pub seconds: i64,
    pub share: f64,
    pub intervals: Vec<GapInterval>,
}

/// A threshold override from the config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdOverride {
    pub pattern: String,
    pub threshold: f64,
}

/// The thresholds in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    pub default: f64,
    pub overrides: Vec<ThresholdOverride>,
    /// The share of a comparison period's buckets that must hold a point.
    pub min_coverage: f64,
}

/// The knobs incidents were found with (`[report.incidents]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRule {
    pub k: f64,
    pub weeks: u32,
    pub min_users: f64,
    pub slot_s: i64,
    /// False for periods longer than 35 days (trend reports).
    pub searched: bool,
}

/// Everything a report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub period: Period,
    pub thresholds: Thresholds,
    pub incident_rule: IncidentRule,
    /// Worst first.
    pub incidents: Vec<Incident>,
    /// Worst first.
    pub regressions: Vec<Regression>,
    /// Where the regressions and incidents of app-wide indicators moved
    /// most, by dimension value, when the archive holds their breakdown
    /// (regressions first, then incidents, each worst first).
    pub attribution: Vec<attribution::Attribution>,
    /// In archive order: app, room, users, source, indicator.
    pub series: Vec<SeriesReport>,
    pub gaps: Vec<StreamGaps>,
    /// No point at all in the period (for the selected series).
    pub no_data: bool,
    #[serde(skip)]
    pub database: String,
}
