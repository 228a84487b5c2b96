//! A built-in simulator of both actions on a loopback address: a real HTTP
//! server that checks signatures exactly as the API does, enforces the
//! 60-minute horizon and span, the rate limit and the data delays, serves
//! 30-second buckets with realistic values and answered names, and injects
//! faults on demand. `demo` and the integration tests run against it.
//!
//! `GET /_sim/stats` reports what it saw: requests, faults, and every
//! violation of the API's rules (rate, horizon, span) a client committed.

pub mod faults;
pub mod model;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use faults::{Fault, FaultPlan};
pub use model::{Model, SeriesRef};

use crate::{API_VERSION, BUCKET_SECS, HORIZON_SECS, Source, catalog, sign, timeutil};

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
    /// Requests per second per action before answering 429.
    pub rate_limit: usize,
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
            rate_limit: crate::API_RATE_PER_SEC as usize,
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
    /// The most requests of one action seen within any one second.
    pub max_in_one_second: BTreeMap<String, u64>,
    /// Requests whose StartTime was older than 60 minutes, by even a
    /// millisecond, when they arrived (the gateway is that strict).
    pub horizon_violations: u64,
    /// Requests spanning more than 60 minutes.
    pub span_violations: u64,
    /// Requests whose EndTime was newer than the data delay allows (not an error).
    pub beyond_delay: u64,
    pub auth_failures: u64,
    pub bad_requests: u64,
    /// The oldest StartTime asked for, as seconds (to the millisecond)
    /// before the request arrived.
    pub max_lookback_secs: f64,
}

struct Inner {
    /// Arrivals within the last second, per action.
    arrivals: BTreeMap<Source, VecDeque<Instant>>,
    stats: SimStats,
}

struct SimState {
    config: SimConfig,
    fault_counter: AtomicU64,
    request_counter: AtomicU64,
    inner: Mutex<Inner>,
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
        self.state
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stats
            .clone()
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

/// An error code as the gateway and the service answer it: with its HTTP
/// status and its `CodeN`.
#[derive(Debug, Clone, Copy)]
struct Code {
    name: &'static str,
    status: u16,
    n: i64,
}

impl Code {
    const fn new(name: &'static str, status: u16, n: i64) -> Code {
        Code { name, status, n }
    }
}

const INTERNAL_ERROR: Code = Code::new("InternalError", 500, 100001);
const MISSING_PARAMETER: Code = Code::new("MissingParameter", 400, 100002);
const MISSING_AUTHENTICATION_TOKEN: Code = Code::new("MissingAuthenticationToken", 401, 100003);
const INVALID_PARAMETER: Code = Code::new("InvalidParameter", 400, 100004);
const MISSING_SIGNATURE: Code = Code::new("MissingSignature", 401, 100005);
const INVALID_TIMESTAMP: Code = Code::new("InvalidTimestamp", 403, 100006);
const INVALID_ACTION_OR_VERSION: Code = Code::new("InvalidActionOrVersion", 404, 100008);
const INVALID_ACCESS_KEY: Code = Code::new("InvalidAccessKey", 401, 100009);
const SIGNATURE_DOES_NOT_MATCH: Code = Code::new("SignatureDoesNotMatch", 401, 100010);
const ACCESS_DENIED: Code = Code::new("AccessDenied", 403, 100013);
const ACCOUNT_FLOW_LIMIT_EXCEEDED: Code = Code::new("AccountFlowLimitExceeded", 429, 100018);

/// A refusal, answered as `ResponseMetadata.Error`.
struct ApiError {
    code: Code,
    message: String,
}

impl ApiError {
    fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// What every answer to one request says in its `ResponseMetadata`.
struct ResponseMeta {
    request_id: String,
    action: String,
    region: String,
}

impl ResponseMeta {
    fn to_json(&self) -> Value {
        json!({
            "RequestId": self.request_id,
            "Action": self.action,
            "Version": API_VERSION,
            "Service": "rtc",
            "Region": self.region,
        })
    }

