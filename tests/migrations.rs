//! Archives outlive versions: an archive written by an earlier schema opens
//! with this build, is migrated on open, and keeps every point, gap and
//! fetched range. tests/fixtures/archive-v1.db was written by schema
//! version 1 (a demo run plus one gap); each later schema version adds its
//! own fixture here and never changes an older one.

mod common;

use common::*;
use predicates::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn stdout(env: &Env, args: &[&str]) -> String {
    let out = env.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_schema_v1_archive_opens_migrates_and_keeps_everything() {
    let env = Env::new();
    let db = env.path("old.db");
    std::fs::copy(format!("{FIXTURES}/archive-v1.db"), &db).unwrap();
    let db = db.to_str().unwrap();

    let version: i64 = stdout(
        &env,
        &["sql", "--db", db, "PRAGMA user_version", "--format", "csv"],
    )
    .lines()
    .nth(1)
    .unwrap()
    .parse()
    .unwrap();
    assert_eq!(version, rtc_archiver::store::latest_version());

    let exported = env.path("samples.jsonl");
    env.cmd()
        .args(["export", "--db", db, "--out", exported.to_str().unwrap()])
        .assert()
        .success();
    let want = std::fs::read_to_string(format!("{FIXTURES}/archive-v1.samples.jsonl")).unwrap();
    // what version 1 exported, each point now saying it is a 30-second one
    let want_now = want.replace("}\n", ",\"resolution\":30}\n");
    assert_eq!(
        std::fs::read_to_string(&exported).unwrap(),
        want_now,
        "every point, unchanged"
    );
    assert_eq!(want.lines().count(), 1256);

    for (view, order) in [
        ("gaps", "app_id, source, indicator, start_ts"),
        ("fetched", "app_id, room_id, source, indicator"),
    ] {
        let got = stdout(
            &env,
            &[
                "sql",
                "--db",
                db,
                &format!("SELECT * FROM {view} ORDER BY {order}"),
                "--format",
                "jsonl",
            ],
        );
        let want = std::fs::read_to_string(format!("{FIXTURES}/archive-v1.{view}.jsonl")).unwrap();
        // the columns of version 1, unchanged; those added since say
        // "no dimension" and "not repaired"
        let got: Vec<serde_json::Value> = got
            .lines()
            .map(|l| {
                let mut row: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(l).unwrap();
                for added in ["dimension", "repaired_resolution", "repaired_at"] {
                    if let Some(v) = row.remove(added) {
                        assert_eq!(v, serde_json::Value::Null, "{view}.{added}");
                    }
                }
                serde_json::Value::Object(row)
            })
            .collect();
        let want: Vec<serde_json::Value> = want
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got, want, "the {view} view");
    }

    // the migrated archive takes writes: re-importing its own points changes nothing
    env.cmd()
        .args(["import", "--db", db, exported.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("0 new, 0 revised, 1256 unchanged"));
    let check = stdout(
        &env,
        &[
            "sql",
            "--db",
            db,
            "PRAGMA integrity_check",
            "--format",
            "csv",
        ],
    );
    assert_eq!(check.lines().nth(1), Some("ok"));
}
