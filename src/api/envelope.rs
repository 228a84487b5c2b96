//! The frame every action's answer shares: the HTTP status, the
//! `ResponseMetadata` (the request id, and an `Error` when refused) and the
//! `Result` with its `Indicators` list.
//!
//! Opening the frame decides whether an answer is an error (classified by
//! [`super::error`]) or data, whatever the action; what an indicator's data
//! items hold is the action's business ([`super::answer`]).

use std::time::Duration;

use serde_json::Value;

use super::error::{FetchError, classify_error, excerpt};

/// What the HTTP layer hands over for parsing.
#[derive(Debug, Clone)]
pub struct HttpAnswer<'a> {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: &'a [u8],
}

/// A successful answer's frame, opened.
#[derive(Debug)]
pub(super) struct Envelope {
    pub request_id: Option<String>,
    /// `Result.Indicators`, as answered (none when absent or null).
    pub indicators: Vec<Value>,
}

pub(super) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Opens an answer's frame: the indicators of a successful answer, or the
/// error the answer means.
pub(super) fn open(http: &HttpAnswer<'_>) -> Result<Envelope, FetchError> {
    let status = http.status;
    let parsed: Result<Value, _> = serde_json::from_slice(http.body);
    let mut doc = match parsed {
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
    let Some(result) = doc.get_mut("Result").filter(|r| !r.is_null()) else {
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
    let indicators = match result.get_mut("Indicators").map(Value::take) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(FetchError::BadAnswer {
                status,
                reason: "Result.Indicators is not a list".into(),
            });
        }
    };
    Ok(Envelope {
        request_id,
        indicators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::parse_answer;
    use crate::api::testing::{WIDE, ok};

    #[test]
    fn malformed_bodies_are_retryable_bad_answers() {
        // The documentation's own sample: objects without commas between them.
        let doc_sample = r#"{"Result":{"Indicators":[{"Name":"a","Data":[{"TimeStamp":"2021-07-24T00:00:00+08:00","Value":1}{"TimeStamp":"2021-07-24T00:00:30+08:00","Value":2}]}]}}"#;
        for body in [doc_sample, "", "{", r#"{"Result": {"Indicators": [{"Na"#] {
            let e = parse_answer(&ok(body), WIDE, false).unwrap_err();
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
            let e = parse_answer(&ok(body), WIDE, false).unwrap_err();
            assert!(
                matches!(e, FetchError::BadAnswer { .. }),
                "{body:?} gave {e:?}"
            );
        }
        // No indicators at all is an empty answer, not an error.
        let a = parse_answer(&ok(r#"{"Result": {}}"#), WIDE, false).unwrap();
        assert!(a.series.is_empty());
    }
}
