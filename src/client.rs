//! The HTTP side of the API: one signed `POST` per call, each action paced
//! by its own [`Pacer`] (its limit, its daily quota, the most urgent stream
//! first), answers handed to [`api`] for parsing. Retrying is the
//! collector's business: it re-plans the window between attempts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use url::Url;

use crate::api::{self, Answer, FetchError, HttpAnswer, QueryRequest};
use crate::config::ApiConfig;
use crate::credentials::Credentials;
use crate::pacer::{Grant, Pacer, QuotaExhausted};
use crate::series::Action;
use crate::{API_VERSION, sign};

/// Longest `Retry-After` we honour.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The largest answer read: an hour of 30-second buckets for a target's
/// indicators is tens of kilobytes; a body without an end must not fill
/// the memory before the timeout ends it.
pub const MAX_ANSWER_BYTES: usize = 32 << 20;

/// One attempt's outcome and timing.
#[derive(Debug)]
pub struct Attempt {
    pub result: Result<Answer, FetchError>,
    /// Time on the wire.
    pub latency: Duration,
    /// Time spent waiting for the rate limiter.
    pub waited: Duration,
}

/// A signed client for every action.
pub struct ApiClient {
    http: reqwest::Client,
    url: Url,
    host: String,
    region: String,
    creds: Credentials,
    /// One pacer per action.
    pacers: [Pacer; 5],
    /// Requests sent, per action (for tests and metrics).
    sent: [AtomicU64; 5],
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("url", &self.url.as_str())
            .field("region", &self.region)
            .field("creds", &self.creds)
            .finish()
    }
}

fn action_index(action: Action) -> usize {
    Action::ALL
        .iter()
        .position(|a| *a == action)
        .expect("every action is in Action::ALL")
}

