//! How the simulator answers: the `ResponseMetadata` every answer carries,
//! refusals with the code, HTTP status and `CodeN` the gateway and the
//! service pair, and the HTML pages of a gateway in front.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::API_VERSION;

/// An error code as the gateway and the service answer it: with its HTTP
/// status and its `CodeN`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Code {
    name: &'static str,
    status: u16,
    n: i64,
}

impl Code {
    const fn new(name: &'static str, status: u16, n: i64) -> Code {
        Code { name, status, n }
    }
}

pub(super) const INTERNAL_ERROR: Code = Code::new("InternalError", 500, 100001);
pub(super) const MISSING_PARAMETER: Code = Code::new("MissingParameter", 400, 100002);
pub(super) const MISSING_AUTHENTICATION_TOKEN: Code =
    Code::new("MissingAuthenticationToken", 401, 100003);
pub(super) const INVALID_PARAMETER: Code = Code::new("InvalidParameter", 400, 100004);
/// A window beyond the offline action's reach or span (doc 70426).
pub(super) const OUT_OF_TIME_RANGE: Code =
    Code::new("InvalidParameter.OutofTimeRange", 400, 100004);
/// A field of the wrong JSON type (a list where one string is expected).
pub(super) const INVALID_PARAMETER_UNMARSHAL: Code =
    Code::new("InvalidParameter.Unmarshal", 400, 100004);
pub(super) const MISSING_SIGNATURE: Code = Code::new("MissingSignature", 401, 100005);
pub(super) const INVALID_TIMESTAMP: Code = Code::new("InvalidTimestamp", 403, 100006);
pub(super) const INVALID_ACTION_OR_VERSION: Code = Code::new("InvalidActionOrVersion", 404, 100008);
pub(super) const INVALID_ACCESS_KEY: Code = Code::new("InvalidAccessKey", 401, 100009);
pub(super) const SIGNATURE_DOES_NOT_MATCH: Code = Code::new("SignatureDoesNotMatch", 401, 100010);
pub(super) const ACCESS_DENIED: Code = Code::new("AccessDenied", 403, 100013);
pub(super) const ACCOUNT_FLOW_LIMIT_EXCEEDED: Code =
    Code::new("AccountFlowLimitExceeded", 429, 100018);
/// The service's own flow-limit code (the RTC error page), for a used-up
/// daily quota, so that a client can tell "wait a second" from "tomorrow".
pub(super) const QUOTA_EXCEEDED: Code = Code::new("FlowLimitExceeded.QPSOverLimit", 429, 100018);

/// A refusal, answered as `ResponseMetadata.Error`.
#[derive(Debug)]
pub(super) struct ApiError {
    code: Code,
    message: String,
}

impl ApiError {
    pub(super) fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// What every answer to one request says in its `ResponseMetadata`.
pub(super) struct ResponseMeta {
    pub request_id: String,
    pub action: String,
    pub region: String,
}

impl ResponseMeta {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "RequestId": self.request_id,
            "Action": self.action,
            "Version": API_VERSION,
            "Service": "rtc",
            "Region": self.region,
        })
    }

    /// The error answer, with `Retry-After: 1` when throttled.
    pub(super) fn error(&self, e: ApiError) -> Response {
        let status = StatusCode::from_u16(e.code.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut meta = self.to_json();
        meta["Error"] = json!({"Code": e.code.name, "CodeN": e.code.n, "Message": e.message});
        let mut resp = (status, axum::Json(json!({ "ResponseMetadata": meta }))).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        resp
    }
}

/// A 200 with a JSON content type, whatever the body holds.
pub(super) fn json_ok(body: impl IntoResponse) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// An error page from a gateway in front of the API (nginx).
pub(super) fn gateway_page(status: u16, reason: &str) -> Response {
    let body = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        [(header::CONTENT_TYPE, "text/html")],
        body,
    )
        .into_response()
}
