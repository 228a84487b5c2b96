//! Notifications: the report's digest (`report --notify`) and the
//! collector's health events, delivered to the chat tools RTC teams live
//! in. One file per platform behind [`Platform`] (`feishu.rs`,
//! `dingtalk.rs`, `slack.rs`, `webhook.rs`): each builds its signed
//! request from a platform-neutral [`Message`] and reads the platform's
//! answer. What a message says is built in [`message`] (pure), health
//! transitions are decided in [`health`] (pure), the platforms' rate
//! limits in [`limit`] (pure), and [`send`] delivers: retries with
//! backoff, and for the collector a [`Notifier`] whose `notify` only
//! queues, so a failing or hanging destination never slows collection.
//!
//! A webhook URL is a credential, and so is a signing secret: neither is
//! ever in a log line, an error message or the database. Destinations are
//! named `notify[N] (kind)` in messages.

pub mod dingtalk;
pub mod feishu;
pub mod health;
pub mod limit;
pub mod message;
pub mod send;
pub mod slack;
pub mod testing;
pub mod webhook;

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use url::Url;

pub use crate::config::{EventKind, NotifyKind};
use crate::config::{NotifyConfig, check_url};
use crate::credentials::Secret;
pub use health::{Check, Health};
pub use message::{Event, Message};
pub use send::{Notifier, NotifyCounters, SendError, send_report};

/// HMAC-SHA256, the MAC every signing platform uses.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Standard base64 (with padding), as Feishu and DingTalk expect it.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One HTTP request to a destination. Its URL is a credential: it is
/// never printed (`Debug` leaves it out).
pub struct Request {
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("url", &"<redacted>")
            .field(
                "headers",
                &self.headers.iter().map(|h| h.0).collect::<Vec<_>>(),
            )
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// What a platform's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// Worth trying again (throttled, a server error), after at least this long.
    Retry {
        wait: Option<Duration>,
        why: String,
    },
    /// Trying again cannot help (a bad signature, a removed bot): what to check.
    Refused(String),
}

/// A sending rule of a platform: at most `count` messages per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: usize,
    pub per: Duration,
}

/// One platform: how a message becomes its request, what its answer
/// means, and how fast it may be sent to.
pub trait Platform: Send + Sync {
    fn kind(&self) -> NotifyKind;

    /// The request for a message at `now_ms` (Unix milliseconds), signed
    /// as the platform documents.
    fn request(&self, msg: &Message, now_ms: i64) -> Request;

    /// What an answer (HTTP status, body) means.
    fn answer(&self, status: u16, body: &str) -> Answer;

    /// The platform's rate limits for one webhook.
    fn rates(&self) -> &'static [Rate];
}

/// What an HTTP status means to every platform: 2xx is accepted (the
/// body may still say otherwise), 429 and 5xx are worth a retry.
pub fn http_answer(status: u16, retry_after: Option<Duration>) -> Option<Answer> {
    match status {
        200..=299 => None,
        429 => Some(Answer::Retry {
            wait: retry_after,
            why: "throttled (HTTP 429)".into(),
        }),
        500..=599 => Some(Answer::Retry {
            wait: None,
            why: format!("HTTP {status}"),
        }),
        _ => Some(Answer::Refused(format!(
            "HTTP {status}: check the webhook URL (the bot or hook may have been removed)"
        ))),
    }
}

/// A configured destination, its credentials resolved.
pub struct Destination {
    /// `notify[1] (feishu)`: how messages and logs name it.
    pub label: String,
    pub events: Vec<EventKind>,
    pub platform: Box<dyn Platform>,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("label", &self.label)
            .field("events", &self.events)
            .finish()
    }
}

impl Destination {
    /// Builds the `index`th (1-based) `[[notify]]` table's destination,
    /// reading its URL and secret from `env` where the config says so.
    pub fn resolve(
        index: usize,
        c: &NotifyConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Destination, String> {
        let label = format!("notify[{index}] ({})", c.kind.as_str());
        let url = c.url.resolve(env).map_err(|e| format!("{label}: {e}"))?;
        let url = check_url(url.expose()).map_err(|e| format!("{label}: its URL {e}"))?;
        let secret = match &c.secret {
            Some(s) => Some(s.resolve(env).map_err(|e| format!("{label}: {e}"))?),
            None => None,
        };
        let platform: Box<dyn Platform> = match c.kind {
            NotifyKind::Feishu => Box::new(feishu::Feishu { url, secret }),
            NotifyKind::Dingtalk => Box::new(dingtalk::Dingtalk { url, secret }),
            NotifyKind::Slack => Box::new(slack::Slack { url }),
            NotifyKind::Webhook => Box::new(webhook::Webhook { url, secret }),
        };
        Ok(Destination {
            label,
            events: c.events.clone(),
            platform,
        })
    }

    pub fn wants(&self, event: EventKind) -> bool {
        self.events.contains(&event)
    }
}

/// Every configured destination, or the first that cannot be built.
pub fn resolve_all(
    configs: &[NotifyConfig],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Destination>, String> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| Destination::resolve(i + 1, c, env))
        .collect()
}

/// A secret's value, for the signers only.
fn expose(s: &Option<Secret>) -> Option<&str> {
    s.as_ref().map(Secret::expose)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretSource;

    #[test]
    fn destinations_resolve_from_the_environment_or_say_which_variable_is_missing() {
        let c = NotifyConfig {
            kind: NotifyKind::Feishu,
            url: SecretSource::Env("HOOK".into()),
            secret: Some(SecretSource::Env("SIGN".into())),
            events: vec![EventKind::Incident],
        };
        let env = |k: &str| match k {
            "HOOK" => Some("https://open.feishu.cn/open-apis/bot/v2/hook/tok-1".to_string()),
            "SIGN" => Some("s".to_string()),
            _ => None,
        };
        let d = Destination::resolve(2, &c, &env).unwrap();
        assert_eq!(d.label, "notify[2] (feishu)");
        assert!(d.wants(EventKind::Incident) && !d.wants(EventKind::Gap));
        assert!(!format!("{d:?}").contains("tok-1"));
        let e = Destination::resolve(1, &c, &|_| None).unwrap_err();
        assert_eq!(
            e,
            "notify[1] (feishu): the environment variable HOOK is not set"
        );
        let e = Destination::resolve(1, &c, &|k: &str| {
            (k == "HOOK").then(|| "http://example.com/tok-2".to_string())
        })
        .unwrap_err();
        assert!(
            e.contains("is not an https:// URL") && !e.contains("tok-2"),
            "{e}"
        );
    }

    #[test]
    fn http_statuses() {
        assert_eq!(http_answer(200, None), None);
        assert!(matches!(http_answer(429, None), Some(Answer::Retry { .. })));
        assert!(matches!(http_answer(503, None), Some(Answer::Retry { .. })));
        assert!(matches!(http_answer(404, None), Some(Answer::Refused(_))));
    }
}
