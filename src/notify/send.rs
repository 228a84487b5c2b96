//! Delivery: one message to one destination with the platform's rate
//! limit, a timeout per attempt and retries with backoff ([`deliver`]);
//! the report's digest to every subscribed destination ([`send_report`]);
//! and for the collector, [`Notifier`]: `notify` only puts the event in a
//! bounded queue per destination, and a thread of its own (with its own
//! runtime) groups, sends and retries, so a failing or hanging
//! destination is logged and counted but never slows or stops collection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::health::{Check, Health};
use super::limit::Limiter;
use super::message::{Event, Message};
use super::{Answer, Destination, EventKind};
use crate::api::FetchError;
use crate::collector::{PassReport, StreamFailure};
use crate::config::Config;
use crate::report::Report;
use crate::series::StreamKey;
use crate::timeutil;

/// One attempt may take this long (connecting included).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per message before it is given up.
pub const ATTEMPTS: u32 = 4;
/// Events arriving this soon after one another go out as one digest.
pub const GROUP_WINDOW: Duration = Duration::from_secs(2);
/// Events waiting per destination (a few hundred bytes each); beyond, new
/// ones are dropped and counted.
pub const QUEUE: usize = 4096;
/// How long a finishing collector waits for queued messages to go out.
pub const DRAIN: Duration = Duration::from_secs(3);
/// The most events in one digest (its text lists the first 20).
const MAX_PER_MESSAGE: usize = 1000;
/// A platform asking to wait longer than this is waited for only this long.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// What happened to notifications, for the metrics.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    /// Messages the platform accepted.
    pub sent: AtomicU64,
    /// Messages given up (refused, or failing every attempt).
    pub failed: AtomicU64,
    /// Attempts repeated after a failure.
    pub retries: AtomicU64,
    /// Events dropped because a destination's queue was full.
    pub dropped: AtomicU64,
}

/// A message that did not get through. Never holds a URL or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("{label}: {reason}")]
    Refused { label: String, reason: String },
    #[error("{label}: gave up after {attempts} attempts: {reason}")]
    GaveUp {
        label: String,
        attempts: u32,
        reason: String,
    },
}

/// A digest not delivered: the job ran (the report was written) but did
/// not fully succeed.
impl crate::exit::Exit for SendError {
    fn exit_code(&self) -> Option<u8> {
        match self {
            SendError::Refused { .. } | SendError::GaveUp { .. } => Some(crate::exit::FAILURE),
        }
    }
}

/// The HTTP client for every destination.
fn client() -> Result<reqwest::Client, reqwest::Error> {
    // ring is our only crypto provider; installing it twice is harmless
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("rtc-archiver/", env!("CARGO_PKG_VERSION")))
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
}

/// One attempt: the request, its answer read (at most 64 KiB).
async fn attempt(client: &reqwest::Client, dest: &Destination, msg: &Message) -> Answer {
    let req = dest
        .platform
        .request(msg, chrono::Utc::now().timestamp_millis());
    let mut builder = client.post(req.url).body(req.body);
    for (name, value) in req.headers {
        builder = builder.header(name, value);
    }
    let resp = match builder.send().await {
        Ok(r) => r,
        // the error would name the URL, a credential
        Err(e) => {
            return Answer::Retry {
                wait: None,
                why: e.without_url().to_string(),
            };
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Vec::new();
    let mut resp = resp;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) if body.len() < 64 * 1024 => body.extend_from_slice(&c),
            Ok(_) => break,
            Err(e) => {
                return Answer::Retry {
                    wait: None,
                    why: e.without_url().to_string(),
                };
            }
        }
    }
    match dest
        .platform
        .answer(status, &String::from_utf8_lossy(&body))
    {
        Answer::Retry { wait: None, why } => Answer::Retry {
            wait: retry_after,
            why,
        },
        other => other,
    }
}

