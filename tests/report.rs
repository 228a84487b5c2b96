//! `rtc-archiver report` on a fixture archive built through the library
//! with fixed timestamps (2026-11-14 .. 2026-11-23 UTC): numbers against
//! SQL over the `samples` view, regressions, gaps, time zones, and every
//! output format.

mod common;

use std::path::Path;

use common::*;
use rtc_archiver::Source;
use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::store::{OpenMode, Store, bucket_of, encode_value};
use rusqlite::Connection;
use serde_json::Value;

/// 2026-11-22T00:00:00Z, the day most tests report.
const DAY: i64 = 1_795_305_600;
const SHANGHAI_OFFSET: i64 = 8 * 3600;
/// The fixture holds the days 2026-11-14 .. 2026-11-23 (UTC).
const FIRST_DAY: i64 = DAY - 8 * 86400;
const DAYS: i64 = 10;

/// One fixture series: its stream, indicator, unit, and the value (in
/// hundredths) of a base per UTC day index (0 = 2026-11-14).
struct Spec {
    app: &'static str,
    room: Option<&'static str>,
    users: &'static [&'static str],
    source: Source,
    indicator: &'static str,
    unit: Option<&'static str>,
    base: fn(i64) -> i64,
    /// Added to the base: the bucket's index in its day → hundredths.
    wiggle: fn(i64) -> i64,
}

const D22: i64 = 8; // day index of 2026-11-22
const D15: i64 = 1; // day index of 2026-11-15

fn rate_wiggle(i: i64) -> i64 {
    (i * 37) % 11 - 5
}

fn count_wiggle(i: i64) -> i64 {
    (i % 50) * 100
}

const APP2: &str = "app2";
const ROOM2: &str = "r&d <lab>|1";

fn specs() -> Vec<Spec> {
    vec![
        // +1.00 pp on 2026-11-22 against the day before and the week before
        Spec {
            app: "app1",
            room: None,
            users: &[],
            source: Source::Quality,
            indicator: "video_stall_rate",
            unit: Some("%"),
            base: |d| if d == D22 { 200 } else { 100 },
            wiggle: rate_wiggle,
        },
        // +0.10 pp: within the default threshold of 0.2
        Spec {
            app: "app1",
            room: None,
            users: &[],
            source: Source::Quality,
            indicator: "audio_stall_rate",
            unit: Some("%"),
            base: |d| if d == D22 { 60 } else { 50 },
            wiggle: rate_wiggle,
        },
        // −0.50 pp of a success rate
        Spec {
            app: "app1",
            room: None,
            users: &[],
            source: Source::Quality,
            indicator: "5s_join_room_success_rate",
            unit: Some("%"),
            base: |d| if d == D22 { 9850 } else { 9900 },
            wiggle: rate_wiggle,
        },
        // halves, but counts have no direction
        Spec {
            app: "app1",
            room: None,
            users: &[],
            source: Source::Operation,
            indicator: "online_user_count",
            unit: None,
            base: |d| if d == D22 { 50_000 } else { 100_000 },
            wiggle: count_wiggle,
        },
        // the same as the day before, but +0.70 pp against the week before
        Spec {
            app: "app1",
            room: Some("room-1"),
            users: &["u2", "u1"],
            source: Source::Quality,
            indicator: "video_stall_rate",
            unit: Some("%"),
            base: |d| if d == D15 { 130 } else { 200 },
            wiggle: rate_wiggle,
        },
        // steady, with names that need escaping, and gaps in the ledger
        Spec {
            app: APP2,
            room: Some(ROOM2),
            users: &[],
            source: Source::Quality,
            indicator: "network_trans_delay",
            unit: Some("%"),
            base: |_| 500,
            wiggle: rate_wiggle,
        },
    ]
}

fn key(s: &Spec) -> StreamKey {
    StreamKey::new(
        s.app,
        s.room.map(str::to_string),
        UserSet::new(s.users.iter()).unwrap(),
        s.source,
    )
}