    /// The error answer, with `Retry-After: 1` when throttled.
    fn error(&self, e: ApiError) -> Response {
        let status = StatusCode::from_u16(e.code.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut meta = self.to_json();
        meta["Error"] = json!({"Code": e.code.name, "CodeN": e.code.n, "Message": e.message});
        let mut resp = (status, axum::Json(json!({ "ResponseMetadata": meta }))).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        resp
    }
}

/// A 200 with a JSON content type, whatever the body holds.
fn json_ok(body: impl IntoResponse) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn gateway_page(status: u16, reason: &str) -> Response {
    let body = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        [(header::CONTENT_TYPE, "text/html")],
        body,
    )
        .into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl SimState {
    fn stats<T>(&self, f: impl FnOnce(&mut SimStats) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner.stats)
    }

    /// Checks the signature as the gateway does.
    fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), ApiError> {
        let cfg = &self.config;
        let auth = header_str(headers, "authorization").ok_or_else(|| {
            ApiError::new(MISSING_AUTHENTICATION_TOKEN, "The request is not signed")
        })?;
        let auth = sign::parse_authorization(auth).ok_or_else(|| {
            ApiError::new(MISSING_SIGNATURE, "The Authorization header is malformed")
        })?;
        if auth.access_key != cfg.access_key {
            return Err(ApiError::new(
                INVALID_ACCESS_KEY,
                "The access key does not exist",
            ));
        }
        let x_date = header_str(headers, "x-date").unwrap_or("");
        let when = NaiveDateTime::parse_from_str(x_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| ApiError::new(INVALID_TIMESTAMP, "X-Date is missing or malformed"))?;
        let skew = (Utc::now().timestamp() - when.and_utc().timestamp()).abs();
        if skew > 15 * 60 {
            return Err(ApiError::new(
                INVALID_TIMESTAMP,
                format!(
                    "X-Date is {skew} s away from the server's time; at most 15 minutes are allowed"
                ),
            ));
        }
        if let Some(token) = &cfg.session_token
            && header_str(headers, "x-security-token") != Some(token.as_str())
        {
            return Err(ApiError::new(
                INVALID_ACCESS_KEY,
                "The security token is invalid",
            ));
        }
        let mismatch = |why: &str| {
            ApiError::new(
                SIGNATURE_DOES_NOT_MATCH,
                format!(
                    "The request signature we calculated does not match the signature you provided ({why})"
                ),
            )
        };
        if auth.date != x_date[..8] || auth.region != cfg.region || auth.service != sign::SERVICE {
            return Err(mismatch("credential scope"));
        }
        let body_hash = sign::sha256_hex(body);
        if header_str(headers, "x-content-sha256") != Some(body_hash.as_str()) {
            return Err(mismatch("X-Content-Sha256"));
        }
        let host = header_str(headers, "host").unwrap_or("");
        let signed: Vec<(String, String)> = auth
            .signed_headers
            .iter()
            .filter(|h| h.as_str() != "host")
            .map(|h| (h.clone(), header_str(headers, h).unwrap_or("").to_string()))
            .collect();
        let query = query_pairs(uri);
        let parts = sign::RequestParts {
            method: method.as_str(),
            host,
            path: uri.path(),
            query: &query,
            headers: &signed,
            body_sha256: &body_hash,
        };
        let (_, signed_list) = sign::canonical_request(&parts);
        if signed_list != auth.signed_headers.join(";") {
            return Err(mismatch("signed headers"));
        }
        if sign::signature(&cfg.secret_key, &cfg.region, x_date, &parts) != auth.signature {
            return Err(mismatch("signature"));
        }
        Ok(())
    }

    /// Counts an arrival; `false` if it goes over the rate limit.
    fn admit(&self, source: Source) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let q = inner.arrivals.entry(source).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            q.pop_front();
        }
        q.push_back(now);
        let in_window = q.len() as u64;
        let over = q.len() > self.config.rate_limit;
        let max = inner
            .stats
            .max_in_one_second
            .entry(source.action().to_string())
            .or_default();
        *max = (*max).max(in_window);
        if over {
            inner.stats.rate_limited += 1;
        }
        !over
    }
}

#[derive(Debug)]
struct Request {
    app_id: String,
    start: i64,
    end: i64,
    indicators: Vec<String>,
    room_id: Option<String>,
    user_ids: Vec<String>,
    /// The names to answer with, in order.
    answered: Vec<String>,
}

