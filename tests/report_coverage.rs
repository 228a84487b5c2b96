//! Issue 9, item 2: a comparison needs enough of its baseline period
//! covered (a regression was declared from 6 points), every format shows
//! each comparison's coverage, and a report of today counts only the
//! buckets that are due.

mod common;

use common::*;
use rtc_archiver::Source;
use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::store::{OpenMode, Store, bucket_of, encode_value};
use serde_json::Value;

fn app_wide() -> StreamKey {
    StreamKey::new("app1", None, UserSet::NONE, Source::Quality)
}

/// Writes `value` for every bucket in `[from, to)` of `video_stall_rate`.
fn fill(env: &Env, from: i64, to: i64, value: f64) {
    let mut store = Store::open(&env.db(), OpenMode::Create).unwrap();
    let id = store
        .series_id(&app_wide(), "video_stall_rate", Some("%"))
        .unwrap();
    let mut rows = Vec::new();
    let mut ts = from - from.rem_euclid(30);
    while ts < to {
        if ts >= from {
            rows.push((id, bucket_of(ts), encode_value(value)));
        }
        ts += 30;
    }
    store.upsert_points(&mut rows).unwrap();
}

fn report(env: &Env, args: &[&str]) -> String {
    let out = env
        .cmd()
        .arg("--db")
        .arg(env.db())
        .arg("report")
        .args(args)
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
fn a_change_against_an_almost_empty_baseline_is_not_a_regression() {
    let env = Env::new();
    // the archive began 3 minutes before the hour the report compares with
    let now = now();
    let hour_ago = now - 3600;
    fill(&env, hour_ago - 180, hour_ago, 1.0);
    fill(&env, hour_ago, now - 60, 1.24);
    let v: Value = serde_json::from_str(&report(
        &env,
        &[
            "--from", "-1h", "--to", "now", "--tz", "UTC", "--format", "json",
        ],
    ))
    .unwrap();
    assert_eq!(v["regressions"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["thresholds"]["min_coverage"], 0.5);
    let s = &v["series"][0];
    // 6 points (7 if the report's clock ticked past a bucket start)
    let points = s["prev_day_count"].as_i64().unwrap();
    assert!((6..=7).contains(&points), "{s:#}");
    assert!(s["prev_day_coverage"].as_f64().unwrap() < 0.06);
    assert!(
        s["prev_day_avg"].as_f64().is_some(),
        "the average itself is shown"
    );
    assert_eq!(s["day_change"], Value::Null);
    let note = s["day_change_note"].as_str().unwrap();
    assert!(
        note.starts_with(&format!("{points} of 120 buckets then")),
        "{note}"
    );
    assert!(note.ends_with("under the 50% minimum"), "{note}");
    assert_eq!(s["regression"], false);

    // Markdown and CSV show the coverage of the comparison, and n/a
    let md = report(&env, &["--from", "-1h", "--to", "now", "--tz", "UTC"]);
    let row = md
        .lines()
        .find(|l| l.starts_with("| video_stall_rate (%)"))
        .unwrap_or_else(|| panic!("{md}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | indicator | app | room | users | count | coverage % | avg | min | max | p50 | p95 | Δ day | day cov % | ...
    assert_eq!(cells[12], "n/a", "{row}");
    assert!(["5.00", "5.83"].contains(&cells[13]), "{row}");
    assert!(md.contains("No regressions beyond the thresholds."), "{md}");
    let csv = report(
        &env,
        &[
            "--from", "-1h", "--to", "now", "--tz", "UTC", "--format", "csv",
        ],
    );
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header = r.headers().unwrap().clone();
    let row = r.records().next().unwrap().unwrap();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert!(["6", "7"].contains(&&row[col("prev_day_count")]));
    assert!(row[col("day_change_note")].contains("under the 50% minimum"));

    // a config asking for less lets the change through
    std::fs::write(
        env.path("rtc-archiver.toml"),
        "database = \"archive.db\"\n[report]\nmin_coverage = 0.01\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["--config", "rtc-archiver.toml", "report", "--from", "-1h"])
        .args(["--to", "now", "--tz", "UTC", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["regressions"].as_array().unwrap().len(), 1, "{v:#}");
}

#[test]
fn a_report_of_today_counts_only_the_buckets_that_are_due() {
    let env = Env::new();
    let now = now();
    let midnight = now - now.rem_euclid(86400);
    if now - midnight < 600 {
        // too early in the UTC day for the point of the test
        eprintln!("skipped: it is just after midnight UTC");
        return;
    }
    // everything the collector could have fetched by now (quality: 60 s)
    let due_end = now - 60 - (now - 60).rem_euclid(30);
    fill(&env, midnight, due_end, 1.0);
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let v: Value = serde_json::from_str(&report(
        &env,
        &["--day", &today, "--tz", "UTC", "--format", "json"],
    ))
    .unwrap();
    let s = &v["series"][0];
    let (count, buckets) = (s["count"].as_i64().unwrap(), s["buckets"].as_i64().unwrap());
    assert_eq!(count, (due_end - midnight) / 30);
    // a bucket or two may have come due while the test ran
    assert!(
        (count..=count + 2).contains(&buckets),
        "{count} points, {buckets} buckets"
    );
    assert!(s["coverage"].as_f64().unwrap() > 0.99, "{s:#}");
    // the period itself is still the whole day
    assert_eq!(v["period"]["buckets"], 2880);
}

/// Issue 11: where the offline 5-minute history filled what the real-time
/// collection missed, every format shows both coverages, and the averages
/// weigh a 5-minute point as its ten buckets.
#[test]
fn coverage_is_shown_at_30_s_and_with_the_5_minute_history() {
    let env = Env::new();
    // a UTC day: its first half at 30 s (value 1), its second half as
    // 5-minute history (value 4): 144 points standing for 1440 buckets
    let day = 1_795_305_600; // 2026-11-22T00:00:00Z
    fill(&env, day, day + 43_200, 1.0);
    {
        let mut store = Store::open(&env.db(), OpenMode::Existing).unwrap();
        let id = store
            .series_id(&app_wide(), "video_stall_rate", Some("%"))
            .unwrap();
        let mut rows: Vec<_> = (0..144)
            .map(|i| {
                (
                    id,
                    bucket_of(day + 43_200 + i * 300),
                    encode_value(4.0),
                    rtc_archiver::series::Resolution::FiveMinutes,
                )
            })
            .collect();
        let w = store.upsert_samples(&mut rows).unwrap();
        assert_eq!(w.new, 144);
    }
    let v: Value = serde_json::from_str(&report(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--format", "json"],
    ))
    .unwrap();
    let s = &v["series"][0];
    assert_eq!(s["count"], 1440 + 144, "{s:#}");
    assert_eq!(s["buckets"], 2880);
    assert_eq!(s["coverage"], 1.0);
    assert_eq!(s["coverage_30s"], 0.5);
    assert_eq!(s["avg"], 2.5, "weighted: half the buckets at 1, half at 4");

    let md = report(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    assert!(md.contains("100.00 (50.00 at 30 s)"), "{md}");
    let html = report(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--format", "html"],
    );
    assert!(html.contains("100.00 (50.00 at 30 s)"), "{html}");
    let csv = report(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--format", "csv"],
    );
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = r
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "series")
        .unwrap();
    assert_eq!(&row[col("coverage")], "1");
    assert_eq!(&row[col("coverage_30s")], "0.5");
}
