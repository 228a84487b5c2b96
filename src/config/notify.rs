//! The `[[notify]]` tables and the `notify_lag` key: where the report's
//! digest and the collector's health events go, and which events each
//! destination wants. A webhook URL is a credential (whoever holds it posts
//! into the channel), so it is read from the environment (`url_env`) or,
//! inline (`url`), makes the config file a secret file; neither a URL nor
//! a secret is ever echoed in a message.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{Checker, ConfigError};
use crate::credentials::Secret;
use crate::timeutil::DurationRange;

/// `notify_lag`: from a minute (the data delay alone is 90 s) to a day.
pub const NOTIFY_LAG_RANGE: DurationRange =
    DurationRange::new(Duration::from_secs(60), Duration::from_secs(86400));
/// `notify_lag` when not set.
pub const DEFAULT_NOTIFY_LAG: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    kind: Option<String>,
    url: Option<String>,
    url_env: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    events: Option<Vec<String>>,
}

/// The platform a destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyKind {
    /// Feishu / Lark custom bot.
    Feishu,
    /// DingTalk custom robot.
    Dingtalk,
    /// Slack incoming webhook.
    Slack,
    /// Any HTTP endpoint taking the event's JSON.
    Webhook,
}

impl NotifyKind {
    pub const ALL: [NotifyKind; 4] = [
        NotifyKind::Feishu,
        NotifyKind::Dingtalk,
        NotifyKind::Slack,
        NotifyKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Feishu => "feishu",
            NotifyKind::Dingtalk => "dingtalk",
            NotifyKind::Slack => "slack",
            NotifyKind::Webhook => "webhook",
        }
    }
}

/// What a destination can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An incident in a report (`report --notify`).
    Incident,
    /// A regression in a report (`report --notify`).
    Regression,
    /// The collector recorded a gap.
    Gap,
    /// A stream lags more than `notify_lag`, or recovered.
    Lag,
    /// The API refused a stream's requests (access key, signature, permission).
    Refused,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Incident,
        EventKind::Regression,
        EventKind::Gap,
        EventKind::Lag,
        EventKind::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Incident => "incident",
            EventKind::Regression => "regression",
            EventKind::Gap => "gap",
            EventKind::Lag => "lag",
            EventKind::Refused => "refused",
        }
    }
}

/// Where a credential comes from: an environment variable (named, the
/// value read when it is needed) or the config file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    Inline(Secret),
}

impl SecretSource {
    /// The value: the variable's (which must be set and not empty), or the inline one.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Env(name) => env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| Secret::new(v.trim()))
                .ok_or_else(|| format!("the environment variable {name} is not set")),
        }
    }
}

/// One `[[notify]]` table, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub kind: NotifyKind,
    pub url: SecretSource,
    /// The signing secret (Feishu, DingTalk, webhook).
    pub secret: Option<SecretSource>,
    /// What it subscribes to, sorted, without repeats.
    pub events: Vec<EventKind>,
}

impl NotifyConfig {
    pub fn wants(&self, event: EventKind) -> bool {
        self.events.contains(&event)
    }

    /// Whether the table holds a credential itself (`url` or `secret`).
    pub fn holds_secret(&self) -> bool {
        matches!(self.url, SecretSource::Inline(_))
            || matches!(self.secret, Some(SecretSource::Inline(_)))
    }
}

/// A webhook URL: https, or plain http to loopback (a local receiver);
/// with a host. The message never quotes the URL: it is a credential.
pub fn check_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| format!("is not a URL ({e}): paste the webhook address the platform shows"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err("has no host: paste the webhook address the platform shows".into()),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(
            "is not an https:// URL (plain http only to loopback): the webhook \
                  address carries its credential, so it travels encrypted"
                .into(),
        ),
    }
}

/// An environment variable's name: letters, digits and `_`, not starting
/// with a digit (so that a URL pasted into `url_env` is caught, and not echoed).
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `url_env` or `url` (exactly one), or `secret_env` or `secret` (at most one).
fn source(
    c: &Checker,
    (env_key, env): (&str, Option<String>),
    (inline_key, inline): (&str, Option<String>),
    what: &str,
) -> Result<Option<SecretSource>, ConfigError> {
    match (env, inline) {
        (Some(_), Some(_)) => Err(c.err(
            inline_key,
            format!("set {env_key} or {inline_key}, not both"),
        )),
        (Some(name), None) if is_env_name(&name) => Ok(Some(SecretSource::Env(name))),
        (Some(_), None) => Err(c.err(
            env_key,
            format!(
                "is not an environment variable name (letters, digits and _): name the \
                 variable that holds the {what}, and put the {what} itself in the environment"
            ),
        )),
        (None, Some(v)) if v.trim().is_empty() => Err(c.err(inline_key, "is empty")),
        (None, Some(v)) => Ok(Some(SecretSource::Inline(Secret::new(v.trim())))),
        (None, None) => Ok(None),
    }
}

