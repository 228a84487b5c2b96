//! Putting a report together: for each selected series, what [`gather`]
//! streamed from the archive, judged by [`rules`] (changes, coverage,
//! regressions) and [`incidents`] (slots against their baselines), plus
//! the gaps of each stream; then the incidents and regressions sorted
//! worst first.
//!
//! Dimension attribution (which platforms, networks or regions moved an
//! app-wide indicator most) is added at [`attribute`], from the regressions
//! and incidents found, through [`attribution::rank`].

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::attribution::{self, Attribution, TOP_VALUES, Trigger, ValueStats};
use super::gather;
use super::incidents::{self, Judged, SLOT_SECS, SlotMeans, slot_of};
use super::period::{Period, shift_days};
use super::rules::{Against, Direction, insufficient, judge, ratio};
use super::{
    GapInterval, Incident, IncidentRule, Options, Regression, Report, SeriesReport, StreamGaps,
    ThresholdOverride, Thresholds,
};
use crate::Source;
use crate::series::Dimension;
use crate::store::read::{SeriesFilter, StoredSeries};
use crate::store::{Store, StoreError};
use crate::timeutil;

/// The app-wide users-online series the traffic floor reads.
const USERS_ONLINE: &str = "online_user_count";

/// Computes the report: gathers each selected series and its stream's gaps,
/// judges them, and lists the incidents and regressions worst first.
pub fn build(store: &Store, opts: &Options) -> Result<Report, StoreError> {
    let period = Period::new(opts.period, opts.tz);
    let cfg = &opts.thresholds;
    let searched = period.seconds <= incidents::MAX_PERIOD_SECS;
    // the baselines reach `weeks` weeks back, a slot either side, and an
    // hour more for a DST change on the way
    let history_from = slot_of(shift_days(
        period.from,
        opts.tz,
        -7 * i64::from(cfg.incidents.weeks),
    )) - SLOT_SECS
        - 3600;
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
    let mut traffic = Traffic::default();
    let mut series = Vec::new();
    let mut regressions = Vec::new();
    let mut found = Vec::new();
    for s in &all {
        let direction = Direction::of(&s.key.indicator);
        // a breakdown's values are not judged one by one (four dimensions of
        // a dozen values each would bury the app's own regressions): they
        // explain the app-wide indicator's (see `attribute`)
        let breakdown = s.key.stream.source == Source::Distribution;
        let look = searched && direction != Direction::None && !breakdown;
        let d = gather::series_data(store, s, &period, look.then_some(history_from))?;
        let gap_seconds: i64 = gaps_by_stream[&s.stream_id].iter().map(|g| g.seconds).sum();
        if d.summary.count == 0
            && d.prev_day.count == 0
            && d.prev_week.count == 0
            && gap_seconds == 0
        {
            // nothing to say about it in this period
            continue;
        }
        let delay = s.key.stream.source.delay_secs();
        let buckets = period.due_buckets(opts.now, delay);
        let pd_buckets = period.previous_day.due_buckets(opts.now, delay);
        let pw_buckets = period.previous_week.due_buckets(opts.now, delay);
        let day_note = insufficient(d.prev_day.count, pd_buckets, cfg.min_coverage);
        let week_note = insufficient(d.prev_week.count, pw_buckets, cfg.min_coverage);
        let usable = |note: &Option<String>, avg: Option<f64>| avg.filter(|_| note.is_none());
        let threshold = cfg.threshold_for(&s.key.indicator);
        let verdict = judge(
            d.summary.avg,
            usable(&day_note, d.prev_day.value()),
            usable(&week_note, d.prev_week.value()),
            direction,
            threshold,
        );
        let regression = verdict.regression && !breakdown;
        if let (true, Some(w), Some(avg)) = (regression, verdict.worst, d.summary.avg) {
            let (previous, previous_buckets) = match w.against {
                Against::PreviousDay => (d.prev_day, pd_buckets),
                Against::PreviousWeek => (d.prev_week, pw_buckets),
            };
            regressions.push(Regression {
                series: s.key.clone(),
                unit: s.unit.clone(),
                avg,
                against: w.against,
                previous_avg: w.previous_avg,
                previous_count: previous.count,
                previous_coverage: ratio(previous.count, previous_buckets),
                change: w.change,
                worsening: w.worsening,
                threshold,
                day_change: verdict.day_change,
                week_change: verdict.week_change,
            });
        }
        let mut chart = d.chart;
        if let Some(h) = &d.history {
            let rule = incidents::Rule {
                direction,
                k: cfg.incidents.k,
                threshold,
                weeks: cfg.incidents.weeks,
            };
            let users = traffic.of(store, s, &period, cfg.incidents.min_users)?;
            let min_users = cfg.incidents.min_users;
            let quiet = |slot: i64| {
                users
                    .and_then(|u| u.get(slot))
                    .is_some_and(|u| u < min_users)
            };
            let judged = incidents::judge(&h.slots, period.from, period.to, opts.tz, &rule, &quiet);
            let here = incidents::find(&judged, &h.points, period.from, period.to, direction);
            if !here.is_empty() {
                chart.band = band(&judged, &period, chart.step);
                chart.incidents = here
                    .iter()
                    .map(|f| (hours(f.start, &period), hours(f.end, &period)))
                    .collect();
            }
            found.extend(here.into_iter().map(|f| Incident {
                series: s.key.clone(),
                start: timeutil::fmt_in(f.start, opts.tz),
                end: timeutil::fmt_in(f.end, opts.tz),
                start_ts: f.start,
                end_ts: f.end,
                peak: f.peak,
                baseline: f.baseline,
                deviation: f.deviation,
                duration_s: f.end - f.start,
                unit: s.unit.clone(),
                peak_ts: f.peak_ts,
                severity: f.severity,
            }));
        }
        series.push(SeriesReport {
            series: s.key.clone(),
            unit: s.unit.clone(),
            count: d.points,
            buckets,
            coverage: ratio(d.summary.count, buckets),
            coverage_30s: ratio(d.points_30s, buckets),
            gap_seconds,
            gap_share: ratio(gap_seconds, period.seconds),
            avg: d.summary.avg,
            min: d.summary.min,
            max: d.summary.max,
            p50: d.summary.p50,
            p95: d.summary.p95,
            prev_day_avg: d.prev_day.value(),
            prev_day_count: d.prev_day.count,
            prev_day_coverage: ratio(d.prev_day.count, pd_buckets),
            day_change: verdict.day_change,
            day_change_note: day_note,
            prev_week_avg: d.prev_week.value(),
            prev_week_count: d.prev_week.count,
            prev_week_coverage: ratio(d.prev_week.count, pw_buckets),
            week_change: verdict.week_change,
            week_change_note: week_note,
            direction,
            threshold,
            worsening: verdict.worst.map(|w| w.worsening),
            regression,
            stream_id: s.stream_id,
            chart,
        });
    }
    let no_data = series.iter().all(|s| s.count == 0);
    if no_data {
        series.clear();
        regressions.clear();
        found.clear();
    }
    // worst first; the sorts are stable, so ties keep the archive order
    regressions.sort_by(|a, b| b.worsening.total_cmp(&a.worsening));
    found.sort_by(|a, b| {
        b.severity
            .total_cmp(&a.severity)
            .then(b.duration_s.cmp(&a.duration_s))
    });
    let attribution = attribute(store, opts, &period, &regressions, &found)?;

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
            default: cfg.threshold,
            overrides: cfg
                .thresholds
                .iter()
                .map(|(p, t)| ThresholdOverride {
                    pattern: p.clone(),
                    threshold: *t,
                })
                .collect(),
            min_coverage: cfg.min_coverage,
        },
        incident_rule: IncidentRule {
            k: cfg.incidents.k,
            weeks: cfg.incidents.weeks,
            min_users: cfg.incidents.min_users,
            slot_s: SLOT_SECS,
            searched,
        },
        incidents: found,
        regressions,
        attribution,
        series,
        gaps,
        no_data,
        database: opts.database.clone(),
    })
}

