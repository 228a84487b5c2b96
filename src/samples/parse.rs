//! One line of the samples format checked field by field, whatever the
//! format it came in: every rule an imported point must meet (identity,
//! time range and grid, a finite value) is here, once.

use std::borrow::Cow;

use serde::Deserialize;

use crate::series::{Dimension, Resolution, SeriesKey, StreamKey, UserSet};
use crate::{BUCKET_SECS, Source, timeutil};

/// One valid input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub app_id: Cow<'a, str>,
    pub room_id: Option<Cow<'a, str>>,
    pub user_ids: Option<Cow<'a, str>>,
    pub source: Source,
    pub indicator: Cow<'a, str>,
    pub unit: Option<Cow<'a, str>>,
    pub ts: i64,
    pub value: f64,
    /// 30 s unless the line says `resolution` 300.
    pub resolution: Resolution,
    /// Of a distribution point (and only of one).
    pub dimension: Option<Dimension>,
    pub dimension_value: Option<Cow<'a, str>>,
}

impl Sample<'_> {
    /// The series the line's point belongs to.
    pub fn series_key(&self) -> SeriesKey {
        let users = self.user_ids.as_deref().unwrap_or("").to_string();
        let stream = StreamKey {
            dimension: self.dimension,
            ..StreamKey::new(
                self.app_id.to_string(),
                self.room_id.as_deref().map(str::to_string),
                UserSet::from_normalized(users),
                self.source,
            )
        };
        stream.series_by(
            self.indicator.to_string(),
            self.dimension_value.as_deref().map(str::to_string),
        )
    }

    /// Whether the line's point belongs to `key`: [`Sample::series_key`]
    /// compared without building it (import's hot path), every identity
    /// field of it.
    pub fn is_of(&self, key: &SeriesKey) -> bool {
        let stream = &key.stream;
        stream.source == self.source
            && key.indicator == self.indicator
            && stream.app_id == self.app_id
            && stream.room_id.as_deref() == self.room_id.as_deref()
            && stream.user_ids.joined() == self.user_ids.as_deref().unwrap_or("")
            && stream.dimension == self.dimension
            && key.dimension_value.as_deref() == self.dimension_value.as_deref()
    }
}

#[derive(Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow)]
    app_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    room_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_ids: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    indicator: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    unit: Option<Cow<'a, str>>,
    #[serde(default)]
    ts: Option<serde_json::Number>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(default)]
    value: Option<serde_json::Number>,
    #[serde(default)]
    resolution: Option<serde_json::Number>,
    #[serde(borrow, default)]
    dimension: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dimension_value: Option<Cow<'a, str>>,
}

fn non_empty(v: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    v.filter(|s| !s.is_empty())
}

/// One line's fields as the format gives them, before any check.
struct Fields<'a> {
    app_id: Option<Cow<'a, str>>,
    room_id: Option<Cow<'a, str>>,
    user_ids: Option<Cow<'a, str>>,
    source: Option<Cow<'a, str>>,
    indicator: Option<Cow<'a, str>>,
    unit: Option<Cow<'a, str>>,
    ts: Option<i64>,
    time: Option<Cow<'a, str>>,
    value: Option<f64>,
    /// As written (`30`, `300`); absent is 30.
    resolution: Option<Cow<'a, str>>,
    dimension: Option<Cow<'a, str>>,
    dimension_value: Option<Cow<'a, str>>,
}

