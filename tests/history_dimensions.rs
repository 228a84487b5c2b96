//! History of the breakdowns from the offline `ListQualityDistribution`
//! (issue 12 on top of issue 11), with the real binary against the
//! simulator and the independent API on loopback: `backfill` gives every
//! (indicator, dimension, value) its exact 5-minute values and nothing
//! else, is idempotent, and keeps to the action's own reach, span and
//! rate; the collector repairs a breakdown's recorded gap through it.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::independent::{self, Server};
use common::*;
use predicates::prelude::*;
use rtc_archiver::series::{Dimension, StreamKey};
use rtc_archiver::simulator::SimConfig;
use rtc_archiver::simulator::model::dimension_values;
use rtc_archiver::store::history::{slot_ceil, slot_floor};

const H: i64 = 3600;
const DELAY: i64 = 8 * H;
const ACTION: &str = "ListQualityDistribution";

/// stall_rate app-wide, and broken down by OS and network type.
const BREAKDOWN: &str = r#"
[[target]]
app_id = "app1"
quality = ["stall_rate"]
distribution = ["stall_rate"]
dimensions = ["OS", "Access"]
"#;

/// Archived 5-minute breakdown points: (dimension, indicator, value) → ts → value.
type Coarse = BTreeMap<(String, String, String), BTreeMap<i64, f64>>;

fn coarse_breakdown(conn: &rusqlite::Connection) -> Coarse {
    let mut out = Coarse::new();
    let mut stmt = conn
        .prepare(
            "SELECT dimension, indicator, dimension_value, ts, value FROM samples
             WHERE source = 'distribution' AND resolution = 300",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?),
                r.get::<_, i64>(3)?,
                r.get::<_, f64>(4)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (key, ts, value) = row.unwrap();
        assert!(
            out.entry(key).or_default().insert(ts, value).is_none(),
            "one point per slot"
        );
    }
    out
}

/// Checks that every slot of `[from, to)` of every (indicator, dimension,
/// value) of [`BREAKDOWN`] holds exactly the simulator's 5-minute value
/// (nothing where it has none), and that no other breakdown series was
/// archived at 5 minutes.
fn assert_exact_breakdown(conn: &rusqlite::Connection, sim: &Sim, from: i64, to: i64) -> usize {
    let model = sim.config.model;
    let stored = coarse_breakdown(conn);
    let mut keys = BTreeSet::new();
    let mut checked = 0;
    for dimension in [Dimension::Os, Dimension::Access] {
        let stream = StreamKey::distribution("app1", dimension);
        for name in ["audio_stall_rate", "video_stall_rate"] {
            for value in dimension_values(dimension) {
                let key = (dimension.to_string(), name.to_string(), value.to_string());
                let s = stream.series_by(name, Some(value.to_string()));
                let got = stored.get(&key).cloned().unwrap_or_default();
                let mut slot = slot_ceil(from);
                while slot + 300 <= to {
                    assert_eq!(
                        got.get(&slot).copied(),
                        model.slot_value(&s, slot),
                        "{key:?} at {slot}"
                    );
                    checked += 1;
                    slot += 300;
                }
                keys.insert(key);
            }
        }
    }
    let archived: BTreeSet<_> = stored.keys().cloned().collect();
    assert_eq!(archived, keys, "the configured breakdowns, every value");
    checked
}

/// (source, dimension, start, end, repaired_resolution)
type Gap = (String, Option<String>, i64, i64, Option<i64>);

#[test]
fn backfill_from_two_days_ago_gives_exact_5_minute_breakdowns_and_a_rerun_fetches_nothing() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, BREAKDOWN);
    let before = now();
    env.cmd()
        .args(["backfill", "--from", "-2d"])
        .assert()
        .success()
        .stderr(predicate::str::contains("skipped").not())
        .stderr(predicate::str::contains("3 stream(s), 3 call(s) due"));
    let after = now();
    // one request per indicator and dimension: 40 hours fit in one 7-day call
    assert_eq!(sim.requests(ACTION), 2);
    assert_eq!(sim.requests("ListQuality"), 1);
    let conn = env.conn();
    let checked =
        assert_exact_breakdown(&conn, &sim, after - 2 * 86_400, slot_floor(before - DELAY));
    // 2 names x (5 OS + 5 network types) x 40 hours of slots
    assert!(checked > 20 * 470, "{checked}");
    let real_time: i64 = conn
        .query_row(
            "SELECT count(*) FROM samples WHERE resolution = 30",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(real_time, 0);
    let logged: i64 = conn
        .query_row(
            "SELECT count(*) FROM history_log h JOIN streams s ON s.id = h.stream_id
             WHERE s.source = 'distribution' AND h.resolution = 300",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        logged, 2,
        "one fetched interval per indicator and dimension"
    );

    // idempotent: nothing is asked twice
    let points: i64 = conn
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    env.cmd()
        .args(["backfill", "--from", "-2d"])
        .assert()
        .success()
        .stderr(predicate::str::contains("0 call(s) due"));
    assert_eq!(sim.requests(ACTION), 2, "a re-run sends nothing");
    let again: i64 = conn
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert_eq!(points, again);

    // --source selects the breakdowns alone
    env.cmd()
        .args(["backfill", "--from", "-3d", "--source", "distribution"])
        .assert()
        .success()
        .stderr(predicate::str::contains("2 stream(s), 2 call(s) due"));
    assert_eq!(sim.requests(ACTION), 4);
    assert_eq!(sim.requests("ListQuality"), 1);

    // collected at 30 s afterwards: no 5-minute point beside a 30-second one
    env.cmd().args(["collect", "--once"]).assert().success();
    assert_no_5_minute_point_beside_a_30_second_one(&conn);
    sim.assert_offline_polite(ACTION);
}

