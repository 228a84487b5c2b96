//! The real binary against the simulator on loopback: collect, re-collect,
//! query in every format, and the configuration errors a user can make.

mod common;

use std::collections::BTreeSet;

use common::*;
use predicates::prelude::*;
use rtc_archiver::simulator::SimConfig;

#[test]
fn collect_once_archives_the_full_hour_and_a_second_run_adds_nothing() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);

    let before = now();
    env.cmd().args(["collect", "--once"]).assert().success();
    let after = now();

    let conn = env.conn();
    let checked = assert_archive_matches_model(&conn, &sim, before, after);
    // 8 series, about 115 buckets each, 2% without data
    assert!(checked > 800, "{checked}");
    // the whole reachable hour: from the horizon (plus the 60 s margin) to the delay
    for f in feeds(&conn) {
        let delay = if f.0 == "quality" { 60 } else { 20 };
        assert!(
            f.5 >= before - 3600 + 60 && f.5 <= after - 3600 + 90,
            "{f:?}"
        );
        assert!(f.6 <= after - delay && f.6 >= before - delay - 30, "{f:?}");
    }
    sim.assert_polite();
    assert_eq!(sim.stats().requests, 3, "one request per target and action");

    let first = samples(&conn);
    let first_done: Vec<i64> = feeds(&conn).iter().map(|f| f.6).collect();
    let before2 = now();
    env.cmd().args(["collect", "--once"]).assert().success();
    let after2 = now();
    let second = samples(&conn);
    // nothing inside the first run's range was added; only buckets completed since
    let old_keys: BTreeSet<_> = first
        .iter()
        .map(|p| (p.0.clone(), p.2.clone(), p.4.clone(), p.5))
        .collect();
    let done_min = *first_done.iter().min().unwrap();
    for p in &second {
        let key = (p.0.clone(), p.2.clone(), p.4.clone(), p.5);
        assert!(
            old_keys.contains(&key) || p.5 >= done_min,
            "new row inside the first range: {p:?}"
        );
    }
    assert!(second.len() >= first.len());
    let dupes: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY source, app_id, room_id, user_ids, indicator, ts HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dupes, 0);
    assert_archive_matches_model(&conn, &sim, before, after2.max(before2));
    sim.assert_polite();
}

