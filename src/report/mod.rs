//! `rtc-archiver report`: per-series statistics of a day (or any period),
//! their change against the previous day and the same weekday a week
//! before, the regressions among them, and the gaps the ledger records.
//!
//! Stage by stage: [`gather`] reads what is needed through the store
//! (points streamed series by series, never the whole archive), [`rules`]
//! decides (pure functions, table-tested), [`build`] puts the two together
//! into a [`Report`], and the formats only render it ([`markdown`],
//! [`html`] with [`chart`], and [`data`] for JSON and CSV), with the
//! numbers and times printed by [`format`], so they never disagree.

pub mod chart;
pub mod data;
pub mod format;
pub mod gather;
pub mod html;
pub mod markdown;
pub mod period;
pub mod rules;

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use crate::store::Store;
use chrono_tz::Tz;
use serde::Serialize;

pub use period::{Period, PeriodSpec, Span, shift_days};
pub use rules::{Against, Direction, Summary};

use crate::config::ReportConfig;
use crate::series::{SeriesKey, StreamKey};
use crate::store::StoreError;
use crate::store::read::SeriesFilter;
use rules::{judge, ratio};

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
}

/// Downsampled lines of one series for its chart: x in hours since the
/// start of the period (of the previous period, for `previous`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartLines {
    pub step: i64,
    pub current: Vec<(f64, f64)>,
    pub previous: Vec<(f64, f64)>,
}

/// One series' statistics and changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesReport {
    #[serde(flatten)]
    pub series: SeriesKey,
    pub unit: Option<String>,
    /// Points in the period.
    pub count: i64,
    /// 30-second buckets in the period.
    pub buckets: i64,
    /// count / buckets.
    pub coverage: f64,
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
    /// avg − prev_day_avg.
    pub day_change: Option<f64>,
    pub prev_week_avg: Option<f64>,
    /// avg − prev_week_avg.
    pub week_change: Option<f64>,
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
    /// avg − previous_avg.
    pub change: f64,
    /// How much worse (positive), in the indicator's unit.
    pub worsening: f64,
    pub threshold: f64,
    pub day_change: Option<f64>,
    pub week_change: Option<f64>,
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
}

/// Everything a report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub period: Period,
    pub thresholds: Thresholds,
    /// Worst first.
    pub regressions: Vec<Regression>,
    /// In archive order: app, room, users, source, indicator.
    pub series: Vec<SeriesReport>,
    pub gaps: Vec<StreamGaps>,
    /// No point at all in the period (for the selected series).
    pub no_data: bool,
    #[serde(skip)]
    pub database: String,
}

/// Computes the report: gathers each selected series and its stream's gaps,
/// judges them, and lists the regressions worst first.
pub fn build(store: &Store, opts: &Options) -> Result<Report, StoreError> {
    let period = Period::new(opts.period, opts.tz);
    let all = store.select_series(&opts.filter)?;
    let mut gaps_by_stream: BTreeMap<i64, Vec<GapInterval>> = BTreeMap::new();
    for s in &all {
        if let Entry::Vacant(e) = gaps_by_stream.entry(s.stream_id) {
            e.insert(gather::stream_gaps(
                store,
                s.stream_id,
                period.from,
                period.to,
                opts.tz,
            )?);
        }
    }
    let mut series = Vec::new();
    let mut regressions = Vec::new();
    for s in &all {
        let d = gather::series_data(store, s, &period)?;
        let gap_seconds: i64 = gaps_by_stream[&s.stream_id].iter().map(|g| g.seconds).sum();
        if d.summary.count == 0 && d.prev_day.is_none() && d.prev_week.is_none() && gap_seconds == 0
        {
            // nothing to say about it in this period
            continue;
        }
        let direction = Direction::of(&s.key.indicator);
        let threshold = opts.thresholds.threshold_for(&s.key.indicator);
        let verdict = judge(d.summary.avg, d.prev_day, d.prev_week, direction, threshold);
        if let (true, Some(w), Some(avg)) = (verdict.regression, verdict.worst, d.summary.avg) {
            regressions.push(Regression {
                series: s.key.clone(),
                unit: s.unit.clone(),
                avg,
                against: w.against,
                previous_avg: w.previous_avg,
                change: w.change,
                worsening: w.worsening,
                threshold,
                day_change: verdict.day_change,
                week_change: verdict.week_change,
            });
        }
        series.push(SeriesReport {
            series: s.key.clone(),
            unit: s.unit.clone(),
            count: d.summary.count,
            buckets: period.buckets,
            coverage: ratio(d.summary.count, period.buckets),
            gap_seconds,
            gap_share: ratio(gap_seconds, period.seconds),
            avg: d.summary.avg,
            min: d.summary.min,
            max: d.summary.max,
            p50: d.summary.p50,
            p95: d.summary.p95,
            prev_day_avg: d.prev_day,
            day_change: verdict.day_change,
            prev_week_avg: d.prev_week,
            week_change: verdict.week_change,
            direction,
            threshold,
            worsening: verdict.worst.map(|w| w.worsening),
            regression: verdict.regression,
            stream_id: s.stream_id,
            chart: d.chart,
        });
    }
    let no_data = series.iter().all(|s| s.count == 0);
    if no_data {
        series.clear();
        regressions.clear();
    }
    // worst first; the sort is stable, so ties keep the archive order
    regressions.sort_by(|a, b| b.worsening.total_cmp(&a.worsening));

    let mut gaps = Vec::new();
    let mut seen = BTreeSet::new();
    for s in &all {
        if !seen.insert(s.stream_id) {
            continue;
        }
        let intervals = gaps_by_stream.remove(&s.stream_id).unwrap_or_default();
        if intervals.is_empty() {
            continue;
        }
        let seconds = intervals.iter().map(|g| g.seconds).sum();
        gaps.push(StreamGaps {
            stream: s.key.stream.clone(),
            seconds,
            share: ratio(seconds, period.seconds),
            intervals,
        });
    }
    Ok(Report {
        period,
        thresholds: Thresholds {
            default: opts.thresholds.threshold,
            overrides: opts
                .thresholds
                .thresholds
                .iter()
                .map(|(p, t)| ThresholdOverride {
                    pattern: p.clone(),
                    threshold: *t,
                })
                .collect(),
        },
        regressions,
        series,
        gaps,
        no_data,
        database: opts.database.clone(),
    })
}
