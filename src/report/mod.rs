//! `rtc-archiver report`: per-series statistics of a day (or any period),
//! their change against the previous day and the same weekday a week
//! before, the regressions among them, and the gaps the ledger records.
//!
//! Everything is computed here, once, into a [`Report`]; the formats in
//! [`markdown`], [`html`] and [`data`] (JSON, CSV) only render it, so they
//! can never disagree about a number.
//!
//! Points are streamed series by series with [`read::for_each_point`]: three
//! periods (the day, the day before, the same weekday a week before) per
//! series, never the whole archive.

pub mod chart;
pub mod data;
pub mod html;
pub mod markdown;

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Tz;
use rusqlite::Connection;
use serde::Serialize;

use crate::config::ReportConfig;
use crate::query::percentile;
use crate::store::read::{self, SeriesFilter, SeriesInfo};
use crate::store::{StoreError, bucket_of};
use crate::timeutil;

/// Tolerance when comparing a change with a threshold, so that a change of
/// exactly the threshold computed as 1.0000000000000009 is not "more than" it.
const EPSILON: f64 = 1e-9;

/// Chart resolution for periods up to two days: 5-minute averages.
const CHART_STEP: i64 = 300;
/// At most this many chart points per line for longer periods.
const CHART_MAX_POINTS: i64 = 576;

/// Which period to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodSpec {
    /// A calendar day in the zone.
    Day(NaiveDate),
    /// `[from, to)`, Unix seconds.
    Range { from: i64, to: i64 },
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

/// A time interval `[from, to)` with its times in the report's zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub from_time: String,
    pub to_time: String,
    /// The calendar day, for day reports.
    pub day: Option<String>,
}

impl Window {
    fn new(from: i64, to: i64, tz: Tz, day: Option<NaiveDate>) -> Window {
        Window {
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

    /// The number of 30-second buckets starting in the window, as
    /// [`read::for_each_point`] counts them.
    pub fn buckets(&self) -> i64 {
        bucket_of(self.to + 29) - bucket_of(self.from + 29)
    }
}

/// The reported period and the two it is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: i64,
    pub to: i64,
    pub from_time: String,
    pub to_time: String,
    pub tz: String,
    /// `YYYY-MM-DD` for a day report, else null.
    pub day: Option<String>,
    pub seconds: i64,
    pub buckets: i64,
    /// The day before (for a range: the period of the same length just before).
    pub previous_day: Window,
    /// The same weekday a week before (the period shifted by 7 calendar days).
    pub previous_week: Window,
}

impl Period {
    pub fn new(spec: PeriodSpec, tz: Tz) -> Period {
        let (current, prev_day, prev_week) = match spec {
            PeriodSpec::Day(d) => {
                let days = |n: i64| d + chrono::Duration::days(n);
                let w = |n: i64| {
                    Window::new(
                        timeutil::day_start(days(n), tz),
                        timeutil::day_start(days(n + 1), tz),
                        tz,
                        Some(days(n)),
                    )
                };
                (w(0), w(-1), w(-7))
            }
            PeriodSpec::Range { from, to } => (
                Window::new(from, to, tz, None),
                Window::new(from - (to - from), from, tz, None),
                Window::new(shift_days(from, tz, -7), shift_days(to, tz, -7), tz, None),
            ),
        };
        Period {
            from: current.from,
            to: current.to,
            from_time: current.from_time.clone(),
            to_time: current.to_time.clone(),
            tz: tz.name().to_string(),
            day: current.day.clone(),
            seconds: current.seconds(),
            buckets: current.buckets(),
            previous_day: prev_day,
            previous_week: prev_week,
        }
    }

    pub fn zone(&self) -> Tz {
        self.tz.parse().unwrap_or(Tz::UTC)
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

/// Which way an indicator gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Success rates.
    HigherIsBetter,
    /// Stall rates and delays.
    LowerIsBetter,
    /// Counts and anything else: never a regression.
    None,
}

impl Direction {
    pub fn of(indicator: &str) -> Direction {
        if indicator.contains("success_rate") {
            Direction::HigherIsBetter
        } else if indicator.contains("stall_rate") || indicator.contains("delay") {
            Direction::LowerIsBetter
        } else {
            Direction::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
            Direction::None => "none",
        }
    }

