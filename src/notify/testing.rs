//! A local receiver for tests, the simulator's neighbour: a real HTTP
//! server on loopback that plays Feishu, DingTalk, Slack and a generic
//! webhook, checks each request's signature as the platform does (written
//! here again from the platforms' documentation, not with the senders'
//! code) and records every message. A path's last segment chooses how it
//! answers: `ok`, `fail` (HTTP 500), `hang` (never), or `refuse` (the
//! platform's own refusal).
//!
//! `/feishu/ok`, `/dingtalk/ok?access_token=t`, `/slack/ok`, `/webhook/ok`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `feishu`, `dingtalk`, `slack` or `webhook`.
    pub platform: String,
    pub mode: String,
    /// The signature checked out (or none was expected and none came).
    pub verified: bool,
    /// Why not, if not.
    pub problem: Option<String>,
    pub body: Value,
    pub at: Instant,
}

/// The secrets the receiver expects (`None`: no signature expected).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub feishu: Option<String>,
    pub dingtalk: Option<String>,
    pub webhook: Option<String>,
}

#[derive(Clone)]
struct Shared {
    secrets: Secrets,
    received: Arc<Mutex<Vec<Received>>>,
}

/// The receiver, running on its own thread and runtime until dropped.
pub struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start(secrets: Secrets) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            secrets,
            received: received.clone(),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the receiver");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                addr_tx
                    .send(listener.local_addr().expect("an address"))
                    .ok();
                let app = Router::new()
                    .route("/{platform}/{mode}", post(receive))
                    .with_state(shared);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .ok();
            });
            // hanging requests are abandoned with the runtime
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx.recv().expect("the receiver's address");
        Receiver {
            base: format!("http://{addr}"),
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The URL of a platform's endpoint answering in `mode`.
    pub fn url(&self, platform: &str, mode: &str) -> String {
        match platform {
            "dingtalk" => format!("{}/dingtalk/{mode}?access_token=test-token", self.base),
            p => format!("{}/{p}/{mode}", self.base),
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests came (or `timeout` passed); returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let until = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A timestamp within an hour of now, as both platforms require.
fn fresh(ts_secs: i64) -> bool {
    (chrono::Utc::now().timestamp() - ts_secs).abs() <= 3600
}

/// Feishu: `timestamp` and `sign` in the body.
fn check_feishu(secret: &str, body: &Value) -> Result<(), String> {
    let ts = body["timestamp"]
        .as_str()
        .ok_or("no timestamp string in the body")?;
    let ts_n: i64 = ts.parse().map_err(|_| "timestamp is not a number")?;
    if !fresh(ts_n) {
        return Err("timestamp not within an hour".into());
    }
    let want = b64(&hmac256(format!("{ts}\n{secret}").as_bytes(), b""));
    match body["sign"].as_str() {
        Some(s) if s == want => Ok(()),
        _ => Err("sign does not match".into()),
    }
}

/// DingTalk: `timestamp` (ms) and the URL-encoded `sign` in the query.
fn check_dingtalk(secret: &str, query: &str) -> Result<(), String> {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    let ts = param("timestamp").ok_or("no timestamp in the query")?;
    let ts_n: i64 = ts.parse().map_err(|_| "timestamp is not a number")?;
    if !fresh(ts_n / 1000) {
        return Err("timestamp not within an hour".into());
    }
    let want = b64(&hmac256(
        secret.as_bytes(),
        format!("{ts}\n{secret}").as_bytes(),
    ));
    match param("sign") {
        Some(s) if s == want => Ok(()),
        _ => Err("sign does not match".into()),
    }
}

/// The generic webhook: `X-Rtc-Archiver-Signature: sha256=<hex>` of the raw body.
fn check_webhook(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let want = format!("sha256={}", hex::encode(hmac256(secret.as_bytes(), body)));
    match headers
        .get("x-rtc-archiver-signature")
        .and_then(|v| v.to_str().ok())
    {
        Some(s) if s == want => Ok(()),
        Some(_) => Err("signature does not match".into()),
        None => Err("no signature header".into()),
    }
}

async fn receive(
    State(shared): State<Shared>,
    Path((platform, mode)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let s = &shared.secrets;
    let checked = match platform.as_str() {
        "feishu" => s.feishu.as_deref().map(|k| check_feishu(k, &parsed)),
        "dingtalk" => s
            .dingtalk
            .as_deref()
            .map(|k| check_dingtalk(k, query.as_deref().unwrap_or(""))),
        "webhook" => s
            .webhook
            .as_deref()
            .map(|k| check_webhook(k, &headers, &body)),
        _ => None,
    }
    .unwrap_or(Ok(()));
    shared.received.lock().unwrap().push(Received {
        platform: platform.clone(),
        mode: mode.clone(),
        verified: checked.is_ok(),
        problem: checked.as_ref().err().cloned(),
        body: parsed,
        at: Instant::now(),
    });
    match mode.as_str() {
        "hang" => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, "failing on purpose").into_response(),
        _ => {
            let refuse = mode == "refuse" || checked.is_err();
            match (platform.as_str(), refuse) {
                ("feishu", false) => axum::Json(json!({"code": 0, "data": {}, "msg": "success"})).into_response(),
                ("feishu", true) => axum::Json(json!({"code": 19021, "data": {}, "msg": "sign match fail or timestamp is not within one hour from current time"})).into_response(),
                ("dingtalk", false) => axum::Json(json!({"errcode": 0, "errmsg": "ok"})).into_response(),
                ("dingtalk", true) => axum::Json(json!({"errcode": 310000, "errmsg": "sign not match"})).into_response(),
                (_, false) => "ok".into_response(),
                (_, true) => (StatusCode::FORBIDDEN, "invalid_token").into_response(),
            }
        }
    }
}
