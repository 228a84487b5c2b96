//! Breakdowns by dimension (issue 12) through the real binary: collected
//! from the simulator and from the independent API with every served
//! (indicator, dimension, value, bucket) archived with its final value and
//! nothing else, within every limit; the configuration's refusals; export
//! and import round-tripping the dimension columns exactly.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use predicates::prelude::*;
use rtc_archiver::series::{Dimension, StreamKey};
use rtc_archiver::simulator::{Model, SimConfig, model::dimension_values};

/// An app-wide target breaking stall_rate down by OS and network type,
/// next to its app-wide quality.
const BREAKDOWN: &str = r#"
[[target]]
app_id = "app1"
quality = ["stall_rate"]
distribution = ["stall_rate"]
dimensions = ["OS", "Access"]
"#;

/// Archived distribution points: (dimension, indicator, value) → ts → value.
type Breakdown = BTreeMap<(String, String, String), BTreeMap<i64, f64>>;

fn breakdown(conn: &rusqlite::Connection) -> Breakdown {
    let mut stmt = conn
        .prepare(
            "SELECT dimension, indicator, dimension_value, ts, value, resolution FROM samples
             WHERE source = 'distribution'",
        )
        .unwrap();
    let mut out = Breakdown::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (d, i, v, ts, value, resolution) = row.unwrap();
        assert_eq!(resolution, 30, "real-time points are 30-second buckets");
        assert!(
            out.entry((d, i, v))
                .or_default()
                .insert(ts, value)
                .is_none(),
            "one point per bucket"
        );
    }
    out
}