#[test]
fn query_returns_the_archive_in_every_format() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    let conn = env.conn();
    let all = samples(&conn);
    let db = env.db();
    let db = db.to_str().unwrap();
    // with --db alone: no config is read (move it away to be sure)
    std::fs::rename(env.path("rtc-archiver.toml"), env.path("elsewhere.toml")).unwrap();

    let out = env
        .cmd()
        .args(["query", "--db", db, "--from", "-2h", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), all.len());
    // the keys of the samples view, in its order
    let first_line = text.lines().next().unwrap();
    let positions: Vec<usize> = [
        "app_id",
        "room_id",
        "user_ids",
        "source",
        "indicator",
        "unit",
        "ts",
        "time",
        "value",
        "resolution",
    ]
    .iter()
    .map(|k| {
        first_line
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} missing: {first_line}"))
    })
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first_line}");
    // the dimension keys only on breakdowns
    assert_eq!(rows[0].as_object().unwrap().len(), 10);
    assert_eq!(rows[0]["resolution"], 30);
    let mut from_json: Vec<Point> = rows
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_string(),
                r["app_id"].as_str().unwrap().to_string(),
                r["room_id"].as_str().map(str::to_string),
                r["user_ids"].as_str().map(str::to_string),
                r["indicator"].as_str().unwrap().to_string(),
                r["ts"].as_i64().unwrap(),
                r["value"].as_f64().unwrap(),
            )
        })
        .collect();
    from_json.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut want = all.clone();
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(from_json, want);
    let time = rows[0]["time"].as_str().unwrap();
    assert_eq!(
        rtc_archiver::timeutil::parse_rfc3339(time),
        rows[0]["ts"].as_i64()
    );
    assert!(time.ends_with('Z'));

    let out = env
        .cmd()
        .args(["query", "--db", db, "--from", "-2h", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), all.len());

    let out = env
        .cmd()
        .args(["query", "--db", db, "--from", "-2h", "--format", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(r.headers().unwrap().len(), 12);
    assert_eq!(r.records().count(), all.len());

    env.cmd()
        .args([
            "query",
            "--db",
            db,
            "--from",
            "-2h",
            "--format",
            "table",
            "--indicator",
            "*_stall_rate",
            "--room",
            "room-1",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("video_stall_rate").and(predicate::str::contains("u1,u2")))
        .stdout(predicate::str::contains("online_user_count").not());

    // aggregated: 10-minute maxima equal SQL over the samples view
    let out = env
        .cmd()
        .args([
            "query",
            "--db",
            db,
            "--indicator",
            "online_user_count",
            "--from",
            "-2h",
            "--step",
            "10m",
            "--agg",
            "max",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let ts = row["ts"].as_i64().unwrap();
        let max: f64 = conn
            .query_row(
                "SELECT max(value) FROM samples WHERE indicator = 'online_user_count' AND ts >= ?1 AND ts < ?1 + 600",
                [ts],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(row["value"].as_f64().unwrap(), max, "{line}");
    }

    // a closed pipe is not an error
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' query --db '{db}' --from -2h --format jsonl | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}",
            assert_cmd::cargo::cargo_bin("rtc-archiver").display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn invalid_configs_exit_2_naming_file_key_and_fix() {
    let env = Env::new();
    let cases = [
        (
            "[[target]]\napp_id = \"a\"\nuser_ids = [\"u1\"]\nquality = [\"stall_rate\"]\n",
            "target[1].user_ids: needs room_id",
        ),
        (
            "interval = \"soon\"\n",
            "interval: invalid duration \"soon\"",
        ),
        (
            "[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\"]\ncolour = \"red\"\n",
            "unknown field `colour`",
        ),
        (
            "[[target]]\napp_id = \"a\"\nroom_id = \"r\"\noperation = [\"online_user_count\"]\n",
            "target[1].operation",
        ),
        (
            "[[target]]\napp_id = \"a\"\nquality = []\n",
            "target[1].quality: is empty",
        ),
        ("", "no [[target]]"),
    ];
    for (text, expected) in cases {
        let path = env.path("bad.toml");
        std::fs::write(
            &path,
            format!("{text}\n[api]\nendpoint = \"http://127.0.0.1:9\"\n"),
        )
        .unwrap();
        env.cmd()
            .args(["collect", "--once", "--config", path.to_str().unwrap()])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("bad.toml").and(predicate::str::contains(expected)));
    }
    assert!(!env.db().exists(), "no archive is created for a bad config");

    // missing credentials: exit 2 naming the variables, before any request
    let sim = Sim::start(SimConfig::default());
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd()
        .env_remove("VOLC_ACCESSKEY")
        .env_remove("VOLC_SECRETKEY")
        .args(["collect", "--once"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("VOLC_ACCESSKEY")
                .and(predicate::str::contains("VOLC_SECRETKEY")),
        );
    assert_eq!(sim.stats().requests, 0);

    // no config at all
    let empty = Env::new();
    empty
        .cmd()
        .args(["collect", "--once"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("rtc-archiver.toml")
                .and(predicate::str::contains("config example")),
        );
}

#[test]
fn a_wrong_secret_stops_that_target_with_a_hint_and_exit_1() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd()
        .env("VOLC_SECRETKEY", "wrong-secret-value")
        .args(["collect", "--once"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("SignatureDoesNotMatch")
                .and(predicate::str::contains("VOLC_SECRETKEY")),
        )
        .stderr(predicate::str::contains("wrong-secret-value").not());
    // not retried: one request per target and action
    assert_eq!(sim.stats().requests, 3);
}

#[test]
fn an_unknown_indicator_is_a_warning_and_the_api_decides() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(
        &sim.endpoint,
        "[[target]]\napp_id = \"app1\"\nquality = [\"made_up_rate\"]\noperation = [\"online_user_count\"]\n",
    );
    env.cmd()
        .args(["collect", "--once"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("made_up_rate").and(predicate::str::contains("catalog")))
        .stderr(predicate::str::contains("InvalidParameter"));
    // the other action of the same target still landed
    let n: i64 = env
        .conn()
        .query_row(
            "SELECT count(*) FROM samples WHERE indicator = 'online_user_count'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(n > 100, "{n}");
}

#[test]
fn read_only_commands_need_only_the_database() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    std::fs::remove_file(env.path("rtc-archiver.toml")).unwrap();
    let db = env.db();
    let db = db.to_str().unwrap();
    env.cmd()
        .args(["status", "--db", db, "--format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"lag_seconds\""));
    env.cmd()
        .args(["indicators", "--archived", "--db", db])
        .assert()
        .success()
        .stdout(predicate::str::contains("5s_join_room_success_rate"));
    env.cmd()
        .args([
            "sql",
            "--db",
            db,
            "SELECT count(*) AS n FROM samples",
            "--format",
            "csv",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("n\n"));
    // sql cannot write
    env.cmd()
        .args(["sql", "--db", db, "DELETE FROM points"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("readonly").or(predicate::str::contains("read-only")));
    assert!(!samples(&env.conn()).is_empty());
    // no database given at all
    env.cmd()
        .args(["query"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--db"));
    env.cmd()
        .args(["query", "--db", env.path("missing.db").to_str().unwrap()])
        .assert()
        .code(74)
        .stderr(predicate::str::contains("missing.db"));
}
