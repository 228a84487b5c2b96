//! A built-in simulator of the real-time actions (quality, operation data
//! and the quality distribution by dimension) and of the offline ones
//! (`ListQuality`, `ListQualityDistribution`) on a loopback address: a real
//! HTTP server that checks signatures exactly as the API does, enforces
//! each action's reach (60 minutes, or 30 days offline) and span (60
//! minutes, or 7 days), its own rate limit and the data delays, serves
//! 30-second buckets (5-minute slots offline, the means of the same model's
//! final values) with realistic values and answered names, and injects
//! faults on demand. `demo` and the
//! integration tests run against it.
//!
//! `GET /_sim/stats` reports what it saw: requests, faults, and every
//! violation of the API's rules (rate, horizon, span) a client committed.
//!
//! This file holds its configuration, its statistics, starting and stopping,
//! and the path of one request (`handle`); each step is a file:
//! `auth` (the signature check), `rate` (the rate limit), `request` (the
//! body's rules), `answer` (the data, and what faults do to it), `reply`
//! (how errors are answered), with `model` (the values) and `faults`
//! (which fault when).

mod answer;
mod auth;
pub mod faults;
pub mod model;
mod rate;
mod reply;
mod request;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use faults::{Fault, FaultPlan};
pub use model::Model;

use answer::build_answer;
use reply::{ApiError, INVALID_ACTION_OR_VERSION, ResponseMeta, json_ok};
use request::{parse_request, query_pairs};

use crate::API_VERSION;
use crate::budget::Limits;
use crate::series::Action;

/// The access key the simulator accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY: &str = "AKLTsimulator";
/// ... and its secret. Not a secret: the simulator is for tests and demos.
pub const DEFAULT_SECRET_KEY: &str = "simulator-secret-key";

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub access_key: String,
    pub secret_key: String,
    /// If set, requests must carry this `X-Security-Token`.
    pub session_token: Option<String>,
    pub region: String,
    pub model: Model,
    pub faults: FaultPlan,
    /// Each action's limit (a rate over a sliding window and an optional
    /// daily quota); beyond it the answer is HTTP 429.
    pub limits: Limits,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            access_key: DEFAULT_ACCESS_KEY.into(),
            secret_key: DEFAULT_SECRET_KEY.into(),
            session_token: None,
            region: "cn-north-1".into(),
            model: Model::default(),
            faults: FaultPlan {
                slow: Duration::from_secs(30),
                ..FaultPlan::default()
            },
            limits: Limits::default(),
        }
    }
}

/// What the simulator saw, served as JSON at `/_sim/stats`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct SimStats {
    pub requests: u64,
    pub by_action: BTreeMap<String, u64>,
    /// Answers with data (faulty answers that still carry data included).
    pub answered: u64,
    pub points_served: u64,
    pub faults: BTreeMap<String, u64>,
    /// Requests refused for going over the rate limit.
    pub rate_limited: u64,
    /// Requests refused for going over a daily quota.
    pub quota_refused: u64,
    /// The most requests of one action seen within any one second.
    pub max_in_one_second: BTreeMap<String, u64>,
    /// Requests whose StartTime was older than their action's reach (60
    /// minutes, or 30 days offline), by even a millisecond, when they
    /// arrived (the gateway is that strict).
    pub horizon_violations: u64,
    /// Requests spanning more than their action allows (60 minutes, or 7 days).
    pub span_violations: u64,
    /// Requests whose EndTime was newer than the data delay allows (not an error).
    pub beyond_delay: u64,
    pub auth_failures: u64,
    pub bad_requests: u64,
    /// The oldest StartTime a real-time action asked for, as seconds (to
    /// the millisecond) before the request arrived.
    pub max_lookback_secs: f64,
    /// The same, and the violations, for each action on its own (by name).
    #[serde(default)]
    pub actions: BTreeMap<String, ActionStats>,
}

/// What the simulator saw of one action: its own limits' violations.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct ActionStats {
    /// Requests refused for going over the action's rate.
    pub rate_limited: u64,
    /// Requests whose StartTime was beyond the action's reach.
    pub reach_violations: u64,
    /// Requests longer than the action's span.
    pub span_violations: u64,
    /// Requests reaching into the data delay (served, without the newest data).
    pub beyond_delay: u64,
    /// The oldest StartTime asked for, seconds before the request arrived.
    pub max_lookback_secs: f64,
}