/// Checks a request's body at `now_ms` (Unix milliseconds) as the API does.
fn parse_request(
    source: Source,
    body: &[u8],
    now_ms: i64,
    stats: &mut SimStats,
) -> Result<Request, ApiError> {
    let now = now_ms.div_euclid(1000);
    let invalid = |m: String| ApiError::new(INVALID_PARAMETER, m);
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    let missing = |k: &str| ApiError::new(MISSING_PARAMETER, format!("{k} is required"));
    let app_id = doc
        .get("AppId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("AppId"))?;
    let time = |k: &str| -> Result<i64, ApiError> {
        let s = doc
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| missing(k))?;
        timeutil::parse_rfc3339(s).ok_or_else(|| invalid(format!("{k} {s:?} is not RFC 3339")))
    };
    let start = time("StartTime")?;
    let end = time("EndTime")?;
    let indicators: Vec<String> = doc
        .get("Indicator")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("Indicator"))?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid("Indicator must be a list of strings".into()))?;
    if indicators.is_empty() {
        return Err(missing("Indicator"));
    }
    let lookback_ms = now_ms - start * 1000;
    stats.max_lookback_secs = stats.max_lookback_secs.max(lookback_ms as f64 / 1000.0);
    if lookback_ms > HORIZON_SECS * 1000 {
        stats.horizon_violations += 1;
        return Err(invalid(format!(
            "StartTime is {:.3} s before now; at most 3600 s are allowed",
            lookback_ms as f64 / 1000.0
        )));
    }
    if end < start {
        return Err(invalid("EndTime is before StartTime".into()));
    }
    if end - start > HORIZON_SECS {
        stats.span_violations += 1;
        return Err(invalid(format!(
            "the span is {} s; at most 3600 s are allowed",
            end - start
        )));
    }
    if end > now - source.delay_secs() {
        stats.beyond_delay += 1;
    }
    let (room_id, user_ids) = if source == Source::Quality {
        let room = doc
            .get("RoomId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let mut users: Vec<String> = doc
            .get("UserId")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if users.len() > 20 {
            return Err(invalid(format!(
                "UserId has {} entries; at most 20 are allowed",
                users.len()
            )));
        }
        if room.is_none() {
            users.clear();
        }
        users.sort();
        users.dedup();
        (room, users)
    } else {
        (None, Vec::new())
    };
    let mut answered = Vec::new();
    for ind in &indicators {
        let names = catalog::answered_names(source, ind).ok_or_else(|| {
            invalid(format!(
                "Indicator {ind:?} is not supported by {}",
                source.action()
            ))
        })?;
        for n in names {
            if !answered.contains(&n) {
                answered.push(n);
            }
        }
    }
    Ok(Request {
        app_id: app_id.to_string(),
        start,
        end,
        indicators,
        room_id,
        user_ids,
        answered,
    })
}

