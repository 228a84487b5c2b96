//! The collector: for every target and action, plan a window from the stored
//! progress, fetch it (retrying what may succeed), and store points and
//! progress together. One pass (`collect --once`) or a pass every `interval`
//! until SIGINT/SIGTERM.
//!
//! Targets are independent: one failing never stops the others. The store is
//! blocking, so every write runs on the blocking pool. Every stream of a
//! pass waits for its action's turn at the client's pacer, the most urgent
//! first (the stream whose oldest unfetched bucket is closest to leaving
//! the horizon), and plans its window when its turn comes: a pass with more
//! requests than the interval allows takes longer, covers more per request,
//! and loses only what the budget cannot save (recorded as over_budget).
//!
//! After the streams, every pass repairs what it can of the recorded gaps
//! from the offline API ([`repair`]).

mod repair;

pub use repair::RepairReport;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::api::{Answer, FetchError, QueryRequest};
use crate::client::ApiClient;
use crate::config::Config;
use crate::gaps;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::pacer::QuotaExhausted;
use crate::planner::{self, PlanParams, Window};
use crate::retry::{self, Decision, GiveUp, RetryState};
use crate::series::{Action, StreamKey};
use crate::store::{self, Store, StoreError, WriteStats};
use crate::{Source, timeutil};

/// Shutdown signal: flips to `true` once.
pub type Shutdown = watch::Receiver<bool>;

/// What happened to one target and action in a pass.
#[derive(Debug)]
pub struct StreamOutcome {
    pub key: StreamKey,
    pub result: Result<StreamSuccess, StreamFailure>,
}

#[derive(Debug, Clone, Default)]
pub struct StreamSuccess {
    /// The window fetched, if any was due.
    pub window: Option<Window>,
    pub written: WriteStats,
    pub skipped: u64,
    pub attempts: u32,
    /// Seconds of data recorded as lost before this fetch.
    pub lost_secs: i64,
}

#[derive(Debug)]
pub enum StreamFailure {
    /// The API kept failing, or refused.
    Fetch { error: FetchError, attempts: u32 },
    /// The archive could not be written.
    Store(StoreError),
    /// The action's daily quota is used up: no request was sent.
    OverBudget(QuotaExhausted),
    /// Shutdown arrived first.
    Cancelled,
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamFailure::Fetch { error, attempts } => {
                write!(
                    f,
                    "{error} (after {attempts} attempt{})",
                    if *attempts == 1 { "" } else { "s" }
                )
            }
            StreamFailure::Store(e) => write!(f, "archive write failed: {e}"),
            StreamFailure::OverBudget(e) => write!(f, "not fetched: {e}"),
            StreamFailure::Cancelled => f.write_str("cancelled by shutdown"),
        }
    }
}

/// The outcome of one pass over every target.
#[derive(Debug, Default)]
pub struct PassReport {
    pub streams: Vec<StreamOutcome>,
    /// What the gap repair did after the streams.
    pub repaired: RepairReport,
    /// The repair's storage error, if it met one.
    pub repair_error: Option<StoreError>,
}

impl PassReport {
    pub fn failures(&self) -> impl Iterator<Item = (&StreamKey, &StreamFailure)> {
        self.streams.iter().filter_map(|s| match &s.result {
            Err(StreamFailure::Cancelled) => None,
            Err(e) => Some((&s.key, e)),
            Ok(_) => None,
        })
    }

    /// Takes the first storage error out, if any: those end the process.
    /// An archive busy with another writer (a long import or `compact`) is
    /// not one: that window is simply planned again next pass.
    pub fn take_store_error(&mut self) -> Option<StoreError> {
        if self.repair_error.as_ref().is_some_and(|e| !e.is_busy()) {
            return self.repair_error.take();
        }
        let i = self
            .streams
            .iter()
            .position(|s| matches!(&s.result, Err(StreamFailure::Store(e)) if !e.is_busy()))?;
        match std::mem::replace(&mut self.streams[i].result, Err(StreamFailure::Cancelled)) {
            Err(StreamFailure::Store(e)) => Some(e),
            _ => None,
        }
    }

    pub fn written(&self) -> WriteStats {
        let mut total = WriteStats::default();
        for s in &self.streams {
            if let Ok(ok) = &s.result {
                total += ok.written;
            }
        }
        total
    }
}

