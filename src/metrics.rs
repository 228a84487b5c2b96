//! Prometheus metrics of the collector, served by `collect --metrics-listen`:
//! requests by action and outcome, retries, points written, revised and
//! skipped, last success and lag per series, gaps, rate-limiter waits.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::Source;
use crate::budget::{self, Limit};
use crate::config::Config;
use crate::notify::NotifyCounters;
use crate::pacer::Usage;
use crate::series::StreamKey;
use crate::store::WriteStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct OutcomeLabels {
    action: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct PointLabels {
    action: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct OutcomeOnly {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct BudgetLabels {
    action: String,
    /// `minute` or `day`.
    window: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct SeriesLabels {
    source: String,
    app_id: String,
    room_id: String,
    user_ids: String,
    indicator: String,
    /// The breakdown's dimension (`OS`, ...); empty for the other sources.
    dimension: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct StreamLabels {
    source: String,
    app_id: String,
    room_id: String,
    user_ids: String,
    /// The breakdown's dimension (`OS`, ...); empty for the other sources.
    dimension: String,
}

fn stream_labels(key: &StreamKey) -> StreamLabels {
    StreamLabels {
        source: key.source.as_str().into(),
        app_id: key.app_id.clone(),
        room_id: key.room_id.clone().unwrap_or_default(),
        user_ids: key.user_ids.joined().to_string(),
        dimension: key.dimension.map(|d| d.as_str()).unwrap_or("").into(),
    }
}

fn action(source: Source) -> ActionLabels {
    ActionLabels {
        action: source.action().into(),
    }
}

type FloatCounter = Counter<f64, AtomicU64>;

/// The collector's metrics. Cheap to update; rendered on scrape.
pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    request_seconds: Family<ActionLabels, FloatCounter>,
    retries: Family<ActionLabels, Counter>,
    points: Family<PointLabels, Counter>,
    gaps: Family<ActionLabels, Counter>,
    gap_seconds: Family<ActionLabels, Counter>,
    gaps_repaired: Family<ActionLabels, Counter>,
    gap_seconds_repaired: Family<ActionLabels, Counter>,
    limiter_waits: Family<ActionLabels, Counter>,
    limiter_wait_seconds: Family<ActionLabels, FloatCounter>,
    stream_failures: Family<StreamLabels, Counter>,
    last_success: Family<SeriesLabels, Gauge>,
    archived_until: Family<SeriesLabels, Gauge>,
    lag: Family<SeriesLabels, Gauge>,
    worst_lag: Gauge,
    notifications: Family<OutcomeOnly, Gauge>,
    budget_used: Family<BudgetLabels, Gauge>,
    budget_allowed: Family<BudgetLabels, Gauge>,
    budget_waiting: Family<ActionLabels, Gauge>,
    demand: Family<ActionLabels, Gauge>,
    capacity: Family<ActionLabels, Gauge>,
    progress: Mutex<BTreeMap<SeriesLabels, i64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rtc_archiver");
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::default(),
            retries: Family::default(),
            points: Family::default(),
            gaps: Family::default(),
            gap_seconds: Family::default(),
            gaps_repaired: Family::default(),
            gap_seconds_repaired: Family::default(),
            limiter_waits: Family::default(),
            limiter_wait_seconds: Family::default(),
            stream_failures: Family::default(),
            last_success: Family::default(),
            archived_until: Family::default(),
            lag: Family::default(),
            worst_lag: Gauge::default(),
            notifications: Family::default(),
            budget_used: Family::default(),
            budget_allowed: Family::default(),
            budget_waiting: Family::default(),
            demand: Family::default(),
            capacity: Family::default(),
            progress: Mutex::new(BTreeMap::new()),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "API requests by action and outcome",
            m.requests.clone(),
        );
        registry.register(
            "request_seconds",
            "Time spent in API requests",
            m.request_seconds.clone(),
        );
        registry.register(
            "retries",
            "Requests retried after a retryable failure",
            m.retries.clone(),
        );
        registry.register(
            "points",
            "Points by what the archive did with them: new, revised, unchanged, skipped",
            m.points.clone(),
        );
        registry.register("gaps", "Intervals recorded as lost", m.gaps.clone());
        registry.register(
            "gap_seconds",
            "Seconds of data recorded as lost",
            m.gap_seconds.clone(),
        );
        registry.register(
            "gaps_repaired",
            "Recorded gaps filled from the offline API at 5 minutes, by the offline action",
            m.gaps_repaired.clone(),
        );
        registry.register(
            "gap_seconds_repaired",
            "Seconds of recorded gaps filled from the offline API at 5 minutes",
            m.gap_seconds_repaired.clone(),
        );
        registry.register(
            "rate_limiter_waits",
            "Requests that waited for the rate limiter",
            m.limiter_waits.clone(),
        );
        registry.register(
            "rate_limiter_wait_seconds",
            "Time spent waiting for the rate limiter",
            m.limiter_wait_seconds.clone(),
        );
        registry.register(
            "stream_failures",
            "Windows that failed after retries, per target and action",
            m.stream_failures.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When a series last got a stored answer",
            m.last_success.clone(),
        );
        registry.register(
            "archived_until_timestamp_seconds",
            "Every bucket before this time has been fetched",
            m.archived_until.clone(),
        );
        registry.register(
            "lag_seconds",
            "How far the archive trails now (at scrape time)",
            m.lag.clone(),
        );
        registry.register(
            "worst_lag_seconds",
            "The largest lag_seconds of any series (at scrape time)",
            m.worst_lag.clone(),
        );
        registry.register(
            "notifications",
            "Notification messages since start, by outcome: sent, failed (given up), retried, dropped (a full queue)",
            m.notifications.clone(),
        );
        registry.register(
            "budget_requests",
            "Requests of an action granted in the last minute (this process) or today (UTC, as the archive counts them)",
            m.budget_used.clone(),
        );
        registry.register(
            "budget_allowed_requests",
            "Requests of an action its limit allows per minute, and per day (its quota, or its rate over a day)",
            m.budget_allowed.clone(),
        );
        registry.register(
            "budget_waiting_streams",
            "Streams waiting for their action's turn now",
            m.budget_waiting.clone(),
        );
        registry.register(
            "demand_requests",
            "Requests one round of an action needs (one per target asking for it)",
            m.demand.clone(),
        );
        registry.register(
            "capacity_requests",
            "Requests an action's limit allows before data slides out of the 60-minute reach: the most targets that fit",
            m.capacity.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn request(&self, source: Source, outcome: &str, latency: Duration) {
        self.requests
            .get_or_create(&OutcomeLabels {
                action: source.action().into(),
                outcome: outcome.into(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&action(source))
            .inc_by(latency.as_secs_f64());
    }

    pub fn retry(&self, source: Source) {
        self.retries.get_or_create(&action(source)).inc();
    }

    pub fn limiter_wait(&self, source: Source, waited: Duration) {
        if waited >= Duration::from_millis(1) {
            self.limiter_waits.get_or_create(&action(source)).inc();
            self.limiter_wait_seconds
                .get_or_create(&action(source))
                .inc_by(waited.as_secs_f64());
        }
    }

    pub fn stored(&self, source: Source, w: WriteStats, skipped: u64) {
        for (kind, n) in [
            ("new", w.new),
            ("revised", w.revised),
            ("unchanged", w.unchanged),
            ("skipped", skipped),
        ] {
            self.points
                .get_or_create(&PointLabels {
                    action: source.action().into(),
                    kind: kind.into(),
                })
                .inc_by(n);
        }
    }

    pub fn gap_recorded(&self, source: Source, secs: i64) {
        self.gaps.get_or_create(&action(source)).inc();
        self.gap_seconds
            .get_or_create(&action(source))
            .inc_by(secs.max(0) as u64);
    }

    /// Gaps the collector's repair filled from an offline action.
    pub fn gaps_repaired(&self, offline: crate::series::Action, gaps: u64, secs: i64) {
        let a = ActionLabels {
            action: offline.name().into(),
        };
        self.gaps_repaired.get_or_create(&a).inc_by(gaps);
        self.gap_seconds_repaired
            .get_or_create(&a)
            .inc_by(secs.max(0) as u64);
    }

    pub fn failure(&self, key: &StreamKey) {
        self.stream_failures
            .get_or_create(&stream_labels(key))
            .inc();
    }

    pub fn success(&self, key: &StreamKey, series: &[String], done: i64, now: i64) {
        let s = stream_labels(key);
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        for indicator in series {
            let labels = SeriesLabels {
                source: s.source.clone(),
                app_id: s.app_id.clone(),
                room_id: s.room_id.clone(),
                user_ids: s.user_ids.clone(),
                indicator: indicator.clone(),
                dimension: s.dimension.clone(),
            };
            self.last_success.get_or_create(&labels).set(now);
            self.archived_until.get_or_create(&labels).set(done);
            progress.insert(labels, done);
        }
    }

    /// Creates every family a configuration's streams and actions can
    /// report, at 0, so that an alert on them sees 0 rather than no data
    /// until the first retry, gap or failure.
    pub fn start_at_zero(&self, config: &Config) {
        for d in budget::demand(config) {
            let a = action(d.source);
            self.retries.get_or_create(&a).inc_by(0);
            self.gaps.get_or_create(&a).inc_by(0);
            self.gap_seconds.get_or_create(&a).inc_by(0);
            self.demand.get_or_create(&a).set(d.requests as i64);
            self.capacity.get_or_create(&a).set(d.capacity() as i64);
        }
        for t in &config.targets {
            for spec in t.streams() {
                self.stream_failures
                    .get_or_create(&stream_labels(&spec.key))
                    .inc_by(0);
            }
        }
    }

    /// An action's budget now: what its pacer granted and allows.
    pub fn budget(&self, source: Source, usage: Usage, limit: Limit) {
        let labels = |window: &str| BudgetLabels {
            action: source.action().into(),
            window: window.into(),
        };
        self.budget_used
            .get_or_create(&labels("minute"))
            .set(i64::from(usage.last_minute));
        self.budget_used
            .get_or_create(&labels("day"))
            .set(i64::from(usage.today));
        let per_minute = f64::from(limit.rate.requests) * 60.0 / limit.rate.per.as_secs_f64();
        self.budget_allowed
            .get_or_create(&labels("minute"))
            .set(per_minute.floor() as i64);
        let per_day = limit
            .daily
            .map_or(86_400.0 / limit.spacing().as_secs_f64(), f64::from);
        self.budget_allowed
            .get_or_create(&labels("day"))
            .set(per_day.floor() as i64);
        self.budget_waiting
            .get_or_create(&action(source))
            .set(usage.waiting as i64);
    }

    /// The notifier's counts since start.
    pub fn notifications(&self, counters: &NotifyCounters) {
        use std::sync::atomic::Ordering::Relaxed;
        for (outcome, n) in [
            ("sent", &counters.sent),
            ("failed", &counters.failed),
            ("retried", &counters.retries),
            ("dropped", &counters.dropped),
        ] {
            self.notifications
                .get_or_create(&OutcomeOnly {
                    outcome: outcome.into(),
                })
                .set(i64::try_from(n.load(Relaxed)).unwrap_or(i64::MAX));
        }
    }

    /// The metrics in the Prometheus/OpenMetrics text format, lag computed at `now`.
    pub fn render(&self, now: i64) -> String {
        {
            let progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
            let mut worst = 0;
            for (labels, done) in progress.iter() {
                let lag = (now - done).max(0);
                worst = worst.max(lag);
                self.lag.get_or_create(labels).set(lag);
            }
            self.worst_lag.set(worst);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Serves `GET /metrics` on a bound listener until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, metrics: std::sync::Arc<Metrics>) {
    use axum::http::header;
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(crate::timeutil::now()),
                )
            }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::UserSet;

    #[test]
    fn renders_counters_and_lag() {
        let m = Metrics::new();
        let key = StreamKey::new("app1", None, UserSet::NONE, Source::Quality);
        m.request(Source::Quality, "ok", Duration::from_millis(20));
        m.request(Source::Quality, "throttled", Duration::from_millis(5));
        m.retry(Source::Quality);
        m.stored(
            Source::Quality,
            WriteStats {
                covered: 0,
                new: 5,
                revised: 2,
                unchanged: 1,
            },
            3,
        );
        m.success(&key, &["audio_stall_rate".into()], 1000, 1010);
        let text = m.render(1100);
        assert!(
            text.contains(
                r#"rtc_archiver_requests_total{action="ListRealTimeQuality",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"rtc_archiver_points_total{action="ListRealTimeQuality",kind="new"} 5"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"rtc_archiver_points_total{action="ListRealTimeQuality",kind="skipped"} 3"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"rtc_archiver_retries_total{action="ListRealTimeQuality"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"rtc_archiver_lag_seconds{source="quality",app_id="app1",room_id="",user_ids="",indicator="audio_stall_rate",dimension=""} 100"#),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
