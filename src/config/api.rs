//! The `[api]` section: where requests go and how long they may take. The
//! endpoint is checked hardest, because requests carry signed credentials:
//! HTTPS only (plain HTTP only to loopback or when allowed), no user or
//! password in it, and never echoed with one in a message.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{Checker, ConfigError};
use crate::budget::{ACTIONS, Limit, Limits, Rate};
use crate::timeutil::DurationRange;

/// `api.timeout` and `api.connect_timeout`: a request waited for longer
/// than this holds up the whole pass.
pub const TIMEOUT_RANGE: DurationRange =
    DurationRange::new(Duration::from_millis(1), Duration::from_secs(600));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    endpoint: Option<String>,
    region: Option<String>,
    timeout: Option<String>,
    connect_timeout: Option<String>,
    allow_http: Option<bool>,
    #[serde(default)]
    limits: std::collections::BTreeMap<String, RawLimit>,
}

/// One `[api.limits]` entry: `ListQuality = { rate = "10/m", daily = 60 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimit {
    rate: Option<String>,
    daily: Option<u64>,
}

/// How to reach the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    pub endpoint: Url,
    pub region: String,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Each action's request limit (per account).
    pub limits: Limits,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            endpoint: Url::parse("https://rtc.volcengineapi.com").expect("valid default endpoint"),
            region: "cn-north-1".into(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }
}

/// `[api]` checked: absent keys keep the defaults, a bad one is an error
/// naming it (`api.endpoint`, `api.region`, `api.timeout`, ...).
pub(super) fn check(c: &Checker, raw: Option<RawApi>) -> Result<ApiConfig, ConfigError> {
    let mut api = ApiConfig::default();
    let Some(raw) = raw else {
        return Ok(api);
    };
    if let Some(endpoint) = &raw.endpoint {
        api.endpoint = check_endpoint(endpoint, raw.allow_http == Some(true))
            .map_err(|e| c.err("endpoint", e))?;
    }
    if let Some(region) = raw.region {
        if region.trim().is_empty() {
            return Err(c.err("region", "is empty: use e.g. \"cn-north-1\""));
        }
        api.region = region;
    }
    api.timeout = c.duration(
        "timeout",
        raw.timeout.as_deref(),
        api.timeout,
        TIMEOUT_RANGE,
        "e.g. \"20s\"",
    )?;
    api.connect_timeout = c.duration(
        "connect_timeout",
        raw.connect_timeout.as_deref(),
        api.connect_timeout,
        TIMEOUT_RANGE,
        "e.g. \"5s\"",
    )?;
    for (action, raw) in raw.limits {
        let key = format!("limits.{action}");
        if !ACTIONS.contains(&action.as_str()) {
            return Err(c.err(
                &key,
                format!(
                    "is not an action with a limit: use one of {}",
                    ACTIONS.join(", ")
                ),
            ));
        }
        let rate = match raw.rate {
            Some(r) => Rate::parse(&r).map_err(|e| c.err(&format!("{key}.rate"), e))?,
            None => Rate::DEFAULT,
        };
        let daily = match raw.daily {
            Some(0) => {
                return Err(c.err(
                    &format!("{key}.daily"),
                    "allows no request at all: use at least 1, or leave it out for no quota",
                ));
            }
            Some(d) => Some(u32::try_from(d).map_err(|_| {
                c.err(
                    &format!("{key}.daily"),
                    format!("{d} is more than any quota: leave it out for none"),
                )
            })?),
            None => None,
        };
        api.limits.set(&action, Limit { rate, daily });
    }
    Ok(api)
}

/// `api.endpoint`: a URL with a host and without a user or password, over
/// HTTPS, or plain HTTP to loopback or with `allow_http`. Else what is
/// wrong, with the URL shown without any user or password.
fn check_endpoint(raw: &str, allow_http: bool) -> Result<Url, String> {
    let endpoint = redact_userinfo(raw);
    let url = Url::parse(raw).map_err(|e| {
        format!("{endpoint:?} is not a URL ({e}): use e.g. \"https://rtc.volcengineapi.com\"")
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{endpoint:?} holds a user or password: remove it (requests are \
             signed with the access key from VOLC_ACCESSKEY/VOLC_SECRETKEY or \
             ~/.volc/credentials, never with credentials in the URL)"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) || allow_http => {}
        "http" => {
            return Err(format!(
                "{endpoint:?} is plain HTTP: signed requests go over HTTPS only, except \
                 to loopback; use https://, or set api.allow_http = true if you must"
            ));
        }
        other => return Err(format!("unsupported scheme {other:?}: use https://")),
    }
    if url.host().is_none() {
        return Err(format!("{endpoint:?} has no host"));
    }
    Ok(url)
}

/// `localhost` or a loopback address: plain HTTP that never leaves the machine.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Text with the user and password of every URL in it (`scheme://user:pw@host`)
/// replaced by `***`, for messages: a config line may hold credentials
/// that must never be echoed. Everything from `://` to the last `@` of the
/// URL goes (a password may hold a `/`; a path with an `@` loses more
/// than it needs to, which is harmless in a message).
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let url = &tail[..end];
        match url.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&url[at..]);
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