/// What every stream job of the collector shares.
struct Shared {
    store: Arc<Mutex<Store>>,
    client: ApiClient,
    config: Config,
    metrics: Arc<Metrics>,
    /// Health events; `notify` only queues, never waits.
    notifier: Notifier,
    /// When this collector started (Unix seconds): what slides out of reach
    /// after this without a failure waited for the budget.
    collecting_since: i64,
}

/// Everything a pass needs, shared by its tasks.
pub struct Collector {
    shared: Arc<Shared>,
}

impl Collector {
    pub fn new(store: Store, client: ApiClient, config: Config, metrics: Arc<Metrics>) -> Self {
        // the pacers go on from the requests of the collectors before this one
        for action in Action::ALL {
            match store.api_usage(action, timeutil::now()) {
                Ok((last, today)) => client.pacer(action).resume(last, today),
                Err(e) => warn!(error = %e, "cannot read the request history; pacing from now"),
            }
        }
        Collector {
            shared: Arc::new(Shared {
                store: Arc::new(Mutex::new(store)),
                client,
                // the config's [[notify]] destinations, if any
                notifier: Notifier::start(&config),
                config,
                metrics,
                collecting_since: timeutil::now(),
            }),
        }
    }

    /// The API client (its pacers' usage, for metrics and status).
    pub fn client(&self) -> &ApiClient {
        &self.shared.client
    }

    /// The notifier of health events, for its counters (the metrics).
    pub fn notifier(&self) -> &Notifier {
        &self.shared.notifier
    }

    /// One pass over every target and action, concurrently: each stream
    /// waits for its action's turn by urgency.
    pub async fn run_pass(&self, shutdown: &Shutdown) -> PassReport {
        let mut tasks = JoinSet::new();
        for target in &self.shared.config.targets {
            let product_type = target.product_type.map(|p| p.as_str().to_string());
            for spec in target.streams() {
                let key = spec.key.clone();
                let span = if key.source == Source::Distribution {
                    info_span!("stream", %key, indicator = %spec.indicators[0])
                } else {
                    info_span!("stream", %key)
                };
                let job = StreamJob {
                    shared: self.shared.clone(),
                    source: key.source,
                    action: key.source.realtime(),
                    product_type: product_type.clone().filter(|_| key.source.has_rooms()),
                    indicators: Arc::new(spec.indicators),
                    key: spec.key,
                };
                let mut shutdown = shutdown.clone();
                tasks.spawn(
                    async move {
                        let result = job.run(&mut shutdown).await;
                        StreamOutcome { key, result }
                    }
                    .instrument(span),
                );
            }
        }
        let mut report = PassReport::default();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => report.streams.push(outcome),
                Err(e) => error!(error = %e, "a collector task panicked"),
            }
        }
        report.streams.sort_by(|a, b| a.key.cmp(&b.key));
        match repair::run(&self.shared, shutdown).await {
            Ok(repaired) => report.repaired = repaired,
            Err(e) => {
                warn!(error = %e, "gap repair could not use the archive");
                report.repair_error = Some(e);
            }
        }
        // lag and refusals, on transitions only
        self.shared.notifier.pass_finished(&report, timeutil::now());
        report
    }

    /// Polls every `interval` until shutdown. Returns the first storage error,
    /// which ends the daemon (nothing can be archived without the database).
    /// Checkpoints every [`CHECKPOINT_EVERY`] and when it stops, so that a
    /// copy of the .db file is never more than minutes behind.
    pub async fn run_daemon(&self, mut shutdown: Shutdown) -> Result<(), StoreError> {
        let mut ticker = tokio::time::interval(self.shared.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut checkpointed = Instant::now();
        let result = loop {
            tokio::select! {
                _ = ticker.tick() => {}
                Ok(_) = shutdown.wait_for(|stop| *stop) => break Ok(()),
            }
            let started = Instant::now();
            let mut report = self.run_pass(&shutdown).await;
            log_pass(&report, started.elapsed());
            if let Some(e) = report.take_store_error() {
                break Err(e);
            }
            if *shutdown.borrow() {
                break Ok(());
            }
            if checkpointed.elapsed() >= CHECKPOINT_EVERY {
                self.checkpoint().await;
                checkpointed = Instant::now();
            }
        };
        self.checkpoint().await;
        result
    }

    /// Moves what the WAL holds into the database file (see
    /// [`Store::checkpoint`]). A failure loses nothing (the WAL still holds
    /// it), so it is logged, not returned.
    pub async fn checkpoint(&self) {
        let shared = self.shared.clone();
        let done = tokio::task::spawn_blocking(move || {
            shared
                .store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .checkpoint()
        })
        .await;
        match done {
            Ok(Ok(true)) => debug!("checkpoint: the database file holds the whole archive"),
            Ok(Ok(false)) => {
                debug!("checkpoint: a reader kept part of the WAL busy; the next one finishes it")
            }
            Ok(Err(e)) => warn!(error = %e, "checkpoint failed; the WAL still holds everything"),
            Err(e) => warn!(error = %e, "checkpoint task failed"),
        }
    }
}

