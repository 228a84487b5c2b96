//! What `query`, `sql`, `export` and `indicators` print, through the real
//! binary: values without float noise in text formats, times in the zone
//! asked for, tables that fit the terminal, one set of formats.

mod common;

use common::*;
use predicates::prelude::*;

/// 2026-11-23T12:00:00Z
const T0: i64 = 1_795_435_200;

/// An archive of a few points whose averages are not exact in binary:
/// `video_stall_rate` of app1 at T0 and T0 + 30 (1.1 and 2.2, whose mean
/// is 1.6500000000000001 as a double), and one `online_user_count`.
fn archive(env: &Env) -> String {
    let lines = [
        format!(
            r#"{{"app_id":"app1","source":"quality","indicator":"video_stall_rate","unit":"%","ts":{T0},"value":1.1}}"#
        ),
        format!(
            r#"{{"app_id":"app1","source":"quality","indicator":"video_stall_rate","unit":"%","ts":{},"value":2.2}}"#,
            T0 + 30
        ),
        format!(
            r#"{{"app_id":"app1","source":"operation","indicator":"online_user_count","ts":{T0},"value":3212}}"#
        ),
    ];
    let file = env.path("in.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let db = env.db();
    env.cmd()
        .args(["import", "--db", db.to_str().unwrap(), "--quiet"])
        .arg(&file)
        .assert()
        .success();
    db.to_str().unwrap().to_string()
}

fn stdout(env: &Env, args: &[&str]) -> String {
    let out = env.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const STEP: [&str; 10] = [
    "--indicator",
    "video_stall_rate",
    "--from",
    "2026-11-23T12:00:00Z",
    "--to",
    "2026-11-23T12:01:00Z",
    "--step",
    "1m",
    "--agg",
    "avg",
];

#[test]
fn aggregates_print_without_float_noise_in_tables_and_csv() {
    // issue 9: `2.4779999999999998` in a table of averages
    let env = Env::new();
    let db = archive(&env);
    let noisy = "1.6500000000000001";
    for format in ["csv", "table"] {
        let text = stdout(
            &env,
            &[&["query", "--db", &db, "--format", format][..], &STEP].concat(),
        );
        assert!(text.contains("1.65"), "{format}: {text}");
        assert!(!text.contains(noisy), "{format}: {text}");
    }
    // JSON keeps the exact double, as documented
    for format in ["json", "jsonl"] {
        let text = stdout(
            &env,
            &[&["query", "--db", &db, "--format", format][..], &STEP].concat(),
        );
        assert!(text.contains(noisy), "{format}: {text}");
    }
    let sql = "SELECT avg(value) AS mean FROM samples WHERE indicator = 'video_stall_rate'";
    assert_eq!(
        stdout(&env, &["sql", "--db", &db, sql, "--format", "csv"]),
        "mean\n1.65\n"
    );
    assert!(stdout(&env, &["sql", "--db", &db, sql, "--format", "table"]).contains("| 1.65 |"));
    assert_eq!(
        stdout(&env, &["sql", "--db", &db, sql, "--format", "jsonl"]),
        format!("{{\"mean\":{noisy}}}\n")
    );
    // export is the archive's own form: exact in every format
    let csv = stdout(&env, &["export", "--db", &db, "--format", "csv"]);
    assert!(csv.contains(",1.1\n") && csv.contains(",2.2\n"), "{csv}");
}

#[test]
fn times_print_in_the_zone_of_tz_and_ts_stays_unix_seconds() {
    // issue 9: --tz chose day boundaries, but times printed in UTC
    let env = Env::new();
    let db = archive(&env);
    let range = [
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-24",
        "--indicator",
        "online_user_count",
    ];
    let utc = stdout(
        &env,
        &[&["query", "--db", &db, "--format", "jsonl"][..], &range].concat(),
    );
    assert!(
        utc.contains(r#""ts":1795435200,"time":"2026-11-23T12:00:00Z""#),
        "{utc}"
    );
    let sh = stdout(
        &env,
        &[
            &[
                "query",
                "--db",
                &db,
                "--format",
                "jsonl",
                "--tz",
                "Asia/Shanghai",
            ][..],
            &range,
        ]
        .concat(),
    );
    assert!(
        sh.contains(r#""ts":1795435200,"time":"2026-11-23T20:00:00+08:00""#),
        "{sh}"
    );
    let table = stdout(
        &env,
        &[
            &[
                "query",
                "--db",
                &db,
                "--format",
                "table",
                "--tz",
                "America/New_York",
            ][..],
            &range,
        ]
        .concat(),
    );
    assert!(table.contains("2026-11-23T07:00:00-05:00"), "{table}");
    // export writes the zone too, and import reads it back to the same points
    let out = env.path("sh.csv");
    env.cmd()
        .args([
            "export",
            "--db",
            &db,
            "--format",
            "csv",
            "--tz",
            "Asia/Shanghai",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(",1795435200,2026-11-23T20:00:00+08:00,3212"),
        "{text}"
    );
    let copy = env.path("copy.db");
    env.cmd()
        .args(["import", "--quiet", "--db", copy.to_str().unwrap()])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("3 new"));
}

#[test]
fn tables_fit_the_terminal_and_leave_out_columns_empty_everywhere() {
    // issue 9: indicators printed 230 columns, with always-empty ones
    let env = Env::new();
    let db = archive(&env);
    let width = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let wide = stdout(&env, &["indicators", "--format", "table"]);
    assert!(width(&wide) > 120, "the catalog is wide unfitted:\n{wide}");
    for cols in ["80", "100"] {
        let out = env
            .cmd()
            .env("COLUMNS", cols)
            .args(["indicators", "--format", "table"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            width(&text) <= cols.parse().unwrap(),
            "COLUMNS={cols}:\n{text}"
        );
        assert!(text.contains("video_stall_rate"), "{text}");
    }
    // no room, no user set anywhere in the archive: no such columns
    let archived = stdout(
        &env,
        &["indicators", "--archived", "--db", &db, "--format", "table"],
    );
    assert!(archived.contains("video_stall_rate"), "{archived}");
    assert!(
        !archived.contains("room") && !archived.contains("users"),
        "{archived}"
    );
    let query = stdout(
        &env,
        &[
            "query",
            "--db",
            &db,
            "--from",
            "2026-11-23",
            "--to",
            "2026-11-24",
            "--format",
            "table",
        ],
    );
    assert!(
        query.contains("online_user_count") && query.contains("unit"),
        "{query}"
    );
    assert!(
        !query.contains("room_id") && !query.contains("user_ids"),
        "{query}"
    );
    let sql = stdout(
        &env,
        &[
            "sql",
            "--db",
            &db,
            "SELECT indicator, room_id FROM samples",
            "--format",
            "table",
        ],
    );
    assert!(
        sql.contains("indicator") && !sql.contains("room_id"),
        "{sql}"
    );
    // CSV keeps every column: programs count on them
    let csv = stdout(
        &env,
        &[
            "sql",
            "--db",
            &db,
            "SELECT indicator, room_id FROM samples",
            "--format",
            "csv",
        ],
    );
    assert!(csv.starts_with("indicator,room_id\n"), "{csv}");
}