/// The most incidents attributed: the worst ones (each reads every
/// breakdown series twice).
const MAX_ATTRIBUTED_INCIDENTS: usize = 10;

/// Names the dimension values that moved each regression and incident of
/// an app-wide quality indicator most, where the archive holds its
/// breakdown (the report's `--dimension`/`--dimension-value` narrow it).
fn attribute(
    store: &Store,
    opts: &Options,
    period: &Period,
    regressions: &[Regression],
    incidents: &[Incident],
) -> Result<Vec<Attribution>, StoreError> {
    // (app, indicator) → its breakdown series, read once
    let mut breakdowns: BTreeMap<(String, String), Vec<StoredSeries>> = BTreeMap::new();
    let mut out = Vec::new();
    let windows = regressions
        .iter()
        .map(|r| {
            let previous = match r.against {
                Against::PreviousDay => &period.previous_day,
                Against::PreviousWeek => &period.previous_week,
            };
            (
                &r.series,
                &r.unit,
                Trigger::Regression,
                Some(r.against),
                (period.from, period.to),
                (previous.from, previous.to),
            )
        })
        .chain(incidents.iter().take(MAX_ATTRIBUTED_INCIDENTS).map(|i| {
            let week_before = |ts| shift_days(ts, opts.tz, -7);
            (
                &i.series,
                &i.unit,
                Trigger::Incident,
                None,
                (i.start_ts, i.end_ts),
                (week_before(i.start_ts), week_before(i.end_ts)),
            )
        }));
    for (key, unit, trigger, against, (from, to), (previous_from, previous_to)) in windows {
        let stream = &key.stream;
        if stream.source == Source::Distribution
            || stream.room_id.is_some()
            || !stream.user_ids.is_empty()
        {
            continue;
        }
        let lookup = (stream.app_id.clone(), key.indicator.clone());
        if !breakdowns.contains_key(&lookup) {
            let found: Vec<StoredSeries> = store
                .select_series(&SeriesFilter {
                    apps: vec![stream.app_id.clone()],
                    sources: vec![Source::Distribution],
                    dimensions: opts.filter.dimensions.clone(),
                    dimension_values: opts.filter.dimension_values.clone(),
                    ..SeriesFilter::default()
                })?
                .into_iter()
                .filter(|s| s.key.indicator == key.indicator)
                .collect();
            breakdowns.insert(lookup.clone(), found);
        }
        let series = &breakdowns[&lookup];
        if series.is_empty() {
            continue;
        }
        let mut by_dimension: BTreeMap<Dimension, Vec<(String, ValueStats)>> = BTreeMap::new();
        for s in series {
            let (Some(d), Some(value)) = (s.key.stream.dimension, &s.key.dimension_value) else {
                continue;
            };
            let now = store.sql_stats(s.id, from, to)?;
            let before = store.sql_stats(s.id, previous_from, previous_to)?;
            by_dimension.entry(d).or_default().push((
                value.clone(),
                // a value's weight is the buckets its points stand for
                ValueStats {
                    count: now.buckets,
                    avg: now.avg,
                    previous_count: before.buckets,
                    previous_avg: before.avg,
                },
            ));
        }
        let direction = Direction::of(&key.indicator);
        let dimensions: Vec<_> = by_dimension
            .into_iter()
            .map(|(d, values)| attribution::rank(d, direction, &values, TOP_VALUES))
            .filter(|d| !d.values.is_empty())
            .collect();
        if dimensions.is_empty() {
            continue;
        }
        out.push(Attribution {
            app_id: stream.app_id.clone(),
            indicator: key.indicator.clone(),
            unit: unit.clone(),
            trigger,
            against,
            from,
            to,
            from_time: timeutil::fmt_in(from, opts.tz),
            to_time: timeutil::fmt_in(to, opts.tz),
            previous_from,
            previous_to,
            dimensions,
        });
    }
    Ok(out)
}