/// How often a daemon copies the WAL into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);

/// Logs a one-line summary of a pass.
pub fn log_pass(report: &PassReport, took: Duration) {
    let w = report.written();
    let failed = report.failures().count();
    // a failed fetch was logged with its request; an archive that could not
    // be written was not: say why here
    for (key, failure) in report.failures() {
        if let StreamFailure::Store(e) = failure {
            let why = if e.is_busy() {
                "the archive was busy: another process held its write lock (a long import, \
                 compact, or an SQLite client writing); the window is planned again next pass"
            } else {
                "the archive could not be written"
            };
            warn!(stream = %key, error = %e, "{why}");
        }
    }
    let msg = "pass finished";
    if failed > 0 {
        warn!(
            streams = report.streams.len(),
            failed,
            new = w.new,
            revised = w.revised,
            took_ms = took.as_millis() as u64,
            "{msg}"
        );
    } else {
        info!(
            streams = report.streams.len(),
            new = w.new,
            revised = w.revised,
            took_ms = took.as_millis() as u64,
            "{msg}"
        );
    }
}

/// One line of requests ([`crate::config::StreamSpec`]) in one pass.
struct StreamJob {
    shared: Arc<Shared>,
    key: StreamKey,
    /// The requested indicators (one for a distribution stream).
    indicators: Arc<Vec<String>>,
    source: Source,
    action: Action,
    product_type: Option<String>,
}

