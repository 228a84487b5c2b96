//! The two actions' wire format: the request body we send, and the answers we
//! take apart, as pure functions so that every odd answer is a unit test.
//!
//! Answers are taken as they come: `TimeStamp` or `Timestamp`, any offset,
//! integer or decimal values, unknown fields. What cannot be stored honestly
//! (a point without a valid time or value, off the 30-second grid, outside the
//! requested window, or repeated) is skipped and counted, never stored, and
//! the good points of the same answer still land.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::series::StreamKey;
use crate::{BUCKET_SECS, timeutil};

/// One request: a target's indicators of one action over one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// The target and action: `AppId`, `RoomId`, `UserId` and the action.
    pub stream: StreamKey,
    pub product_type: Option<String>,
    pub indicators: Vec<String>,
    /// `StartTime`: the first bucket asked for.
    pub start: i64,
    /// `EndTime`: the last bucket asked for (the API's end is inclusive).
    pub end: i64,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "AppId")]
    app_id: &'a str,
    #[serde(rename = "StartTime")]
    start_time: String,
    #[serde(rename = "EndTime")]
    end_time: String,
    #[serde(rename = "Indicator")]
    indicator: &'a [String],
    #[serde(rename = "RoomId", skip_serializing_if = "Option::is_none")]
    room_id: Option<&'a str>,
    #[serde(rename = "UserId", skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a [String]>,
    #[serde(rename = "ProductType", skip_serializing_if = "Option::is_none")]
    product_type: Option<&'a str>,
}

impl QueryRequest {
    /// The JSON body, with times written as the API documentation writes them.
    pub fn body(&self) -> Vec<u8> {
        let quality = self.stream.source.has_rooms();
        let users = self.stream.user_ids.to_vec();
        let body = Body {
            app_id: &self.stream.app_id,
            start_time: timeutil::fmt_api(self.start),
            end_time: timeutil::fmt_api(self.end),
            indicator: &self.indicators,
            room_id: self.stream.room_id.as_deref().filter(|_| quality),
            user_id: Some(users.as_slice())
                .filter(|u| quality && !u.is_empty() && self.stream.room_id.is_some()),
            product_type: self.product_type.as_deref().filter(|_| quality),
        };
        serde_json::to_vec(&body).expect("a request body always serializes")
    }
}

/// What the HTTP layer hands over for parsing.
#[derive(Debug, Clone)]
pub struct HttpAnswer<'a> {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: &'a [u8],
}

/// The points of one answered indicator, in bucket order, deduplicated.
#[derive(Debug, Clone, PartialEq)]
pub struct AnsweredSeries {
    /// The `Name` the API answered with: the series key.
    pub name: String,
    pub unit: Option<String>,
    /// (bucket start, value)
    pub points: Vec<(i64, f64)>,
}

/// Why a point was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    MissingTime,
    BadTime,
    OffGrid,
    MissingValue,
    BadValue,
    OutsideRange,
    OutsideWindow,
    Duplicate,
    BadIndicator,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::MissingTime => "missing time",
            SkipReason::BadTime => "time is not RFC 3339",
            SkipReason::OffGrid => "time is not on the 30-second grid",
            SkipReason::MissingValue => "missing value",
            SkipReason::BadValue => "value is not a number",
            SkipReason::OutsideRange => "time outside 2000–2100",
            SkipReason::OutsideWindow => "outside the requested window",
            SkipReason::Duplicate => "duplicate bucket in one answer",
            SkipReason::BadIndicator => {
                "indicator without a Name or a Data list, or with a control character in its Name or Unit"
            }
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A successful answer, taken apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub request_id: Option<String>,
    pub series: Vec<AnsweredSeries>,
    /// Points skipped, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
}