/// Checks one line's fields (whatever the format) and builds a sample.
fn build(fields: Fields<'_>) -> Result<Sample<'_>, String> {
    let Fields {
        app_id,
        room_id,
        user_ids,
        source,
        indicator,
        unit,
        ts,
        time,
        value,
        resolution,
        dimension,
        dimension_value,
    } = fields;
    let app_id = non_empty(app_id).ok_or("app_id is missing or empty")?;
    let source: Source = match source.as_deref() {
        Some(s) => s.parse()?,
        None => return Err("source is missing".into()),
    };
    let resolution = match non_empty(resolution).as_deref().map(str::trim) {
        None => Resolution::RealTime,
        Some(r) => r
            .parse::<i64>()
            .ok()
            .and_then(Resolution::from_secs)
            .ok_or_else(|| format!("resolution {r:?} is not 30 or 300 (seconds)"))?,
    };
    let dimension_value = non_empty(dimension_value);
    let dimension = match (source, non_empty(dimension)) {
        (Source::Distribution, Some(d)) => Some(d.parse::<Dimension>()?),
        (Source::Distribution, None) => {
            return Err("dimension is missing: a distribution point names its dimension".into());
        }
        (_, Some(d)) => return Err(format!("dimension {d:?} on a {source} point")),
        (_, None) => None,
    };
    match (source, &dimension_value) {
        (Source::Distribution, None) => {
            return Err("dimension_value is missing: a distribution point names its value".into());
        }
        (Source::Distribution, Some(v)) => crate::series::check_dimension_value(v)?,
        (_, None) => {}
        (_, Some(v)) => return Err(format!("dimension_value {v:?} on a {source} point")),
    }
    if source == Source::Distribution && non_empty(room_id.clone()).is_some() {
        return Err("distribution data has no room_id".into());
    }
    let indicator = non_empty(indicator).ok_or("indicator is missing or empty")?;
    let room_id = non_empty(room_id);
    let user_ids = match non_empty(user_ids) {
        Some(u) if room_id.is_none() => return Err(format!("user_ids {u:?} without room_id")),
        Some(u) => Some(crate::series::normalize_joined(u)?),
        None => None,
    };
    if source == Source::Operation && room_id.is_some() {
        return Err("operation data has no room_id".into());
    }
    let unit = non_empty(unit);
    for (field, text) in [
        ("app_id", Some(&app_id)),
        ("room_id", room_id.as_ref()),
        ("user_ids", user_ids.as_ref()),
        ("indicator", Some(&indicator)),
        ("unit", unit.as_ref()),
    ] {
        if let Some(c) = text.and_then(|t| crate::series::control_char(t)) {
            return Err(format!(
                "{field} holds a control character ({}), which no identity may hold",
                c.escape_unicode()
            ));
        }
    }
    let from_time = match time.as_deref() {
        Some(t) => Some(
            timeutil::parse_utc_z(t)
                .or_else(|| timeutil::parse_rfc3339(t))
                .ok_or_else(|| format!("time {t:?} is not RFC 3339"))?,
        ),
        None => None,
    };
    let ts = match (ts, from_time) {
        (Some(ts), Some(t)) if ts != t => {
            return Err(format!(
                "ts {ts} and time {:?} disagree",
                time.as_deref().unwrap_or("")
            ));
        }
        (Some(ts), _) | (None, Some(ts)) => ts,
        (None, None) => return Err("ts and time are both missing".into()),
    };
    if !timeutil::in_data_range(ts) {
        return Err(timeutil::outside_data_range(ts));
    }
    if ts.rem_euclid(BUCKET_SECS) != 0 {
        return Err(format!("ts {ts} is not on the 30-second grid"));
    }
    if resolution == Resolution::FiveMinutes && source == Source::Operation {
        return Err("resolution 300 on operation data, which has no 5-minute history".into());
    }
    let value = value.ok_or("value is missing")?;
    if !value.is_finite() {
        return Err(format!("value {value} is not a finite number"));
    }
    Ok(Sample {
        app_id,
        room_id,
        user_ids,
        source,
        indicator,
        unit,
        ts,
        value,
        resolution,
        dimension,
        dimension_value,
    })
}

/// Parses one JSON Lines line.
pub fn parse_json_line(line: &str) -> Result<Sample<'_>, String> {
    let l: JsonLine<'_> = serde_json::from_str(line)
        .map_err(|e| format!("not a JSON object of the samples format ({e})"))?;
    let ts = match l.ts {
        Some(n) if n.is_u64() && n.as_i64().is_none() => {
            return Err(format!("time outside {} (ts {n})", timeutil::DATA_RANGE));
        }
        Some(n) => Some(
            n.as_i64()
                .ok_or_else(|| format!("ts {n} is not a whole number of seconds"))?,
        ),
        None => None,
    };
    let value = l.value.map(|n| n.as_f64().unwrap_or(f64::NAN));
    let resolution = l.resolution.map(|n| Cow::Owned(n.to_string()));
    build(Fields {
        app_id: l.app_id,
        room_id: l.room_id,
        user_ids: l.user_ids,
        source: l.source,
        indicator: l.indicator,
        unit: l.unit,
        ts,
        time: l.time,
        value,
        resolution,
        dimension: l.dimension,
        dimension_value: l.dimension_value,
    })
}

