//! Feishu / Lark custom bots. With signature verification on, the body
//! carries `timestamp` (Unix seconds, as a string; within an hour of the
//! server's clock) and `sign`: base64 of HMAC-SHA256 keyed with
//! `timestamp + "\n" + secret` over an empty message (the platform's
//! documented algorithm; its samples in Java, Go and Python agree). The
//! message is a rich-text `post` whose lines are `text` elements: plain
//! data, never parsed (a `<at>` in a room name mentions nobody). The
//! answer is HTTP 200 with `code` 0, or a code saying what is wrong.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use super::{Answer, Message, NotifyKind, Platform, Rate, Request, base64, expose, hmac_sha256};
use crate::credentials::Secret;

/// 5 a second and 100 a minute per bot.
const RATES: &[Rate] = &[
    Rate {
        count: 5,
        per: Duration::from_secs(1),
    },
    Rate {
        count: 100,
        per: Duration::from_secs(60),
    },
];

pub struct Feishu {
    pub url: Url,
    pub secret: Option<Secret>,
}

/// The `sign` for a timestamp (seconds) and secret.
pub fn sign(timestamp: i64, secret: &str) -> String {
    base64(&hmac_sha256(
        format!("{timestamp}\n{secret}").as_bytes(),
        b"",
    ))
}

/// The body: a `post` with a title, one paragraph per line, and the link.
pub fn body(msg: &Message, signed: Option<(i64, String)>) -> Value {
    let mut content: Vec<Value> = msg
        .lines
        .iter()
        .map(|l| json!([{"tag": "text", "text": l}]))
        .collect();
    if let Some(link) = &msg.link {
        if link.starts_with("https://") || link.starts_with("http://") {
            content.push(json!([
                {"tag": "text", "text": "Full report: "},
                {"tag": "a", "text": link, "href": link}
            ]));
        } else {
            content.push(json!([{"tag": "text", "text": format!("Full report: {link}")}]));
        }
    }
    let mut body = json!({
        "msg_type": "post",
        "content": {"post": {"zh_cn": {"title": msg.title, "content": content}}},
    });
    if let Some((timestamp, sign)) = signed {
        body["timestamp"] = json!(timestamp.to_string());
        body["sign"] = json!(sign);
    }
    body
}

impl Platform for Feishu {
    fn kind(&self) -> NotifyKind {
        NotifyKind::Feishu
    }

    fn request(&self, msg: &Message, now_ms: i64) -> Request {
        let ts = now_ms.div_euclid(1000);
        let signed = expose(&self.secret).map(|s| (ts, sign(ts, s)));
        Request {
            url: self.url.clone(),
            headers: vec![("content-type", "application/json".into())],
            body: body(msg, signed).to_string().into_bytes(),
        }
    }

    fn answer(&self, status: u16, body: &str) -> Answer {
        if let Some(a) = super::http_answer(status, None) {
            return a;
        }
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        // `code` (newer answers) or `StatusCode` (older ones); 0 is success
        let code = v["code"].as_i64().or_else(|| v["StatusCode"].as_i64());
        let msg = v["msg"].as_str().or_else(|| v["StatusMessage"].as_str());
        match code {
            Some(0) | None => Answer::Accepted,
            // too many requests, frequency limited
            Some(9499 | 11232 | 11233) => Answer::Retry {
                wait: Some(Duration::from_secs(5)),
                why: format!("Feishu throttled the bot (code {})", code.unwrap_or(0)),
            },
            Some(19021) => Answer::Refused(
                "Feishu refused the signature (code 19021): check the secret, and this \
                 machine's clock (the timestamp must be within an hour)"
                    .into(),
            ),
            Some(c) => Answer::Refused(format!(
                "Feishu refused the message (code {c}: {}): check the bot's security settings \
                 (keywords, IP allow-list, signature)",
                msg.unwrap_or("")
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
        // Python: base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"",
        // hashlib.sha256).digest())
        assert_eq!(
            sign(1599360473, "test-secret"),
            "wSds2BzzFIIGf/WrhUO+NI1q/9j+FRJd3JNHKAq0NZY="
        );
    }

    #[test]
    fn a_signed_post_with_plain_text_lines() {
        let f = Feishu {
            url: Url::parse("https://open.feishu.cn/open-apis/bot/v2/hook/x").unwrap(),
            secret: Some(Secret::new("test-secret")),
        };
        let msg = Message {
            title: "t".into(),
            lines: vec!["room <at user_id=\"all\">".into()],
            link: Some("https://r.example/2026-11-22.html".into()),
            json: Value::Null,
        };
        let r = f.request(&msg, 1_599_360_473_999);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["timestamp"], "1599360473");
        assert_eq!(v["sign"], "wSds2BzzFIIGf/WrhUO+NI1q/9j+FRJd3JNHKAq0NZY=");
        assert_eq!(v["msg_type"], "post");
        let content = &v["content"]["post"]["zh_cn"]["content"];
        assert_eq!(content[0][0]["tag"], "text");
        assert_eq!(content[0][0]["text"], "room <at user_id=\"all\">");
        assert_eq!(content[1][1]["href"], "https://r.example/2026-11-22.html");
        // unsigned without a secret
        let f = Feishu { secret: None, ..f };
        let v: Value = serde_json::from_slice(&f.request(&msg, 0).body).unwrap();
        assert!(v.get("sign").is_none());
    }

    #[test]
    fn answers() {
        let f = Feishu {
            url: Url::parse("https://x/").unwrap(),
            secret: None,
        };
        assert_eq!(
            f.answer(200, r#"{"code":0,"data":{},"msg":"success"}"#),
            Answer::Accepted
        );
        assert_eq!(
            f.answer(200, r#"{"StatusCode":0,"StatusMessage":"success"}"#),
            Answer::Accepted
        );
        assert!(matches!(
            f.answer(200, r#"{"code":19021,"msg":"sign match fail"}"#),
            Answer::Refused(_)
        ));
        assert!(matches!(
            f.answer(200, r#"{"code":9499,"msg":"too many"}"#),
            Answer::Retry { .. }
        ));
        assert!(matches!(f.answer(502, ""), Answer::Retry { .. }));
    }
}
