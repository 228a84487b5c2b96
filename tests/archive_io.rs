//! Export and import: round trips reproduce the samples view exactly, two
//! archives merge without a duplicate or a lost point, bad lines are
//! reported by number.

mod common;

use std::collections::BTreeSet;

use common::*;
use predicates::prelude::*;
use rtc_archiver::Source;
use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::simulator::SimConfig;
use rtc_archiver::store::{OpenMode, Store, bucket_of, encode_value};

/// Every column of the samples view, as text, sorted: what "the same view" means.
fn view(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT app_id, room_id, user_ids, source, indicator, unit, ts, time, value, typeof(value) FROM samples",
        )
        .unwrap();
    let mut rows: Vec<String> = stmt
        .query_map([], |r| {
            let value: f64 = r.get(8)?;
            Ok(format!(
                "{}|{:?}|{:?}|{}|{}|{:?}|{}|{}|{:?}|{}",
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, String>(7)?,
                value.to_bits(),
                r.get::<_, String>(9)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    rows
}

/// An archive with collected data plus awkward values only an import could bring.
fn source_archive(env: &Env) -> std::path::PathBuf {
    let sim = Sim::start(SimConfig::default());
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    let mut store = Store::open(&env.db(), OpenMode::Existing).unwrap();
    let key = StreamKey::new(
        "app2",
        Some("r,\"quoted\"".into()),
        UserSet::new(["b", "a"]).unwrap(),
        Source::Quality,
    );
    let id = store.series_id(&key, "odd_values", Some("ms")).unwrap();
    let t0 = 1_700_000_010; // 2023, before the bucket epoch
    let values = [0.1 + 0.2, 1e-9, -3.25, 123_456_789.125, 1e300, 0.0, 42.0];
    let mut rows: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (id, bucket_of(t0 + 30 * i as i64 - 10), encode_value(*v)))
        .collect();
    store.upsert_points(&mut rows).unwrap();
    env.db()
}

#[test]
fn export_then_import_reproduces_the_samples_view_exactly() {
    let env = Env::new();
    let db = source_archive(&env);
    let want = view(&db);
    assert!(want.len() > 800);
    for (format, file) in [("jsonl", "all.jsonl"), ("csv", "all.csv")] {
        let out = env.path(file);
        env.cmd()
            .args([
                "export",
                "--db",
                db.to_str().unwrap(),
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ])
            .assert()
            .success()
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(format!(
                "exported {} points",
                want.len()
            )));
        let copy = env.path(&format!("copy-{format}.db"));
        env.cmd()
            .args([
                "import",
                "--db",
                copy.to_str().unwrap(),
                out.to_str().unwrap(),
            ])
            .assert()
            .success()
            .stderr(predicate::str::contains(format!(
                "{} new, 0 revised, 0 unchanged; 0 bad lines",
                want.len()
            )));
        assert_eq!(view(&copy), want, "{format} round trip");
        // importing again changes nothing
        env.cmd()
            .args([
                "import",
                "--db",
                copy.to_str().unwrap(),
                out.to_str().unwrap(),
            ])
            .assert()
            .success()
            .stderr(predicate::str::contains(format!(
                "0 new, 0 revised, {} unchanged",
                want.len()
            )));
        assert_eq!(view(&copy), want);
        // and the rollups agree with the points
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let (a, b): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM samples), (SELECT sum(count) FROM samples_daily)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(a, b);
    }
    // stdin works too, and selections select
    let sel = env.path("sel.jsonl");
    env.cmd()
        .args([
            "export",
            "--db",
            db.to_str().unwrap(),
            "--indicator",
            "*_stall_rate",
            "--room",
            "room-1",
            "--out",
            sel.to_str().unwrap(),
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(&sel).unwrap();
    assert!(
        text.lines()
            .all(|l| l.contains("\"room_id\":\"room-1\"") && l.contains("_stall_rate"))
    );
    let piped = env.path("piped.db");
    env.cmd()
        .args(["import", "--db", piped.to_str().unwrap(), "-"])
        .write_stdin(text.clone())
        .assert()
        .success();
    assert_eq!(view(&piped).len(), text.lines().count());
}

#[test]
fn two_archives_merge_without_duplicates_or_losses() {
    // two machines collected overlapping hours of the same app
    let a = Env::new();
    let b = Env::new();
    let sim = Sim::start(SimConfig::default());
    for env in [&a, &b] {
        env.write_config(&sim.endpoint, TARGETS);
        env.cmd().args(["collect", "--once"]).assert().success();
    }
    // b also has a series a lacks
    {
        let mut store = Store::open(&b.db(), OpenMode::Existing).unwrap();
        let id = store
            .series_id(
                &StreamKey::new("app9", None, UserSet::NONE, Source::Operation),
                "online_user_count",
                None,
            )
            .unwrap();
        let mut rows = vec![(id, bucket_of(1_795_435_200), encode_value(7.0))];
        store.upsert_points(&mut rows).unwrap();
    }
    let merged = a.path("merged.db");
    for env in [&a, &b] {
        let file = env.path("export.jsonl");
        env.cmd()
            .args(["export", "--out", file.to_str().unwrap()])
            .assert()
            .success();
        a.cmd()
            .args([
                "import",
                "--db",
                merged.to_str().unwrap(),
                file.to_str().unwrap(),
            ])
            .assert()
            .success();
    }
    let keys = |db: &std::path::Path| -> std::collections::BTreeSet<(String, Option<String>, String, i64)> {
        let conn = rusqlite::Connection::open(db).unwrap();
        let mut stmt = conn.prepare("SELECT app_id, room_id, indicator, ts FROM samples").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let union: std::collections::BTreeSet<_> =
        keys(&a.db()).union(&keys(&b.db())).cloned().collect();
    let got = keys(&merged);
    assert_eq!(got, union, "every point of both, once");
    let n: i64 = rusqlite::Connection::open(&merged)
        .unwrap()
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, union.len(), "no duplicates");
}

#[test]
fn broken_lines_are_reported_with_their_numbers() {
    let env = Env::new();
    let good = r#"{"app_id":"a","source":"quality","indicator":"x","unit":"%","ts":1795435200,"value":1.5}"#;
    let text = [
        good.to_string(),
        "{\"app_id\": \"a\"".to_string(),
        good.replace("1795435200", "1795435230")
            .replace("1.5", "null"),
        String::new(),
        good.replace("1795435200", "1795435260"),
        good.replace("quality", "qos"),
    ]
    .join("\n");
    let file = env.path("broken.jsonl");
    std::fs::write(&file, &text).unwrap();
    let db = env.db();
    env.cmd()
        .args([
            "import",
            "--db",
            db.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("broken.jsonl:2: not a JSON object")
                .and(predicate::str::contains("broken.jsonl:3: value is missing"))
                .and(predicate::str::contains("broken.jsonl:6: source \"qos\""))
                .and(predicate::str::contains("2 new"))
                .and(predicate::str::contains("3 bad lines")),
        );
    assert_eq!(view(&db).len(), 2, "the good lines landed");

    let strict = env.path("strict.db");
    env.cmd()
        .args([
            "import",
            "--strict",
            "--db",
            strict.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("broken.jsonl:2:")
                .and(predicate::str::contains("stopped at the first")),
        )
        .stderr(predicate::str::contains("broken.jsonl:3:").not());

    let csv = env.path("bad.csv");
    std::fs::write(&csv, "app_id,source,indicator,value\na,quality,x,1\n").unwrap();
    env.cmd()
        .args([
            "import",
            "--db",
            env.path("c.db").to_str().unwrap(),
            csv.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ts or time"));
    env.cmd()
        .args([
            "import",
            "--db",
            db.to_str().unwrap(),
            env.path("missing.jsonl").to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.jsonl"));
}

#[test]
fn broken_pipe_every_format_piped_into_head_exits_0() {
    // `query --format csv | head -1` exited 1 with "Broken pipe": the CSV
    // writer wraps the I/O error, and `?` wrapped that in another
    let env = Env::new();
    let lines: String = (0..20_000)
        .map(|i| {
            format!(
                "{{\"app_id\":\"a\",\"source\":\"operation\",\"indicator\":\"online_user_count\",\"ts\":{},\"value\":{i}}}\n",
                1_795_435_200 - i * 30
            )
        })
        .collect();
    std::fs::write(env.path("in.jsonl"), lines).unwrap();
    let db = env.db();
    let db = db.to_str().unwrap();
    env.cmd()
        .args(["import", "--db", db, "in.jsonl"])
        .assert()
        .success();
    let runs: Vec<Vec<&str>> = ["csv", "json", "jsonl", "table"]
        .iter()
        .map(|f| {
            vec![
                "query",
                "--db",
                db,
                "--from",
                "2026-01-01",
                "--to",
                "2027-01-01",
                "--format",
                f,
            ]
        })
        .chain([
            vec!["export", "--db", db, "--format", "csv"],
            vec!["export", "--db", db],
            vec![
                "sql",
                "--db",
                db,
                "SELECT * FROM samples",
                "--format",
                "csv",
            ],
        ])
        .collect();
    for args in runs {
        let mut child = env
            .std_cmd()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // read one line, then close the pipe as `head -1` does
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn selection_flags_are_one_set_for_query_export_and_report() {
    // three streams: app-wide, a room with users u1 and u2, the same room with u3
    let env = Env::new();
    let line = |room: &str, users: &str, ts: i64, v: f64| {
        format!(
            "{{\"app_id\":\"a\",\"room_id\":{},\"user_ids\":{},\"source\":\"quality\",\"indicator\":\"video_stall_rate\",\"ts\":{ts},\"value\":{v}}}\n",
            if room.is_empty() {
                "null".into()
            } else {
                format!("\"{room}\"")
            },
            if users.is_empty() {
                "null".into()
            } else {
                format!("\"{users}\"")
            },
        )
    };
    let day = 1_795_392_000; // 2026-11-23T00:00:00Z
    let mut text = String::new();
    for i in 0..10 {
        text += &line("", "", day + i * 30, 1.0);
        text += &line("r", "u2,u1", day + i * 30, 2.0);
        text += &line("r", "u3", day + i * 30, 3.0);
    }
    std::fs::write(env.path("in.jsonl"), text).unwrap();
    let db = env.db();
    let db = db.to_str().unwrap();
    env.cmd()
        .args(["import", "--db", db, "in.jsonl"])
        .assert()
        .success();
    let users_of = |args: &[&str]| -> BTreeSet<String> {
        let out = env.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["user_ids"].as_str().unwrap_or("-").to_string()
            })
            .collect()
    };
    let range = ["--from", "2026-11-23", "--to", "2026-11-24"];
    for user in [["--user", "u1"], ["--user", "u2"]] {
        let want: BTreeSet<String> = ["u1,u2".to_string()].into();
        assert_eq!(
            users_of(
                &[
                    &["query", "--db", db, "--format", "jsonl"][..],
                    &range,
                    &user
                ]
                .concat()
            ),
            want
        );
        assert_eq!(
            users_of(&[&["export", "--db", db][..], &range, &user].concat()),
            want
        );
    }
    // a UserId is matched whole, never as a part of another
    assert!(users_of(&["export", "--db", db, "--user", "u"]).is_empty());
    assert_eq!(
        users_of(&["export", "--db", db, "--user", "u3", "--user", "u1"]),
        ["u1,u2".to_string(), "u3".to_string()].into()
    );
    assert_eq!(
        users_of(&["export", "--db", db, "--room", "r", "--source", "quality"]),
        ["u1,u2".to_string(), "u3".to_string()].into()
    );
    // report takes the same flags, --source and --user included
    let out = env
        .cmd()
        .args([
            "report",
            "--db",
            db,
            "--day",
            "2026-11-23",
            "--tz",
            "UTC",
            "--format",
            "json",
            "--user",
            "u3",
            "--source",
            "quality",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = report["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{report}");
    assert_eq!(series[0]["user_ids"], "u3");
    let out = env
        .cmd()
        .args([
            "report",
            "--db",
            db,
            "--day",
            "2026-11-23",
            "--tz",
            "UTC",
            "--source",
            "operation",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No data"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
