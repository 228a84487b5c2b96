//! Successful answers taken apart, as pure functions so that every odd
//! answer is a unit test.
//!
//! Answers are taken as they come: `TimeStamp` or `Timestamp`, any offset,
//! integer or decimal values, unknown fields. What cannot be stored honestly
//! (a point without a valid time or value, off the 30-second grid, outside the
//! requested window, or repeated) is skipped and counted, never stored, and
//! the good points of the same answer still land.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::error::{FetchError, classify_error, excerpt};
use crate::{BUCKET_SECS, timeutil};

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

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
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
    use crate::api::testing::{T0, WIDE, ok};

    const QUALITY: &str = include_str!("../../tests/fixtures/quality-answer.json");
    const OPERATION: &str = include_str!("../../tests/fixtures/operation-answer.json");

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
}
