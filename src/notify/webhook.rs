//! A generic webhook: the message's JSON (the events, or the report's
//! incidents and regressions) as the body, and with a secret, the header
//! `X-Rtc-Archiver-Signature: sha256=<hex HMAC-SHA256 of the body>` (keyed
//! with the secret), the convention GitHub's webhooks made common: the
//! receiver recomputes it over the raw body and compares in constant time.

use std::time::Duration;

use url::Url;

use super::{Answer, Message, NotifyKind, Platform, Rate, Request, expose, hmac_sha256};
use crate::credentials::Secret;

/// The signature's header.
pub const SIGNATURE_HEADER: &str = "x-rtc-archiver-signature";

/// Kept gentle: 5 a second.
const RATES: &[Rate] = &[Rate {
    count: 5,
    per: Duration::from_secs(1),
}];

pub struct Webhook {
    pub url: Url,
    pub secret: Option<Secret>,
}

/// `sha256=<hex>` of a body.
pub fn signature(body: &[u8], secret: &str) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

impl Platform for Webhook {
    fn kind(&self) -> NotifyKind {
        NotifyKind::Webhook
    }

    fn request(&self, msg: &Message, _now_ms: i64) -> Request {
        let body = msg.json.to_string().into_bytes();
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(s) = expose(&self.secret) {
            headers.push((SIGNATURE_HEADER, signature(&body, s)));
        }
        Request {
            url: self.url.clone(),
            headers,
            body,
        }
    }

    fn answer(&self, status: u16, _body: &str) -> Answer {
        super::http_answer(status, None).unwrap_or(Answer::Accepted)
    }

    fn rates(&self) -> &'static [Rate] {
        RATES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_an_independent_implementation() {
        // Python: hmac.new(b"whsec", b'{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature(br#"{"a":1}"#, "whsec"),
            "sha256=19373ef0e8c66f206e49d251e4402291615bbce6ef00922e94a47a213fb76ee1"
        );
        let w = Webhook {
            url: Url::parse("https://example.com/hook").unwrap(),
            secret: Some(Secret::new("whsec")),
        };
        let msg = Message {
            title: "t".into(),
            lines: vec![],
            link: None,
            json: serde_json::json!({"a": 1}),
        };
        let r = w.request(&msg, 0);
        assert_eq!(r.body, br#"{"a":1}"#);
        assert_eq!(r.headers[1].0, SIGNATURE_HEADER);
        assert!(r.headers[1].1.starts_with("sha256=19373ef0"));
    }
}