#[test]
fn a_breakdown_is_collected_bucket_by_bucket_with_final_values() {
    let revision = 4;
    let sim = Sim::start(SimConfig {
        model: Model {
            revision_secs: revision,
            ..Model::default()
        },
        ..SimConfig::default()
    });
    let env = Env::new();
    env.write_config(&sim.endpoint, BREAKDOWN);
    env.cmd().args(["collect", "--once"]).assert().success();
    // the last buckets were provisional: a second pass re-reads the overlap
    std::thread::sleep(Duration::from_secs(revision as u64 + 1));
    let settled = now();
    env.cmd().args(["collect", "--once"]).assert().success();
    sim.assert_polite();
    // one request per line: quality, then stall_rate by OS and by Access
    assert_eq!(sim.stats().requests, 6, "{:?}", sim.stats());
    assert_eq!(
        sim.stats().by_action["ListRealTimeQualityDistribution"],
        4,
        "{:?}",
        sim.stats()
    );

    let conn = env.conn();
    let archived = breakdown(&conn);
    // each line (dimension) fetched its own range: its first window was
    // planned when its turn came, a bucket apart from another's at times
    let ranges: BTreeMap<String, (i64, i64)> = conn
        .prepare(
            "SELECT s.dimension, f.first_ts, f.done_ts FROM feeds f JOIN streams s ON s.id = f.stream_id
             WHERE s.source = 'distribution'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    for (first, done) in ranges.values() {
        assert!(done - first > 3000, "about an hour: {first}..{done}");
    }
    let model = sim.config.model;
    let mut expected_keys = BTreeSet::new();
    let mut checked = 0;
    for dimension in [Dimension::Os, Dimension::Access] {
        let (first, done) = ranges[dimension.as_str()];
        let stream = StreamKey::distribution("app1", dimension);
        for name in ["audio_stall_rate", "video_stall_rate"] {
            for value in dimension_values(dimension) {
                let key = (
                    dimension.as_str().to_string(),
                    name.to_string(),
                    value.to_string(),
                );
                expected_keys.insert(key.clone());
                let s = stream.series_by(name, Some(value.to_string()));
                let got = archived.get(&key).cloned().unwrap_or_default();
                let mut ts = first;
                let mut absent = 0;
                while ts < done {
                    match (model.final_value(&s, ts), got.get(&ts)) {
                        (Some(want), Some(v)) => {
                            if ts + 30 + 60 + revision <= settled {
                                assert_eq!(*v, want, "{key:?} at {ts}: not its final value");
                            }
                            checked += 1;
                        }
                        (Some(_), None) => panic!("{key:?} at {ts}: served but not archived"),
                        (None, Some(v)) => panic!("{key:?} at {ts}: {v} archived, never served"),
                        (None, None) => absent += 1,
                    }
                    ts += 30;
                }
                assert!(absent > 0, "{key:?}: some buckets lack the value");
                assert!(got.keys().all(|t| (first..done).contains(t)), "{key:?}");
            }
        }
    }
    assert_eq!(
        archived.keys().cloned().collect::<BTreeSet<_>>(),
        expected_keys,
        "every (dimension, indicator, value), nothing else"
    );
    assert!(checked > 1500, "{checked}");

    // the views and the status name the dimension; the app-wide series has none
    let (nulls, quality): (i64, i64) = conn
        .query_row(
            "SELECT sum(dimension IS NULL AND dimension_value IS NULL), count(*) FROM samples
             WHERE source = 'quality'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(nulls, quality);
    let fetched: i64 = conn
        .query_row(
            "SELECT count(DISTINCT dimension) FROM fetched WHERE source = 'distribution'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fetched, 2);
    // one column per value: each cell the step's average of that value
    let out = env
        .cmd()
        .args([
            "query",
            "--from",
            "-2h",
            "--dimension",
            "os",
            "--indicator",
            "video_stall_rate",
            "--step",
            "10m",
            "--by",
            "dimension_value",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("app_id,indicator,dimension,ts,time,android,ios,linux,mac,windows")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() >= 4, "{text}");
    for row in &rows {
        assert_eq!(&row[..3], ["app1", "video_stall_rate", "OS"]);
        let ts: i64 = row[3].parse().unwrap();
        for (i, value) in ["android", "ios", "linux", "mac", "windows"]
            .iter()
            .enumerate()
        {
            let avg: Option<f64> = conn
                .query_row(
                    "SELECT avg(value) FROM samples WHERE dimension = 'OS' AND dimension_value = ?1
                     AND indicator = 'video_stall_rate' AND ts >= ?2 AND ts < ?2 + 600",
                    rusqlite::params![value, ts],
                    |r| r.get(0),
                )
                .unwrap();
            let cell: Option<f64> = row[5 + i].parse().ok();
            match (avg, cell) {
                (Some(a), Some(c)) => assert!((a - c).abs() < 1e-9, "{value} at {ts}: {a} vs {c}"),
                (a, c) => assert_eq!(a, c, "{value} at {ts}"),
            }
        }
    }
    // for people: a table per breakdown under a line naming it, the time
    // and a column per value, fitting 80 columns
    let out = env
        .cmd()
        .args([
            "query",
            "--indicator",
            "video_stall_rate",
            "--source",
            "distribution",
            "--step",
            "10m",
            "--by",
            "dimension_value",
            "--format",
            "table",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("app1 video_stall_rate by OS:\n"), "{table}");
    assert!(
        table.contains("app1 video_stall_rate by Access:\n"),
        "{table}"
    );
    assert!(table.contains("| time "), "{table}");
    assert!(
        !table.contains("1795"),
        "no Unix seconds in a table: {table}"
    );
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    env.cmd()
        .args(["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("OS").and(predicate::str::contains("Access")));
}

#[test]
fn a_breakdown_from_the_independent_api_holds_every_served_bucket() {
    use common::independent::{Server, cmd};
    let env = Env::new();
    let revision = 3;
    let server = Server::start(&env, 0.1, revision, &[]);
    env.write_config(
        &server.endpoint(),
        r#"
[[target]]
app_id = "app-x"
distribution = ["stall_rate", "5s_join_room_success_rate"]
dimensions = ["OS", "Province"]
"#,
    );
    let pass = || {
        (0..6).any(|_| {
            cmd(&env)
                .args(["collect", "--once"])
                .status()
                .unwrap()
                .success()
        })
    };
    assert!(pass(), "a pass eventually succeeds");
    std::thread::sleep(Duration::from_secs(revision + 1));
    let final_pass = now();
    assert!(pass(), "a pass eventually succeeds");

    let stats = server.get("/stats");
    for rule in [
        "rate_violations",
        "quota_violations",
        "horizon_violations",
        "span_violations",
        "auth_failures",
        "bad_requests",
    ] {
        assert_eq!(stats[rule], 0, "{rule}: {stats}");
    }
    assert!(stats["max_per_second"].as_u64().unwrap() <= 2, "{stats}");
    let per = &stats["per_action"]["ListRealTimeQualityDistribution"];
    assert!(per["ok"].as_u64().unwrap() >= 8, "{stats}");

    let conn = env.conn();
    let mut archived: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for ((dimension, name, value), points) in breakdown(&conn) {
        let key = format!("ListRealTimeQualityDistribution|app-x|||{name}|{dimension}|{value}");
        archived.insert(key, points);
    }
    let truth = server.get("/truth?action=ListRealTimeQualityDistribution");
    let truth = truth.as_object().unwrap();
    assert_eq!(
        archived.keys().collect::<BTreeSet<_>>(),
        truth.keys().collect::<BTreeSet<_>>(),
        "the same (indicator, dimension, value) series"
    );
    assert!(
        truth
            .keys()
            .any(|k| k.ends_with("|Province|广东") || k.contains("|Province|")),
        "Chinese province names: {:?}",
        truth.keys().collect::<Vec<_>>()
    );
    let mut checked = 0;
    for (key, buckets) in truth {
        let got = &archived[key];
        let served: BTreeSet<i64> = buckets
            .as_object()
            .unwrap()
            .keys()
            .map(|t| t.parse().unwrap())
            .collect();
        for (ts, value) in buckets.as_object().unwrap() {
            let ts: i64 = ts.parse().unwrap();
            if ts + 30 + 60 + revision as i64 <= final_pass {
                assert_eq!(got.get(&ts), value.as_f64().as_ref(), "{key} at {ts}");
                checked += 1;
            } else {
                assert!(got.contains_key(&ts), "{key} at {ts}: served, not archived");
            }
        }
        for ts in got.keys() {
            assert!(served.contains(ts), "{key} at {ts}: archived, never served");
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn breakdown_config_errors_exit_2_naming_the_key() {
    let env = Env::new();
    let cases = [
        (
            "[[target]]\napp_id = \"a\"\nroom_id = \"r\"\ndistribution = [\"stall_rate\"]\ndimensions = [\"OS\"]\n",
            vec!["target[1].distribution", "app-wide only"],
        ),
        (
            "[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\"]\ndimensions = [\"OS\"]\n",
            vec!["target[1].dimensions", "needs distribution"],
        ),
        (
            "[[target]]\napp_id = \"a\"\ndistribution = [\"stall_rate\"]\ndimensions = [\"Device\"]\n",
            vec![
                "target[1].dimensions",
                "\"Device\"",
                "Province, Country, OS, Access",
            ],
        ),
        (
            "[[target]]\napp_id = \"a\"\ndistribution = [\"stall_rate\"]\ndimensions = []\n",
            vec![
                "target[1].dimensions",
                "is empty",
                "Province, Country, OS, Access",
            ],
        ),
    ];
    for (text, wants) in cases {
        let path = env.path("bad.toml");
        std::fs::write(
            &path,
            format!("{text}\n[api]\nendpoint = \"http://127.0.0.1:9\"\n"),
        )
        .unwrap();
        let mut expected = predicate::str::contains("bad.toml").boxed();
        for want in wants {
            expected = expected.and(predicate::str::contains(want)).boxed();
        }
        env.cmd()
            .args(["collect", "--once", "--config", path.to_str().unwrap()])
            .assert()
            .code(2)
            .stderr(expected);
    }
    assert!(!env.db().exists(), "no archive is created for a bad config");
}

/// Every column of the samples view, as text, sorted.
fn view(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT app_id, room_id, user_ids, source, dimension, indicator, dimension_value, unit,
                    ts, resolution, value FROM samples",
        )
        .unwrap();
    let mut rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}|{:?}|{:?}|{}|{:?}|{}|{:?}|{:?}|{}|{}|{:?}",
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
                r.get::<_, f64>(10)?.to_bits(),
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    rows
}

#[test]
fn export_and_import_round_trip_the_dimension_columns_exactly() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(
        &sim.endpoint,
        r#"
[[target]]
app_id = "app1"
quality = ["stall_rate"]
distribution = ["stall_rate"]
dimensions = ["Province", "Access"]
"#,
    );
    env.cmd().args(["collect", "--once"]).assert().success();
    let db = env.db();
    let want = view(&db);
    assert!(
        want.iter().any(|r| r.contains("Some(\"广东\")")),
        "a Chinese value is archived"
    );
    assert!(
        want.iter().any(|r| r.contains("|None|")),
        "and app-wide series"
    );
    for format in ["jsonl", "csv"] {
        let file = env.path(&format!("all.{format}"));
        env.cmd()
            .args([
                "export",
                "--db",
                db.to_str().unwrap(),
                "--format",
                format,
                "--out",
            ])
            .arg(&file)
            .assert()
            .success();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("广东"), "{format} keeps UTF-8 as it is");
        let copy = env.path(&format!("copy-{format}.db"));
        env.cmd()
            .args(["import", "--db", copy.to_str().unwrap()])
            .arg(&file)
            .assert()
            .success()
            .stderr(predicate::str::contains(format!(
                "{} new, 0 revised, 0 unchanged; 0 bad lines",
                want.len()
            )));
        assert_eq!(view(&copy), want, "{format} round trip");
    }
    // a selection by dimension value, exported and imported, is just that value
    let sel = env.path("guangdong.jsonl");
    env.cmd()
        .args([
            "export",
            "--db",
            db.to_str().unwrap(),
            "--dimension",
            "province",
            "--dimension-value",
            "广东",
            "--out",
        ])
        .arg(&sel)
        .assert()
        .success();
    let text = std::fs::read_to_string(&sel).unwrap();
    assert!(!text.is_empty());
    assert!(
        text.lines()
            .all(|l| l.contains("\"dimension\":\"Province\"")
                && l.contains("\"dimension_value\":\"广东\"")),
        "{text}"
    );
}