/// Whether the fixture leaves a bucket empty (a few per day, and the app2
/// stream inside its gaps).
fn missing(s: &Spec, ts: i64) -> bool {
    let i = (ts - FIRST_DAY).rem_euclid(86400) / 30;
    i % 97 == 13 || (s.app == APP2 && gap_rows().iter().any(|g| g.1 <= ts && ts < g.2))
}

/// Gaps of the app2 stream: (requested indicator, start, end, cause).
fn gap_rows() -> Vec<(&'static str, i64, i64, &'static str)> {
    vec![
        // inside 2026-11-22: 10:00–11:00 and 10:30–11:30 → 5400 s
        (
            "network_trans_delay",
            DAY + 10 * 3600,
            DAY + 11 * 3600,
            "fetch_failed",
        ),
        (
            "other_indicator",
            DAY + 10 * 3600 + 1800,
            DAY + 11 * 3600 + 1800,
            "not_collected",
        ),
        // across midnight into 2026-11-23: 1800 s of 2026-11-22 (UTC)
        (
            "network_trans_delay",
            DAY + 86400 - 1800,
            DAY + 86400 + 1800,
            "not_collected",
        ),
        // on 2026-11-20: outside
        (
            "network_trans_delay",
            DAY - 2 * 86400,
            DAY - 2 * 86400 + 600,
            "fetch_failed",
        ),
    ]
}

fn build_fixture(path: &Path) {
    let mut store = Store::open(path, OpenMode::Create).unwrap();
    let mut rows = Vec::new();
    for s in specs() {
        let id = store.series_id(&key(&s), s.indicator, s.unit).unwrap();
        for day in 0..DAYS {
            for i in 0..2880 {
                let ts = FIRST_DAY + day * 86400 + i * 30;
                if missing(&s, ts) {
                    continue;
                }
                let h = (s.base)(day) + (s.wiggle)(i);
                rows.push((id, bucket_of(ts), encode_value(h as f64 / 100.0)));
            }
        }
    }
    store.upsert_points(&mut rows).unwrap();
    let app2 = specs().into_iter().find(|s| s.app == APP2).unwrap();
    let stream = store.stream_id(&key(&app2)).unwrap();
    for (ind, a, b, cause) in gap_rows() {
        store
            .conn()
            .execute(
                "INSERT INTO gap_log (stream_id, indicator, start_ts, end_ts, cause, detail, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'fixture', ?4)",
                rusqlite::params![stream, ind, a, b, cause],
            )
            .unwrap();
    }
}

fn fixture() -> Env {
    let env = Env::new();
    build_fixture(&env.db());
    env
}

fn report(env: &Env, args: &[&str]) -> String {
    let db = env.db();
    let out = env
        .cmd()
        .arg("--db")
        .arg(&db)
        .arg("report")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn report_json(env: &Env, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    serde_json::from_str(&report(env, &a)).unwrap()
}

/// The series object of a JSON report for (app, room, indicator).
fn find<'a>(v: &'a Value, app: &str, room: Option<&str>, indicator: &str) -> &'a Value {
    v["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["app_id"] == app && s["room_id"].as_str() == room && s["indicator"] == indicator
        })
        .unwrap_or_else(|| panic!("no series {app} {room:?} {indicator}"))
}

