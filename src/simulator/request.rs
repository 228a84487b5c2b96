//! What the API accepts: a request's query string and body checked by its
//! rules. `StartTime` at most the action's reach before the arrival (60
//! minutes, or 30 days for the offline actions), to the millisecond (the gateway
//! is that strict); a span of at most the action's longest (60 minutes, or
//! 7 days); an `EndTime` newer than the data delay is served, but counted;
//! `ListQuality` needs `AggregateGranularity` = `5min` (`ListQualityDistribution` has none); at most 20 users,
//! and only with a room; indicators the action knows. A distribution
//! request takes one `Indicator` (a string: a list is
//! `InvalidParameter.Unmarshal`) and one `Dimension` of the four.

use axum::http::Uri;
use serde_json::Value;

use super::SimStats;
use super::reply::{
    ApiError, INVALID_PARAMETER, INVALID_PARAMETER_UNMARSHAL, MISSING_PARAMETER, OUT_OF_TIME_RANGE,
};
use crate::series::{Action, Dimension, StreamKey, UserSet};
use crate::{Source, catalog, timeutil};

/// The query string's pairs (`Action`, `Version`), decoded.
pub(super) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A valid request, as the answer needs it.
#[derive(Debug)]
pub(super) struct Request {
    /// AppId, RoomId and UserId (empty without a room), the action, and
    /// the dimension of a distribution request.
    pub stream: StreamKey,
    /// `StartTime` and `EndTime` (inclusive), as Unix seconds.
    pub start: i64,
    pub end: i64,
    /// The names to answer with, in order.
    pub answered: Vec<String>,
}

/// Checks a request's body at `now_ms` (Unix milliseconds) as the API does.
pub(super) fn parse_request(
    action: Action,
    body: &[u8],
    now_ms: i64,
    stats: &mut SimStats,
) -> Result<Request, ApiError> {
    let source = action.source();
    let now = now_ms.div_euclid(1000);
    let invalid = |m: String| ApiError::new(INVALID_PARAMETER, m);
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    let missing = |k: &str| ApiError::new(MISSING_PARAMETER, format!("{k} is required"));
    let app_id = doc
        .get("AppId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("AppId"))?;
    let time = |k: &str| -> Result<i64, ApiError> {
        let s = doc
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| missing(k))?;
        timeutil::parse_rfc3339(s).ok_or_else(|| invalid(format!("{k} {s:?} is not RFC 3339")))
    };
    let start = time("StartTime")?;
    let end = time("EndTime")?;
    let (indicators, dimension) = if source == Source::Distribution {
        let (indicator, dimension) = one_indicator_and_dimension(&doc)?;
        (vec![indicator], Some(dimension))
    } else {
        (indicator_list(&doc)?, None)
    };
    if action == Action::Quality {
        match doc.get("AggregateGranularity").and_then(Value::as_str) {
            Some("5min") => {}
            Some("1d") => {
                return Err(invalid(
                    "AggregateGranularity \"1d\" is not served by the simulator; ask for \"5min\""
                        .into(),
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "AggregateGranularity {other:?} is not \"5min\" or \"1d\""
                )));
            }
            None => return Err(missing("AggregateGranularity")),
        }
    }
    let reach = action.reach_secs();
    let span = action.max_span_secs();
    let lookback_ms = now_ms - start * 1000;
    let seen = stats.action(action);
    seen.max_lookback_secs = seen.max_lookback_secs.max(lookback_ms as f64 / 1000.0);
    if !action.is_offline() {
        stats.max_lookback_secs = stats.max_lookback_secs.max(lookback_ms as f64 / 1000.0);
    }
    if lookback_ms > reach * 1000 {
        stats.horizon_violations += 1;
        stats.action(action).reach_violations += 1;
        let e = format!(
            "StartTime is {:.3} s before now; at most {reach} s are allowed",
            lookback_ms as f64 / 1000.0
        );
        return Err(if action.is_offline() {
            ApiError::new(OUT_OF_TIME_RANGE, e)
        } else {
            invalid(e)
        });
    }
    if end < start {
        return Err(invalid("EndTime is before StartTime".into()));
    }
    if end - start > span {
        stats.span_violations += 1;
        stats.action(action).span_violations += 1;
        let e = format!(
            "the span is {} s; at most {span} s are allowed",
            end - start
        );
        return Err(if action.is_offline() {
            ApiError::new(OUT_OF_TIME_RANGE, e)
        } else {
            invalid(e)
        });
    }
    if end > now - action.delay_secs() {
        stats.beyond_delay += 1;
        stats.action(action).beyond_delay += 1;
    }
    let (room_id, user_ids) = if source == Source::Quality {
        let room = doc
            .get("RoomId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let mut users: Vec<String> = doc
            .get("UserId")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if users.len() > 20 {
            return Err(invalid(format!(
                "UserId has {} entries; at most 20 are allowed",
                users.len()
            )));
        }
        if room.is_none() {
            users.clear();
        }
        // "invalid values are dropped" (the API's doc)
        users.retain(|u| !u.trim().is_empty() && !u.contains(','));
        let users = UserSet::new(&users).map_err(invalid)?;
        (room, users)
    } else {
        (None, UserSet::NONE)
    };
    let mut answered = Vec::new();
    for ind in &indicators {
        let names = catalog::answered_names(source, ind).ok_or_else(|| {
            invalid(format!(
                "Indicator {ind:?} is not supported by {}",
                action.name()
            ))
        })?;
        for n in names {
            if !answered.contains(&n) {
                answered.push(n);
            }
        }
    }
    let stream = match dimension {
        Some(d) => StreamKey::distribution(app_id, d),
        None => StreamKey::new(app_id, room_id, user_ids, source),
    };
    Ok(Request {
        stream,
        start,
        end,
        answered,
    })
}

/// The `Indicator` list of a quality or operation request.
fn indicator_list(doc: &Value) -> Result<Vec<String>, ApiError> {
    let indicators: Vec<String> = doc
        .get("Indicator")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::new(MISSING_PARAMETER, "Indicator is required"))?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::new(INVALID_PARAMETER, "Indicator must be a list of strings"))?;
    if indicators.is_empty() {
        return Err(ApiError::new(MISSING_PARAMETER, "Indicator is required"));
    }
    Ok(indicators)
}

/// The one `Indicator` (a string) and the `Dimension` of a distribution
/// request.
fn one_indicator_and_dimension(doc: &Value) -> Result<(String, Dimension), ApiError> {
    let indicator = match doc.get("Indicator") {
        None | Some(Value::Null) => {
            return Err(ApiError::new(MISSING_PARAMETER, "Indicator is required"));
        }
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::new(MISSING_PARAMETER, "Indicator is required"));
        }
        Some(other) => {
            return Err(ApiError::new(
                INVALID_PARAMETER_UNMARSHAL,
                format!("Indicator must be one string, not {other}"),
            ));
        }
    };
    let dimension = match doc.get("Dimension") {
        None | Some(Value::Null) => {
            return Err(ApiError::new(MISSING_PARAMETER, "Dimension is required"));
        }
        Some(Value::String(s)) => Dimension::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                ApiError::new(
                    INVALID_PARAMETER,
                    format!("Dimension {s:?} is not one of {}", Dimension::allowed()),
                )
            })?,
        Some(other) => {
            return Err(ApiError::new(
                INVALID_PARAMETER_UNMARSHAL,
                format!("Dimension must be a string, not {other}"),
            ));
        }
    };
    Ok((indicator, dimension))
}
