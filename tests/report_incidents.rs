//! Issue 13: the report finds incidents in generated history with daily
//! and weekly seasonality and noise: a planted 30-minute incident with its
//! start within 5 minutes, none on a normal day, none below the traffic
//! floor, listed first in every format.

mod common;

use common::*;
use rtc_archiver::Source;
use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::store::{OpenMode, Store, bucket_of, encode_value};
use serde_json::Value;

/// 2026-11-22T00:00:00Z, a Sunday: the day with the incident.
const DAY: i64 = 1_795_305_600;
/// The planted incident: 20:10–20:40, 2 pp more stalls.
const PLANT: (i64, i64) = (DAY + 20 * 3600 + 600, DAY + 20 * 3600 + 2400);
/// A night-time one, 03:00–03:30, when the app has few users.
const NIGHT: (i64, i64) = (DAY + 3 * 3600, DAY + 3 * 3600 + 1800);
const WEEKS: i64 = 5;

/// xorshift and Box–Muller: the same history on every run.
struct Noise(u64);

impl Noise {
    fn normal(&mut self) -> f64 {
        let mut u = || {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (a, b) = (u(), u());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}

fn seasonal(ts: i64, amplitude: f64) -> f64 {
    let hour = ts.rem_euclid(86400) as f64 / 3600.0;
    amplitude * ((hour - 14.0) / 24.0 * std::f64::consts::TAU).sin()
}

fn weekend(ts: i64) -> bool {
    (ts.div_euclid(86400) + 3).rem_euclid(7) >= 5
}

/// Five weeks before DAY and DAY itself: two stall rates (app1 with the
/// incidents, app2 without), and app1's users online.
fn build(env: &Env) {
    let mut store = Store::open(&env.db(), OpenMode::Create).unwrap();
    let key = |app: &str, source| StreamKey::new(app, None, UserSet::NONE, source);
    let stall1 = store
        .series_id(&key("app1", Source::Quality), "video_stall_rate", Some("%"))
        .unwrap();
    let stall2 = store
        .series_id(&key("app2", Source::Quality), "video_stall_rate", Some("%"))
        .unwrap();
    let users = store
        .series_id(&key("app1", Source::Operation), "online_user_count", None)
        .unwrap();
    let mut noise = Noise(2026);
    let mut rows = Vec::new();
    let mut ts = DAY - WEEKS * 7 * 86400;
    while ts < DAY + 86400 {
        let week = if weekend(ts) { 0.3 } else { 0.0 };
        let mut a = 1.5 + seasonal(ts, 0.8) + week + 0.3 * noise.normal();
        if (PLANT.0..PLANT.1).contains(&ts) || (NIGHT.0..NIGHT.1).contains(&ts) {
            a += 2.0;
        }
        let b = 1.0 + seasonal(ts, 0.5) + week + 0.2 * noise.normal();
        let u = 5000.0 + seasonal(ts, 4500.0) + 50.0 * noise.normal();
        let rate = |v: f64| encode_value((v.max(0.0) * 100.0).round() / 100.0);
        rows.push((stall1, bucket_of(ts), rate(a)));
        rows.push((stall2, bucket_of(ts), rate(b)));
        rows.push((users, bucket_of(ts), encode_value(u.round())));
        ts += 30;
    }
    store.upsert_points(&mut rows).unwrap();
}

fn run(env: &Env, args: &[&str]) -> String {
    let out = env.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn report(env: &Env, day: &str, format: &str) -> String {
    let db = env.db().display().to_string();
    run(
        env,
        &[
            "--db", &db, "report", "--day", day, "--tz", "UTC", "--format", format,
        ],
    )
}

#[test]
fn the_planted_incident_is_found_and_a_normal_day_has_none() {
    let env = Env::new();
    build(&env);
    let v: Value = serde_json::from_str(&report(&env, "2026-11-22", "json")).unwrap();
    let incidents = v["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    // worst first: both are 2 pp, the evening one against a higher spread
    for i in incidents {
        assert_eq!(i["app_id"], "app1");
        assert_eq!(i["indicator"], "video_stall_rate");
    }
    let evening = incidents
        .iter()
        .find(|i| i["start_ts"].as_i64().unwrap() > DAY + 12 * 3600)
        .unwrap();
    let start = evening["start_ts"].as_i64().unwrap();
    let end = evening["end_ts"].as_i64().unwrap();
    assert!((start - PLANT.0).abs() <= 300, "start {}", start - PLANT.0);
    assert!((end - PLANT.1).abs() <= 300, "end {}", end - PLANT.1);
    assert_eq!(evening["duration_s"].as_i64().unwrap(), end - start);
    assert!(f(&evening["deviation"]) > 1.0);
    assert!(f(&evening["peak"]) > f(&evening["baseline"]) + 1.0);
    // exactly the documented keys: identity as in `series`, then the incident
    let mut keys: Vec<&str> = evening
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = [
        "app_id",
        "room_id",
        "user_ids",
        "source",
        "indicator",
        "start",
        "end",
        "start_ts",
        "end_ts",
        "peak",
        "baseline",
        "deviation",
        "duration_s",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(evening["start"], rfc3339(start));
    assert_eq!(evening["end"], rfc3339(end));

    // a normal day: none, for either series
    let v: Value = serde_json::from_str(&report(&env, "2026-11-21", "json")).unwrap();
    assert_eq!(
        v["incidents"],
        serde_json::json!([]),
        "{:#}",
        v["incidents"]
    );
    let md = report(&env, "2026-11-21", "markdown");
    assert!(md.contains("No incidents: every series stayed within its usual range."));
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

#[test]
fn incidents_come_first_in_every_format() {
    let env = Env::new();
    build(&env);
    let md = report(&env, "2026-11-22", "markdown");
    let incidents = md.find("## Incidents").unwrap();
    let regressions = md.find("## Regressions").unwrap();
    assert!(incidents < regressions, "{md}");
    assert!(md[incidents..regressions].contains("| **video_stall_rate** | app1 |"));
    assert!(md[incidents..regressions].contains("30 min"), "{md}");

    let html = report(&env, "2026-11-22", "html");
    let a = html.find("<section id=\"incidents\">").unwrap();
    let b = html.find("<section id=\"regressions\">").unwrap();
    assert!(a < b);
    assert!(html[a..b].contains("<table class=\"incidents\">"));
    // on the chart: the incident's stretch shaded, the normal band drawn,
    // the series emphasised in the legend
    let chart = &html[html
        .find("<figcaption>video_stall_rate</figcaption>")
        .unwrap()..];
    assert!(chart.contains("normal band"), "no band in the key");
    assert!(chart.contains("<li class=\"emphasis\">"));
    assert!(chart.contains("(2 incidents)"), "the legend names them");
    assert!(
        chart.contains("opacity=\"0.12\" fill=\"#D62728\""),
        "no shaded incident"
    );
    assert!(chart.contains("<polygon"), "no band");

    let csv = report(&env, "2026-11-22", "csv");
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    assert_eq!(&rows[0][col("record")], "incident");
    assert_eq!(&rows[1][col("record")], "incident");
    assert_eq!(&rows[2][col("record")], "series");
    assert_eq!(&rows[0][col("indicator")], "video_stall_rate");
    assert!(!rows[0][col("start_ts")].is_empty() && rows[2][col("start_ts")].is_empty());
}

#[test]
fn the_traffic_floor_keeps_quiet_hours_quiet() {
    let env = Env::new();
    build(&env);
    // at 03:00 the app has about 3,500 users online, at 20:00 about 9,500
    std::fs::write(
        env.path("rtc-archiver.toml"),
        "database = \"archive.db\"\n[report.incidents]\nmin_users = 5000\n",
    )
    .unwrap();
    let out = run(
        &env,
        &[
            "--config",
            "rtc-archiver.toml",
            "report",
            "--day",
            "2026-11-22",
            "--tz",
            "UTC",
            "--format",
            "json",
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let starts: Vec<i64> = v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["start_ts"].as_i64().unwrap())
        .collect();
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert!((starts[0] - PLANT.0).abs() <= 300);
    assert_eq!(v["incident_rule"]["min_users"], 5000.0);
}

/// The legend entries of one chart: (colour, label, emphasised).
fn legend(html: &str, indicator: &str) -> Vec<(String, String, bool)> {
    let at = html
        .find(&format!("<figcaption>{indicator}</figcaption>"))
        .unwrap();
    let fig = &html[at..at + html[at..].find("</figure>").unwrap()];
    let list = &fig[fig.find("<ul class=\"legend\">").unwrap()..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<li")
        .skip(1)
        .map(|li| {
            let colour = li.split("background:").nth(1).unwrap()[..7].to_string();
            let label = li.split("</span>").nth(1).unwrap();
            let label = label.split('<').next().unwrap().to_string();
            (colour, label, li.starts_with(" class=\"emphasis\""))
        })
        .collect()
}

/// The chart's `<svg>` of an indicator.
fn svg<'a>(html: &'a str, indicator: &str) -> &'a str {
    let at = html
        .find(&format!("<figcaption>{indicator}</figcaption>"))
        .unwrap();
    let s = &html[at..];
    &s[s.find("<svg").unwrap()..s.find("</svg>").unwrap()]
}

#[test]
fn html_charts_keep_colours_round_ticks_and_honest_legends() {
    // issue 9, item 15
    let env = Env::new();
    build(&env);
    let html = report(&env, "2026-11-22", "html");
    // the same app, room and users: the same colour in every chart
    let stalls = legend(&html, "video_stall_rate");
    let users = legend(&html, "online_user_count");
    let app1 = |l: &[(String, String, bool)]| l.iter().find(|e| e.1 == "app1").unwrap().0.clone();
    assert_eq!(app1(&stalls), app1(&users));
    let app2 = stalls.iter().find(|e| e.1 == "app2").unwrap();
    assert_ne!(app2.0, app1(&stalls));
    // the series with incidents first and emphasised: thicker, on top
    assert_eq!(stalls[0].1, "app1");
    assert!(stalls[0].2 && !app2.2);
    let chart = svg(&html, "video_stall_rate");
    let thick = chart.rfind("stroke-width=\"3\"").unwrap();
    let thin = chart.rfind("stroke-width=\"2\"").unwrap();
    assert!(thick > thin, "the emphasised line is drawn last");
    // full width: scaled by the page, not a fixed pixel size
    assert!(
        chart.starts_with("<svg class=\"chart\""),
        "{}",
        &chart[..80]
    );
    assert!(html.contains("svg.chart { display: block; width: 100%"));
    // ticks on round clock times: every 2 hours of the day
    let labels: Vec<&str> = chart
        .split("</text>")
        .filter_map(|t| t.rsplit('>').next())
        .map(str::trim)
        .filter(|t| t.len() == 5 && t.as_bytes()[2] == b':')
        .collect();
    assert_eq!(labels.len(), 13, "{labels:?}");
    for (i, l) in labels.iter().enumerate() {
        assert_eq!(*l, format!("{:02}:00", (2 * i) % 24), "{labels:?}");
    }
    // readable type: at least 14 of the drawing's 1200 units (about 16 px
    // on a page 1400 px wide)
    let sizes: Vec<f64> = chart
        .split("font-size=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect();
    assert!(
        !sizes.is_empty() && sizes.iter().all(|&s| s >= 14.0),
        "{sizes:?}"
    );
    assert!(chart.contains("viewBox=\"0 0 1200 380\""));

    // the first day of the archive: no previous day is drawn, so the key
    // does not show one
    let first = report(&env, "2026-10-18", "html");
    assert!(html.contains("the previous day</li>"));
    assert!(
        !first.contains("the previous day</li>"),
        "a swatch for nothing"
    );
}