    /// How much worse a change (current − previous) is: positive when worse,
    /// `None` for indicators without a direction.
    pub fn worsening(self, change: f64) -> Option<f64> {
        match self {
            Direction::HigherIsBetter => Some(-change),
            Direction::LowerIsBetter => Some(change),
            Direction::None => None,
        }
    }
}

/// Count, average, extremes and percentiles of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: i64,
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

impl Summary {
    /// Summarises values given in time order (the sum is taken in that
    /// order, as SQLite's `avg` would); sorts them for the percentiles.
    pub fn of(values: &mut [f64]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        let sum: f64 = values.iter().sum();
        values.sort_by(f64::total_cmp);
        Summary {
            count: values.len() as i64,
            avg: Some(sum / values.len() as f64),
            min: values.first().copied(),
            max: values.last().copied(),
            p50: percentile(values, 50.0),
            p95: percentile(values, 95.0),
        }
    }
}

/// Count and sum, for the comparison periods.
#[derive(Debug, Clone, Copy, Default)]
struct Mean {
    count: i64,
    sum: f64,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
    }

    fn value(self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Averages over fixed steps from a start, for the charts.
#[derive(Debug, Clone)]
struct Bins {
    from: i64,
    step: i64,
    bins: Vec<Mean>,
}

impl Bins {
    fn new(from: i64, to: i64, step: i64) -> Bins {
        let n = ((to - from).max(0) + step - 1) / step;
        Bins {
            from,
            step,
            bins: vec![Mean::default(); n as usize],
        }
    }

    fn add(&mut self, ts: i64, v: f64) {
        let i = (ts - self.from).div_euclid(self.step);
        if let Some(b) = usize::try_from(i).ok().and_then(|i| self.bins.get_mut(i)) {
            b.add(v);
        }
    }

    /// (hours since the start of the bin's period, average) of the bins with data.
    fn points(&self) -> Vec<(f64, f64)> {
        self.bins
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                b.value()
                    .map(|v| ((i as i64 * self.step) as f64 / 3600.0, v))
            })
            .collect()
    }
}

/// The chart step for a period: 5 minutes, or longer so a line has at most
/// [`CHART_MAX_POINTS`] points.
pub fn chart_step(seconds: i64) -> i64 {
    let steps = (seconds + CHART_MAX_POINTS * CHART_STEP - 1) / (CHART_MAX_POINTS * CHART_STEP);
    CHART_STEP * steps.max(1)
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
    pub app_id: String,
    pub room_id: Option<String>,
    pub user_ids: Option<String>,
    pub source: String,
    pub indicator: String,
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
        let mut s = self.app_id.clone();
        if let Some(r) = &self.room_id {
            s.push_str(" / ");
            s.push_str(r);
        }
        if let Some(u) = &self.user_ids {
            s.push_str(" / ");
            s.push_str(u);
        }
        s
    }

    /// The comparison that got worse the most: (against, change, previous avg, worsening).
    fn worst(&self) -> Option<(Against, f64, f64, f64)> {
        let mut best: Option<(Against, f64, f64, f64)> = None;
        for (against, change, prev) in [
            (Against::PreviousDay, self.day_change, self.prev_day_avg),
            (Against::PreviousWeek, self.week_change, self.prev_week_avg),
        ] {
            let (Some(change), Some(prev)) = (change, prev) else {
                continue;
            };
            let Some(w) = self.direction.worsening(change) else {
                continue;
            };
            if best.is_none_or(|b| w > b.3) {
                best = Some((against, change, prev, w));
            }
        }
        best
    }
}

/// Which comparison a regression is against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Against {
    PreviousDay,
    PreviousWeek,
}

impl Against {
    pub fn as_str(self) -> &'static str {
        match self {
            Against::PreviousDay => "previous_day",
            Against::PreviousWeek => "previous_week",
        }
    }
}

/// A series whose average got worse by more than its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    pub app_id: String,
    pub room_id: Option<String>,
    pub user_ids: Option<String>,
    pub source: String,
    pub indicator: String,
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
    pub app_id: String,
    pub room_id: Option<String>,
    pub user_ids: Option<String>,
    pub source: String,
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

