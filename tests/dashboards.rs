//! The Grafana dashboard and the Datasette metadata in contrib/ read the
//! archive's views: every query of the dashboard runs, with Grafana's
//! macros and variables substituted, against a real archive built here
//! (collected from the simulator, with older history imported and a gap),
//! and every view and column the metadata labels exists, and every one
//! that exists is labelled.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use rtc_archiver::Source;
use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::simulator::SimConfig;
use rtc_archiver::store::{Lost, OpenMode, Store};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap()
}

/// An archive as a collector leaves it: the last hour collected from the
/// simulator (app-wide and a room with users, both actions), 120 days of
/// older history imported (one point every 6 hours), and a gap 4 hours ago.
fn archive(env: &Env) -> std::path::PathBuf {
    let sim = Sim::start(SimConfig::default());
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    let now = now();
    let mut history = String::new();
    for i in 1..=480 {
        let ts = (now - 3 * 3600 - i * 6 * 3600) / 30 * 30;
        for (source, indicator, value) in [
            ("quality", "video_stall_rate", 1.5 + (i % 7) as f64),
            ("quality", "audio_stall_rate", 0.5 + (i % 5) as f64),
            ("operation", "online_user_count", 100.0 + i as f64),
        ] {
            history.push_str(&format!(
                "{{\"app_id\":\"app1\",\"source\":\"{source}\",\"indicator\":\"{indicator}\",\"ts\":{ts},\"value\":{value}}}\n"
            ));
        }
    }
    let file = env.path("history.jsonl");
    std::fs::write(&file, history).unwrap();
    env.cmd()
        .args(["import", "--quiet", "--no-compact", "--db"])
        .arg(env.db())
        .arg(&file)
        .assert()
        .success();
    let mut store = Store::open(&env.db(), OpenMode::Existing).unwrap();
    let key = StreamKey::new("app1", None, UserSet::NONE, Source::Quality);
    let start = (now - 5 * 3600) / 30 * 30;
    store
        .record_lost(
            &key,
            &[Lost {
                indicator: "stall_rate",
                start,
                end: start + 3600,
            }],
            rtc_archiver::gaps::Reach {
                delay: 60,
                margin: 60,
            },
            None,
            now,
        )
        .unwrap();
    drop(store);
    env.db()
}

/// `key: value` of a provisioning file's first list item (enough for the
/// flat files in contrib/grafana/provisioning).
fn yaml_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| l.trim().trim_start_matches("- "))
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

/// The dashboard's query targets: (panel title, query type, time columns, SQL).
fn targets(dash: &Value) -> Vec<(String, String, Vec<String>, String)> {
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let sql = t["rawQueryText"].as_str().unwrap().to_string();
            assert_eq!(
                t["queryText"].as_str(),
                Some(sql.as_str()),
                "{}",
                panel["title"]
            );
            out.push((
                panel["title"].as_str().unwrap().to_string(),
                t["queryType"].as_str().unwrap().to_string(),
                t["timeColumns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect(),
                sql,
            ));
        }
    }
    out
}

/// Runs `sql`, returning its column names and rows (as JSON values).
fn run(conn: &Connection, sql: &str) -> Result<(Vec<String>, Vec<Vec<Value>>), String> {
    let mut stmt = conn.prepare(sql).map_err(|e| format!("{e}\n{sql}"))?;
    let names: Vec<String> = stmt.column_names().map(|n| n.to_string()).collect();
    let width = names.len();
    let rows = stmt
        .query_map([], |r| {
            (0..width)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(v) => v.into(),
                        rusqlite::types::ValueRef::Real(v) => v.into(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned().into()
                        }
                        rusqlite::types::ValueRef::Blob(_) => Value::Null,
                    })
                })
                .collect()
        })
        .map_err(|e| format!("{e}\n{sql}"))?
        .collect::<Result<Vec<Vec<Value>>, _>>()
        .map_err(|e| format!("{e}\n{sql}"))?;
    Ok((names, rows))
}

/// Substitutes what Grafana would: the range in milliseconds, the
/// interval, and the dashboard's variables.
fn substitute(sql: &str, from_ms: i64, to_ms: i64, vars: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = sql
        .replace("$__from", &from_ms.to_string())
        .replace("$__to", &to_ms.to_string())
        .replace("$__interval_ms", &((to_ms - from_ms) / 1000).to_string());
    for (name, values) in vars {
        let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        out = out
            .replace(&format!("${{{name}:singlequote}}"), &quoted.join(","))
            .replace(&format!("${name}"), &values.join(","));
    }
    assert!(!out.contains('$'), "a macro or variable left over:\n{out}");
    out
}

