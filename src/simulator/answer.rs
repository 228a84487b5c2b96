//! What the simulator answers a valid request with: the served buckets of
//! each answered name under the action's time key (for the offline
//! actions, their 5-minute slots: the mean of each slot's final 30-second
//! values, once the offline delay has passed; for a distribution, one data
//! item per bucket and dimension value, the value under `Dimension`), and
//! what a fault puts in its place, mixes into it or does to its bytes.

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::faults::Fault;
use super::model::{Model, dimension_values};
use super::reply::{
    ACCESS_DENIED, ACCOUNT_FLOW_LIMIT_EXCEEDED, ApiError, INTERNAL_ERROR, ResponseMeta,
    gateway_page, json_ok,
};
use super::request::Request;
use crate::series::{Action, SeriesKey};
use crate::{BUCKET_SECS, Source, timeutil};

use crate::store::history::SLOT_SECS;

/// The offline store's value of the 5-minute slot starting at `slot` at
/// `now`: nothing until the slot ended the offline `action`'s delay ago,
/// then [`Model::slot_value`] (of one dimension value's series, for a
/// breakdown).
fn offline_value(model: &Model, action: Action, s: &SeriesKey, slot: i64, now: i64) -> Option<f64> {
    if slot + SLOT_SECS > now - action.delay_secs() {
        return None;
    }
    model.slot_value(s, slot)
}

/// The answer to a valid request at `now`, with a fault's extras mixed in.
pub(super) fn build_answer(
    model: &Model,
    action: Action,
    req: &Request,
    now: i64,
    fault: Option<Fault>,
    meta: Value,
) -> (Value, u64) {
    let source = action.source();
    let offline = action.is_offline();
    let step = if offline { SLOT_SECS } else { BUCKET_SECS };
    let quality = source == Source::Quality;
    // ListRealTimeQuality's doc spells `TimeStamp` with an offset, so does
    // the distribution's; ListRealTimeOperationData's `Timestamp` in UTC
    let time_key = if source == Source::Operation {
        "Timestamp"
    } else {
        "TimeStamp"
    };
    let fmt = |ts: i64| {
        if source == Source::Operation {
            timeutil::fmt_utc(ts)
        } else {
            timeutil::fmt_api(ts)
        }
    };
    // a distribution answers each bucket once per value of its dimension
    let values: Vec<Option<&str>> = match req.stream.dimension {
        Some(d) => dimension_values(d).iter().map(|v| Some(*v)).collect(),
        None => vec![None],
    };
    let point = |ts: Value, value: Value, dim: Option<&str>| {
        let mut p = json!({ time_key: ts, "Value": value });
        if let Some(d) = dim {
            p["Dimension"] = json!(d);
        }
        p
    };
    let mut served = 0;
    let mut indicators = Vec::new();
    for name in &req.answered {
        let mut data = Vec::new();
        let mut sum = 0.0;
        let mut ts = if offline {
            req.start.div_euclid(SLOT_SECS) * SLOT_SECS
                + if req.start.rem_euclid(SLOT_SECS) == 0 {
                    0
                } else {
                    SLOT_SECS
                }
        } else {
            timeutil::bucket_ceil(req.start)
        };
        while ts <= req.end {
            for &dim in &values {
                let s = req.stream.series_by(name.as_str(), dim.map(str::to_string));
                let value = if offline {
                    offline_value(model, action, &s, ts, now)
                } else {
                    model.served_value(&s, ts, now)
                };
                if let Some(v) = value {
                    data.push(point(json!(fmt(ts)), json!(v), dim));
                    sum += v;
                    if fault == Some(Fault::Duplicates) && data.len() % 7 == 0 {
                        data.push(point(json!(fmt(ts)), json!(v), dim));
                    }
                }
            }
            ts += step;
        }
        served += data.len() as u64;
        let dim = values[0];
        match fault {
            Some(Fault::BadPoints) => {
                let mut no_time = point(json!(null), json!(1.0), dim);
                if let Some(o) = no_time.as_object_mut() {
                    o.remove(time_key);
                }
                data.insert(0, no_time);
                data.push(point(json!("not a time"), json!(2.0), dim));
                let mut no_value = point(json!(fmt(req.start)), json!(null), dim);
                if let Some(o) = no_value.as_object_mut() {
                    o.remove("Value");
                }
                data.push(no_value);
                data.push(point(json!(fmt(req.start)), json!("n/a"), dim));
                data.push(point(json!(fmt(req.start + 7)), json!(3.0), dim));
            }
            Some(Fault::Outside) => {
                data.push(point(
                    json!(fmt(timeutil::bucket_floor(req.start) - 600)),
                    json!(-1.0),
                    dim,
                ));
                data.push(point(
                    json!(fmt(timeutil::bucket_floor(req.end) + 600)),
                    json!(-1.0),
                    dim,
                ));
            }
            _ => {}
        }
        let count = data.len();
        let mut ind = json!({ "Name": name, "Data": data });
        if quality {
            ind["Unit"] = json!("%");
            if count > 0 {
                ind["overview"] = json!({ "Value": (sum / count as f64 * 100.0).round() / 100.0 });
            }
        }
        indicators.push(ind);
    }
    let mut result = json!({ "Indicators": indicators });
    if action == Action::Quality {
        // no RoomId/UserId: the points are the request's
        result["AggregateGranularity"] = json!("5min");
    } else if quality && !offline {
        if let Some(room) = &req.stream.room_id {
            result["RoomId"] = json!(room);
        }
        if !req.stream.user_ids.is_empty() {
            result["UserId"] = json!(req.stream.user_ids.to_vec());
        }
    }
    (
        json!({ "ResponseMetadata": meta, "Result": result }),
        served,
    )
}

/// What a fault answers instead of data, if it does.
pub(super) fn instead_of_data(fault: Option<Fault>, meta: &ResponseMeta) -> Option<Response> {
    let response = match fault? {
        Fault::Http500 => meta.error(ApiError::new(INTERNAL_ERROR, "internal error")),
        Fault::Http502 => gateway_page(502, "Bad Gateway"),
        Fault::Http503 => gateway_page(503, "Service Temporarily Unavailable"),
        Fault::Http504 => gateway_page(504, "Gateway Time-out"),
        Fault::Throttle => meta.error(ApiError::new(
            ACCOUNT_FLOW_LIMIT_EXCEEDED,
            "flow limit exceeded",
        )),
        Fault::Denied => meta.error(ApiError::new(ACCESS_DENIED, "access denied for this AppId")),
        Fault::Malformed => json_ok("{\"ResponseMetadata\": <oops>"),
        Fault::WrongShape => axum::Json(json!({ "ResponseMetadata": meta.to_json(), "Result": { "Indicators": "temporarily unavailable" } })).into_response(),
        _ => return None,
    };
    Some(response)
}

/// An answer's bytes cut short by a fault, if it does: half of them, or
/// half and then a reset connection.
pub(super) fn cut_short(fault: Option<Fault>, bytes: &[u8]) -> Option<Response> {
    match fault? {
        Fault::Truncate => Some(json_ok(bytes[..bytes.len() / 2].to_vec())),
        Fault::Reset => {
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                )),
            ];
            Some(
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CONTENT_LENGTH, bytes.len())
                    .body(Body::from_stream(futures_util::stream::iter(chunks)))
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
            )
        }
        _ => None,
    }
}