/// Interval `[a, b)` pieces merged into their union, sorted.
pub fn merge_intervals(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.retain(|(a, b)| a < b);
    v.sort();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The ledger's gaps of a stream overlapping `[from, to)`, merged and clipped.
fn stream_gaps(
    conn: &Connection,
    stream: i64,
    from: i64,
    to: i64,
    tz: Tz,
) -> Result<Vec<GapInterval>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT indicator, start_ts, end_ts, cause FROM gap_log
         WHERE stream_id = ?1 AND end_ts > ?2 AND start_ts < ?3 ORDER BY start_ts, indicator",
    )?;
    let rows: Vec<(String, i64, i64, String)> = stmt
        .query_map(rusqlite::params![stream, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let clipped: Vec<(i64, i64)> = rows
        .iter()
        .map(|(_, a, b, _)| ((*a).max(from), (*b).min(to)))
        .collect();
    Ok(merge_intervals(clipped)
        .into_iter()
        .map(|(start, end)| {
            let mut causes = BTreeSet::new();
            let mut indicators = BTreeSet::new();
            for (ind, a, b, cause) in &rows {
                if *a < end && *b > start {
                    causes.insert(cause.clone());
                    indicators.insert(ind.clone());
                }
            }
            GapInterval {
                start,
                end,
                start_time: timeutil::fmt_in(start, tz),
                end_time: timeutil::fmt_in(end, tz),
                seconds: end - start,
                causes: causes.into_iter().collect(),
                indicators: indicators.into_iter().collect(),
            }
        })
        .collect())
}

/// What streaming one series through the three periods gives.
struct SeriesData {
    summary: Summary,
    prev_day: Option<f64>,
    prev_week: Option<f64>,
    chart: ChartLines,
}

fn series_data(
    conn: &Connection,
    s: &SeriesInfo,
    period: &Period,
) -> Result<SeriesData, StoreError> {
    let step = chart_step(period.seconds);
    // as many as the points that come, not as the period could hold: a
    // century's buckets would be gigabytes before the first point
    let mut values = Vec::new();
    let mut bins = Bins::new(period.from, period.to, step);
    read::for_each_point::<StoreError>(conn, s.id, period.from, period.to, |ts, v| {
        values.push(v);
        bins.add(ts, v);
        Ok(())
    })?;
    let pd = &period.previous_day;
    let mut prev_bins = Bins::new(pd.from, pd.to, step);
    let mut prev_day = Mean::default();
    read::for_each_point::<StoreError>(conn, s.id, pd.from, pd.to, |ts, v| {
        prev_day.add(v);
        prev_bins.add(ts, v);
        Ok(())
    })?;
    let pw = &period.previous_week;
    let mut prev_week = Mean::default();
    read::for_each_point::<StoreError>(conn, s.id, pw.from, pw.to, |_, v| {
        prev_week.add(v);
        Ok(())
    })?;
    Ok(SeriesData {
        summary: Summary::of(&mut values),
        prev_day: prev_day.value(),
        prev_week: prev_week.value(),
        chart: ChartLines {
            step,
            current: bins.points(),
            previous: prev_bins.points(),
        },
    })
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// Computes the report.
pub fn build(conn: &Connection, opts: &Options) -> Result<Report, StoreError> {
    let period = Period::new(opts.period, opts.tz);
    let all = read::select_series(conn, &opts.filter)?;
    let mut gaps_by_stream: BTreeMap<i64, Vec<GapInterval>> = BTreeMap::new();
    for s in &all {
        if let Entry::Vacant(e) = gaps_by_stream.entry(s.stream_id) {
            e.insert(stream_gaps(
                conn,
                s.stream_id,
                period.from,
                period.to,
                opts.tz,
            )?);
        }
    }
    let mut series = Vec::new();
    for s in &all {
        let d = series_data(conn, s, &period)?;
        let gap_seconds: i64 = gaps_by_stream[&s.stream_id].iter().map(|g| g.seconds).sum();
        if d.summary.count == 0 && d.prev_day.is_none() && d.prev_week.is_none() && gap_seconds == 0
        {
            // nothing to say about it in this period
            continue;
        }
        let direction = Direction::of(&s.indicator);
        let threshold = opts.thresholds.threshold_for(&s.indicator);
        let mut r = SeriesReport {
            app_id: s.app_id.clone(),
            room_id: s.room_id.clone(),
            user_ids: s.user_ids.clone(),
            source: s.source.as_str().to_string(),
            indicator: s.indicator.clone(),
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
            day_change: diff(d.summary.avg, d.prev_day),
            prev_week_avg: d.prev_week,
            week_change: diff(d.summary.avg, d.prev_week),
            direction,
            threshold,
            worsening: None,
            regression: false,
            stream_id: s.stream_id,
            chart: d.chart,
        };
        if let Some((_, _, _, w)) = r.worst() {
            r.worsening = Some(w);
            r.regression = w > threshold + EPSILON;
        }
        series.push(r);
    }
    let no_data = series.iter().all(|s| s.count == 0);
    if no_data {
        series.clear();
    }
    let mut regressions: Vec<Regression> = series
        .iter()
        .filter(|s| s.regression)
        .filter_map(|s| {
            let (against, change, previous_avg, worsening) = s.worst()?;
            Some(Regression {
                app_id: s.app_id.clone(),
                room_id: s.room_id.clone(),
                user_ids: s.user_ids.clone(),
                source: s.source.clone(),
                indicator: s.indicator.clone(),
                unit: s.unit.clone(),
                avg: s.avg?,
                against,
                previous_avg,
                change,
                worsening,
                threshold: s.threshold,
                day_change: s.day_change,
                week_change: s.week_change,
            })
        })
        .collect();
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
            app_id: s.app_id.clone(),
            room_id: s.room_id.clone(),
            user_ids: s.user_ids.clone(),
            source: s.source.as_str().to_string(),
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

fn ratio(a: i64, b: i64) -> f64 {
    if b <= 0 { 0.0 } else { a as f64 / b as f64 }
}

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
    let t = DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&tz);
    if period.multi_day() || period.day.is_none() {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z

    #[test]
    fn summaries_match_a_reference() {
        let mut v = vec![3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let s = Summary::of(&mut v);
        assert_eq!(s.count, 8);
        assert_eq!(s.avg, Some(31.0 / 8.0));
        assert_eq!((s.min, s.max), (Some(1.0), Some(9.0)));
        // sorted 1 1 2 3 4 5 6 9: rank 3.5 → 3.5; rank 6.65 → 6 + 0.65 * 3
        assert_eq!(s.p50, Some(3.5));
        assert!((s.p95.unwrap() - 7.95).abs() < 1e-12);
        assert_eq!(Summary::of(&mut []), Summary::default());
        let one = Summary::of(&mut [2.5]);
        assert_eq!((one.p50, one.p95), (Some(2.5), Some(2.5)));
    }

    #[test]
    fn directions() {
        assert_eq!(
            Direction::of("5s_join_room_success_rate"),
            Direction::HigherIsBetter
        );
        assert_eq!(
            Direction::of("video_first_frame_recv_success_rate"),
            Direction::HigherIsBetter
        );
        assert_eq!(
            Direction::of("80ms_audio_stall_rate"),
            Direction::LowerIsBetter
        );
        assert_eq!(
            Direction::of("network_trans_delay"),
            Direction::LowerIsBetter
        );
        assert_eq!(Direction::of("online_user_count"), Direction::None);
        assert_eq!(Direction::HigherIsBetter.worsening(-0.5), Some(0.5));
        assert_eq!(Direction::LowerIsBetter.worsening(-0.5), Some(-0.5));
        assert_eq!(Direction::None.worsening(100.0), None);
    }

    #[test]
    fn intervals_merge() {
        assert_eq!(
            merge_intervals(vec![
                (10, 20),
                (0, 5),
                (15, 30),
                (30, 40),
                (50, 50),
                (45, 60)
            ]),
            [(0, 5), (10, 40), (45, 60)]
        );
        assert!(merge_intervals(vec![]).is_empty());
    }

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

    #[test]
    fn chart_bins_average_and_skip_empty_steps() {
        let mut b = Bins::new(DAY, DAY + 3600, 300);
        b.add(DAY, 1.0);
        b.add(DAY + 30, 3.0);
        b.add(DAY + 900, 5.0);
        b.add(DAY + 3600, 100.0); // outside
        b.add(DAY - 30, 100.0); // outside
        assert_eq!(b.points(), [(0.0, 2.0), (0.25, 5.0)]);
        assert_eq!(chart_step(86400), 300);
        assert_eq!(chart_step(25 * 3600), 300);
        assert!(86400 * 30 / chart_step(86400 * 30) <= CHART_MAX_POINTS);
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt2(Some(1.005)), "1.00");
        assert_eq!(fmt2(Some(-0.001)), "0.00");
        assert_eq!(fmt2(None), "n/a");
        assert_eq!(fmt_change(Some(1.0)), "+1.00");
        assert_eq!(fmt_change(Some(-0.5)), "-0.50");
        assert_eq!(fmt_change(Some(-0.0001)), "0.00");
        assert_eq!(fmt_pct(0.99652777), "99.65");
    }
}