/// The `Host` header value reqwest sends for a URL (port only if not the default).
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// An error with its whole chain of causes, for messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn transport_error(e: &reqwest::Error) -> FetchError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "answer cut short"
    } else {
        "request failed"
    };
    FetchError::Transport(format!("{what}: {}", error_chain(e)))
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// A response's body, at most [`MAX_ANSWER_BYTES`] of it: a longer one is
/// a bad answer (retryable, like any body that does not parse).
async fn read_body(mut response: reqwest::Response, status: u16) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::BadAnswer {
        status,
        reason: format!(
            "the answer is larger than {} MiB, which no answer of this API is",
            MAX_ANSWER_BYTES >> 20
        ),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl ApiClient {
    pub fn new(api: &ApiConfig, creds: Credentials) -> Result<ApiClient, reqwest::Error> {
        // ring is our only crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("rtc-archiver/", env!("CARGO_PKG_VERSION")))
            .timeout(api.timeout)
            .connect_timeout(api.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let pacers = Action::ALL.map(|a| Pacer::new(api.limits.of(a.name())));
        Ok(ApiClient {
            http,
            host: host_header(&api.endpoint),
            url: api.endpoint.clone(),
            region: api.region.clone(),
            creds,
            pacers,
            sent: Action::ALL.map(|_| AtomicU64::new(0)),
        })
    }

    /// Requests sent so far for an action.
    pub fn sent(&self, action: Action) -> u64 {
        self.sent[action_index(action)].load(Ordering::Relaxed)
    }

    /// The pacer of an action.
    pub fn pacer(&self, action: Action) -> &Pacer {
        &self.pacers[action_index(action)]
    }

    /// Waits until a request of `action` may leave: after every more urgent
    /// waiting stream (a smaller `urgency`: its oldest unfetched bucket),
    /// never faster than the action's limit, never past its daily quota.
    /// Hold the grant while planning the request, then hand it to
    /// [`ApiClient::send_now`]: the spacing counts from when the request
    /// leaves, and a window planned after this returns is planned at the
    /// moment its request leaves.
    pub async fn permit(&self, action: Action, urgency: i64) -> Result<Grant<'_>, QuotaExhausted> {
        self.pacer(action).permit(urgency).await
    }

    /// Sends one request now, on the turn `grant` gave it.
    pub async fn send_now(&self, req: &QueryRequest, grant: Grant<'_>) -> Attempt {
        let waited = grant.waited();
        grant.sent();
        self.sent[action_index(req.action)].fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.send(req).await;
        Attempt {
            result,
            latency: started.elapsed(),
            waited,
        }
    }

    /// Waits for the action's turn (as the most urgent), then sends one
    /// request; a used-up daily quota is an error of its own.
    pub async fn fetch(&self, req: &QueryRequest) -> Result<Attempt, QuotaExhausted> {
        let grant = self.permit(req.action, i64::MIN).await?;
        Ok(self.send_now(req, grant).await)
    }

    async fn send(&self, req: &QueryRequest) -> Result<Answer, FetchError> {
        let query = vec![
            ("Action".to_string(), req.action.name().to_string()),
            ("Version".to_string(), API_VERSION.to_string()),
        ];
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let path = if self.url.path().is_empty() {
            "/"
        } else {
            self.url.path()
        };
        let body = req.body();
        let headers = sign::sign_post(
            &self.creds,
            &self.region,
            &self.host,
            path,
            &query,
            &body,
            Utc::now(),
        );
        let mut builder = self.http.post(url).body(body);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(|e| transport_error(&e))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let bytes = read_body(response, status).await?;
        api::parse_answer(
            &HttpAnswer {
                status,
                retry_after,
                body: &bytes,
            },
            (req.start, req.end),
            req.action.is_distribution(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers_match_what_reqwest_sends() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            host_header(&u("https://rtc.volcengineapi.com")),
            "rtc.volcengineapi.com"
        );
        assert_eq!(
            host_header(&u("https://rtc.volcengineapi.com:443/")),
            "rtc.volcengineapi.com"
        );
        assert_eq!(host_header(&u("http://127.0.0.1:8080")), "127.0.0.1:8080");
        assert_eq!(host_header(&u("http://[::1]:9000")), "[::1]:9000");
    }

    fn request(source: crate::Source) -> QueryRequest {
        QueryRequest {
            action: source.realtime(),
            stream: crate::series::StreamKey::new("a", None, crate::series::UserSet::NONE, source),
            product_type: None,
            indicators: vec!["online_user_count".into()],
            start: 0,
            end: 30,
        }
    }

    async fn transport_error_of(endpoint: &str) -> String {
        let api = ApiConfig {
            endpoint: Url::parse(endpoint).unwrap(),
            timeout: Duration::from_secs(10),
            ..ApiConfig::default()
        };
        let client = ApiClient::new(&api, Credentials::new("ak", "sk", None, "test")).unwrap();
        match client
            .fetch(&request(crate::Source::Operation))
            .await
            .unwrap()
            .result
        {
            Err(e @ FetchError::Transport(_)) => {
                assert!(e.is_retryable());
                e.to_string()
            }
            other => panic!("{endpoint}: {other:?}"),
        }
    }

    #[tokio::test]
    async fn dns_and_tls_failures_are_retryable_transport_errors() {
        // .invalid never resolves (RFC 6761)
        let e = transport_error_of("https://rtc.example.invalid").await;
        assert!(
            e.contains("could not connect") || e.contains("request failed"),
            "{e}"
        );
        // TLS to a plain-HTTP port fails the handshake
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let e = transport_error_of(&format!("https://{addr}")).await;
        assert!(e.contains("could not connect"), "{e}");
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_off_as_a_bad_answer() {
        // a server that streams a body without end (chunked, no length)
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = vec![0u8; 64 << 10];
                    let _ = s.read(&mut buf).await;
                    let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                    if s.write_all(head).await.is_err() {
                        return;
                    }
                    let mut chunk = format!("{:x}\r\n", buf.len()).into_bytes();
                    chunk.extend(std::iter::repeat_n(b' ', buf.len()));
                    chunk.extend_from_slice(b"\r\n");
                    while s.write_all(&chunk).await.is_ok() {}
                });
            }
        });
        let api = ApiConfig {
            endpoint: Url::parse(&format!("http://{addr}")).unwrap(),
            timeout: Duration::from_secs(60),
            ..ApiConfig::default()
        };
        let client = ApiClient::new(&api, Credentials::new("ak", "sk", None, "test")).unwrap();
        let a = client
            .fetch(&request(crate::Source::Operation))
            .await
            .unwrap();
        match a.result {
            Err(e @ FetchError::BadAnswer { .. }) => {
                assert!(e.to_string().contains("larger than 32 MiB"), "{e}");
                assert!(e.is_retryable());
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn requests_of_one_action_are_spaced() {
        let api = ApiConfig {
            // nothing listens on port 9 of loopback: each attempt fails fast
            endpoint: Url::parse("http://127.0.0.1:9").unwrap(),
            ..ApiConfig::default()
        };
        let client = ApiClient::new(&api, Credentials::new("ak", "sk", None, "test")).unwrap();
        let req = request(crate::Source::Quality);
        let t = Instant::now();
        for _ in 0..3 {
            let a = client.fetch(&req).await.unwrap();
            assert!(
                matches!(a.result, Err(FetchError::Transport(_))),
                "{:?}",
                a.result
            );
        }
        // three requests need at least two spacings
        assert!(
            t.elapsed() >= crate::budget::Limit::default().spacing() * 2,
            "{:?}",
            t.elapsed()
        );
        assert_eq!(client.sent(Action::RealTimeQuality), 3);
        assert_eq!(client.sent(Action::RealTimeOperationData), 0);
    }
}