#[test]
fn a_breakdown_gap_is_repaired_at_5_minutes_through_its_own_offline_action() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, BREAKDOWN);
    env.cmd().args(["collect", "--once"]).assert().success();
    // the collector was away for 10 hours, 9 hours ago as the archive sees
    // it: the hole ended over 8 hours ago
    {
        let conn = env.conn();
        let done: i64 = conn
            .query_row("SELECT min(done_ts) FROM feeds", [], |r| r.get(0))
            .unwrap();
        conn.execute(
            "UPDATE feeds SET done_ts = ?1, first_ts = first_ts - ?2",
            [done - 10 * H, 12 * H],
        )
        .unwrap();
        conn.execute("DELETE FROM points", []).unwrap();
    }
    env.cmd().args(["collect", "--once"]).assert().success();
    {
        let conn = env.conn();
        conn.execute(
            "UPDATE feeds SET first_ts = first_ts - ?1, done_ts = done_ts - ?1",
            [9 * H],
        )
        .unwrap();
        conn.execute(
            "UPDATE gap_log SET start_ts = start_ts - ?1, end_ts = end_ts - ?1",
            [9 * H],
        )
        .unwrap();
        conn.execute("DELETE FROM points", []).unwrap();
    }
    assert_eq!(sim.requests(ACTION), 0);
    env.cmd().args(["collect", "--once"]).assert().success();
    let gaps: Vec<Gap> = env
        .conn()
        .prepare(
            "SELECT source, dimension, start_ts, end_ts, repaired_resolution FROM gaps
             WHERE end_ts < ?1 ORDER BY source, dimension",
        )
        .unwrap()
        .query_map([now() - DELAY], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let shape: Vec<(&str, Option<&str>, Option<i64>)> = gaps
        .iter()
        .map(|g| (g.0.as_str(), g.1.as_deref(), g.4))
        .collect();
    assert_eq!(
        shape,
        [
            ("distribution", Some("Access"), Some(300)),
            ("distribution", Some("OS"), Some(300)),
            ("quality", None, Some(300)),
        ],
        "{gaps:?}"
    );
    // one call per indicator and dimension, through its own action
    assert_eq!(sim.requests(ACTION), 2);
    assert_eq!(sim.requests("ListQuality"), 1);
    let (start, end) = (gaps[0].2, gaps[0].3);
    let conn = env.conn();
    let checked = assert_exact_breakdown(&conn, &sim, slot_floor(start), slot_ceil(end));
    assert!(checked > 20 * 100, "{checked}");
    assert_no_5_minute_point_beside_a_30_second_one(&conn);
    // a second pass repairs nothing more
    env.cmd().args(["collect", "--once"]).assert().success();
    assert_eq!(sim.requests(ACTION), 2);
    sim.assert_offline_polite(ACTION);
    env.cmd()
        .args(["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "gaps repaired at 5 minutes (offline API): 3",
        ));
}

#[test]
fn backfill_of_a_breakdown_against_the_independent_api_matches_its_truth() {
    let env = Env::new();
    let server = Server::start(&env, 0.0, 20, &[]);
    env.write_config(
        &server.endpoint(),
        r#"
[[target]]
app_id = "app-x"
distribution = ["stall_rate", "5s_join_room_success_rate"]
dimensions = ["OS", "Province"]
"#,
    );
    let out = independent::cmd(&env)
        .args(["backfill", "--from", "-2d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let truth = server.get("/truth?action=ListQualityDistribution");
    let truth = truth.as_object().unwrap();
    let mut archived = BTreeMap::new();
    for ((dimension, name, value), points) in coarse_breakdown(&env.conn()) {
        let key = format!("ListQualityDistribution|app-x|||{name}|5min|{dimension}|{value}");
        archived.insert(key, points);
    }
    assert_eq!(
        archived.keys().collect::<BTreeSet<_>>(),
        truth.keys().collect::<BTreeSet<_>>(),
        "the same (indicator, dimension, value) series"
    );
    assert!(
        truth.keys().any(|k| k.contains("|Province|")),
        "{:?}",
        truth.keys().collect::<Vec<_>>()
    );
    let mut checked = 0;
    for (key, slots) in truth {
        let want: BTreeMap<i64, f64> = slots
            .as_object()
            .unwrap()
            .iter()
            .map(|(ts, v)| (ts.parse().unwrap(), v.as_f64().unwrap()))
            .collect();
        assert_eq!(archived[key], want, "{key}");
        checked += want.len();
    }
    assert!(checked > 4 * 400, "{checked}");
    let stats = server.get("/stats");
    let d = &stats["per_action"][ACTION];
    assert_eq!(d["ok"], 4, "one call per indicator and dimension: {stats}");
    for k in [
        "horizon_violations",
        "span_violations",
        "rate_violations",
        "beyond_delay",
    ] {
        assert_eq!(d[k], 0, "{k}: {stats}");
    }
    for rule in ["auth_failures", "bad_requests"] {
        assert_eq!(stats[rule], 0, "{rule}: {stats}");
    }
}
