//! Slack incoming webhooks: a JSON `text`, unsigned (the URL is the
//! credential). `mrkdwn` is off, so nothing in the data formats anything,
//! and the three characters Slack parses even so (`&`, `<`, `>`: links and
//! mentions) are escaped as the documentation says, as HTML entities. The
//! answer is `ok`; about one message a second is allowed, a 429 says how
//! long to wait.

use std::time::Duration;

use serde_json::json;
use url::Url;

use super::{Answer, Message, NotifyKind, Platform, Rate, Request};

const RATES: &[Rate] = &[Rate {
    count: 1,
    per: Duration::from_secs(1),
}];

pub struct Slack {
    pub url: Url,
}

/// `&`, `<` and `>` as `&amp;`, `&lt;` and `&gt;`: the only escaping Slack
/// wants (other entities would show as written).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Platform for Slack {
    fn kind(&self) -> NotifyKind {
        NotifyKind::Slack
    }

    fn request(&self, msg: &Message, _now_ms: i64) -> Request {
        let body = json!({"text": escape(&msg.text()), "mrkdwn": false});
        Request {
            url: self.url.clone(),
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
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
    fn control_characters_are_escaped_and_markup_is_off() {
        assert_eq!(
            escape("r&d <lab> <!channel>"),
            "r&amp;d &lt;lab&gt; &lt;!channel&gt;"
        );
        let s = Slack {
            url: Url::parse("https://hooks.slack.com/services/T/B/x").unwrap(),
        };
        let msg = Message {
            title: "t".into(),
            lines: vec!["*bold* <@U123>".into()],
            link: None,
            json: serde_json::Value::Null,
        };
        let v: serde_json::Value = serde_json::from_slice(&s.request(&msg, 0).body).unwrap();
        assert_eq!(v["text"], "t\n*bold* &lt;@U123&gt;");
        assert_eq!(v["mrkdwn"], false);
    }
}
