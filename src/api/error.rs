//! Why a request produced no usable answer: [`FetchError`], the
//! classification of an error answer (throttled, a server error worth
//! retrying, or a refusal that retrying cannot help) by HTTP status and the
//! API's error code, and the hint a refusal carries (what to check).

use std::time::Duration;

use thiserror::Error;

/// Why a request produced no usable answer.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum FetchError {
    /// Connection refused or reset, DNS, TLS, timeouts, a body cut short.
    #[error("transport error: {0}")]
    Transport(String),
    /// HTTP 429 or `AccountFlowLimitExceeded`.
    #[error("throttled: HTTP {status} {code}{}", request_id_suffix(.request_id))]
    Throttled {
        status: u16,
        code: String,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },
    /// A 5xx the gateway or service may recover from.
    #[error("server error: HTTP {status} {code}: {message}{}", request_id_suffix(.request_id))]
    Server {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },
    /// A body that does not parse, or parses into the wrong shape.
    #[error("unusable answer (HTTP {status}): {reason}")]
    BadAnswer { status: u16, reason: String },
    /// Authentication, permission or parameter errors: retrying cannot help.
    #[error("refused: HTTP {status} {code}{}: {message}; {hint}{}", code_n.map(|n| format!(" ({n})")).unwrap_or_default(), request_id_suffix(.request_id))]
    Rejected {
        status: u16,
        code: String,
        code_n: Option<i64>,
        message: String,
        hint: String,
        request_id: Option<String>,
    },
    /// The process is shutting down.
    #[error("cancelled by shutdown")]
    Cancelled,
}

fn request_id_suffix(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" [request {id}]"))
        .unwrap_or_default()
}

impl FetchError {
    /// Whether the same request may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FetchError::Transport(_)
                | FetchError::Throttled { .. }
                | FetchError::Server { .. }
                | FetchError::BadAnswer { .. }
        )
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Throttled { retry_after, .. } | FetchError::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Transport(_) => "transport",
            FetchError::Throttled { .. } => "throttled",
            FetchError::Server { .. } => "server_error",
            FetchError::BadAnswer { .. } => "bad_answer",
            FetchError::Rejected { .. } => "rejected",
            FetchError::Cancelled => "cancelled",
        }
    }

    /// The same refusal with another hint (what to check); other errors
    /// are returned unchanged.
    pub fn with_hint(mut self, new_hint: String) -> FetchError {
        if let FetchError::Rejected { hint, .. } = &mut self {
            *hint = new_hint;
        }
        self
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            FetchError::Throttled { request_id, .. }
            | FetchError::Server { request_id, .. }
            | FetchError::Rejected { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

/// What to check for a refused request, by error code.
pub fn hint_for(code: &str) -> &'static str {
    match code {
        "SignatureDoesNotMatch" => {
            "check the secret key (VOLC_SECRETKEY, or secret_access_key in ~/.volc/credentials) and api.region"
        }
        "InvalidAccessKey" => {
            "check the access key (VOLC_ACCESSKEY, or access_key_id in ~/.volc/credentials)"
        }
        "MissingAuthenticationToken" | "MissingSignature" => {
            "the request was not signed: check that credentials are set"
        }
        "InvalidTimestamp" => {
            "this machine's clock is more than 15 minutes off: synchronise it (NTP)"
        }
        "AccessDenied" => {
            "the access key may not read this AppId's RTC data: check app_id and the key's permissions"
        }
        "InvalidActionOrVersion" => "check api.endpoint: it does not serve this action",
        "InvalidParameter.OutofTimeRange" => {
            "the window reached beyond what the API serves: check this machine's clock (NTP)"
        }
        "MissingParameter" | "InvalidParameter" => {
            "check app_id, room_id, user_ids and the indicator names in the config"
        }
        _ => "check the configuration and credentials",
    }
}

const THROTTLE_CODES: &[&str] = &[
    "AccountFlowLimitExceeded",
    "FlowLimitExceeded",
    "Throttling",
];
const REJECT_CODES: &[&str] = &[
    "MissingParameter",
    "MissingAuthenticationToken",
    "MissingSignature",
    "InvalidTimestamp",
    "InvalidActionOrVersion",
    "InvalidAccessKey",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidParameter",
    "InvalidParameter.OutofTimeRange",
    "InvalidAuthorization",
];

/// A short, printable excerpt of a body that is not JSON (an HTML error page).
pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(if c.is_control() { ' ' } else { c }),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut joined = words.join(" ");
    if joined.chars().count() > 120 {
        joined = joined.chars().take(117).collect::<String>() + "...";
    }
    if joined.is_empty() {
        "empty body".into()
    } else {
        joined
    }
}