#[test]
fn every_dashboard_query_runs_against_a_real_archive_and_finds_data() {
    let env = Env::new();
    let db = archive(&env);
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();

    // the provisioning: the plugin's id, the data source's uid, the archive's path
    let ds = yaml_values(&read(
        "contrib/grafana/provisioning/datasources/rtc-archiver.yaml",
    ));
    assert_eq!(ds["type"], "frser-sqlite-datasource");
    assert_eq!(ds["apiVersion"], "1");
    assert!(ds["path"].ends_with("/rtc-archive.db"), "{ds:?}");
    assert_eq!(ds["pathOptions"], "mode=ro");
    let provider = yaml_values(&read(
        "contrib/grafana/provisioning/dashboards/rtc-archiver.yaml",
    ));
    assert_eq!(provider["type"], "file");

    let dash: Value =
        serde_json::from_str(&read("contrib/grafana/dashboards/rtc-archiver.json")).unwrap();
    assert_eq!(dash["uid"], "rtc-archiver");
    let want_ds = serde_json::json!({"type": ds["type"], "uid": ds["uid"]});
    // every panel: a unique id, on the 24-column grid, on the provisioned data source
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let panels = dash["panels"].as_array().unwrap();
    for p in panels {
        assert!(ids.insert(p["id"].as_i64().unwrap()), "{}", p["id"]);
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(x + w <= 24, "{}", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{} overlaps another panel",
                    p["title"]
                );
            }
        }
        if p["type"] != "row" {
            assert_eq!(p["datasource"], want_ds, "{}", p["title"]);
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"], want_ds, "{}", p["title"]);
            }
        }
    }
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for want in ["Quality", "Users online", "Gaps", "Collector health"] {
        assert!(titles.contains(&want), "no {want} row: {titles:?}");
    }

    // the variables, resolved as Grafana would, each from one column
    let mut vars: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in dash["templating"]["list"].as_array().unwrap() {
        assert_eq!(v["datasource"], want_ds);
        let sql = substitute(v["query"].as_str().unwrap(), 0, 0, &vars);
        let (names, rows) = run(&conn, &sql).unwrap();
        assert_eq!(
            names.len(),
            1,
            "a variable's query answers one column: {sql}"
        );
        let values: Vec<String> = rows
            .iter()
            .map(|r| r[0].as_str().unwrap().to_string())
            .collect();
        assert!(!values.is_empty(), "{} is empty: {sql}", v["name"]);
        vars.insert(v["name"].as_str().unwrap().to_string(), values);
    }
    assert_eq!(vars["app"], ["app1"]);
    assert!(
        vars["quality"].contains(&"video_stall_rate".to_string()),
        "{vars:?}"
    );

    let now_ms = now() * 1000;
    let day = 86_400_000;
    let targets = targets(&dash);
    assert!(targets.len() >= 8, "{targets:?}");
    // the last 6 hours (points), 30 days (hourly rollups), 180 days (daily rollups)
    for (range, span) in [
        ("6h", 6 * 3_600_000),
        ("30d", 30 * day),
        ("180d", 180 * day),
    ] {
        for (title, kind, time_columns, sql) in &targets {
            let sql = substitute(sql, now_ms - span, now_ms, &vars);
            let (names, rows) =
                run(&conn, &sql).unwrap_or_else(|e| panic!("{title} ({range}): {e}"));
            for c in time_columns {
                assert!(
                    names.contains(c),
                    "{title}: no time column {c} in {names:?}"
                );
            }
            if kind == "time series" {
                let t = names.iter().position(|n| n == "time").unwrap();
                for r in &rows {
                    let ts = r[t]
                        .as_i64()
                        .unwrap_or_else(|| panic!("{title}: time {r:?}"));
                    assert!(
                        ts <= now_ms / 1000 && ts > (now_ms - span) / 1000 - 86_400,
                        "{title}: {ts}"
                    );
                }
            }
            // with data in every range, every panel shows some over 6 hours,
            // and the trends over the longer ranges too
            let trend = title.starts_with("Quality") || title.starts_with("Users");
            if range == "6h" || trend {
                assert!(!rows.is_empty(), "{title} ({range}) found nothing:\n{sql}");
            }
        }
    }
}

#[test]
fn the_datasette_metadata_labels_every_view_and_column_there_is() {
    let env = Env::new();
    let db = env.path("rtc-archive.db");
    Store::open(&db, OpenMode::Create).unwrap();
    let conn = Connection::open(&db).unwrap();
    let objects: Vec<(String, String)> = {
        let mut stmt = conn
            .prepare("SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite%'")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let meta: Value = serde_json::from_str(&read("contrib/datasette/metadata.json")).unwrap();
    // the database key is the archive's file name without .db
    let tables = meta["databases"]["rtc-archive"]["tables"]
        .as_object()
        .unwrap();
    for (kind, name) in &objects {
        let entry = tables
            .get(name)
            .unwrap_or_else(|| panic!("{kind} {name} is not in the metadata"));
        if kind == "table" {
            assert_eq!(
                entry["hidden"], true,
                "the table {name} is internal: hide it"
            );
            continue;
        }
        assert!(
            entry["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        let columns: BTreeSet<String> = conn
            .prepare(&format!("SELECT * FROM {name}"))
            .unwrap()
            .column_names()
            .map(|c| c.to_string())
            .collect();
        let labelled: BTreeSet<String> = entry["columns"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(labelled, columns, "the columns of {name}");
        for facet in entry["facets"].as_array().into_iter().flatten() {
            assert!(
                columns.contains(facet.as_str().unwrap()),
                "{name}: facet {facet}"
            );
        }
    }
    for name in tables.keys() {
        assert!(
            objects.iter().any(|(_, n)| n == name),
            "{name} is not in the archive"
        );
    }
}