impl SimStats {
    /// The statistics of one action.
    pub fn action(&mut self, action: Action) -> &mut ActionStats {
        self.actions.entry(action.name().to_string()).or_default()
    }
}

struct Inner {
    /// Arrivals within the last second, and within each action's rate
    /// window, per action.
    arrivals: BTreeMap<Action, VecDeque<Instant>>,
    /// Requests admitted today (UTC), per action: (day, count).
    today: BTreeMap<Action, (i64, u32)>,
    stats: SimStats,
}

struct SimState {
    config: SimConfig,
    fault_counter: AtomicU64,
    request_counter: AtomicU64,
    inner: Mutex<Inner>,
}

impl SimState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats<T>(&self, f: impl FnOnce(&mut SimStats) -> T) -> T {
        f(&mut self.lock().stats)
    }
}

/// A running simulator.
pub struct SimHandle {
    pub addr: SocketAddr,
    state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> SimStats {
        self.state.stats(|s| s.clone())
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Starts serving on a bound listener, in the background of the current runtime.
pub fn start(listener: TcpListener, config: SimConfig) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let state = Arc::new(SimState {
        config,
        fault_counter: AtomicU64::new(0),
        request_counter: AtomicU64::new(0),
        inner: Mutex::new(Inner {
            arrivals: BTreeMap::new(),
            today: BTreeMap::new(),
            stats: SimStats::default(),
        }),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(SimHandle {
        addr,
        state,
        stop: Some(stop),
        task: Some(task),
    })
}

/// One request, from its arrival to its answer: the action, the signature,
/// the rate limit, the body's rules, then the data or a fault.
async fn handle(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::GET && uri.path() == "/_sim/stats" {
        return axum::Json(state.stats(|s| s.clone())).into_response();
    }
    let n = state.request_counter.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("{}{:018}", Utc::now().format("%Y%m%d%H%M%S"), n);
    let query = query_pairs(&uri);
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
    let meta = ResponseMeta {
        request_id,
        action: get("Action").unwrap_or_default(),
        region: state.config.region.clone(),
    };
    let action = meta.action.as_str();
    state.stats(|s| {
        s.requests += 1;
        *s.by_action.entry(action.to_string()).or_default() += 1;
    });
    let action = match (Action::from_name(action), get("Version").as_deref()) {
        (Some(action), Some(API_VERSION)) if method == Method::POST => action,
        _ => {
            state.stats(|s| s.bad_requests += 1);
            return meta.error(ApiError::new(
                INVALID_ACTION_OR_VERSION,
                format!("Could not find operation {action}"),
            ));
        }
    };
    if let Err(e) = auth::authenticate(&state.config, &method, &uri, &headers, &body) {
        state.stats(|s| s.auth_failures += 1);
        return meta.error(e);
    }
    if let Err(refusal) = state.admit(action) {
        return meta.error(refusal);
    }
    let now_ms = Utc::now().timestamp_millis();
    let req = match state.stats(|s| parse_request(action, &body, now_ms, s)) {
        Ok(r) => r,
        Err(e) => {
            state.stats(|s| s.bad_requests += 1);
            return meta.error(e);
        }
    };

    let fault = state
        .config
        .faults
        .fault_for(state.fault_counter.fetch_add(1, Ordering::Relaxed));
    if let Some(f) = fault {
        state.stats(|s| *s.faults.entry(f.as_str().to_string()).or_default() += 1);
    }
    if let Some(response) = answer::instead_of_data(fault, &meta) {
        return response;
    }
    if fault == Some(Fault::Slow) {
        tokio::time::sleep(state.config.faults.slow).await;
    }
    // the answer reflects the moment it is sent
    let now = Utc::now().timestamp();
    let (answer, served) = build_answer(
        &state.config.model,
        action,
        &req,
        now,
        fault,
        meta.to_json(),
    );
    let bytes = serde_json::to_vec(&answer).expect("an answer always serializes");
    if let Some(response) = answer::cut_short(fault, &bytes) {
        return response;
    }
    state.stats(|s| {
        s.answered += 1;
        s.points_served += served;
    });
    json_ok(bytes)
}

#[cfg(test)]
mod tests;