/// Column positions of a CSV header.
#[derive(Debug, Clone, Default)]
pub struct CsvColumns {
    app_id: Option<usize>,
    room_id: Option<usize>,
    user_ids: Option<usize>,
    source: Option<usize>,
    indicator: Option<usize>,
    unit: Option<usize>,
    ts: Option<usize>,
    time: Option<usize>,
    value: Option<usize>,
    resolution: Option<usize>,
    dimension: Option<usize>,
    dimension_value: Option<usize>,
}

impl CsvColumns {
    pub fn from_header(header: &csv::StringRecord) -> Result<CsvColumns, String> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let c = CsvColumns {
            app_id: find("app_id"),
            room_id: find("room_id"),
            user_ids: find("user_ids"),
            source: find("source"),
            indicator: find("indicator"),
            unit: find("unit"),
            ts: find("ts"),
            time: find("time"),
            value: find("value"),
            resolution: find("resolution"),
            dimension: find("dimension"),
            dimension_value: find("dimension_value"),
        };
        let mut missing = Vec::new();
        for (name, col) in [
            ("app_id", c.app_id),
            ("source", c.source),
            ("indicator", c.indicator),
            ("value", c.value),
        ] {
            if col.is_none() {
                missing.push(name);
            }
        }
        if c.ts.is_none() && c.time.is_none() {
            missing.push("ts or time");
        }
        if missing.is_empty() {
            Ok(c)
        } else {
            Err(format!(
                "the CSV header lacks {}: expected the columns of the samples view ({})",
                missing.join(", "),
                super::SAMPLE_COLUMNS.join(",")
            ))
        }
    }

    /// Parses one CSV record.
    pub fn parse<'a>(&self, r: &'a csv::StringRecord) -> Result<Sample<'a>, String> {
        // the last field of a CRLF line ends with the `\r`
        let last = r.len().saturating_sub(1);
        let field = |i: usize| {
            r.get(i).map(|f| {
                if i == last {
                    f.strip_suffix('\r').unwrap_or(f)
                } else {
                    f
                }
            })
        };
        let get = |c: Option<usize>| c.and_then(field).map(Cow::Borrowed);
        let ts = match get(self.ts).filter(|s| !s.is_empty()) {
            Some(s) => Some(s.trim().parse::<i64>().map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    format!("time outside {} (ts {s})", timeutil::DATA_RANGE)
                }
                _ => format!("ts {s:?} is not a whole number of seconds"),
            })?),
            None => None,
        };
        let value = match get(self.value).filter(|s| !s.is_empty()) {
            Some(s) => Some(
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("value {s:?} is not a number"))?,
            ),
            None => None,
        };
        build(Fields {
            app_id: get(self.app_id),
            room_id: get(self.room_id),
            user_ids: get(self.user_ids),
            source: get(self.source),
            indicator: get(self.indicator),
            unit: get(self.unit),
            ts,
            time: get(self.time).filter(|s| !s.is_empty()),
            value,
            resolution: get(self.resolution),
            dimension: get(self.dimension),
            dimension_value: get(self.dimension_value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"app_id":"app1","room_id":"room-1","user_ids":"u1,u2","source":"quality","indicator":"audio_stall_rate","unit":"%","ts":1795435200,"time":"2026-11-23T12:00:00Z","value":98.68}"#;

    #[test]
    fn a_samples_line_parses() {
        let s = parse_json_line(LINE).unwrap();
        assert_eq!(s.app_id, "app1");
        assert_eq!(s.room_id.as_deref(), Some("room-1"));
        assert_eq!(s.user_ids.as_deref(), Some("u1,u2"));
        assert_eq!(s.source, Source::Quality);
        assert_eq!(s.ts, 1_795_435_200);
        assert_eq!(s.value, 98.68);
        // time alone, another offset, nulls, extra keys
        let s = parse_json_line(
            r#"{"app_id":"a","room_id":null,"source":"operation","indicator":"online_user_count","time":"2026-11-23T20:00:30+08:00","value":3212,"note":"x"}"#,
        )
        .unwrap();
        assert_eq!(s.ts, 1_795_435_230);
        assert_eq!(s.room_id, None);
        assert_eq!(s.unit, None);
    }

    #[test]
    fn a_line_is_of_its_own_series_and_of_no_other() {
        let lines = [
            LINE.to_string(),
            LINE.replace("u1,u2", "u1"),
            r#"{"app_id":"a","source":"distribution","dimension":"OS","indicator":"x","dimension_value":"ios","ts":1795435200,"value":1}"#.to_string(),
            r#"{"app_id":"a","source":"distribution","dimension":"OS","indicator":"x","dimension_value":"mac","ts":1795435200,"value":1}"#.to_string(),
            r#"{"app_id":"a","source":"distribution","dimension":"Access","indicator":"x","dimension_value":"ios","ts":1795435200,"value":1}"#.to_string(),
        ];
        let samples: Vec<Sample<'_>> = lines.iter().map(|l| parse_json_line(l).unwrap()).collect();
        for (i, a) in samples.iter().enumerate() {
            for (j, b) in samples.iter().enumerate() {
                assert_eq!(a.is_of(&b.series_key()), i == j, "{i} {j}");
            }
        }
    }

    #[test]
    fn users_are_normalized() {
        let line = LINE.replace("u1,u2", "u2,u1,u2");
        let s = parse_json_line(&line).unwrap();
        assert_eq!(s.user_ids.as_deref(), Some("u1,u2"));
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("not json", "not a JSON object"),
            ("[1,2]", "not a JSON object"),
            (&LINE.replace("\"app1\"", "\"\""), "app_id"),
            (&LINE.replace("\"quality\"", "\"qos\""), "source \"qos\""),
            (&LINE.replace("1795435200", "1795435201"), "disagree"),
            (
                &LINE
                    .replace("1795435200", "1795435201")
                    .replace(",\"time\":\"2026-11-23T12:00:00Z\"", ""),
                "30-second grid",
            ),
            (&LINE.replace("98.68", "null"), "value is missing"),
            (&LINE.replace("98.68", "\"98.68\""), "not a JSON object"),
            (
                &LINE.replace("2026-11-23T12:00:00Z", "yesterday"),
                "not RFC 3339",
            ),
            (
                &LINE.replace("\"room_id\":\"room-1\",", ""),
                "without room_id",
            ),
            (&LINE.replace("1795435200", "1795435200.5"), "whole number"),
            (&LINE.replace("u1,u2", "u1,,u2"), "empty UserId"),
        ];
        for (line, want) in cases {
            let e = parse_json_line(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn extreme_timestamps_are_refused_not_wrapped() {
        let no_time = LINE.replace(",\"time\":\"2026-11-23T12:00:00Z\"", "");
        for ts in [
            "-9223372036854775800",
            "9223372036854775800",
            "0",
            "946684770",
            "4102444800",
        ] {
            let e = parse_json_line(&no_time.replace("1795435200", ts)).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100"), "{ts}: {e}");
        }
        let no_ts = LINE.replace("\"ts\":1795435200,", "");
        for time in [
            "1999-12-31T23:59:30Z",
            "2100-01-01T00:00:00Z",
            "9999-12-31T23:59:30+08:00",
        ] {
            let e = parse_json_line(&no_ts.replace("2026-11-23T12:00:00Z", time)).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100"), "{time}: {e}");
        }
        // beyond i64 either way: out of range too, not "not a whole number"
        for ts in ["18446744073709551615", "9223372036854775808"] {
            let e = parse_json_line(&no_time.replace("1795435200", ts)).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100 (ts "), "{ts}: {e}");
        }
        let csv = format!(
            "app_id,source,indicator,ts,value\na,quality,x,{},1\na,quality,x,-99999999999999999999,1\n",
            u64::MAX
        );
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let cols = CsvColumns::from_header(r.headers().unwrap()).unwrap();
        for rec in r.records() {
            let e = cols.parse(&rec.unwrap()).unwrap_err();
            assert!(e.starts_with("time outside 2000–2100 (ts "), "{e}");
        }
        assert!(parse_json_line(&no_time.replace("1795435200", "946684800")).is_ok());
        assert!(parse_json_line(&no_time.replace("1795435200", "4102444770")).is_ok());
    }

    #[test]
    fn control_characters_in_identities_are_bad_lines() {
        for (from, to, field) in [
            (
                "\"app1\"",
                "\"app\\u0000\"",
                "app_id holds a control character (\\u{0})",
            ),
            (
                "\"room-1\"",
                "\"room\\u001b[2J\"",
                "room_id holds a control character (\\u{1b})",
            ),
            (
                "\"u1,u2\"",
                "\"u1,u\\r2\"",
                "user_ids holds a control character (\\u{d})",
            ),
            (
                "\"audio_stall_rate\"",
                "\"stall\\nrate\"",
                "indicator holds",
            ),
            ("\"%\"", "\"%\\t\"", "unit holds"),
        ] {
            let e = parse_json_line(&LINE.replace(from, to)).unwrap_err();
            assert!(e.starts_with(field), "{to}: {e}");
        }
        // CSV: a NUL byte, and a CR inside a quoted field
        let csv = "app_id,source,indicator,ts,value\n\
                   a\0b,operation,x,1795435200,1\n\
                   \"a\rb\",operation,x,1795435230,1\n\
                   ab,operation,x,1795435260,1\n";
        let mut reader =
            super::super::reader(super::super::SampleFormat::Csv, csv.as_bytes()).unwrap();
        let mut outcomes = Vec::new();
        while let Some(line) = reader.next_line() {
            let line = line.unwrap();
            outcomes.push((line.number, line.sample.map(|s| s.ts)));
        }
        assert_eq!(outcomes.len(), 3);
        for (number, outcome) in &outcomes[..2] {
            let e = outcome.as_ref().unwrap_err();
            assert!(
                e.starts_with("app_id holds a control character"),
                "{number}: {e}"
            );
        }
        assert_eq!(outcomes.iter().map(|o| o.0).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(outcomes[2].1, Ok(1_795_435_260));
    }

    #[test]
    fn csv_records_parse_by_header() {
        let text = "ts,value,indicator,source,app_id,room_id,user_ids,unit\n1795435200,1.5,x,quality,a,,,%\n1795435230,,x,quality,a,,,%\n";
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let cols = CsvColumns::from_header(r.headers().unwrap()).unwrap();
        let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        let s = cols.parse(&recs[0]).unwrap();
        assert_eq!(
            (s.ts, s.value, s.room_id.clone()),
            (1_795_435_200, 1.5, None)
        );
        assert!(
            cols.parse(&recs[1])
                .unwrap_err()
                .contains("value is missing")
        );
        let bad = csv::StringRecord::from(vec!["app_id", "value"]);
        let e = CsvColumns::from_header(&bad).unwrap_err();
        assert!(e.contains("source") && e.contains("ts or time"), "{e}");
    }
}
