//! Every action's data taken apart: [`parse_answer`] turns a successful
//! answer into series of (bucket, value) points, one series per answered
//! `Name` and, for the distribution actions, per `Dimension` value.
//!
//! Answers are taken as they come: `TimeStamp` or `Timestamp`, any offset,
//! integer or decimal values, unknown fields. What cannot be stored honestly
//! (a point without a valid time or value, off the 30-second grid, outside the
//! requested window, or repeated) is skipped and counted, never stored, and
//! the good points of the same answer still land.
//!
//! The walk over the indicators and the parsers of an item's time and value
//! are apart from the real-time point, so that an action whose data items
//! carry more (a `Dimension` value) reuses them with its own point parser.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::envelope::{self, HttpAnswer, str_field};
use super::error::FetchError;
use crate::{BUCKET_SECS, timeutil};

/// The points of one answered indicator, in bucket order, deduplicated.
#[derive(Debug, Clone, PartialEq)]
pub struct AnsweredSeries {
    /// The `Name` the API answered with: the series key.
    pub name: String,
    /// The value of the requested dimension (`Dimension` of the data
    /// items) of a distribution answer; `None` for the other actions.
    pub dimension_value: Option<String>,
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
    BadDimension,
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
            SkipReason::BadDimension => {
                "missing or empty Dimension value, or one with a control character or over 256 bytes"
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

/// Takes an answer apart. `window` is the requested (first, last) bucket
/// start, both inclusive; points outside it are skipped. With `by_dimension`
/// (the distribution actions) every data item must carry the `Dimension`
/// value it stands for, and the series are split by it.
pub fn parse_answer(
    http: &HttpAnswer<'_>,
    window: (i64, i64),
    by_dimension: bool,
) -> Result<Answer, FetchError> {
    let envelope = envelope::open(http)?;
    let mut skipped = BTreeMap::new();
    let series = if by_dimension {
        let walked = walk_indicators(&envelope.indicators, &mut skipped, |item| {
            let dimension = item_dimension(item)?;
            let (ts, value) = parse_point(item, window)?;
            Ok(((dimension, ts), value))
        });
        let mut series = Vec::new();
        for i in walked {
            // keyed by (value, bucket): each value's points are together, in bucket order
            let mut values: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
            for ((dimension, ts), v) in i.points {
                values.entry(dimension).or_default().push((ts, v));
            }
            series.extend(values.into_iter().map(|(d, points)| AnsweredSeries {
                name: i.name.clone(),
                dimension_value: Some(d),
                unit: i.unit.clone(),
                points,
            }));
        }
        series
    } else {
        walk_indicators(&envelope.indicators, &mut skipped, |item| {
            parse_point(item, window)
        })
        .into_iter()
        .map(|i| AnsweredSeries {
            name: i.name,
            dimension_value: None,
            unit: i.unit,
            points: i.points,
        })
        .collect()
    };
    Ok(Answer {
        request_id: envelope.request_id,
        series,
        skipped,
    })
}

/// A distribution data item's `Dimension`: the value it stands for, as
/// answered (any script, case kept), never empty, without control
/// characters, at most [`crate::series::MAX_DIMENSION_VALUE_BYTES`] long.
fn item_dimension(item: &Value) -> Result<String, SkipReason> {
    str_field(item, "Dimension")
        .filter(|d| crate::series::check_dimension_value(d).is_ok())
        .map(str::to_string)
        .ok_or(SkipReason::BadDimension)
}

/// One answered indicator: its points keyed by `K` (a bucket start, or for
/// data items with more fields, the bucket and those fields), in key order,
/// deduplicated.
#[derive(Debug)]
pub(super) struct Indicator<K> {
    pub name: String,
    pub unit: Option<String>,
    pub points: Vec<(K, f64)>,
}

/// Walks an answer's indicators, whatever their data items hold: refuses an
/// indicator without a usable `Name` or `Data` list, joins indicators of one
/// name (in the order first answered), parses each data item with `point`,
/// keeps the later of two items with one key, and counts every item it does
/// not keep in `skipped`.
pub(super) fn walk_indicators<K: Ord>(
    indicators: &[Value],
    skipped: &mut BTreeMap<SkipReason, u64>,
    mut point: impl FnMut(&Value) -> Result<(K, f64), SkipReason>,
) -> Vec<Indicator<K>> {
    let mut count = |reason: SkipReason, n: u64| *skipped.entry(reason).or_default() += n;
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    let mut walked: Vec<(&str, Option<&str>, BTreeMap<K, f64>)> = Vec::new();
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
            count(SkipReason::BadIndicator, lost as u64);
            continue;
        };
        let at = *by_name.entry(name).or_insert_with(|| {
            walked.push((name, None, BTreeMap::new()));
            walked.len() - 1
        });
        let (_, known_unit, points) = &mut walked[at];
        if unit.is_some() {
            *known_unit = unit;
        }
        for item in data {
            match point(item) {
                Ok((key, value)) => {
                    if points.insert(key, value).is_some() {
                        count(SkipReason::Duplicate, 1);
                    }
                }
                Err(reason) => count(reason, 1),
            }
        }
    }
    walked
        .into_iter()
        .map(|(name, unit, points)| Indicator {
            name: name.to_string(),
            unit: unit.map(str::to_string),
            points: points.into_iter().collect(),
        })
        .collect()
}

/// A real-time data item: its bucket and value, inside `window`.
fn parse_point(item: &Value, window: (i64, i64)) -> Result<(i64, f64), SkipReason> {
    let ts = item_bucket(item)?;
    let value = item_value(item)?;
    if ts < window.0 || ts > window.1 {
        return Err(SkipReason::OutsideWindow);
    }
    Ok((ts, value))
}

