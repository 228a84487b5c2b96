//! The request body of every action: a target's indicators of one action
//! over one window, with times written as the API documentation writes
//! them. The distribution actions take one indicator (a string, not a
//! list) and a `Dimension`; `ListQuality` takes an `AggregateGranularity`.

use serde::Serialize;

use crate::series::{Action, StreamKey};
use crate::timeutil;

/// One request: a target's indicators of one action over one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub action: Action,
    /// The target: `AppId`, `RoomId`, `UserId`, and the `Dimension` of a
    /// distribution action. Its source is the action's.
    pub stream: StreamKey,
    pub product_type: Option<String>,
    pub indicators: Vec<String>,
    /// `StartTime`: the first bucket asked for.
    pub start: i64,
    /// `EndTime`: the last bucket asked for (the API's end is inclusive).
    pub end: i64,
}

/// `Indicator`: a list, or one string for the distribution actions.
#[derive(Serialize)]
#[serde(untagged)]
enum Indicator<'a> {
    List(&'a [String]),
    One(&'a str),
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
    indicator: Indicator<'a>,
    #[serde(rename = "Dimension", skip_serializing_if = "Option::is_none")]
    dimension: Option<&'a str>,
    #[serde(
        rename = "AggregateGranularity",
        skip_serializing_if = "Option::is_none"
    )]
    granularity: Option<&'a str>,
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
        debug_assert_eq!(self.action.source(), self.stream.source);
        let quality = self.stream.source.has_rooms();
        let users = self.stream.user_ids.to_vec();
        let indicator = match (self.action.is_distribution(), self.indicators.as_slice()) {
            (true, [one]) => Indicator::One(one),
            (_, list) => Indicator::List(list),
        };
        let body = Body {
            app_id: &self.stream.app_id,
            start_time: timeutil::fmt_api(self.start),
            end_time: timeutil::fmt_api(self.end),
            indicator,
            dimension: self
                .stream
                .dimension
                .filter(|_| self.action.is_distribution())
                .map(|d| d.as_str()),
            granularity: (self.action == Action::Quality).then_some("5min"),
            room_id: self.stream.room_id.as_deref().filter(|_| quality),
            user_id: Some(users.as_slice())
                .filter(|u| quality && !u.is_empty() && self.stream.room_id.is_some()),
            product_type: self.product_type.as_deref().filter(|_| quality),
        };
        serde_json::to_vec(&body).expect("a request body always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::api::testing::T0;
    use crate::series::UserSet;

    #[test]
    fn request_body_matches_the_documented_shape() {
        let req = QueryRequest {
            action: Action::RealTimeQuality,
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
            action: Action::RealTimeOperationData,
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
    fn offline_and_distribution_bodies_match_their_documented_shapes() {
        let room = StreamKey::new(
            "app1",
            Some("room-1".into()),
            UserSet::NONE,
            Source::Quality,
        );
        let offline = QueryRequest {
            action: Action::Quality,
            stream: room,
            product_type: None,
            indicators: vec!["stall_rate".into(), "network_trans_delay".into()],
            start: T0,
            end: T0 + 3300,
        };
        assert_eq!(
            String::from_utf8(offline.body()).unwrap(),
            r#"{"AppId":"app1","StartTime":"2026-11-23T20:00:00+08:00","EndTime":"2026-11-23T20:55:00+08:00","Indicator":["stall_rate","network_trans_delay"],"AggregateGranularity":"5min","RoomId":"room-1"}"#
        );
        for action in [
            Action::RealTimeQualityDistribution,
            Action::QualityDistribution,
        ] {
            let req = QueryRequest {
                action,
                stream: StreamKey::distribution("app1", crate::series::Dimension::Os),
                product_type: Some("web".into()),
                indicators: vec!["stall_rate".into()],
                start: T0,
                end: T0 + 600,
            };
            assert_eq!(
                String::from_utf8(req.body()).unwrap(),
                r#"{"AppId":"app1","StartTime":"2026-11-23T20:00:00+08:00","EndTime":"2026-11-23T20:10:00+08:00","Indicator":"stall_rate","Dimension":"OS"}"#,
                "{action}"
            );
        }
    }
}
