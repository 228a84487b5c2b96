//! DingTalk custom robots. With 加签 (signing) on, the webhook URL gets two
//! query parameters: `timestamp` (Unix milliseconds, within an hour of the
//! server's clock) and `sign`: HMAC-SHA256 keyed with the secret (the
//! `SEC...` string) over `timestamp + "\n" + secret`, base64, then
//! URL-encoded (the platform's documented algorithm and samples). The
//! message is of type `text`: plain data, nothing in it is parsed (nobody
//! is @-mentioned without the `at` field). The answer is HTTP 200 with
//! `errcode` 0. A robot takes 20 messages a minute, and is blocked for 10
//! minutes beyond that.

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use url::Url;

use super::{Answer, Message, NotifyKind, Platform, Rate, Request, base64, expose, hmac_sha256};
use crate::credentials::Secret;

const RATES: &[Rate] = &[Rate {
    count: 20,
    per: Duration::from_secs(60),
}];

pub struct Dingtalk {
    pub url: Url,
    pub secret: Option<Secret>,
}

/// The `sign` for a timestamp (milliseconds) and secret, base64 before
/// URL-encoding.
pub fn sign(timestamp_ms: i64, secret: &str) -> String {
    base64(&hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    ))
}

/// The webhook URL with `timestamp` and the URL-encoded `sign` appended.
pub fn signed_url(url: &Url, timestamp_ms: i64, secret: &str) -> Url {
    let sign = utf8_percent_encode(&sign(timestamp_ms, secret), NON_ALPHANUMERIC).to_string();
    let mut url = url.clone();
    let query = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&timestamp={timestamp_ms}&sign={sign}"),
        _ => format!("timestamp={timestamp_ms}&sign={sign}"),
    };
    url.set_query(Some(&query));
    url
}

impl Platform for Dingtalk {
    fn kind(&self) -> NotifyKind {
        NotifyKind::Dingtalk
    }

    fn request(&self, msg: &Message, now_ms: i64) -> Request {
        let url = match expose(&self.secret) {
            Some(s) => signed_url(&self.url, now_ms, s),
            None => self.url.clone(),
        };
        let body = json!({"msgtype": "text", "text": {"content": msg.text()}});
        Request {
            url,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn answer(&self, status: u16, body: &str) -> Answer {
        if let Some(a) = super::http_answer(status, None) {
            return a;
        }
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        match v["errcode"].as_i64() {
            Some(0) | None => Answer::Accepted,
            // sending too fast: the robot is blocked for a while
            Some(130101) => Answer::Retry {
                wait: Some(Duration::from_secs(60)),
                why: "DingTalk throttled the robot (errcode 130101)".into(),
            },
            Some(310000) => Answer::Refused(format!(
                "DingTalk refused the message (errcode 310000: {}): check the robot's security \
                 settings (the secret, keywords, IP allow-list) and this machine's clock",
                v["errmsg"].as_str().unwrap_or("")
            )),
            Some(c) => Answer::Refused(format!(
                "DingTalk refused the message (errcode {c}: {}): check the webhook URL",
                v["errmsg"].as_str().unwrap_or("")
            )),
        }
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
        // Python: urllib.parse.quote_plus(base64.b64encode(hmac.new(secret,
        // f"{ts}\n{secret}", hashlib.sha256).digest()))
        let secret = "SEC0123456789abcdef";
        assert_eq!(
            sign(1577262236757, secret),
            "Pgr6tpIpjVrMPPJUPkaI9sivFPPTYOy5zIOMF2GPFMA="
        );
        let url = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc").unwrap();
        let signed = signed_url(&url, 1577262236760, secret);
        assert_eq!(
            signed.query().unwrap(),
            "access_token=abc&timestamp=1577262236760&sign=d9Dk0Z0jPCUiXh98g15v5UUXWC9lc5Z%2BIUT%2Fz9xVTCA%3D"
        );
    }

    #[test]
    fn a_plain_text_message() {
        let d = Dingtalk {
            url: Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc").unwrap(),
            secret: None,
        };
        let msg = Message {
            title: "title".into(),
            lines: vec!["a **b** @13800000000".into()],
            link: None,
            json: Value::Null,
        };
        let r = d.request(&msg, 0);
        assert_eq!(r.url.query(), Some("access_token=abc"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["msgtype"], "text");
        assert_eq!(v["text"]["content"], "title\na **b** @13800000000");
        assert!(v.get("at").is_none());
    }

    #[test]
    fn answers() {
        let d = Dingtalk {
            url: Url::parse("https://x/").unwrap(),
            secret: None,
        };
        assert_eq!(
            d.answer(200, r#"{"errcode":0,"errmsg":"ok"}"#),
            Answer::Accepted
        );
        assert!(matches!(
            d.answer(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#),
            Answer::Retry { .. }
        ));
        assert!(matches!(
            d.answer(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Answer::Refused(_)
        ));
    }
}
