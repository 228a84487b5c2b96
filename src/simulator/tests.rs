//! The simulator against the real client: answered names over the whole
//! hour, signature and horizon refusals, every fault kind, the rate limit,
//! and the horizon compared to the millisecond.

use serde_json::json;

use super::*;
use crate::api::FetchError;
use crate::client::ApiClient;
use crate::config::ApiConfig;
use crate::credentials::Credentials;
use crate::planner::{self, PlanParams};
use crate::series::Action;
use crate::{Source, timeutil};

async fn sim(config: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start(listener, config).unwrap()
}

fn client(handle: &SimHandle, secret: &str) -> ApiClient {
    let api = ApiConfig {
        endpoint: url::Url::parse(&handle.endpoint()).unwrap(),
        timeout: Duration::from_secs(5),
        ..ApiConfig::default()
    };
    ApiClient::new(
        &api,
        Credentials::new(DEFAULT_ACCESS_KEY, secret, None, "test"),
    )
    .unwrap()
}

fn request(source: Source, indicators: &[&str]) -> crate::api::QueryRequest {
    let now = timeutil::now();
    let w = planner::plan(
        now,
        PlanParams {
            overlap: 600,
            margin: 60,
            delay: source.delay_secs(),
        },
        &[None],
    )
    .window
    .unwrap();
    crate::api::QueryRequest {
        action: source.realtime(),
        stream: crate::series::StreamKey::new("app1", None, crate::series::UserSet::NONE, source),
        product_type: None,
        indicators: indicators.iter().map(|s| s.to_string()).collect(),
        start: w.start,
        end: w.end,
    }
}