/// A data item's bucket start: its `TimeStamp` (or `Timestamp`), RFC 3339,
/// inside the archive's time range and on the 30-second grid.
pub(super) fn item_bucket(item: &Value) -> Result<i64, SkipReason> {
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
    Ok(ts)
}

/// A data item's `Value`: a finite number.
pub(super) fn item_value(item: &Value) -> Result<f64, SkipReason> {
    let value = item
        .get("Value")
        .filter(|v| !v.is_null())
        .ok_or(SkipReason::MissingValue)?;
    value
        .as_f64()
        .filter(|v| v.is_finite())
        .ok_or(SkipReason::BadValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{T0, WIDE, ok};

    const QUALITY: &str = include_str!("../../tests/fixtures/quality-answer.json");
    const OPERATION: &str = include_str!("../../tests/fixtures/operation-answer.json");

    #[test]
    fn quality_answer_with_offsets_renamed_series_and_extra_fields() {
        let a = parse_answer(&ok(QUALITY), WIDE, false).unwrap();
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
        let a = parse_answer(&ok(OPERATION), WIDE, false).unwrap();
        assert_eq!(a.series.len(), 2);
        assert_eq!(a.series[0].name, "online_user_count");
        assert_eq!(a.series[0].unit, None);
        assert_eq!(a.series[0].points, [(T0, 3212.0), (T0 + 30, 3211.0)]);
        assert_eq!(a.series[1].points, [(T0, 1231.0), (T0 + 30, 1232.0)]);
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
        let a = parse_answer(&ok(body), (T0, T0 + 600), false).unwrap();
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
        let a = parse_answer(&ok(body), (i64::MIN, i64::MAX), false).unwrap();
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
        let a = parse_answer(&ok(body), WIDE, false).unwrap();
        let names: Vec<_> = a.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ok_rate"]);
        assert_eq!(a.skipped.get(&SkipReason::BadIndicator), Some(&3));
    }

    const DISTRIBUTION: &str = include_str!("../../tests/fixtures/distribution-answer.json");
    const OFFLINE_DISTRIBUTION: &str =
        include_str!("../../tests/fixtures/offline-distribution-answer.json");
    const OFFLINE_QUALITY: &str = include_str!("../../tests/fixtures/offline-quality-answer.json");

    #[test]
    fn distribution_answers_split_each_name_by_dimension_value() {
        let a = parse_answer(&ok(DISTRIBUTION), WIDE, true).unwrap();
        let keys: Vec<_> = a
            .series
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.dimension_value.as_deref().unwrap(),
                    s.points.len(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("audio_stall_rate", "android", 2),
                ("audio_stall_rate", "ios", 2),
                ("audio_stall_rate", "mac", 1),
                ("audio_stall_rate", "windows", 1),
                ("video_stall_rate", "android", 2),
                ("video_stall_rate", "ios", 1),
            ]
        );
        assert_eq!(a.series[0].points, [(T0, 1.42), (T0 + 30, 1.38)]);
        assert!(a.skipped.is_empty());
        // offline: values in any script, 5-minute spacing
        let day_before = T0 - 86_400;
        let a = parse_answer(&ok(OFFLINE_DISTRIBUTION), (day_before, T0), true).unwrap();
        let gd = a
            .series
            .iter()
            .find(|s| {
                s.name == "5s_join_room_success_rate"
                    && s.dimension_value.as_deref() == Some("广东")
            })
            .unwrap();
        assert_eq!(gd.points, [(day_before, 98.76), (day_before + 300, 98.55)]);
    }

    #[test]
    fn items_without_a_usable_dimension_are_skipped() {
        let body = r#"{"Result": {"Indicators": [{"Name": "x", "Data": [
            {"TimeStamp": "2026-11-23T12:00:00Z", "Dimension": "ios", "Value": 1},
            {"TimeStamp": "2026-11-23T12:00:00Z", "Value": 2},
            {"TimeStamp": "2026-11-23T12:00:00Z", "Dimension": "", "Value": 3},
            {"TimeStamp": "2026-11-23T12:00:00Z", "Dimension": 4, "Value": 4},
            {"TimeStamp": "2026-11-23T12:00:00Z", "Dimension": "a\u001b[2J", "Value": 5},
            {"TimeStamp": "2026-11-23T12:00:00Z", "Dimension": "LONG", "Value": 6}
        ]}]}}"#
            .replace("LONG", &"x".repeat(257));
        let a = parse_answer(&ok(&body), WIDE, true).unwrap();
        assert_eq!(a.series.len(), 1);
        assert_eq!(a.series[0].dimension_value.as_deref(), Some("ios"));
        assert_eq!(a.skipped.get(&SkipReason::BadDimension), Some(&5));
    }

    #[test]
    fn offline_quality_answers_take_their_5_minute_time_stamps() {
        let a = parse_answer(&ok(OFFLINE_QUALITY), (T0 - 3 * 86_400, T0), false).unwrap();
        assert_eq!(a.series[0].name, "5s_join_room_success_rate");
        assert_eq!(a.series[0].dimension_value, None);
        let slots: Vec<i64> = a.series[0].points.iter().map(|p| p.0).collect();
        // 2026-11-21T20:00+08:00 = 12:00Z, two days before T0; the 20:10 slot has no data
        let first = T0 - 2 * 86_400;
        assert_eq!(slots, [first, first + 300, first + 900]);
    }
}