/// Hours since the period's start, the charts' x.
fn hours(ts: i64, period: &Period) -> f64 {
    (ts - period.from) as f64 / 3600.0
}

/// The normal band of a series (baseline ± bar) at the chart's step:
/// slots averaged into steps where the step is longer than a slot.
fn band(judged: &[Judged], period: &Period, step: i64) -> Vec<(f64, f64, f64)> {
    let mut steps: BTreeMap<i64, (f64, f64, u32)> = BTreeMap::new();
    for j in judged {
        let Some(b) = j.baseline else { continue };
        let i = (j.slot.max(period.from) - period.from).div_euclid(step.max(SLOT_SECS));
        let e = steps.entry(i).or_insert((0.0, 0.0, 0));
        e.0 += b.median - j.bar;
        e.1 += b.median + j.bar;
        e.2 += 1;
    }
    steps
        .into_iter()
        .map(|(i, (lo, hi, n))| {
            let x = (i * step.max(SLOT_SECS)) as f64 / 3600.0;
            (x, lo / f64::from(n), hi / f64::from(n))
        })
        .collect()
}

/// The users online per app (app-wide `online_user_count`), read once per
/// app and only when a traffic floor is set.
#[derive(Default)]
struct Traffic {
    by_app: HashMap<String, Option<SlotMeans>>,
}

impl Traffic {
    fn of(
        &mut self,
        store: &Store,
        s: &StoredSeries,
        period: &Period,
        min_users: f64,
    ) -> Result<Option<&SlotMeans>, StoreError> {
        if min_users <= 0.0 {
            return Ok(None);
        }
        let app = &s.key.stream.app_id;
        if !self.by_app.contains_key(app) {
            let users = store
                .select_series(&SeriesFilter {
                    indicators: vec![USERS_ONLINE.into()],
                    apps: vec![app.clone()],
                    sources: vec![Source::Operation],
                    ..SeriesFilter::default()
                })?
                .into_iter()
                .find(|u| u.key.stream.room_id.is_none() && u.key.stream.user_ids.is_empty());
            let means = match users {
                Some(u) => Some(gather::slot_means(store, u.id, period.from, period.to)?),
                None => {
                    tracing::warn!(
                        app = %app,
                        "[report.incidents] min_users is set but the archive holds no app-wide \
                         {USERS_ONLINE} for this app: its incidents are not filtered by traffic"
                    );
                    None
                }
            };
            self.by_app.insert(app.clone(), means);
        }
        Ok(self.by_app[app].as_ref())
    }
}
