//! `export --format parquet`, read back by an independent reader (pyarrow,
//! Apache Arrow's C++ implementation, through tests/parquet_reader.py):
//! the types and encodings promised, every point with its exact value, a
//! Hive-style directory of days, and `--since-last` shipping each point
//! once.
//!
//! pyarrow comes from PyPI into a venv under target/ (.ci/run installs it
//! first); where PyPI cannot be reached the tests say so and skip, except
//! under CI, where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use predicates::prelude::*;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What pip says when PyPI cannot be reached (as opposed to a real failure).
const UNREACHABLE: &[&str] = &[
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
];

/// The venv's python with pyarrow, installed on first use; `None` (the
/// reason printed) only when PyPI cannot be reached outside CI.
fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyarrow-venv");
            let python = venv.join("bin").join("python");
            let has_pyarrow = || {
                Command::new(&python)
                    .args(["-c", "import pyarrow"])
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if has_pyarrow() {
                return Some(python);
            }
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .output()
                .expect("python3 runs (CI has it)");
            assert!(
                made.status.success(),
                "python3 -m venv: {}",
                String::from_utf8_lossy(&made.stderr)
            );
            let pip = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(format!("{ROOT}/tests/requirements-parquet.txt"))
                .output()
                .unwrap();
            if pip.status.success() && has_pyarrow() {
                return Some(python);
            }
            let said = String::from_utf8_lossy(&pip.stderr).to_string();
            let unreachable = UNREACHABLE.iter().any(|s| said.contains(s));
            if unreachable && std::env::var_os("CI").is_none() {
                println!("skipping: pyarrow cannot be installed, PyPI is unreachable:\n{said}");
                return None;
            }
            panic!("pip install pyarrow failed:\n{said}");
        })
        .clone()
}