#[tokio::test]
async fn serves_answered_names_over_the_whole_hour() {
    let handle = sim(SimConfig::default()).await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    let req = request(
        Source::Quality,
        &["stall_rate", "5s_join_room_success_rate"],
    );
    let answer = c.fetch(&req).await.unwrap().result.unwrap();
    let names: Vec<&str> = answer.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "audio_stall_rate",
            "video_stall_rate",
            "5s_join_room_success_rate"
        ]
    );
    let model = Model::default();
    for s in &answer.series {
        assert_eq!(s.unit.as_deref(), Some("%"));
        let expected: Vec<i64> = (0..)
            .map(|i| req.start + i * 30)
            .take_while(|&t| t <= req.end)
            .filter(|&t| {
                model.has_data(
                    &crate::series::StreamKey::new(
                        "app1",
                        None,
                        crate::series::UserSet::NONE,
                        Source::Quality,
                    )
                    .series(s.name.as_str()),
                    t,
                )
            })
            .collect();
        let got: Vec<i64> = s.points.iter().map(|p| p.0).collect();
        assert_eq!(got, expected, "{}", s.name);
    }
    assert!(answer.skipped.is_empty());
    let stats = handle.stats();
    assert_eq!(stats.answered, 1);
    assert_eq!(stats.horizon_violations, 0);
    assert_eq!(stats.beyond_delay, 0);
    handle.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_a_signature_mismatch() {
    let handle = sim(SimConfig::default()).await;
    let c = client(&handle, "not-the-secret");
    let e = c
        .fetch(&request(Source::Operation, &["online_user_count"]))
        .await
        .unwrap()
        .result
        .unwrap_err();
    match &e {
        FetchError::Rejected { code, status, .. } => {
            assert_eq!(code, "SignatureDoesNotMatch");
            assert_eq!(*status, 401);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("VOLC_SECRETKEY"), "{e}");
    assert_eq!(handle.stats().auth_failures, 1);
    handle.stop().await;
}

#[tokio::test]
async fn horizon_and_unknown_indicators_are_refused() {
    let handle = sim(SimConfig::default()).await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    let mut req = request(Source::Operation, &["online_user_count"]);
    req.start -= 300;
    let e = c.fetch(&req).await.unwrap().result.unwrap_err();
    assert!(matches!(e, FetchError::Rejected { .. }), "{e:?}");
    assert_eq!(handle.stats().horizon_violations, 1);
    let e = c
        .fetch(&request(Source::Operation, &["stall_rate"]))
        .await
        .unwrap()
        .result
        .unwrap_err();
    assert!(e.to_string().contains("InvalidParameter"), "{e}");
    handle.stop().await;
}

#[tokio::test]
async fn every_fault_kind_is_what_the_client_expects() {
    let script: Vec<Option<Fault>> = Fault::RECOVERABLE.iter().copied().map(Some).collect();
    let handle = sim(SimConfig {
        faults: FaultPlan {
            script,
            slow: Duration::from_secs(8),
            ..FaultPlan::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    for fault in Fault::RECOVERABLE {
        let attempt = c
            .fetch(&request(Source::Operation, &["online_user_count"]))
            .await
            .unwrap();
        match (fault.serves_data(), attempt.result) {
            (true, Ok(a)) => {
                assert!(a.points() > 100, "{fault}: {}", a.points());
                match fault {
                    Fault::BadPoints => assert!(a.skipped_total() >= 4, "{fault}: {:?}", a.skipped),
                    Fault::Outside => assert_eq!(a.skipped_total(), 2, "{fault}"),
                    Fault::Duplicates => assert!(a.skipped_total() > 0, "{fault}"),
                    _ => {}
                }
            }
            // slow answers outlast the client's 5 s timeout
            (true, Err(e)) if fault == Fault::Slow => assert_eq!(e.kind(), "transport", "{e}"),
            (false, Err(e)) => assert!(e.is_retryable(), "{fault}: {e}"),
            (_, other) => panic!("{fault}: {other:?}"),
        }
    }
    let stats = handle.stats();
    assert_eq!(stats.faults.len(), Fault::RECOVERABLE.len());
    assert_eq!(stats.rate_limited, 0, "the client's limiter kept the pace");
    handle.stop().await;
}

#[tokio::test]
async fn bursts_over_the_rate_limit_get_429() {
    let handle = sim(SimConfig::default()).await;
    let creds = Credentials::new(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, None, "t");
    let req = request(Source::Operation, &["online_user_count"]);
    let body = req.body();
    // the client installs the crypto provider; this test builds its own
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/?Action=ListRealTimeOperationData&Version=2020-12-01",
        handle.endpoint()
    );
    let query = vec![
        (
            "Action".to_string(),
            "ListRealTimeOperationData".to_string(),
        ),
        ("Version".to_string(), "2020-12-01".to_string()),
    ];
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let host = handle.addr.to_string();
        let headers = crate::sign::sign_post(
            &creds,
            "cn-north-1",
            &host,
            "/",
            &query,
            &body,
            chrono::Utc::now(),
        );
        let mut b = http.post(&url).body(body.clone());
        for (k, v) in headers {
            b = b.header(k, v);
        }
        statuses.push(b.send().await.unwrap().status().as_u16());
    }
    assert_eq!(&statuses[..2], [200, 200]);
    assert!(statuses[2..].iter().all(|&s| s == 429), "{statuses:?}");
    let stats = handle.stats();
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(stats.max_in_one_second["ListRealTimeOperationData"], 4);
    handle.stop().await;
}

#[test]
fn horizon_bug_a_start_a_millisecond_beyond_the_horizon_is_refused() {
    // the gateway refuses a StartTime even a fraction of a second older than
    // 60 minutes; the simulator used to compare whole seconds and let a
    // request up to 999 ms beyond the horizon through
    let start = 1_795_435_200; // 2026-11-23T12:00:00Z
    let body = |start: i64| {
        serde_json::to_vec(&json!({
            "AppId": "app1",
            "StartTime": timeutil::fmt_api(start),
            "EndTime": timeutil::fmt_api(start + 600),
            "Indicator": ["online_user_count"],
        }))
        .unwrap()
    };
    let at = |now_ms: i64| {
        let mut stats = SimStats::default();
        let ok = parse_request(
            Action::RealTimeOperationData,
            &body(start),
            now_ms,
            &mut stats,
        )
        .is_ok();
        (ok, stats)
    };
    let horizon_ms = (start + 3600) * 1000;
    let (ok, stats) = at(horizon_ms);
    assert!(ok, "exactly 60 minutes back is inside: {stats:?}");
    assert_eq!(stats.max_lookback_secs, 3600.0);
    let (ok, stats) = at(horizon_ms + 1);
    assert!(!ok, "a millisecond beyond is refused");
    assert_eq!(stats.horizon_violations, 1);
    assert_eq!(stats.max_lookback_secs, 3600.001);
    let (ok, stats) = at(horizon_ms + 999);
    assert!(!ok);
    assert_eq!(stats.horizon_violations, 1);
}

fn offline(indicators: &[&str], start: i64, end: i64) -> crate::api::QueryRequest {
    crate::api::QueryRequest {
        action: crate::series::Action::Quality,
        stream: crate::series::StreamKey::new(
            "app1",
            Some("room-1".into()),
            crate::series::UserSet::NONE,
            Source::Quality,
        ),
        product_type: None,
        indicators: indicators.iter().map(|s| s.to_string()).collect(),
        start,
        end,
    }
}

#[tokio::test]
async fn list_quality_serves_slot_means_of_the_final_values_after_the_delay() {
    let handle = sim(SimConfig::default()).await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    let now = timeutil::now();
    let delay = crate::series::Action::Quality.delay_secs();
    // two days, the last of it inside the data delay
    let start = crate::store::history::slot_floor(now - 2 * 86_400);
    let end = crate::store::history::slot_floor(now) - 300;
    let req = offline(&["stall_rate"], start, end);
    let answer = c.fetch(&req).await.unwrap().result.unwrap();
    let model = Model::default();
    assert_eq!(answer.series.len(), 2);
    for s in &answer.series {
        let key = req.stream.series(s.name.as_str());
        let expected: Vec<(i64, f64)> = (0..)
            .map(|i| start + i * 300)
            .take_while(|&t| t + 300 <= now - delay)
            .filter_map(|t| model.slot_value(&key, t).map(|v| (t, v)))
            .collect();
        assert!(expected.len() > 400, "{}", expected.len());
        assert_eq!(s.points, expected, "{}", s.name);
    }
    let stats = handle.stats();
    let seen = &stats.actions["ListQuality"];
    assert_eq!(seen.beyond_delay, 1, "reaching into the delay is counted");
    assert_eq!((seen.reach_violations, seen.span_violations), (0, 0));
    assert_eq!(stats.max_lookback_secs, 0.0, "real-time lookback untouched");
    handle.stop().await;
}

#[tokio::test]
async fn list_quality_refuses_beyond_its_reach_span_and_granularity() {
    let handle = sim(SimConfig::default()).await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    let now = timeutil::now();
    let day = 86_400;
    let refused = |r: Result<crate::api::Answer, FetchError>| match r {
        Err(FetchError::Rejected { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    // a StartTime one second beyond the 30 days
    let old = offline(&["stall_rate"], now - 30 * day - 1, now - 29 * day);
    let code = refused(c.fetch(&old).await.unwrap().result);
    assert_eq!(code, "InvalidParameter.OutofTimeRange");
    // eight days in one call
    let long = offline(&["stall_rate"], now - 20 * day, now - 12 * day);
    let code = refused(c.fetch(&long).await.unwrap().result);
    assert_eq!(code, "InvalidParameter.OutofTimeRange");
    // exactly seven days, inside the reach: served
    let week = offline(&["stall_rate"], now - 20 * day, now - 13 * day);
    c.fetch(&week).await.unwrap().result.unwrap();
    let stats = handle.stats();
    let seen = &stats.actions["ListQuality"];
    assert_eq!((seen.reach_violations, seen.span_violations), (1, 1));
    assert_eq!(stats.by_action["ListQuality"], 3);
    assert!(!stats.actions.contains_key("ListRealTimeQuality"));
    handle.stop().await;
}

#[tokio::test]
async fn serves_a_breakdown_by_dimension_value() {
    let handle = sim(SimConfig::default()).await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    let mut req = request(Source::Distribution, &["stall_rate"]);
    req.stream = crate::series::StreamKey::distribution("app1", crate::series::Dimension::Os);
    let answer = c.fetch(&req).await.unwrap().result.unwrap();
    assert!(answer.skipped.is_empty(), "{:?}", answer.skipped);
    let model = Model::default();
    let mut names = BTreeMap::new();
    for s in &answer.series {
        let value = s
            .dimension_value
            .clone()
            .expect("every point names its value");
        *names.entry(s.name.clone()).or_insert(0) += 1;
        assert!(
            model::dimension_values(crate::series::Dimension::Os).contains(&value.as_str()),
            "{value}"
        );
        let key = req.stream.series_by(s.name.as_str(), Some(value.clone()));
        let expected: Vec<i64> = (0..)
            .map(|i| req.start + i * 30)
            .take_while(|&t| t <= req.end)
            .filter(|&t| model.has_data(&key, t))
            .collect();
        let got: Vec<i64> = s.points.iter().map(|p| p.0).collect();
        assert_eq!(got, expected, "{} {value}", s.name);
        // some buckets lack the value
        assert!(expected.len() < 121, "{} {value}", s.name);
    }
    // each answered name of the family, split into the five OS values
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            ("audio_stall_rate".to_string(), 5),
            ("video_stall_rate".to_string(), 5)
        ]
    );
    handle.stop().await;
}

#[test]
fn a_breakdown_takes_one_indicator_and_a_known_dimension() {
    let now_ms = 1_795_435_200_000;
    let body = |indicator: serde_json::Value, dimension: serde_json::Value| {
        let mut b = json!({
            "AppId": "app1",
            "StartTime": timeutil::fmt_api(now_ms / 1000 - 1200),
            "EndTime": timeutil::fmt_api(now_ms / 1000 - 600),
            "Indicator": indicator,
        });
        if !dimension.is_null() {
            b["Dimension"] = dimension;
        }
        serde_json::to_vec(&b).unwrap()
    };
    let parse = |b: Vec<u8>| {
        parse_request(
            crate::series::Action::RealTimeQualityDistribution,
            &b,
            now_ms,
            &mut SimStats::default(),
        )
    };
    let ok = parse(body(json!("stall_rate"), json!("Access"))).unwrap();
    assert_eq!(ok.answered, ["audio_stall_rate", "video_stall_rate"]);
    assert_eq!(ok.stream.dimension, Some(crate::series::Dimension::Access));
    let refused = |b: Vec<u8>| format!("{:?}", parse(b).unwrap_err());
    let list = refused(body(json!(["stall_rate"]), json!("OS")));
    assert!(list.contains("InvalidParameter.Unmarshal"), "{list}");
    let missing = refused(body(json!("stall_rate"), json!(null)));
    assert!(missing.contains("MissingParameter"), "{missing}");
    let unknown = refused(body(json!("stall_rate"), json!("City")));
    assert!(
        unknown.contains("InvalidParameter") && unknown.contains("Province, Country, OS, Access"),
        "{unknown}"
    );
    let lowercase = refused(body(json!("stall_rate"), json!("os")));
    assert!(lowercase.contains("InvalidParameter"), "{lowercase}");
    let operation = refused(body(json!("online_user_count"), json!("OS")));
    assert!(operation.contains("InvalidParameter"), "{operation}");
}

fn offline_breakdown(
    indicator: &str,
    dimension: crate::series::Dimension,
    start: i64,
    end: i64,
) -> crate::api::QueryRequest {
    crate::api::QueryRequest {
        action: Action::QualityDistribution,
        stream: crate::series::StreamKey::distribution("app1", dimension),
        product_type: None,
        indicators: vec![indicator.to_string()],
        start,
        end,
    }
}

#[tokio::test]
async fn list_quality_distribution_serves_slot_means_per_value_after_the_delay() {
    // buckets without data often enough that some slots have none
    let model = Model {
        missing_per_mille: 500,
        ..Model::default()
    };
    let handle = sim(SimConfig {
        model,
        ..SimConfig::default()
    })
    .await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    let now = timeutil::now();
    let delay = Action::QualityDistribution.delay_secs();
    // two days, the last of it inside the data delay
    let start = crate::store::history::slot_floor(now - 2 * 86_400);
    let end = crate::store::history::slot_floor(now) - 300;
    let dimension = crate::series::Dimension::Access;
    let req = offline_breakdown("stall_rate", dimension, start, end);
    let answer = c.fetch(&req).await.unwrap().result.unwrap();
    assert!(answer.skipped.is_empty(), "{:?}", answer.skipped);
    let mut series = BTreeMap::new();
    for s in &answer.series {
        let value = s
            .dimension_value
            .clone()
            .expect("every item names its value");
        assert_eq!(s.unit, None, "no Unit");
        let key = req.stream.series_by(s.name.as_str(), Some(value.clone()));
        let slots: Vec<i64> = (0..)
            .map(|i| start + i * 300)
            .take_while(|&t| t + 300 <= now - delay)
            .collect();
        let expected: Vec<(i64, f64)> = slots
            .iter()
            .filter_map(|&t| model.slot_value(&key, t).map(|v| (t, v)))
            .collect();
        assert!(
            expected.len() > 200,
            "{} {value}: {}",
            s.name,
            expected.len()
        );
        assert_eq!(s.points, expected, "{} {value}", s.name);
        series.insert((s.name.clone(), value), expected.len() == slots.len());
    }
    // every answered name of the family, per documented value
    let want: Vec<(String, String)> = ["audio_stall_rate", "video_stall_rate"]
        .into_iter()
        .flat_map(|n| {
            model::dimension_values(dimension)
                .iter()
                .map(move |v| (n.to_string(), v.to_string()))
        })
        .collect();
    assert_eq!(series.keys().cloned().collect::<Vec<_>>(), {
        let mut w = want;
        w.sort();
        w
    });
    // the rarest value misses whole slots: absent, not zero
    let rare = model::dimension_values(dimension).last().unwrap();
    assert!(
        !series[&("video_stall_rate".to_string(), rare.to_string())],
        "some slot of {rare} has no value"
    );
    let stats = handle.stats();
    let seen = &stats.actions["ListQualityDistribution"];
    assert_eq!(seen.beyond_delay, 1, "reaching into the delay is counted");
    assert_eq!((seen.reach_violations, seen.span_violations), (0, 0));
    assert_eq!(stats.by_action["ListQualityDistribution"], 1);
    assert_eq!(stats.max_lookback_secs, 0.0, "real-time lookback untouched");
    handle.stop().await;
}

#[test]
fn list_quality_distribution_answers_without_granularity_and_with_a_dimension_per_item() {
    let now = 1_795_435_200 + 86_400;
    let start = now - 86_400;
    let body = serde_json::to_vec(&json!({
        "AppId": "app1",
        "StartTime": timeutil::fmt_api(start),
        "EndTime": timeutil::fmt_api(start + 3600),
        "Indicator": "5s_join_room_success_rate",
        "Dimension": "Province",
    }))
    .unwrap();
    let req = parse_request(
        Action::QualityDistribution,
        &body,
        now * 1000,
        &mut SimStats::default(),
    )
    .unwrap();
    let model = Model::default();
    let (answer, served) = answer::build_answer(
        &model,
        Action::QualityDistribution,
        &req,
        now,
        None,
        json!({}),
    );
    let result = &answer["Result"];
    assert_eq!(
        result.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["Indicators"],
        "no AggregateGranularity, RoomId or UserId: {result}"
    );
    let ind = &result["Indicators"][0];
    assert_eq!(ind["Name"], "5s_join_room_success_rate");
    assert!(
        ind.get("Unit").is_none() && ind.get("overview").is_none(),
        "{ind}"
    );
    let data = ind["Data"].as_array().unwrap();
    assert_eq!(data.len() as u64, served);
    let values = model::dimension_values(crate::series::Dimension::Province);
    for item in data {
        let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{item}");
        let value = item["Dimension"].as_str().unwrap();
        assert!(values.contains(&value), "{item}");
        let ts = timeutil::parse_rfc3339(item["TimeStamp"].as_str().unwrap()).unwrap();
        assert_eq!(ts % 300, 0, "5-minute slots: {item}");
        let key = req
            .stream
            .series_by("5s_join_room_success_rate", Some(value.to_string()));
        assert_eq!(item["Value"].as_f64(), model.slot_value(&key, ts), "{item}");
    }
    // 13 slots of [start, start + 1 h], at most one item per value
    assert!(data.len() <= 13 * values.len() && data.len() > 10 * values.len());
    assert!(
        data.iter().any(|i| i["Dimension"] == "广东"),
        "Chinese names, as answered"
    );
}

#[tokio::test]
async fn list_quality_distribution_refuses_a_list_and_beyond_its_reach_and_span() {
    let handle = sim(SimConfig::default()).await;
    let c = client(&handle, DEFAULT_SECRET_KEY);
    let now = timeutil::now();
    let day = 86_400;
    let os = crate::series::Dimension::Os;
    let refused = |r: Result<crate::api::Answer, FetchError>| match r {
        Err(FetchError::Rejected { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    // a list where one string is expected (the client sends a list when
    // given two indicators)
    let mut list = offline_breakdown("stall_rate", os, now - 2 * day, now - day);
    list.indicators.push("5s_join_room_success_rate".into());
    let code = refused(c.fetch(&list).await.unwrap().result);
    assert_eq!(code, "InvalidParameter.Unmarshal");
    // a StartTime one second beyond the 30 days
    let old = offline_breakdown("stall_rate", os, now - 30 * day - 1, now - 29 * day);
    let code = refused(c.fetch(&old).await.unwrap().result);
    assert_eq!(code, "InvalidParameter.OutofTimeRange");
    // eight days in one call
    let long = offline_breakdown("stall_rate", os, now - 20 * day, now - 12 * day);
    let code = refused(c.fetch(&long).await.unwrap().result);
    assert_eq!(code, "InvalidParameter.OutofTimeRange");
    // exactly seven days, inside the reach: served
    let week = offline_breakdown("stall_rate", os, now - 20 * day, now - 13 * day);
    let answer = c.fetch(&week).await.unwrap().result.unwrap();
    assert!(answer.points() >= 9 * 2016, "{}", answer.points());
    let stats = handle.stats();
    let seen = &stats.actions["ListQualityDistribution"];
    assert_eq!((seen.reach_violations, seen.span_violations), (1, 1));
    assert_eq!(seen.rate_limited, 0, "its own pacer kept its pace");
    assert_eq!(stats.by_action["ListQualityDistribution"], 4);
    assert!(!stats.actions.contains_key("ListQuality"));
    assert!(
        !stats
            .actions
            .contains_key("ListRealTimeQualityDistribution")
    );
    handle.stop().await;
}