/// One table, checked.
fn check_one(c: &Checker, raw: RawNotify) -> Result<NotifyConfig, ConfigError> {
    let kind = match raw.kind.as_deref() {
        None => {
            return Err(c.err(
                "kind",
                "is missing: use \"feishu\", \"dingtalk\", \"slack\" or \"webhook\"",
            ));
        }
        Some(k) => NotifyKind::ALL
            .into_iter()
            .find(|n| n.as_str() == k)
            .ok_or_else(|| {
                c.err(
                    "kind",
                    format!(
                        "unknown kind {k:?}: use \"feishu\", \"dingtalk\", \"slack\" or \"webhook\""
                    ),
                )
            })?,
    };
    let url =
        source(c, ("url_env", raw.url_env), ("url", raw.url), "webhook URL")?.ok_or_else(|| {
            c.section_err(
                "has no URL: set url_env = \"NAME\" (an environment variable holding the webhook \
             URL, which is a credential) or url = \"https://...\"",
            )
        })?;
    if let SecretSource::Inline(u) = &url {
        check_url(u.expose()).map_err(|e| c.err("url", e))?;
    }
    let secret = source(
        c,
        ("secret_env", raw.secret_env),
        ("secret", raw.secret),
        "signing secret",
    )?;
    if kind == NotifyKind::Slack && secret.is_some() {
        return Err(c.err(
            "secret",
            "Slack incoming webhooks are not signed (the URL is the credential): remove \
             secret/secret_env",
        ));
    }
    let events = match raw.events {
        None => EventKind::ALL.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(c.err(
                "events",
                "is empty: list what to send, e.g. [\"incident\", \"regression\", \"gap\", \"lag\", \"refused\"], or remove the table",
            ));
        }
        Some(names) => {
            let mut events = Vec::new();
            for n in &names {
                let e = EventKind::ALL
                    .into_iter()
                    .find(|e| e.as_str() == n)
                    .ok_or_else(|| {
                        c.err(
                            "events",
                            format!(
                                "unknown event {n:?}: use incident, regression, gap, lag or refused"
                            ),
                        )
                    })?;
                events.push(e);
            }
            events.sort();
            events.dedup();
            events
        }
    };
    Ok(NotifyConfig {
        kind,
        url,
        secret,
        events,
    })
}

/// `[[notify]]` and `notify_lag`, checked: every table names its platform
/// and URL, the key named in any error (`notify[2].url_env`).
pub(super) fn check(
    c: &Checker,
    raw: Vec<RawNotify>,
    notify_lag: Option<&str>,
) -> Result<(Vec<NotifyConfig>, Duration), ConfigError> {
    let lag = c.duration(
        "notify_lag",
        notify_lag,
        DEFAULT_NOTIFY_LAG,
        NOTIFY_LAG_RANGE,
        "quality data always trails by 90 s; 10m is a good choice",
    )?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        out.push(check_one(&c.section(&format!("notify[{}]", i + 1)), r)?);
    }
    Ok((out, lag))
}

