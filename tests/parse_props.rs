//! No answer body, however broken, panics the parser, and whatever it
//! accepts is fit to store: on the grid, inside the window, finite, unique.

use proptest::prelude::*;
use rtc_archiver::api::{Answer, HttpAnswer, parse_answer};
use serde_json::{Map, Value};

const T0: i64 = 1_795_435_200; // 2026-11-23T12:00:00Z
const WINDOW: (i64, i64) = (T0, T0 + 600);

fn check(answer: &Answer) {
    for s in &answer.series {
        assert!(!s.name.is_empty());
        let mut last = i64::MIN;
        for &(ts, v) in &s.points {
            assert!(ts >= WINDOW.0 && ts <= WINDOW.1, "{ts} outside the window");
            assert_eq!(ts % 30, 0, "{ts} off the grid");
            assert!(v.is_finite());
            assert!(ts > last, "points out of order or repeated");
            last = ts;
        }
    }
}

fn parse(status: u16, body: &[u8]) {
    let http = HttpAnswer {
        status,
        retry_after: None,
        body,
    };
    for by_dimension in [false, true] {
        if let Ok(a) = parse_answer(&http, WINDOW, by_dimension) {
            check(&a);
        }
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Result".to_string()),
        Just("Indicators".to_string()),
        Just("Name".to_string()),
        Just("Unit".to_string()),
        Just("Data".to_string()),
        Just("TimeStamp".to_string()),
        Just("Timestamp".to_string()),
        Just("Value".to_string()),
        Just("Dimension".to_string()),
        Just("ResponseMetadata".to_string()),
        Just("Error".to_string()),
        Just("Code".to_string()),
        Just("CodeN".to_string()),
        Just("RequestId".to_string()),
        "[a-z]{1,6}",
    ]
}

fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..1200).prop_map(|s| rtc_archiver::timeutil::fmt_utc(T0 - 300 + s)),
        (0i64..1200).prop_map(|s| rtc_archiver::timeutil::fmt_api(T0 - 300 + s)),
        Just("2026-11-23T12:00:00.5Z".to_string()),
        Just("9999-99-99T99:99:99Z".to_string()),
        ".{0,30}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0u32..10000).prop_map(|h| Value::from(h as f64 / 100.0)),
        time_text().prop_map(Value::String),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 200, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A structurally valid answer with arbitrary points.
fn answer_like() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        (0u32..10000).prop_map(|h| Value::from(h as f64 / 100.0)),
        Just(Value::Null),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,8}".prop_map(Value::String),
    ];
    let point =
        (time_text(), value).prop_map(|(t, v)| serde_json::json!({"TimeStamp": t, "Value": v}));
    let indicator = ("[a-z_0-9]{0,12}", prop::collection::vec(point, 0..30))
        .prop_map(|(name, data)| serde_json::json!({"Name": name, "Unit": "%", "Data": data}));
    prop::collection::vec(indicator, 0..5)
        .prop_map(|inds| serde_json::json!({"ResponseMetadata": {"RequestId": "r"}, "Result": {"Indicators": inds}}))
}

const VALID: &str = include_str!("fixtures/quality-answer.json");

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(status in prop::sample::select(vec![200u16, 400, 401, 429, 500, 502, 503]), body in prop::collection::vec(any::<u8>(), 0..600)) {
        parse(status, &body);
    }

    #[test]
    fn arbitrary_json_never_panics(status in prop::sample::select(vec![200u16, 403, 429, 500]), doc in json()) {
        parse(status, doc.to_string().as_bytes());
    }

    #[test]
    fn answer_shaped_json_yields_only_storable_points(doc in answer_like()) {
        parse(200, doc.to_string().as_bytes());
    }

    #[test]
    fn truncated_and_corrupted_answers_never_panic(cut in 0usize..VALID.len(), flips in prop::collection::vec((0usize..VALID.len(), any::<u8>()), 0..6)) {
        parse(200, &VALID.as_bytes()[..cut]);
        let mut bytes = VALID.as_bytes().to_vec();
        for (i, b) in flips {
            bytes[i] = b;
        }
        parse(200, &bytes);
    }
}