/// Sends a message to a destination: waits for the platform's rate
/// limit, tries [`ATTEMPTS`] times with backoff (1, 2, 4 s, or what the
/// platform asks for, at most a minute), stops at a refusal.
pub async fn deliver(
    client: &reqwest::Client,
    dest: &Destination,
    msg: &Message,
    limiter: &mut Limiter,
    counters: &NotifyCounters,
) -> Result<(), SendError> {
    let mut why = String::new();
    for n in 1..=ATTEMPTS {
        let now = std::time::Instant::now();
        tokio::time::sleep(limiter.wait(now)).await;
        limiter.record(std::time::Instant::now());
        match attempt(client, dest, msg).await {
            Answer::Accepted => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                debug!(destination = %dest.label, "notification sent");
                return Ok(());
            }
            Answer::Refused(reason) => {
                return Err(SendError::Refused {
                    label: dest.label.clone(),
                    reason,
                });
            }
            Answer::Retry { wait, why: w } => {
                why = w;
                if n < ATTEMPTS {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    let backoff = Duration::from_secs(1 << (n - 1));
                    let wait = wait.unwrap_or_default().min(MAX_WAIT).max(backoff);
                    debug!(destination = %dest.label, attempt = n, reason = %why, "notification failed, retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
    Err(SendError::GaveUp {
        label: dest.label.clone(),
        attempts: ATTEMPTS,
        reason: why,
    })
}

/// Sends the report's digest to every destination subscribed to
/// incidents or regressions, all at once; returns each one's outcome.
/// Blocking: it runs its own runtime.
pub fn send_report(
    dests: &[Destination],
    report: &Report,
    link: Option<&str>,
) -> Vec<Result<String, SendError>> {
    let counters = NotifyCounters::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let (runtime, client) = match (runtime, client()) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) => return vec![Err(unsendable(&e.to_string()))],
        (_, Err(e)) => return vec![Err(unsendable(&e.without_url().to_string()))],
    };
    runtime.block_on(async {
        let sends = dests.iter().filter_map(|d| {
            let msg = Message::of_report(report, &|k| d.wants(k), link)?;
            let (client, counters) = (&client, &counters);
            Some(async move {
                let mut limiter = Limiter::new(d.platform.rates());
                deliver(client, d, &msg, &mut limiter, counters)
                    .await
                    .map(|()| d.label.clone())
            })
        });
        futures_util::future::join_all(sends).await
    })
}

fn unsendable(why: &str) -> SendError {
    SendError::GaveUp {
        label: "notify".into(),
        attempts: 0,
        reason: why.to_string(),
    }
}

/// The collector's handle: cheap to clone, `notify` never blocks. A
/// disabled one (no `[[notify]]`) does nothing at all.
#[derive(Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queues: Vec<(Vec<EventKind>, mpsc::Sender<Event>)>,
    labels: Vec<String>,
    health: Mutex<Health>,
    counters: Arc<NotifyCounters>,
    /// Told when the sending thread is done.
    done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // closing the queues lets the thread send what they hold and end;
        // a collector finishing waits for that a few seconds at most
        self.queues.clear();
        if let Some(done) = self.done.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = done.recv_timeout(DRAIN);
        }
    }
}

impl Notifier {
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// The notifier a collector with this configuration uses: its
    /// destinations read from the environment (one that cannot be is
    /// logged and left out), disabled without any.
    pub fn start(config: &Config) -> Notifier {
        if config.notify.is_empty() {
            return Notifier::disabled();
        }
        let env = |k: &str| std::env::var(k).ok();
        let mut dests = Vec::new();
        for (i, c) in config.notify.iter().enumerate() {
            match super::Destination::resolve(i + 1, c, &env) {
                Ok(d) => dests.push(d),
                Err(e) => warn!("{e}: this destination gets no messages"),
            }
        }
        Notifier::with_destinations(dests, config.notify_lag)
    }

