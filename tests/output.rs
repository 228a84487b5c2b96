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
    assert!(
        csv.contains(",1.1,30,,\n") && csv.contains(",2.2,30,,\n"),
        "{csv}"
    );
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
    for cols in ["80", "100", "140"] {
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
        assert!(text.contains("share of"), "{text}");
        if cols == "140" {
            // wide enough for every word: names are never cut in two
            assert!(text.contains("first_frame_send_success_rate"), "{text}");
        }
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

#[test]
fn sql_and_indicators_take_the_formats_of_query() {
    let env = Env::new();
    let db = archive(&env);
    let sql = "SELECT value, indicator, ts FROM samples ORDER BY ts, indicator LIMIT 2";
    // into a pipe: JSON Lines, as query does (was: a table), keys in the
    // column order (was: sorted)
    let piped = stdout(&env, &["sql", "--db", &db, sql]);
    assert_eq!(
        piped,
        "{\"value\":3212.0,\"indicator\":\"online_user_count\",\"ts\":1795435200}\n\
         {\"value\":1.1,\"indicator\":\"video_stall_rate\",\"ts\":1795435200}\n"
    );
    assert_eq!(
        piped,
        stdout(&env, &["sql", "--db", &db, sql, "--format", "jsonl"])
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &env,
        &["sql", "--db", &db, sql, "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["indicator"], "video_stall_rate");
    // `sql -` reads the SQL from standard input, as `import -` does
    let out = env
        .cmd()
        .args(["sql", "--db", &db, "-", "--format", "csv"])
        .write_stdin(format!("{sql}\n"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "value,indicator,ts\n3212,online_user_count,1795435200\n1.1,video_stall_rate,1795435200\n"
    );
    env.cmd()
        .args(["sql", "--db", &db, "-"])
        .write_stdin("  \n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("standard input holds no SQL"));
    // the read-only rules hold for SQL from stdin too
    env.cmd()
        .args(["sql", "--db", &db, "-"])
        .write_stdin("DELETE FROM points")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sql is read-only"));

    // indicators: csv and jsonl too, JSON Lines into a pipe
    let catalog = stdout(&env, &["indicators"]);
    let first: serde_json::Value = serde_json::from_str(catalog.lines().next().unwrap()).unwrap();
    assert_eq!(first["source"], "quality");
    assert!(first["answered_as"].is_array(), "{first}");
    let csv = stdout(&env, &["indicators", "--format", "csv"]);
    assert!(
        csv.starts_with("source,name,unit,answered_as,threshold_prefix,meaning\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\"audio_stall_rate, video_stall_rate\""),
        "{csv}"
    );
    let archived = stdout(
        &env,
        &["indicators", "--archived", "--db", &db, "--format", "csv"],
    );
    assert_eq!(
        archived.lines().collect::<Vec<_>>(),
        [
            "app_id,room_id,user_ids,source,indicator,unit,dimension,dimension_value,first,last,points",
            "app1,,,operation,online_user_count,,,,2026-11-23T12:00:00Z,2026-11-23T12:00:00Z,1",
            "app1,,,quality,video_stall_rate,%,,,2026-11-23T12:00:00Z,2026-11-23T12:00:30Z,2",
        ]
    );
    let lines = stdout(
        &env,
        &["indicators", "--archived", "--db", &db, "--format", "jsonl"],
    );
    let row: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(row["room_id"], serde_json::Value::Null);
    assert_eq!(row["points"], 1);
}

#[test]
fn status_takes_csv_and_jsonl_and_its_table_fits_the_terminal() {
    // issue 9 items 10 and 11: status printed 154 columns whatever the
    // terminal, and had no csv or jsonl
    let sim = Sim::start(rtc_archiver::simulator::SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    let jsonl = stdout(&env, &["status", "--format", "jsonl"]);
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{jsonl}");
    // the columns in their order (a parsed Value would sort them)
    let first = jsonl.lines().next().unwrap();
    let at = |k: &str| first.find(&format!("\"{k}\":")).unwrap();
    assert!(
        at("app_id") < at("room_id") && at("user_ids") < at("source"),
        "{first}"
    );
    assert!(at("source") < at("indicators") && at("gaps_7d") < at("gap_seconds_7d"));
    assert!(
        rows.iter()
            .all(|r| r["lag_seconds"].as_i64().unwrap() < 300)
    );
    let room = rows.iter().find(|r| r["room_id"] == "room-1").unwrap();
    assert_eq!(room["user_ids"], "u1,u2");
    let csv = stdout(&env, &["status", "--format", "csv"]);
    assert!(
        csv.starts_with("app_id,room_id,user_ids,source,indicators,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4);
    for cols in [80, 120] {
        let out = env
            .cmd()
            .arg("status")
            .env("COLUMNS", cols.to_string())
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        // the table (or, too narrow for it, a block per stream) and the
        // budget lines, wrapped between words
        assert!(
            text.lines().all(|l| l.chars().count() <= cols),
            "COLUMNS={cols}:\n{text}"
        );
        assert!(text.contains("2026-") && text.contains("app1"), "{text}");
        // no column that is empty in every row (no stream has failed)
        assert!(!text.contains("last error"), "{text}");
    }
}