/// The answer to a valid request at `now`, with a fault's extras mixed in.
fn build_answer(
    state: &SimState,
    source: Source,
    req: &Request,
    now: i64,
    fault: Option<Fault>,
    meta: Value,
) -> (Value, u64) {
    let model = &state.config.model;
    let users = req.user_ids.join(",");
    let room = req.room_id.clone().unwrap_or_default();
    let quality = source == Source::Quality;
    let time_key = if quality { "TimeStamp" } else { "Timestamp" };
    let fmt = |ts: i64| {
        if quality {
            timeutil::fmt_api(ts)
        } else {
            timeutil::fmt_utc(ts)
        }
    };
    let mut served = 0;
    let mut indicators = Vec::new();
    for name in &req.answered {
        let s = SeriesRef {
            source,
            app_id: &req.app_id,
            room_id: &room,
            user_ids: &users,
            name,
        };
        let mut data = Vec::new();
        let mut sum = 0.0;
        let mut ts = timeutil::bucket_ceil(req.start);
        while ts <= req.end {
            if let Some(v) = model.served_value(&s, ts, now) {
                data.push(json!({ time_key: fmt(ts), "Value": v }));
                sum += v;
                if fault == Some(Fault::Duplicates) && data.len() % 7 == 0 {
                    data.push(json!({ time_key: fmt(ts), "Value": v }));
                }
            }
            ts += BUCKET_SECS;
        }
        served += data.len() as u64;
        match fault {
            Some(Fault::BadPoints) => {
                data.insert(0, json!({ "Value": 1.0 }));
                data.push(json!({ time_key: "not a time", "Value": 2.0 }));
                data.push(json!({ time_key: fmt(req.start) }));
                data.push(json!({ time_key: fmt(req.start), "Value": "n/a" }));
                data.push(json!({ time_key: fmt(req.start + 7), "Value": 3.0 }));
            }
            Some(Fault::Outside) => {
                data.push(json!({ time_key: fmt(timeutil::bucket_floor(req.start) - 600), "Value": -1.0 }));
                data.push(
                    json!({ time_key: fmt(timeutil::bucket_floor(req.end) + 600), "Value": -1.0 }),
                );
            }
            _ => {}
        }
        let count = data.len();
        let mut ind = json!({ "Name": name, "Data": data });
        if quality {
            ind["Unit"] = json!("%");
            if count > 0 {
                ind["overview"] = json!({ "Value": (sum / count as f64 * 100.0).round() / 100.0 });
            }
        }
        indicators.push(ind);
    }
    let mut result = json!({ "Indicators": indicators });
    if quality {
        if let Some(room) = &req.room_id {
            result["RoomId"] = json!(room);
        }
        if !req.user_ids.is_empty() {
            result["UserId"] = json!(req.user_ids);
        }
    }
    let _ = &req.indicators;
    (
        json!({ "ResponseMetadata": meta, "Result": result }),
        served,
    )
}

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
    let source = match (Source::from_action(action), get("Version").as_deref()) {
        (Some(source), Some(API_VERSION)) if method == Method::POST => source,
        _ => {
            state.stats(|s| s.bad_requests += 1);
            return meta.error(ApiError::new(
                INVALID_ACTION_OR_VERSION,
                format!("Could not find operation {action}"),
            ));
        }
    };
    if let Err(e) = state.authenticate(&method, &uri, &headers, &body) {
        state.stats(|s| s.auth_failures += 1);
        return meta.error(e);
    }
    if !state.admit(source) {
        return meta.error(ApiError::new(
            ACCOUNT_FLOW_LIMIT_EXCEEDED,
            "Too many requests: at most 2 per second",
        ));
    }
    let now_ms = Utc::now().timestamp_millis();
    let req = match state.stats(|s| parse_request(source, &body, now_ms, s)) {
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
    match fault {
        Some(Fault::Http500) => {
            return meta.error(ApiError::new(INTERNAL_ERROR, "internal error"));
        }
        Some(Fault::Http502) => return gateway_page(502, "Bad Gateway"),
        Some(Fault::Http503) => return gateway_page(503, "Service Temporarily Unavailable"),
        Some(Fault::Http504) => return gateway_page(504, "Gateway Time-out"),
        Some(Fault::Throttle) => {
            return meta.error(ApiError::new(
                ACCOUNT_FLOW_LIMIT_EXCEEDED,
                "flow limit exceeded",
            ));
        }
        Some(Fault::Denied) => {
            return meta.error(ApiError::new(ACCESS_DENIED, "access denied for this AppId"));
        }
        Some(Fault::Malformed) => return json_ok("{\"ResponseMetadata\": <oops>"),
        Some(Fault::WrongShape) => {
            return axum::Json(json!({ "ResponseMetadata": meta.to_json(), "Result": { "Indicators": "temporarily unavailable" } })).into_response();
        }
        Some(Fault::Slow) => tokio::time::sleep(state.config.faults.slow).await,
        _ => {}
    }
    // the answer reflects the moment it is sent
    let now = Utc::now().timestamp();
    let (answer, served) = build_answer(&state, source, &req, now, fault, meta.to_json());
    let bytes = serde_json::to_vec(&answer).expect("an answer always serializes");
    match fault {
        Some(Fault::Truncate) => {
            return json_ok(bytes[..bytes.len() / 2].to_vec());
        }
        Some(Fault::Reset) => {
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                )),
            ];
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        _ => {}
    }
    state.stats(|s| {
        s.answered += 1;
        s.points_served += served;
    });
    json_ok(bytes)
}

#[cfg(test)]
mod tests;