impl Answer {
    pub fn points(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

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
    pub fn with_hint(self, new_hint: String) -> FetchError {
        match self {
            FetchError::Rejected {
                status,
                code,
                code_n,
                message,
                request_id,
                ..
            } => FetchError::Rejected {
                status,
                code,
                code_n,
                message,
                hint: new_hint,
                request_id,
            },
            other => other,
        }
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

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A short, printable excerpt of a body that is not JSON (an HTML error page).
fn excerpt(body: &[u8]) -> String {
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

fn classify_error(
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

/// Takes an answer apart. `window` is the requested (first, last) bucket
/// start, both inclusive; points outside it are skipped.
pub fn parse_answer(http: &HttpAnswer<'_>, window: (i64, i64)) -> Result<Answer, FetchError> {
    let status = http.status;
    let parsed: Result<Value, _> = serde_json::from_slice(http.body);
    let doc = match parsed {
        Ok(doc) => doc,
        Err(e) => {
            if (200..300).contains(&status) {
                return Err(FetchError::BadAnswer {
                    status,
                    reason: format!("body is not JSON ({e})"),
                });
            }
            // An error page from a gateway: the status decides.
            let code = if status == 429 {
                "TooManyRequests"
            } else {
                "HTTPError"
            };
            return Err(classify_error(
                status,
                http.retry_after,
                code.into(),
                None,
                excerpt(http.body),
                None,
            ));
        }
    };
    let meta = doc.get("ResponseMetadata");
    let request_id = meta
        .and_then(|m| str_field(m, "RequestId"))
        .map(str::to_string);
    if let Some(err) = meta.and_then(|m| m.get("Error")).filter(|e| !e.is_null()) {
        let code = str_field(err, "Code").unwrap_or("UnknownError").to_string();
        let code_n = err.get("CodeN").and_then(Value::as_i64);
        let message = str_field(err, "Message").unwrap_or("").to_string();
        let status = if (200..300).contains(&status) {
            // An error in a 200: treat it by its code alone.
            0
        } else {
            status
        };
        return Err(classify_error(
            status,
            http.retry_after,
            code,
            code_n,
            message,
            request_id,
        ));
    }
    if !(200..300).contains(&status) {
        return Err(classify_error(
            status,
            http.retry_after,
            "HTTPError".into(),
            None,
            excerpt(http.body),
            request_id,
        ));
    }
    let Some(result) = doc.get("Result").filter(|r| !r.is_null()) else {
        return Err(FetchError::BadAnswer {
            status,
            reason: "no Result and no Error in the answer".into(),
        });
    };
    if !result.is_object() {
        return Err(FetchError::BadAnswer {
            status,
            reason: "Result is not an object".into(),
        });
    }
    let indicators = match result.get("Indicators") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => list.as_slice(),
        Some(_) => {
            return Err(FetchError::BadAnswer {
                status,
                reason: "Result.Indicators is not a list".into(),
            });
        }
    };

    let mut answer = Answer {
        request_id,
        ..Answer::default()
    };
    let mut by_name: BTreeMap<String, (Option<String>, BTreeMap<i64, f64>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for indicator in indicators {
        let unit = str_field(indicator, "Unit").filter(|u| !u.is_empty());
        let name = str_field(indicator, "Name").filter(|n| {
            !n.trim().is_empty()
                && crate::series::control_char(n).is_none()
                && unit.is_none_or(|u| crate::series::control_char(u).is_none())
        });
        let data = match indicator.get("Data") {
            None | Some(Value::Null) => Some(&[][..]),
            Some(Value::Array(items)) => Some(items.as_slice()),
            Some(_) => None,
        };
        let (Some(name), Some(data)) = (name, data) else {
            let lost = indicator
                .get("Data")
                .and_then(Value::as_array)
                .map_or(1, |d| d.len().max(1));
            *answer.skipped.entry(SkipReason::BadIndicator).or_default() += lost as u64;
            continue;
        };
        let unit = unit.map(str::to_string);
        let entry = by_name.entry(name.to_string()).or_insert_with(|| {
            order.push(name.to_string());
            (None, BTreeMap::new())
        });
        if unit.is_some() {
            entry.0 = unit;
        }
        for item in data {
            match parse_point(item, window) {
                Ok((ts, value)) => {
                    if entry.1.insert(ts, value).is_some() {
                        *answer.skipped.entry(SkipReason::Duplicate).or_default() += 1;
                    }
                }
                Err(reason) => *answer.skipped.entry(reason).or_default() += 1,
            }
        }
    }
    for name in order {
        let (unit, points) = by_name.remove(&name).expect("every name has an entry");
        answer.series.push(AnsweredSeries {
            name,
            unit,
            points: points.into_iter().collect(),
        });
    }
    Ok(answer)
}

fn parse_point(item: &Value, window: (i64, i64)) -> Result<(i64, f64), SkipReason> {
    let time = item
        .get("TimeStamp")
        .or_else(|| item.get("Timestamp"))
        .filter(|t| !t.is_null())
        .ok_or(SkipReason::MissingTime)?;
    let ts = time
        .as_str()
        .and_then(timeutil::parse_rfc3339)
        .ok_or(SkipReason::BadTime)?;
    if !timeutil::in_data_range(ts) {
        return Err(SkipReason::OutsideRange);
    }
    if ts.rem_euclid(BUCKET_SECS) != 0 {
        return Err(SkipReason::OffGrid);
    }
    let value = item
        .get("Value")
        .filter(|v| !v.is_null())
        .ok_or(SkipReason::MissingValue)?;
    let value = value
        .as_f64()
        .filter(|v| v.is_finite())
        .ok_or(SkipReason::BadValue)?;
    if ts < window.0 || ts > window.1 {
        return Err(SkipReason::OutsideWindow);
    }
    Ok((ts, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::series::UserSet;

    const QUALITY: &str = include_str!("../tests/fixtures/quality-answer.json");
    const OPERATION: &str = include_str!("../tests/fixtures/operation-answer.json");
    const ERROR: &str = include_str!("../tests/fixtures/error-answer.json");

    // 2026-11-23T12:00:00Z
    const T0: i64 = 1_795_435_200;
    const WIDE: (i64, i64) = (T0 - 3600, T0 + 3600);

    fn ok(body: &str) -> HttpAnswer<'_> {
        HttpAnswer {
            status: 200,
            retry_after: None,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn request_body_matches_the_documented_shape() {
        let req = QueryRequest {
            stream: StreamKey::new(
                "app1",
                Some("room-1".into()),
                UserSet::new(["u2", "u1"]).unwrap(),
                Source::Quality,
            ),
            product_type: Some("web".into()),
            indicators: vec!["stall_rate".into()],
            start: T0,
            end: T0 + 600,
        };
        assert_eq!(
            String::from_utf8(req.body()).unwrap(),
            r#"{"AppId":"app1","StartTime":"2026-11-23T20:00:00+08:00","EndTime":"2026-11-23T20:10:00+08:00","Indicator":["stall_rate"],"RoomId":"room-1","UserId":["u1","u2"],"ProductType":"web"}"#
        );
        let op = QueryRequest {
            stream: StreamKey::new("app1", None, UserSet::NONE, Source::Operation),
            product_type: None,
            indicators: vec!["online_user_count".into()],
            ..req
        };
        assert_eq!(
            String::from_utf8(op.body()).unwrap(),
            r#"{"AppId":"app1","StartTime":"2026-11-23T20:00:00+08:00","EndTime":"2026-11-23T20:10:00+08:00","Indicator":["online_user_count"]}"#
        );
    }

    #[test]
    fn quality_answer_with_offsets_renamed_series_and_extra_fields() {
        let a = parse_answer(&ok(QUALITY), WIDE).unwrap();
        assert_eq!(
            a.request_id.as_deref(),
            Some("20261123120000010203040506070809")
        );
        let names: Vec<_> = a.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["5s_join_room_success_rate", "10s_join_room_success_rate"]
        );
        let s = &a.series[0];
        assert_eq!(s.unit.as_deref(), Some("%"));
        // +08:00 times land on UTC; the missing 20:01:00 bucket stays missing.
        assert_eq!(s.points, [(T0, 98.68), (T0 + 30, 98.2), (T0 + 90, 98.3)]);
        assert!(a.skipped.is_empty());
    }

    #[test]
    fn operation_answer_with_z_timestamp_key_and_integers() {
        let a = parse_answer(&ok(OPERATION), WIDE).unwrap();
        assert_eq!(a.series.len(), 2);
        assert_eq!(a.series[0].name, "online_user_count");
        assert_eq!(a.series[0].unit, None);
        assert_eq!(a.series[0].points, [(T0, 3212.0), (T0 + 30, 3211.0)]);
        assert_eq!(a.series[1].points, [(T0, 1231.0), (T0 + 30, 1232.0)]);
    }

    #[test]
    fn error_answer_is_refused_with_a_hint() {
        let http = HttpAnswer {
            status: 401,
            retry_after: None,
            body: ERROR.as_bytes(),
        };
        let e = parse_answer(&http, WIDE).unwrap_err();
        assert!(!e.is_retryable());
        let text = e.to_string();
        assert!(text.contains("SignatureDoesNotMatch"), "{text}");
        assert!(text.contains("(100010)"), "{text}");
        assert!(text.contains("VOLC_SECRETKEY"), "{text}");
        assert!(text.contains("20261123120000212223242526272829"), "{text}");
    }

    #[test]
    fn malformed_bodies_are_retryable_bad_answers() {
        // The documentation's own sample: objects without commas between them.
        let doc_sample = r#"{"Result":{"Indicators":[{"Name":"a","Data":[{"TimeStamp":"2021-07-24T00:00:00+08:00","Value":1}{"TimeStamp":"2021-07-24T00:00:30+08:00","Value":2}]}]}}"#;
        for body in [doc_sample, "", "{", r#"{"Result": {"Indicators": [{"Na"#] {
            let e = parse_answer(&ok(body), WIDE).unwrap_err();
            assert!(
                matches!(e, FetchError::BadAnswer { .. }),
                "{body:?} gave {e:?}"
            );
            assert!(e.is_retryable());
        }
    }

    #[test]
    fn wrong_shapes_are_bad_answers() {
        for body in [
            r#"{"ResponseMetadata": {}}"#,
            r#"{"Result": "oops"}"#,
            r#"{"Result": {"Indicators": {"Name": "a"}}}"#,
            "[1, 2]",
        ] {
            let e = parse_answer(&ok(body), WIDE).unwrap_err();
            assert!(
                matches!(e, FetchError::BadAnswer { .. }),
                "{body:?} gave {e:?}"
            );
        }
        // No indicators at all is an empty answer, not an error.
        let a = parse_answer(&ok(r#"{"Result": {}}"#), WIDE).unwrap();
        assert!(a.series.is_empty());
    }

    #[test]
    fn bad_points_are_skipped_and_counted_while_good_ones_land() {
        let body = r#"{"Result": {"Indicators": [
            {"Name": "x", "Unit": "%", "Data": [
                {"TimeStamp": "2026-11-23T12:00:00Z", "Value": 1.5},
                {"Value": 2},
                {"TimeStamp": "yesterday", "Value": 2},
                {"TimeStamp": 17, "Value": 2},
                {"TimeStamp": "2026-11-23T12:00:10Z", "Value": 2},
                {"TimeStamp": "2026-11-23T12:00:30Z"},
                {"TimeStamp": "2026-11-23T12:00:30Z", "Value": null},
                {"TimeStamp": "2026-11-23T12:00:30Z", "Value": "3"},
                {"TimeStamp": "2026-11-23T13:30:00Z", "Value": 4},
                {"TimeStamp": "2026-11-23T12:01:00Z", "Value": 5},
                {"TimeStamp": "2026-11-23T20:01:00+08:00", "Value": 6}
            ]},
            {"Data": [{"TimeStamp": "2026-11-23T12:00:00Z", "Value": 1}]},
            {"Name": "y", "Data": "none"}
        ]}}"#;
        let a = parse_answer(&ok(body), (T0, T0 + 600)).unwrap();
        assert_eq!(a.series.len(), 1);
        // the later duplicate wins
        assert_eq!(a.series[0].points, [(T0, 1.5), (T0 + 60, 6.0)]);
        let count = |r| a.skipped.get(&r).copied().unwrap_or(0);
        assert_eq!(count(SkipReason::MissingTime), 1);
        assert_eq!(count(SkipReason::BadTime), 2);
        assert_eq!(count(SkipReason::OffGrid), 1);
        assert_eq!(count(SkipReason::MissingValue), 2);
        assert_eq!(count(SkipReason::BadValue), 1);
        assert_eq!(count(SkipReason::OutsideWindow), 1);
        assert_eq!(count(SkipReason::Duplicate), 1);
        assert_eq!(count(SkipReason::BadIndicator), 2);
    }

    #[test]
    fn points_outside_2000_2100_are_skipped_as_time_outside_the_range() {
        let body = r#"{"Result": {"Indicators": [{"Name": "x", "Data": [
            {"TimeStamp": "2026-11-23T12:00:00Z", "Value": 1},
            {"TimeStamp": "1999-12-31T23:59:30Z", "Value": 2},
            {"TimeStamp": "2100-01-01T00:00:00Z", "Value": 3},
            {"TimeStamp": "9999-12-31T23:59:30Z", "Value": 4}
        ]}]}}"#;
        // even a window that would let them through
        let a = parse_answer(&ok(body), (i64::MIN, i64::MAX)).unwrap();
        assert_eq!(a.series[0].points, [(T0, 1.0)]);
        assert_eq!(a.skipped.get(&SkipReason::OutsideRange), Some(&3));
        assert_eq!(SkipReason::OutsideRange.as_str(), "time outside 2000–2100");
        assert!(
            SkipReason::OutsideRange
                .as_str()
                .contains(timeutil::DATA_RANGE)
        );
    }

    #[test]
    fn names_and_units_with_control_characters_are_bad_indicators() {
        let body = r#"{"Result": {"Indicators": [
            {"Name": "ok_rate", "Data": [{"TimeStamp": "2026-11-23T12:00:00Z", "Value": 1}]},
            {"Name": "evil\u001b[2J", "Data": [{"TimeStamp": "2026-11-23T12:00:00Z", "Value": 1}]},
            {"Name": "nul\u0000", "Data": []},
            {"Name": "unit", "Unit": "%\r", "Data": [{"TimeStamp": "2026-11-23T12:00:00Z", "Value": 1}]}
        ]}}"#;
        let a = parse_answer(&ok(body), WIDE).unwrap();
        let names: Vec<_> = a.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ok_rate"]);
        assert_eq!(a.skipped.get(&SkipReason::BadIndicator), Some(&3));
    }

    #[test]
    fn statuses_classify() {
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let e = parse_answer(
            &HttpAnswer {
                status: 502,
                retry_after: None,
                body: html,
            },
            WIDE,
        )
        .unwrap_err();
        assert!(e.is_retryable());
        assert!(e.to_string().contains("502 Bad Gateway"), "{e}");

        let throttled = r#"{"ResponseMetadata": {"RequestId": "r1", "Error": {"Code": "AccountFlowLimitExceeded", "Message": "slow down"}}}"#;
        let e = parse_answer(
            &HttpAnswer {
                status: 429,
                retry_after: Some(Duration::from_secs(2)),
                body: throttled.as_bytes(),
            },
            WIDE,
        )
        .unwrap_err();
        assert_eq!(e.kind(), "throttled");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        // The same code in a 200 still means throttling.
        let e = parse_answer(&ok(throttled), WIDE).unwrap_err();
        assert_eq!(e.kind(), "throttled");

        let internal = r#"{"ResponseMetadata": {"Error": {"Code": "InternalError", "CodeN": 100001, "Message": "oops"}}}"#;
        for (status, retryable) in [(500, true), (503, true), (501, false), (400, false)] {
            let e = parse_answer(
                &HttpAnswer {
                    status,
                    retry_after: None,
                    body: internal.as_bytes(),
                },
                WIDE,
            )
            .unwrap_err();
            assert_eq!(e.is_retryable(), retryable, "HTTP {status}: {e:?}");
        }

        let clock = r#"{"ResponseMetadata": {"Error": {"Code": "InvalidTimestamp", "CodeN": 100006, "Message": "x"}}}"#;
        let e = parse_answer(
            &HttpAnswer {
                status: 403,
                retry_after: None,
                body: clock.as_bytes(),
            },
            WIDE,
        )
        .unwrap_err();
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("clock"), "{e}");
    }
}