pub(super) fn classify_error(
    status: u16,
    retry_after: Option<Duration>,
    code: String,
    code_n: Option<i64>,
    message: String,
    request_id: Option<String>,
) -> FetchError {
    if status == 429 || THROTTLE_CODES.contains(&code.as_str()) {
        return FetchError::Throttled {
            status,
            code,
            retry_after,
            request_id,
        };
    }
    let retryable_status = (500..600).contains(&status) && status != 501;
    if REJECT_CODES.contains(&code.as_str()) || (!retryable_status && status >= 400) {
        let hint = hint_for(&code).to_string();
        return FetchError::Rejected {
            status,
            code,
            code_n,
            message,
            hint,
            request_id,
        };
    }
    FetchError::Server {
        status,
        code,
        message,
        retry_after,
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::api::testing::{WIDE, http, ok};
    use crate::api::{HttpAnswer, parse_answer};

    const ERROR: &str = include_str!("../../tests/fixtures/error-answer.json");

    #[test]
    fn error_answer_is_refused_with_a_hint() {
        let e = parse_answer(&http(401, ERROR.as_bytes()), WIDE, false).unwrap_err();
        assert!(!e.is_retryable());
        let text = e.to_string();
        assert!(text.contains("SignatureDoesNotMatch"), "{text}");
        assert!(text.contains("(100010)"), "{text}");
        assert!(text.contains("VOLC_SECRETKEY"), "{text}");
        assert!(text.contains("20261123120000212223242526272829"), "{text}");
    }

    #[test]
    fn statuses_classify() {
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let e = parse_answer(&http(502, html), WIDE, false).unwrap_err();
        assert!(e.is_retryable());
        assert!(e.to_string().contains("502 Bad Gateway"), "{e}");

        let throttled = r#"{"ResponseMetadata": {"RequestId": "r1", "Error": {"Code": "AccountFlowLimitExceeded", "Message": "slow down"}}}"#;
        let answer = HttpAnswer {
            retry_after: Some(Duration::from_secs(2)),
            ..http(429, throttled.as_bytes())
        };
        let e = parse_answer(&answer, WIDE, false).unwrap_err();
        assert_eq!(e.kind(), "throttled");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        // The same code in a 200 still means throttling.
        let e = parse_answer(&ok(throttled), WIDE, false).unwrap_err();
        assert_eq!(e.kind(), "throttled");

        let internal = r#"{"ResponseMetadata": {"Error": {"Code": "InternalError", "CodeN": 100001, "Message": "oops"}}}"#;
        for (status, retryable) in [(500, true), (503, true), (501, false), (400, false)] {
            let e = parse_answer(&http(status, internal.as_bytes()), WIDE, false).unwrap_err();
            assert_eq!(e.is_retryable(), retryable, "HTTP {status}: {e:?}");
        }

        let clock = r#"{"ResponseMetadata": {"Error": {"Code": "InvalidTimestamp", "CodeN": 100006, "Message": "x"}}}"#;
        let e = parse_answer(&http(403, clock.as_bytes()), WIDE, false).unwrap_err();
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("clock"), "{e}");
    }
}