/// Runs the reader on a file or a Hive directory.
fn read_back(python: &Path, mode: &str, path: &Path) -> Value {
    let out = Command::new(python)
        .arg(format!("{ROOT}/tests/parquet_reader.py"))
        .arg(mode)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// 2026-11-20T00:00:00Z
const DAY0: i64 = 1_795_132_800;

/// Values that a text format or a lossy reader would bend.
const VALUES: [f64; 8] = [
    98.68,
    0.1 + 0.2,
    -0.0,
    1e300,
    123_456_789.125,
    1e-9,
    3212.0,
    -3.25,
];

/// An archive of three days of three series (a room with a user set and a
/// unit; app-wide without unit; another app), and one point ten minutes
/// old, which is not final yet.
fn archive(env: &Env) -> String {
    let mut lines = String::new();
    let mut point = |app: &str,
                     room: &str,
                     users: &str,
                     source: &str,
                     indicator: &str,
                     unit: &str,
                     ts: i64,
                     v: f64| {
        let opt = |k: &str, v: &str| {
            if v.is_empty() {
                String::new()
            } else {
                format!(",\"{k}\":\"{v}\"")
            }
        };
        lines.push_str(&format!(
            "{{\"app_id\":\"{app}\"{}{},\"source\":\"{source}\",\"indicator\":\"{indicator}\"{},\"ts\":{ts},\"value\":{}}}\n",
            opt("room_id", room),
            opt("user_ids", users),
            opt("unit", unit),
            serde_json::to_string(&v).unwrap()
        ));
    };
    for day in 0..3 {
        for (i, &v) in VALUES.iter().enumerate() {
            let ts = DAY0 + day * 86_400 + 3600 * (i as i64 * 3) + 30;
            point(
                "app1",
                "room-1",
                "u1,u2",
                "quality",
                "video_stall_rate",
                "%",
                ts,
                v,
            );
            point(
                "app1",
                "",
                "",
                "operation",
                "online_user_count",
                "",
                ts,
                (1000 + i) as f64,
            );
            point(
                "app2",
                "",
                "",
                "quality",
                "audio_stall_rate",
                "%",
                ts + 30,
                v * 2.0,
            );
        }
    }
    point(
        "app1",
        "",
        "",
        "operation",
        "online_user_count",
        "",
        (now() - 600) / 30 * 30,
        1.0,
    );
    let file = env.path("in.jsonl");
    std::fs::write(&file, lines).unwrap();
    let db = env.db();
    env.cmd()
        .args(["import", "--quiet", "--db"])
        .arg(&db)
        .arg(&file)
        .assert()
        .success();
    db.to_str().unwrap().to_string()
}

/// The samples view as the reader's rows: identity, time in µs, value bits.
fn samples_rows(env: &Env, since: i64, until: i64) -> Vec<Value> {
    let conn = env.conn();
    let mut stmt = conn
        .prepare(
            "SELECT app_id, room_id, user_ids, source, indicator, unit, ts, value FROM samples
             WHERE ts >= ?1 AND ts < ?2",
        )
        .unwrap();
    let mut rows: Vec<Value> = stmt
        .query_map([since, until], |r| {
            Ok(serde_json::json!([
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)? * 1_000_000,
                r.get::<_, f64>(7)?.to_bits() as i64,
            ]))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort_by_key(|r| r.to_string());
    rows
}

fn sorted(rows: &Value, keep: usize) -> Vec<Value> {
    let mut rows: Vec<Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Value::Array(r.as_array().unwrap()[..keep].to_vec()))
        .collect();
    rows.sort_by_key(|r| r.to_string());
    rows
}

#[test]
fn a_parquet_file_reads_back_with_its_types_encodings_and_exact_values() {
    let Some(python) = python() else { return };
    let env = Env::new();
    let db = archive(&env);
    let out = env.path("all.parquet");
    env.cmd()
        .args(["export", "--db", &db, "--format", "parquet", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("exported 73 points of 3 series"));
    let v = read_back(&python, "file", &out);
    for (column, ty) in [
        ("app_id", "string"),
        ("room_id", "string"),
        ("indicator", "string"),
        ("time", "timestamp[us, tz=UTC]"),
        ("value", "double"),
    ] {
        assert_eq!(v["types"][column], ty, "{column}: {}", v["types"]);
    }
    assert!(
        v["logical"]["time"]
            .as_str()
            .unwrap()
            .contains("isAdjustedToUTC=true")
    );
    assert_eq!(v["nullable"]["room_id"], true);
    assert_eq!(v["nullable"]["app_id"], false);
    assert_eq!(v["nullable"]["value"], false);
    // identity columns dictionary-encoded; times and values plain
    for column in [
        "app_id",
        "room_id",
        "user_ids",
        "source",
        "indicator",
        "unit",
    ] {
        let enc = v["encodings"][column].to_string();
        assert!(enc.contains("RLE_DICTIONARY"), "{column}: {enc}");
    }
    for column in ["time", "value"] {
        assert!(
            !v["encodings"][column].to_string().contains("DICTIONARY"),
            "{column}"
        );
    }
    assert_eq!(v["compression"], serde_json::json!(["SNAPPY"]));
    assert!(
        v["created_by"]
            .as_str()
            .unwrap()
            .starts_with("rtc-archiver ")
    );
    // every point, every value bit for bit (-0.0, 1e300, 0.1 + 0.2 included)
    assert_eq!(sorted(&v["rows"], 8), samples_rows(&env, 0, i64::MAX));
}

#[test]
fn partition_by_day_writes_a_hive_directory_of_days() {
    let Some(python) = python() else { return };
    let env = Env::new();
    let db = archive(&env);
    let lake = env.path("lake");
    let export = || {
        env.cmd()
            .args([
                "export",
                "--db",
                &db,
                "--format",
                "parquet",
                "--partition-by",
                "day",
                "--out",
            ])
            .arg(&lake)
            .assert()
            .success();
    };
    export();
    let v = read_back(&python, "hive", &lake);
    let files: Vec<String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f.as_str()
                .unwrap()
                .strip_prefix(lake.to_str().unwrap())
                .unwrap()
                .to_string()
        })
        .collect();
    let today = &rtc_archiver::timeutil::fmt_utc(now() - 600)[..10];
    assert_eq!(
        files,
        [
            "/date=2026-11-20/part-20000101T000000Z.parquet".to_string(),
            "/date=2026-11-21/part-20000101T000000Z.parquet".to_string(),
            "/date=2026-11-22/part-20000101T000000Z.parquet".to_string(),
            format!("/date={today}/part-20000101T000000Z.parquet"),
        ]
    );
    // each row in the partition of its UTC day, and every point once
    for row in v["rows"].as_array().unwrap() {
        let time = row[6].as_i64().unwrap() / 1_000_000;
        let date = &rtc_archiver::timeutil::fmt_utc(time)[..10];
        assert_eq!(row[8].as_str().unwrap(), date, "{row}");
    }
    assert_eq!(sorted(&v["rows"], 8), samples_rows(&env, 0, i64::MAX));
    // the same export again replaces its files: no duplicate
    export();
    let again = read_back(&python, "hive", &lake);
    assert_eq!(again["files"], v["files"]);
    assert_eq!(again["rows"].as_array().unwrap().len(), 73);
    // refused: parquet to stdout, a partitioned CSV
    env.cmd()
        .args(["export", "--db", &db, "--format", "parquet"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format parquet writes a file"));
    env.cmd()
        .args(["export", "--db", &db, "--partition-by", "day", "--out"])
        .arg(env.path("x"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("add --format parquet"));
}

#[test]
fn since_last_ships_each_final_point_once_and_remembers_it_in_the_archive() {
    let Some(python) = python() else { return };
    let env = Env::new();
    let db = archive(&env);
    let lake = env.path("lake");
    let export = |extra: &[&str]| {
        env.cmd()
            .args([
                "export",
                "--db",
                &db,
                "--format",
                "parquet",
                "--partition-by",
                "day",
                "--since-last",
            ])
            .args(extra)
            .arg("--out")
            .arg(&lake)
            .assert()
    };
    // the first: up to the end of the first day only
    let day1 = DAY0 + 86_400;
    export(&["--to", "2026-11-21T00:00:00Z"])
        .success()
        .stderr(predicate::str::contains("exported 24 points of 3 series"));
    let first = read_back(&python, "hive", &lake);
    assert_eq!(sorted(&first["rows"], 8), samples_rows(&env, 0, day1));
    // the next: from there up to an hour ago; the point 10 minutes old is
    // not final yet, and stays for a later export
    export(&[]).success();
    let second = read_back(&python, "hive", &lake);
    let settled = rtc_archiver::export::settled(now());
    assert_eq!(sorted(&second["rows"], 8), samples_rows(&env, 0, settled));
    assert_eq!(
        second["rows"].as_array().unwrap().len(),
        72,
        "each point once"
    );
    let files: Vec<&str> = second["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().rsplit("/lake/").next().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "date=2026-11-20/part-20000101T000000Z.parquet",
            "date=2026-11-21/part-20261121T000000Z.parquet",
            "date=2026-11-22/part-20261121T000000Z.parquet",
        ],
        "the first export's day, then the second's, named after where each began"
    );
    // nothing new: nothing written
    export(&[])
        .success()
        .stderr(predicate::str::contains("nothing new"));
    assert_eq!(read_back(&python, "hive", &lake)["files"], second["files"]);
    // remembered in the archive
    let conn = env.conn();
    let (destination, selection, until): (String, String, i64) = conn
        .query_row(
            "SELECT destination, selection, until_ts FROM exports",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        Path::new(&destination),
        std::fs::canonicalize(&lake).unwrap()
    );
    assert_eq!(selection, "--format parquet --partition-by day");
    assert!(
        until <= settled && until > settled - 60,
        "{until} vs {settled}"
    );
    // another selection to the same place would skip or repeat: refused
    export(&["--app", "app1"])
        .code(2)
        .stderr(predicate::str::contains("export the same selection there"));
    // a single file holds exactly what is new each time
    let file = env.path("new.jsonl");
    for want in [72, 0] {
        env.cmd()
            .args(["export", "--db", &db, "--since-last", "--out"])
            .arg(&file)
            .assert()
            .success();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap().lines().count(),
            want
        );
    }
}