/// Values of a series over [from, to) from the samples view, in time order.
fn sql_values(conn: &Connection, s: &Value, from: i64, to: i64) -> Vec<f64> {
    let mut stmt = conn
        .prepare(
            "SELECT value FROM samples WHERE app_id = ?1 AND room_id IS ?2 AND user_ids IS ?3
             AND source = ?4 AND indicator = ?5 AND ts >= ?6 AND ts < ?7 ORDER BY ts",
        )
        .unwrap();
    stmt.query_map(
        rusqlite::params![
            s["app_id"].as_str(),
            s["room_id"].as_str(),
            s["user_ids"].as_str(),
            s["source"].as_str(),
            s["indicator"].as_str(),
            from,
            to
        ],
        |r| r.get(0),
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// count, avg, min, max of a series over [from, to) computed by SQLite.
fn sql_stats(conn: &Connection, s: &Value, from: i64, to: i64) -> (i64, f64, f64, f64) {
    conn.query_row(
        "SELECT count(*), avg(value), min(value), max(value) FROM samples
         WHERE app_id = ?1 AND room_id IS ?2 AND user_ids IS ?3 AND source = ?4
         AND indicator = ?5 AND ts >= ?6 AND ts < ?7",
        rusqlite::params![
            s["app_id"].as_str(),
            s["room_id"].as_str(),
            s["user_ids"].as_str(),
            s["source"].as_str(),
            s["indicator"].as_str(),
            from,
            to
        ],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

/// The reference percentile: sort, then interpolate linearly between the
/// closest ranks (written here independently of the crate's).
fn reference_percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = p / 100.0 * (v.len() as f64 - 1.0);
    let below = pos.floor();
    let i = below as usize;
    if i + 1 >= v.len() {
        return v[v.len() - 1];
    }
    v[i] * (1.0 - (pos - below)) + v[i + 1] * (pos - below)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Checks every series of a JSON report against SQL over its period.
fn assert_matches_sql(env: &Env, v: &Value) -> usize {
    let conn = env.conn();
    let (from, to) = (
        v["period"]["from"].as_i64().unwrap(),
        v["period"]["to"].as_i64().unwrap(),
    );
    let prev = &v["period"]["previous_day"];
    let (pfrom, pto) = (prev["from"].as_i64().unwrap(), prev["to"].as_i64().unwrap());
    let series = v["series"].as_array().unwrap();
    for s in series {
        let (count, avg, min, max) = sql_stats(&conn, s, from, to);
        assert_eq!(s["count"].as_i64().unwrap(), count, "{s}");
        assert!(close(f(&s["avg"]), avg), "avg {} vs {avg}: {s}", s["avg"]);
        assert!(close(f(&s["min"]), min), "{s}");
        assert!(close(f(&s["max"]), max), "{s}");
        let buckets = (to - from) / 30;
        assert_eq!(s["buckets"].as_i64().unwrap(), buckets);
        assert!(close(f(&s["coverage"]), count as f64 / buckets as f64));
        let values = sql_values(&conn, s, from, to);
        assert!(close(f(&s["p50"]), reference_percentile(&values, 50.0)));
        assert!(close(f(&s["p95"]), reference_percentile(&values, 95.0)));
        let (_, prev_avg, _, _) = sql_stats(&conn, s, pfrom, pto);
        assert!(close(f(&s["prev_day_avg"]), prev_avg), "{s}");
        assert!(close(f(&s["day_change"]), avg - prev_avg), "{s}");
    }
    series.len()
}

#[test]
fn numbers_match_sql_over_the_samples_view() {
    let env = fixture();
    let v = report_json(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    assert_eq!(v["period"]["from"], DAY);
    assert_eq!(v["period"]["to"], DAY + 86400);
    assert_eq!(v["no_data"], false);
    assert_eq!(assert_matches_sql(&env, &v), specs().len());
    // a few numbers by hand: 2880 buckets, 30 of them left empty
    let video = find(&v, "app1", None, "video_stall_rate");
    assert_eq!(video["count"], 2850);
    assert_eq!(video["buckets"], 2880);
    assert_eq!(video["gap_seconds"], 0);
    assert_eq!(video["direction"], "lower_is_better");
    assert!(close(f(&video["day_change"]), 1.0));
    assert!(close(f(&video["week_change"]), 1.0));
    let users = find(&v, "app1", None, "online_user_count");
    assert_eq!(users["direction"], "none");
    assert_eq!(users["regression"], false);
    assert!(f(&users["day_change"]) < -400.0);
}

#[test]
fn a_range_is_compared_with_the_period_just_before() {
    let env = fixture();
    let v = report_json(
        &env,
        &[
            "--from",
            "2026-11-22T06:00:00Z",
            "--to",
            "2026-11-22T12:00:00Z",
            "--tz",
            "UTC",
        ],
    );
    let p = &v["period"];
    assert_eq!(p["day"], Value::Null);
    assert_eq!(p["buckets"], 720);
    assert_eq!(p["previous_day"]["from"], DAY);
    assert_eq!(p["previous_day"]["to"], DAY + 6 * 3600);
    assert_eq!(p["previous_week"]["from"], DAY + 6 * 3600 - 7 * 86400);
    assert_matches_sql(&env, &v);
}

#[test]
fn days_start_at_midnight_in_the_zone() {
    let env = fixture();
    let utc = report_json(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    let sh = report_json(&env, &["--day", "2026-11-22", "--tz", "Asia/Shanghai"]);
    // a day in Shanghai starts at 16:00 UTC the day before
    assert_eq!(sh["period"]["from"], DAY - SHANGHAI_OFFSET);
    assert_eq!(sh["period"]["to"], DAY + 86400 - SHANGHAI_OFFSET);
    assert_eq!(sh["period"]["from_time"], "2026-11-22T00:00:00+08:00");
    assert_eq!(sh["period"]["tz"], "Asia/Shanghai");
    assert_eq!(
        sh["period"]["previous_week"]["from"],
        DAY - SHANGHAI_OFFSET - 7 * 86400
    );
    assert_matches_sql(&env, &sh);
    // the Shanghai day holds 8 hours of 2026-11-21 (UTC) at the old level
    let a = f(&find(&utc, "app1", None, "video_stall_rate")["avg"]);
    let b = f(&find(&sh, "app1", None, "video_stall_rate")["avg"]);
    assert!((a - 2.0).abs() < 0.01 && (b - (2.0 * 16.0 + 8.0) / 24.0).abs() < 0.01);
    // the gap across UTC midnight is outside the Shanghai day
    assert_eq!(
        find(&utc, APP2, Some(ROOM2), "network_trans_delay")["gap_seconds"],
        7200
    );
    assert_eq!(
        find(&sh, APP2, Some(ROOM2), "network_trans_delay")["gap_seconds"],
        5400
    );
    // the markdown names the zone and the local period
    let md = report(&env, &["--day", "2026-11-22", "--tz", "Asia/Shanghai"]);
    assert!(
        md.starts_with("# RTC report for 2026-11-22 (Asia/Shanghai)"),
        "{md}"
    );
    assert!(
        md.contains("2026-11-22T00:00:00+08:00 to 2026-11-23T00:00:00+08:00"),
        "{md}"
    );
}

#[test]
fn regressions_come_first_worst_first() {
    let env = fixture();
    let v = report_json(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    let regs = v["regressions"].as_array().unwrap();
    let names: Vec<(&str, Option<&str>, &str)> = regs
        .iter()
        .map(|r| {
            (
                r["indicator"].as_str().unwrap(),
                r["room_id"].as_str(),
                r["against"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("video_stall_rate", None, "previous_day"),
            ("video_stall_rate", Some("room-1"), "previous_week"),
            ("5s_join_room_success_rate", None, "previous_day"),
        ]
    );
    assert!(close(f(&regs[0]["worsening"]), 1.0));
    assert!(close(f(&regs[0]["change"]), 1.0));
    assert!(close(f(&regs[1]["worsening"]), 0.7));
    assert!(close(f(&regs[2]["change"]), -0.5));
    assert!(close(f(&regs[2]["worsening"]), 0.5));
    // +0.1 pp is within the default 0.2
    let audio = find(&v, "app1", None, "audio_stall_rate");
    assert_eq!(audio["regression"], false);
    assert!(close(f(&audio["day_change"]), 0.1));
    assert_eq!(v["thresholds"]["default"], 0.2);

    let md = report(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    let regressions = md.find("## Regressions").unwrap();
    let all = md.find("## All series").unwrap();
    assert!(regressions < all);
    let section = &md[regressions..all];
    let first = section.find("**video_stall_rate**").unwrap();
    let success = section.find("**5s_join_room_success_rate**").unwrap();
    assert!(first < success, "{section}");
    assert!(section.contains("+1.00 pp"), "{section}");
    assert!(section.contains("-0.50 pp"), "{section}");
    assert!(!section.contains("audio_stall_rate"), "{section}");

    // a lower threshold catches the audio stall rate; a higher one only the worst
    let low = report_json(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--threshold", "0.05"],
    );
    let low_names: Vec<&str> = low["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["indicator"].as_str().unwrap())
        .collect();
    assert_eq!(low_names.len(), 4, "{low_names:?}");
    assert_eq!(low_names[3], "audio_stall_rate");
    assert_eq!(low["thresholds"]["default"], 0.05);
    let high = report_json(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--threshold", "0.8"],
    );
    assert_eq!(high["regressions"].as_array().unwrap().len(), 1);
    let none = report(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--threshold", "5"],
    );
    assert!(
        none.contains("No regressions beyond the thresholds."),
        "{none}"
    );
}

#[test]
fn gaps_in_the_ledger_show_up() {
    let env = fixture();
    let v = report_json(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    let delay = find(&v, APP2, Some(ROOM2), "network_trans_delay");
    assert_eq!(delay["gap_seconds"], 7200);
    assert!(close(f(&delay["gap_share"]), 7200.0 / 86400.0));
    let gaps = v["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1);
    let intervals = gaps[0]["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 2);
    assert_eq!(intervals[0]["start"], DAY + 10 * 3600);
    assert_eq!(intervals[0]["end"], DAY + 11 * 3600 + 1800);
    assert_eq!(
        intervals[0]["causes"],
        serde_json::json!(["fetch_failed", "not_collected"])
    );
    assert_eq!(intervals[1]["end"], DAY + 86400);
    let md = report(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    let gaps_md = &md[md.find("## Gaps").unwrap()..];
    assert!(gaps_md.contains("| 7200 | 8.33 |"), "{gaps_md}");
    assert!(
        gaps_md.contains("10:00:00–11:30:00 (fetch_failed, not_collected)"),
        "{gaps_md}"
    );
    assert!(
        gaps_md.contains("23:30:00–24:00:00 (not_collected)"),
        "{gaps_md}"
    );
    // other streams have none
    assert_eq!(find(&v, "app1", None, "video_stall_rate")["gap_seconds"], 0);
}

#[test]
fn markdown_snapshot() {
    let env = fixture();
    let md = report(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    insta::assert_snapshot!("markdown_2026_11_22_utc", md);
}

#[test]
fn json_snapshot() {
    let env = fixture();
    let json = report(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--format", "json"],
    );
    insta::assert_snapshot!("json_2026_11_22_utc", json);
}

#[test]
fn csv_has_one_row_per_series_with_the_json_keys() {
    let env = fixture();
    let text = report(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--format", "csv"],
    );
    let v = report_json(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let keys: Vec<&String> = v["series"][0].as_object().unwrap().keys().collect();
    for k in keys {
        assert!(header.contains(k), "CSV lacks {k}: {header:?}");
    }
    let all: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // issue 13: the incidents come first, one row each (record = incident),
    // then one row per series (record = series)
    let incidents = v["incidents"].as_array().unwrap().len();
    assert!(
        all[..incidents]
            .iter()
            .all(|r| &r[col("record")] == "incident")
    );
    let rows: Vec<&csv::StringRecord> = all[incidents..].iter().collect();
    assert!(rows.iter().all(|r| &r[col("record")] == "series"));
    assert_eq!(rows.len(), specs().len());
    let room2 = rows.iter().find(|r| &r[col("app_id")] == APP2).unwrap();
    assert_eq!(&room2[col("room_id")], ROOM2);
    assert_eq!(&room2[col("gap_seconds")], "7200");
    let app_wide = rows
        .iter()
        .find(|r| &r[col("indicator")] == "online_user_count")
        .unwrap();
    assert_eq!(&app_wide[col("room_id")], "");
    assert_eq!(&app_wide[col("direction")], "none");
}

/// Checks that every element opened is closed in order (void elements are
/// written self-closing), and returns the element names seen.
fn assert_balanced(html: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let end = rest.find('>').expect("unterminated tag");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name.trim(), "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(!name.is_empty(), "odd tag <{tag}>");
        seen.push(name.clone());
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "never closed: {stack:?}");
    seen
}

#[test]
fn html_is_one_well_formed_self_contained_file_with_a_chart_per_indicator() {
    let env = fixture();
    let html = report(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--format", "html"],
    );
    assert!(html.starts_with("<!DOCTYPE html>"));
    let tags = assert_balanced(&html);
    // one chart per indicator
    let v = report_json(&env, &["--day", "2026-11-22", "--tz", "UTC"]);
    let indicators: std::collections::BTreeSet<&str> = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["indicator"].as_str().unwrap())
        .collect();
    assert_eq!(indicators.len(), 5);
    assert_eq!(
        tags.iter().filter(|t| *t == "svg").count(),
        indicators.len()
    );
    assert_eq!(html.matches("<svg").count(), indicators.len());
    for ind in &indicators {
        assert!(
            html.contains(&format!("<figcaption>{ind}</figcaption>")),
            "{ind}"
        );
    }
    // nothing fetched from elsewhere: the only URL is the SVG namespace
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for banned in [
        "http://", "https://", "<script", "<link", "@import", "url(", "<img", "<iframe",
    ] {
        assert!(!without_ns.contains(banned), "the HTML contains {banned}");
    }
    // user data is escaped
    assert!(html.contains("r&amp;d &lt;lab&gt;|1"));
    assert!(!html.contains("<lab>"));
    // regressions at the top, highlighted, before the charts and the tables
    let reg = html.find("<section id=\"regressions\">").unwrap();
    let charts = html.find("<section id=\"charts\">").unwrap();
    let series = html.find("<section id=\"series\">").unwrap();
    assert!(reg < charts && charts < series);
    assert!(html[reg..charts].contains("class=\"regressions\""));
    assert_eq!(html.matches("<tr class=\"regression\">").count(), 3);
    // time labels in the zone, the unit on the y axis
    assert!(html.contains("\n12:00\n</text>"), "no HH:MM labels");
    assert!(html.contains("\n%\n</text>"), "no unit on the y axis");
    assert!(html.contains("\ntime (UTC)\n</text>"));
    // small enough to mail: downsampled lines
    assert!(html.len() < 400_000, "{} bytes", html.len());
}

#[test]
fn out_writes_the_file_atomically_and_prints_nothing() {
    let env = fixture();
    let path = env.path("reports").join("2026-11-22.html");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    env.cmd()
        .arg("--db")
        .arg(env.db())
        .args(["report", "--day", "2026-11-22", "--tz", "UTC", "--out"])
        .arg(&path)
        .assert()
        .success()
        .stdout("");
    let html = read(&path);
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "format from the extension"
    );
    assert!(html.ends_with("</html>\n"));
    // only the report in the directory: no temporary file left behind
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "a report is for publishing: {mode:o}");
    }

    let json = env.path("r.json");
    env.cmd()
        .arg("--db")
        .arg(env.db())
        .args(["report", "--day", "2026-11-22", "--tz", "UTC", "--out"])
        .arg(&json)
        .assert()
        .success()
        .stdout("");
    let v: Value = serde_json::from_str(&read(&json)).unwrap();
    assert_eq!(v["series"].as_array().unwrap().len(), specs().len());
    let md = env.path("r.md");
    env.cmd()
        .arg("--db")
        .arg(env.db())
        .args(["report", "--day", "2026-11-22", "--tz", "UTC", "--out"])
        .arg(&md)
        .assert()
        .success();
    assert!(read(&md).starts_with("# RTC report"));
}

#[test]
fn a_period_without_data_says_so_plainly() {
    let env = fixture();
    let md = report(&env, &["--day", "2026-12-25", "--tz", "UTC"]);
    let db = env.db().display().to_string();
    assert!(
        md.contains(&format!(
            "No data for 2026-12-25 (UTC) in {db}: nothing was archived in this period."
        )),
        "{md}"
    );
    assert!(!md.contains("| indicator"), "no empty tables: {md}");
    let v = report_json(&env, &["--day", "2026-12-25", "--tz", "UTC"]);
    assert_eq!(v["no_data"], true);
    assert_eq!(v["series"], serde_json::json!([]));
    assert_eq!(v["regressions"], serde_json::json!([]));
    let html = report(
        &env,
        &["--day", "2026-12-25", "--tz", "UTC", "--format", "html"],
    );
    assert_balanced(&html);
    assert!(html.contains("nothing was archived in this period."));
    assert!(!html.contains("<svg"));
    // filters that match nothing are no data too
    let v = report_json(
        &env,
        &["--day", "2026-11-22", "--tz", "UTC", "--app", "nobody"],
    );
    assert_eq!(v["no_data"], true);
}

#[test]
fn the_config_gives_the_zone_and_per_indicator_thresholds() {
    let env = fixture();
    let config = env.path("rtc-archiver.toml");
    std::fs::write(
        &config,
        "database = \"archive.db\"\ntimezone = \"Asia/Shanghai\"\n\n[report]\nthreshold = 0.3\n\n\
         [report.thresholds]\n\"*stall_rate\" = 0.5\n",
    )
    .unwrap();
    let run = |extra: &[&str]| -> Value {
        let out = env
            .cmd()
            .args([
                "--config",
                "rtc-archiver.toml",
                "report",
                "--day",
                "2026-11-22",
            ])
            .args(["--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = run(&[]);
    assert_eq!(v["period"]["tz"], "Asia/Shanghai");
    assert_eq!(v["thresholds"]["default"], 0.3);
    assert_eq!(v["thresholds"]["overrides"][0]["pattern"], "*stall_rate");
    // in Shanghai the day mixes 8 hours of the day before: +0.67 pp, +0.47 pp
    // against the week before, -0.33 pp
    let regs: Vec<(&str, Option<&str>)> = v["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["indicator"].as_str().unwrap(), r["room_id"].as_str()))
        .collect();
    assert_eq!(
        regs,
        [
            ("video_stall_rate", None),
            ("5s_join_room_success_rate", None)
        ]
    );
    assert_eq!(find(&v, "app1", None, "audio_stall_rate")["threshold"], 0.5);
    // --threshold replaces the default, not the overrides
    let v = run(&["--threshold", "0.4"]);
    let regs: Vec<&str> = v["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["indicator"].as_str().unwrap())
        .collect();
    assert_eq!(regs, ["video_stall_rate"]);
    // --tz wins over the config
    let v = run(&["--tz", "UTC"]);
    assert_eq!(v["period"]["from"], DAY);
}

#[test]
fn filters_select_series() {
    let env = fixture();
    let v = report_json(
        &env,
        &[
            "--day",
            "2026-11-22",
            "--tz",
            "UTC",
            "--indicator",
            "*_stall_rate",
            "--room",
            "room-1",
        ],
    );
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["user_ids"], "u1,u2");
    assert_eq!(v["regressions"].as_array().unwrap().len(), 1);
}

#[test]
fn the_default_day_is_yesterday_in_the_zone() {
    let env = fixture();
    let yesterday = || {
        (chrono::Utc::now().date_naive() - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string()
    };
    let before = yesterday();
    let v = report_json(&env, &["--tz", "UTC"]);
    let after = yesterday();
    let day = v["period"]["day"].as_str().unwrap();
    assert!(day == before || day == after, "{day}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let env = fixture();
    let run = |args: &[&str]| {
        env.cmd()
            .arg("--db")
            .arg(env.db())
            .arg("report")
            .args(args)
            .assert()
            .code(2)
    };
    run(&["--day", "22.11.2026"]);
    run(&["--from", "2026-11-22", "--to", "2026-11-21"]);
    run(&["--day", "2026-11-22", "--tz", "Mars/Olympus"]);
    run(&["--day", "2026-11-22", "--threshold", "-1"]);
    run(&[
        "--day",
        "2026-11-22",
        "--from",
        "2026-11-21",
        "--to",
        "2026-11-22",
    ]);
}