impl StreamJob {
    /// Runs `f` on the store, on the blocking pool.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StreamFailure> {
        let shared = self.shared.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut guard = shared.store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await;
        match joined {
            Ok(r) => r.map_err(StreamFailure::Store),
            Err(e) => Err(StreamFailure::Store(StoreError::Invalid(format!(
                "archive task failed: {e}"
            )))),
        }
    }

    /// How long one stream may spend retrying: the poll interval, at least
    /// 30 s, at most 10 minutes.
    fn retry_budget(&self) -> Duration {
        self.shared
            .config
            .interval
            .clamp(Duration::from_secs(30), Duration::from_secs(600))
    }

    fn params(&self, extra_margin: i64) -> PlanParams {
        PlanParams {
            overlap: timeutil::secs_i64(self.shared.config.overlap),
            margin: timeutil::secs_i64(self.shared.config.horizon_margin)
                .saturating_add(extra_margin),
            delay: self.source.delay_secs(),
        }
    }

    /// Plans the window at this moment, first recording whatever slid out
    /// of reach. Returns the window (if anything is due) and the seconds
    /// recorded as lost.
    async fn plan(
        &self,
        key: &StreamKey,
        indicators: &Arc<Vec<String>>,
        extra_margin: i64,
    ) -> Result<(Option<Window>, i64), StreamFailure> {
        let inds = indicators.clone();
        let k = key.clone();
        let progress = self.with_store(move |s| s.feed_progress(&k, &inds)).await?;
        let now = timeutil::now();
        let plan = planner::plan(now, self.params(extra_margin), &progress);
        let mut lost_secs = 0;
        if !plan.lost.is_empty() {
            for l in &plan.lost {
                lost_secs = lost_secs.max(l.end - l.start);
            }
            let first = plan.lost[0];
            warn!(
                from = %timeutil::fmt_utc(first.start),
                to = %timeutil::fmt_utc(first.end),
                lost = %timeutil::fmt_duration_secs(lost_secs),
                "data slid out of the API's 60-minute reach before it was fetched: recording a gap"
            );
            self.shared.metrics.gap_recorded(self.source, lost_secs);
            // a gap recorded (the union of its feeds' intervals)
            let start = plan
                .lost
                .iter()
                .map(|l| l.start)
                .min()
                .unwrap_or(first.start);
            let end = plan.lost.iter().map(|l| l.end).max().unwrap_or(first.end);
            self.shared.notifier.gap(key, start, end);
            let inds = indicators.clone();
            let lost = plan.lost.clone();
            let k = key.clone();
            let collecting_since = self.shared.collecting_since;
            let params = self.params(extra_margin);
            let reach = gaps::Reach {
                delay: params.delay,
                margin: params.margin,
            };
            self.with_store(move |s| {
                let lost: Vec<store::Lost<'_>> = lost
                    .iter()
                    .map(|l| store::Lost {
                        indicator: &inds[l.feed],
                        start: l.start,
                        end: l.end,
                    })
                    .collect();
                s.record_lost(&k, &lost, reach, Some(collecting_since), now)
            })
            .await?;
        }
        Ok((plan.window, lost_secs))
    }

    fn request(&self, key: &StreamKey, indicators: &[String], window: Window) -> QueryRequest {
        QueryRequest {
            action: self.action,
            stream: key.clone(),
            product_type: self.product_type.clone(),
            indicators: indicators.to_vec(),
            start: window.start,
            end: window.end,
        }
    }

    /// Fetches the stream's due window and stores it, retrying what may
    /// succeed. Each attempt waits for the action's turn first and plans its
    /// window at the moment the request leaves, so however long the wait
    /// (a pass with more requests than the rate allows in its interval), the
    /// window never reaches beyond the horizon.
    async fn run(&self, shutdown: &mut Shutdown) -> Result<StreamSuccess, StreamFailure> {
        let key = self.key.clone();
        let indicators = self.indicators.clone();

        let mut backoff = ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(15))
            .without_max_times()
            .build();
        let mut attempts: u32 = 0;
        let mut lost_total = 0;
        let mut retry = RetryState::default();
        // how long retries may go on: the interval (at least 30 s) from the
        // stream's first turn, however long it waited for it
        let mut deadline: Option<Instant> = None;
        loop {
            if *shutdown.borrow() {
                return Err(StreamFailure::Cancelled);
            }
            // a first look, so that a stream with nothing due takes no turn;
            // its oldest bucket due is its urgency
            let (due, lost) = self.plan(&key, &indicators, retry.extra_margin).await?;
            lost_total += lost;
            let Some(due) = due else {
                debug!("nothing due yet");
                return Ok(StreamSuccess {
                    lost_secs: lost_total,
                    ..StreamSuccess::default()
                });
            };
            let grant = tokio::select! {
                g = self.shared.client.permit(self.action, due.start) => g,
                Ok(_) = shutdown.wait_for(|stop| *stop) => return Err(StreamFailure::Cancelled),
            };
            // held until the request leaves (or the window turns out empty):
            // the action's next request may leave one spacing after this one
            let grant = grant.map_err(StreamFailure::OverBudget)?;
            self.shared
                .metrics
                .limiter_wait(self.source, grant.waited());
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + self.retry_budget());
            // the window, planned now that the request may leave
            let (window, lost) = self.plan(&key, &indicators, retry.extra_margin).await?;
            lost_total += lost;
            let Some(window) = window else {
                return Ok(StreamSuccess {
                    lost_secs: lost_total,
                    ..StreamSuccess::default()
                });
            };
            let sent_at = timeutil::now();
            let req = self.request(&key, &indicators, window);
            attempts += 1;
            let attempt = tokio::select! {
                a = self.shared.client.send_now(&req, grant) => a,
                Ok(_) = shutdown.wait_for(|stop| *stop) => return Err(StreamFailure::Cancelled),
            };
            let log = AttemptLog {
                action: self.action.name(),
                window_start: timeutil::fmt_utc(window.start),
                window_end: timeutil::fmt_utc(window.end),
                latency_ms: attempt.latency.as_millis() as u64,
                attempt: attempts,
            };
            let error = match attempt.result {
                Ok(answer) => {
                    self.shared
                        .metrics
                        .request(self.source, "ok", attempt.latency);
                    let written = self
                        .store_answer(&key, &indicators, window, answer, attempts, &log)
                        .await?;
                    return Ok(StreamSuccess {
                        window: Some(window),
                        written: written.0,
                        skipped: written.1,
                        attempts,
                        lost_secs: lost_total,
                    });
                }
                Err(error) => error,
            };
            self.shared
                .metrics
                .request(self.source, error.kind(), attempt.latency);
            let next = backoff.next().unwrap_or(Duration::from_secs(15));
            let time_left = deadline.saturating_duration_since(Instant::now());
            let lookback = sent_at - window.start;
            let request_id = error.request_id().unwrap_or("").to_string();
            match retry::decide(&error, lookback, next, time_left, retry) {
                Decision::Retry { wait, state } => {
                    let horizon = state.horizon_refusals > retry.horizon_refusals;
                    warn!(
                        action = log.action,
                        window_start = %log.window_start,
                        window_end = %log.window_end,
                        outcome = error.kind(),
                        latency_ms = log.latency_ms,
                        request_id = %request_id,
                        attempt = attempts,
                        retry_in_ms = wait.as_millis() as u64,
                        error = %error,
                        "{}",
                        if horizon {
                            "the window was refused, perhaps for reaching beyond the API's 60-minute \
                             horizon (a clock off, a slow network): planning it again with more margin"
                        } else {
                            "request failed, retrying"
                        }
                    );
                    retry = state;
                    self.shared.metrics.retry(self.source);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        Ok(_) = shutdown.wait_for(|stop| *stop) => return Err(StreamFailure::Cancelled),
                    }
                }
                Decision::GiveUp(GiveUp::Cancelled) => return Err(StreamFailure::Cancelled),
                Decision::GiveUp(_) => {
                    let error = if retry.horizon_refusals > 0 {
                        error.with_hint(format!(
                            "the API refused the window {} times although it started only {} s \
                             before the request left; check app_id, room_id, user_ids and the \
                             indicator names, and this machine's clock (NTP)",
                            retry.horizon_refusals + 1,
                            lookback
                        ))
                    } else {
                        error
                    };
                    error!(
                        action = log.action,
                        window_start = %log.window_start,
                        window_end = %log.window_end,
                        outcome = error.kind(),
                        latency_ms = log.latency_ms,
                        request_id = %request_id,
                        attempt = attempts,
                        error = %error,
                        "request failed; the window is planned again next pass"
                    );
                    let message = error.to_string();
                    let now = timeutil::now();
                    self.shared.metrics.failure(&key);
                    let k = key.clone();
                    self.with_store(move |s| s.record_failure(&k, attempts, &message, now))
                        .await?;
                    return Err(StreamFailure::Fetch { error, attempts });
                }
            }
        }
    }

    /// Stores an answer and logs it; returns what was written and the
    /// points skipped.
    async fn store_answer(
        &self,
        key: &StreamKey,
        indicators: &Arc<Vec<String>>,
        window: Window,
        answer: Answer,
        attempts: u32,
        log: &AttemptLog,
    ) -> Result<(WriteStats, u64), StreamFailure> {
        let points = answer.points();
        let skipped = answer.skipped_total();
        let request_id = answer.request_id.clone().unwrap_or_default();
        for (reason, n) in &answer.skipped {
            warn!(reason = %reason, count = n, request_id = %request_id, "skipped points of an answer");
        }
        let series_names: Vec<String> = answer.series.iter().map(|s| s.name.clone()).collect();
        let inds = indicators.clone();
        let now = timeutil::now();
        let k = key.clone();
        let written = self
            .with_store(move |s| {
                // the answer, as the store takes it
                let fetch = store::Fetch {
                    indicators: &inds,
                    from: window.start,
                    to: window.done(),
                    series: answer
                        .series
                        .iter()
                        .map(|a| store::FetchedSeries {
                            indicator: &a.name,
                            dimension_value: a.dimension_value.as_deref(),
                            unit: a.unit.as_deref(),
                            points: &a.points,
                        })
                        .collect(),
                    skipped: answer.skipped_total(),
                    attempts,
                };
                s.store_fetch(&k, &fetch, now)
            })
            .await?;
        self.shared.metrics.stored(self.source, written, skipped);
        self.shared
            .metrics
            .success(key, &series_names, window.done(), now);
        info!(
            action = log.action,
            window_start = %log.window_start,
            window_end = %log.window_end,
            outcome = "ok",
            points,
            new = written.new,
            revised = written.revised,
            skipped,
            latency_ms = log.latency_ms,
            request_id = %request_id,
            attempt = log.attempt,
            "fetched"
        );
        Ok((written, skipped))
    }
}

/// The fields every log line of an attempt carries.
struct AttemptLog {
    action: &'static str,
    window_start: String,
    window_end: String,
    latency_ms: u64,
    attempt: u32,
}
