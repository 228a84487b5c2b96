//! Attribution in the report (issue 12): a stall-rate regression planted
//! in one OS of an app-wide indicator's breakdown shows up attributed to
//! that OS, in every format. The archive is built through the library with
//! fixed timestamps, as tests/report.rs does.

mod common;

use common::*;
use rtc_archiver::Source;
use rtc_archiver::series::{Dimension, StreamKey, UserSet};
use rtc_archiver::store::{OpenMode, Store, bucket_of, encode_value};
use serde_json::Value;

/// 2026-11-22T00:00:00Z: the day reported.
const DAY: i64 = 1_795_305_600;

/// The breakdown: (dimension, value, stall rate normally, on the day).
const VALUES: [(Dimension, &str, f64, f64); 7] = [
    (Dimension::Os, "android", 1.0, 1.0),
    // the planted regression: iOS only
    (Dimension::Os, "ios", 1.0, 4.0),
    (Dimension::Os, "windows", 1.2, 1.2),
    (Dimension::Os, "mac", 0.8, 0.8),
    (Dimension::Access, "wifi", 1.0, 1.75),
    (Dimension::Access, "4g", 1.1, 1.85),
    (Dimension::Access, "5g", 0.9, 1.65),
];

/// The day itself, the day before and the same weekday a week before.
fn days() -> [i64; 3] {
    [DAY - 7 * 86400, DAY - 86400, DAY]
}

fn build(path: &std::path::Path) {
    let mut store = Store::open(path, OpenMode::Create).unwrap();
    let mut rows = Vec::new();
    let app = StreamKey::new("app1", None, UserSet::NONE, Source::Quality);
    let overall = store
        .series_id(&app, "video_stall_rate", Some("%"))
        .unwrap();
    for (dimension, value, normal, on_the_day) in VALUES {
        let key = StreamKey::distribution("app1", dimension)
            .series_by("video_stall_rate", Some(value.to_string()));
        let id = store.series_id_of(&key, Some("%")).unwrap();
        for day in days() {
            let v = if day == DAY { on_the_day } else { normal };
            for i in 0..2880 {
                rows.push((id, bucket_of(day + i * 30), encode_value(v)));
            }
        }
    }
    // the app-wide indicator: the mean of the OS values
    for day in days() {
        let v = if day == DAY { 1.75 } else { 1.0 };
        for i in 0..2880 {
            rows.push((overall, bucket_of(day + i * 30), encode_value(v)));
        }
    }
    // another app's breakdown of the same indicator stays out of it
    let other = StreamKey::distribution("app2", Dimension::Os)
        .series_by("video_stall_rate", Some("android".into()));
    let id = store.series_id_of(&other, Some("%")).unwrap();
    for day in days() {
        for i in 0..2880 {
            let v = if day == DAY { 9.0 } else { 1.0 };
            rows.push((id, bucket_of(day + i * 30), encode_value(v)));
        }
    }
    store.upsert_points(&mut rows).unwrap();
}

fn report(env: &Env, format: &str) -> String {
    let out = env
        .cmd()
        .arg("--db")
        .arg(env.db())
        .args([
            "report",
            "--day",
            "2026-11-22",
            "--tz",
            "UTC",
            "--format",
            format,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_regression_planted_in_one_os_is_attributed_to_it() {
    let env = Env::new();
    build(&env.db());

    let v: Value = serde_json::from_str(&report(&env, "json")).unwrap();
    let attribution = v["attribution"].as_array().unwrap();
    let a = attribution
        .iter()
        .find(|a| {
            a["app_id"] == "app1"
                && a["indicator"] == "video_stall_rate"
                && a["trigger"] == "regression"
        })
        .unwrap_or_else(|| panic!("no attribution of the regression: {attribution:#?}"));
    assert!(
        attribution.iter().all(|a| a["app_id"] == "app1"),
        "app2 regressed only in its breakdown, which has no app-wide series: {attribution:#?}"
    );
    // the breakdown explains the app-wide regression; its values (ios
    // itself, app2's) are not regressions of their own
    let regressions = v["regressions"].as_array().unwrap();
    assert!(!regressions.is_empty());
    assert!(
        regressions.iter().all(|r| r["source"] != "distribution"),
        "{regressions:#?}"
    );
    let dims = a["dimensions"].as_array().unwrap();
    let os = dims.iter().find(|d| d["dimension"] == "OS").unwrap();
    let top = &os["values"][0];
    assert_eq!(top["value"], "ios", "{os:#}");
    assert_eq!(top["change"].as_f64(), Some(3.0));
    assert_eq!(top["previous_avg"].as_f64(), Some(1.0));
    assert!((top["data_share"].as_f64().unwrap() - 0.25).abs() < 1e-9);
    assert!(
        (top["share"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{os:#}"
    );
    // the other OS values held steady: only ios is named
    assert_eq!(os["values"].as_array().unwrap().len(), 1, "{os:#}");
    assert_eq!(os["values_seen"], 4);
    // the network types all moved alike: none stands out
    let access = dims.iter().find(|d| d["dimension"] == "Access").unwrap();
    assert_eq!(access["values"].as_array().unwrap().len(), 3, "{access:#}");
    for m in access["values"].as_array().unwrap() {
        let share = m["share"].as_f64().unwrap();
        assert!((share - 1.0 / 3.0).abs() < 0.05, "{access:#}");
    }

    let md = report(&env, "markdown");
    assert!(md.contains("## Where it moved"), "{md}");
    assert!(
        md.contains("### video_stall_rate of app1: regression against"),
        "{md}"
    );
    let ios_row = md
        .lines()
        .find(|l| l.starts_with("| OS") && l.contains("| ios"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        ios_row.contains("+3.00") && ios_row.contains("25") && ios_row.contains("100"),
        "{ios_row}"
    );

    let html = report(&env, "html");
    assert!(html.contains("<section id=\"attribution\">"), "{html}");
    assert!(html.contains("video_stall_rate by OS (%)"), "{html}");
    assert!(html.contains(">ios</text>"), "the chart names the value");

    let csv = report(&env, "csv");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let row: Vec<&str> = csv
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == "attribution" && r[col("dimension_value")] == "ios")
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!(row[col("indicator")], "video_stall_rate");
    assert_eq!(row[col("dimension")], "OS");
    assert_eq!(row[col("avg")], "4");
    assert_eq!(row[col("change")], "3");
    assert!(row[col("trigger")].starts_with("regression:"), "{row:?}");
    // a breakdown's series rows name their dimension and value
    assert!(
        csv.lines().any(
            |l| l.starts_with("series,app1,,,distribution,video_stall_rate")
                && l.contains(",Access,wifi,")
        ),
        "{csv}"
    );
}