    /// A notifier sending to these destinations, `lag_limit` being `notify_lag`.
    pub fn with_destinations(dests: Vec<Destination>, lag_limit: Duration) -> Notifier {
        if dests.is_empty() {
            return Notifier::disabled();
        }
        let counters = Arc::new(NotifyCounters::default());
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        let labels = dests.iter().map(|d| d.label.clone()).collect();
        for d in dests {
            let (tx, rx) = mpsc::channel(QUEUE);
            queues.push((d.events.clone(), tx));
            workers.push((d, rx));
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let c = counters.clone();
        let spawned = std::thread::Builder::new()
            .name("rtc-notify".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match (runtime, client()) {
                    (Ok(rt), Ok(client)) => rt.block_on(async {
                        let runs = workers
                            .into_iter()
                            .map(|(d, rx)| run_destination(&client, d, rx, &c));
                        futures_util::future::join_all(runs).await;
                    }),
                    _ => warn!("cannot start sending notifications: none will be sent"),
                }
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start sending notifications: none will be sent");
            return Notifier::disabled();
        }
        Notifier {
            inner: Some(Arc::new(Inner {
                queues,
                labels,
                health: Mutex::new(Health::new(timeutil::secs_i64(lag_limit), timeutil::now())),
                counters,
                done: Mutex::new(Some(done_rx)),
            })),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The counters the metrics read (zeros when disabled).
    pub fn counters(&self) -> Arc<NotifyCounters> {
        self.inner
            .as_ref()
            .map(|i| i.counters.clone())
            .unwrap_or_default()
    }

    /// Queues an event for every destination subscribed to its kind; never
    /// waits. A full queue drops it (logged and counted).
    pub fn notify(&self, event: Event) {
        let Some(inner) = &self.inner else { return };
        let kind = event.kind();
        for ((events, tx), label) in inner.queues.iter().zip(&inner.labels) {
            if !events.contains(&kind) {
                continue;
            }
            if tx.try_send(event.clone()).is_err() {
                inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                warn!(destination = %label, "notification queue full: an event was dropped");
            }
        }
    }

    /// A gap was recorded for a stream.
    pub fn gap(&self, stream: &StreamKey, start: i64, end: i64) {
        if self.inner.is_some() {
            self.notify(Event::gap(stream, start, end));
        }
    }

    /// A pass finished: each stream's lag and refusals, as transitions.
    pub fn pass_finished(&self, report: &PassReport, now: i64) {
        let Some(inner) = &self.inner else { return };
        let mut events = Vec::new();
        {
            let mut health = inner.health.lock().unwrap_or_else(|p| p.into_inner());
            for s in &report.streams {
                let check = match &s.result {
                    Ok(ok) => match ok.window {
                        Some(w) => Check::Fetched { until: w.done() },
                        None => Check::UpToDate,
                    },
                    Err(StreamFailure::Cancelled) => continue,
                    Err(StreamFailure::Fetch {
                        error: e @ FetchError::Rejected { .. },
                        ..
                    }) => Check::Failed {
                        refusal: Some(e.to_string()),
                    },
                    Err(_) => Check::Failed { refusal: None },
                };
                events.extend(health.observe(&s.key, check, now));
            }
        }
        for e in events {
            self.notify(e);
        }
    }
}

/// One destination's sender: waits for an event, gathers what follows
/// within [`GROUP_WINDOW`] into one digest, delivers it; ends when the
/// queue is closed and empty.
async fn run_destination(
    client: &reqwest::Client,
    dest: Destination,
    mut rx: mpsc::Receiver<Event>,
    counters: &NotifyCounters,
) {
    let mut limiter = Limiter::new(dest.platform.rates());
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + GROUP_WINDOW;
        while batch.len() < MAX_PER_MESSAGE {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        let msg = Message::of_events(&batch);
        if let Err(e) = deliver(client, &dest, &msg, &mut limiter, counters).await {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, events = batch.len(), "notification not delivered");
        }
    }
}