/// A TOML error's quoted lines with the value of any `url` or `secret`
/// key cut out: the error quotes the line it stopped at, which may hold a
/// webhook URL or a signing secret.
pub(super) fn redact_secret_lines(message: &str) -> String {
    message
        .lines()
        .map(|line| {
            let lower = line.to_ascii_lowercase();
            match line.find('=') {
                Some(eq) if lower.contains("url") || lower.contains("secret") => {
                    format!("{}= \"***\"", &line[..eq])
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, "test.toml", Path::new("/etc/rtc")).map_err(|e| e.to_string())
    }

    /// The issue's example table.
    const FEISHU: &str = r#"
[[notify]]
kind = "feishu"                    # feishu | dingtalk | slack | webhook
url_env = "RTC_FEISHU_WEBHOOK"     # the webhook URL is a credential
secret_env = "RTC_FEISHU_SECRET"   # signing secret, where the platform has one
events = ["incident", "regression", "gap", "lag", "refused"]
"#;

    #[test]
    fn the_documented_table_parses() {
        let c = parse(FEISHU).unwrap();
        assert_eq!(c.notify.len(), 1);
        let n = &c.notify[0];
        assert_eq!(n.kind, NotifyKind::Feishu);
        assert_eq!(n.url, SecretSource::Env("RTC_FEISHU_WEBHOOK".into()));
        assert_eq!(
            n.secret,
            Some(SecretSource::Env("RTC_FEISHU_SECRET".into()))
        );
        assert_eq!(n.events, EventKind::ALL);
        assert!(!n.holds_secret());
        assert_eq!(c.notify_lag, DEFAULT_NOTIFY_LAG);
        // without `events`, everything; a lag threshold of its own
        let c = parse(
            "notify_lag = \"15m\"\n[[notify]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/x\"\n\n[[notify]]\nkind = \"webhook\"\nurl_env = \"HOOK\"\nsecret = \"s3cret\"\nevents = [\"gap\", \"lag\", \"gap\"]\n",
        )
        .unwrap();
        assert_eq!(c.notify_lag, Duration::from_secs(900));
        assert_eq!(c.notify[0].events, EventKind::ALL);
        assert!(c.notify[0].holds_secret() && c.notify[1].holds_secret());
        assert_eq!(c.notify[1].events, [EventKind::Gap, EventKind::Lag]);
        assert!(c.notify[1].wants(EventKind::Lag) && !c.notify[1].wants(EventKind::Incident));
        // Debug never shows an inline URL or secret
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("hooks.slack.com"),
            "{shown}"
        );
    }

    #[test]
    fn bad_tables_are_refused_naming_the_key_and_never_the_credential() {
        for (text, want) in [
            (
                "[[notify]]\nurl_env = \"X\"\n",
                "notify[1].kind: is missing",
            ),
            (
                "[[notify]]\nkind = \"teams\"\nurl_env = \"X\"\n",
                "notify[1].kind: unknown kind \"teams\"",
            ),
            ("[[notify]]\nkind = \"slack\"\n", "notify[1]: has no URL"),
            (
                "[[notify]]\nkind = \"slack\"\nurl_env = \"X\"\nurl = \"https://h/tok-1\"\n",
                "notify[1].url: set url_env or url, not both",
            ),
            (
                "[[notify]]\nkind = \"feishu\"\nurl_env = \"https://open.feishu.cn/hook/tok-2\"\n",
                "notify[1].url_env: is not an environment variable name",
            ),
            (
                "[[notify]]\nkind = \"feishu\"\nurl = \"http://example.com/hook/tok-3\"\n",
                "notify[1].url: is not an https:// URL",
            ),
            (
                "[[notify]]\nkind = \"slack\"\nurl_env = \"X\"\nsecret_env = \"Y\"\n",
                "notify[1].secret: Slack incoming webhooks are not signed",
            ),
            (
                "[[notify]]\nkind = \"webhook\"\nurl_env = \"X\"\nevents = [\"incidents\"]\n",
                "notify[1].events: unknown event \"incidents\"",
            ),
            (
                "[[notify]]\nkind = \"webhook\"\nurl_env = \"X\"\nevents = []\n",
                "notify[1].events: is empty",
            ),
            (
                "[[notify]]\nkind = \"webhook\"\nurl_env = \"X\"\nsecret = \"tok-4\"\nsecret_env = \"Y\"\n",
                "notify[1].secret: set secret_env or secret, not both",
            ),
            ("notify_lag = \"10s\"\n", "notify_lag: "),
            (
                "[[notify]]\nkind = \"webhook\"\nurl_env = \"X\"\nchannel = \"ops\"\n",
                "unknown field `channel`",
            ),
            // a TOML error on a line holding a URL does not quote it
            (
                "[[notify]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/tok-5\" x\n",
                "TOML parse error",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("tok-"), "a credential in the message: {e}");
        }
    }

    #[test]
    fn secrets_come_from_the_environment_when_needed() {
        let env = |k: &str| (k == "SET").then(|| " https://x/y \n".to_string());
        let s = SecretSource::Env("SET".into()).resolve(&env).unwrap();
        assert_eq!(s.expose(), "https://x/y");
        let e = SecretSource::Env("UNSET".into()).resolve(&env).unwrap_err();
        assert_eq!(e, "the environment variable UNSET is not set");
    }

    #[test]
    fn urls_must_be_https_except_to_loopback() {
        assert!(check_url("https://open.feishu.cn/open-apis/bot/v2/hook/x").is_ok());
        assert!(check_url("http://127.0.0.1:8080/feishu").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        let e = check_url("http://example.com/hook/secret-token").unwrap_err();
        assert!(!e.contains("secret-token"), "{e}");
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("RTC_FEISHU_WEBHOOK"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("https://open.feishu.cn/hook/abc"));
        assert!(!is_env_name(""));
    }

    #[test]
    fn secret_lines_are_redacted() {
        let m = "TOML parse error at line 3\n3 | url = \"https://x/hook/tok\" x\n  |   ^";
        let r = redact_secret_lines(m);
        assert!(!r.contains("tok"), "{r}");
        assert!(r.contains("line 3"), "{r}");
    }
}
