//! History from the offline action, with the real binary against the
//! simulator (and the independent API) on loopback: `backfill` gives exact
//! 5-minute values, is idempotent and resumable, honours the offline
//! reach, span and rate; the collector's gap repair fills a 10-hour hole
//! once the offline delay has passed, and leaves operation gaps as they are.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::independent::{self, Server};
use common::*;
use predicates::prelude::*;
use rtc_archiver::Source;
use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::simulator::{Fault, FaultPlan, SimConfig};
use rtc_archiver::store::history::{slot_ceil, slot_floor};

const H: i64 = 3600;
const DELAY: i64 = 8 * H;

/// The quality series of [`TARGETS`]: (room, users, answered names).
fn quality_series() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    target_series()
        .into_iter()
        .filter(|s| s.0 == Source::Quality)
        .map(|s| (s.1, s.2, s.3))
        .collect()
}

/// The 5-minute points of one series: ts -> value.
fn coarse(conn: &rusqlite::Connection, room: &str, name: &str) -> BTreeMap<i64, f64> {
    conn.prepare(
        "SELECT ts, value FROM samples WHERE resolution = 300 AND source = 'quality'
         AND coalesce(room_id, '') = ?1 AND indicator = ?2 ORDER BY ts",
    )
    .unwrap()
    .query_map([room, name], |r| Ok((r.get(0)?, r.get(1)?)))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Checks that every slot of `[from, to)` of every quality series holds
/// exactly the model's 5-minute value (or nothing where it has none).
fn assert_exact_history(conn: &rusqlite::Connection, sim: &Sim, from: i64, to: i64) -> usize {
    let model = sim.config.model;
    let mut checked = 0;
    for (room, users, names) in quality_series() {
        for name in names {
            let key = StreamKey::new(
                "app1",
                Some(room.to_string()),
                UserSet::parse(users).unwrap(),
                Source::Quality,
            )
            .series(name);
            let stored = coarse(conn, room, name);
            let mut slot = slot_ceil(from);
            while slot + 300 <= to {
                assert_eq!(
                    stored.get(&slot).copied(),
                    model.slot_value(&key, slot),
                    "{name} {room} at {slot}"
                );
                checked += 1;
                slot += 300;
            }
        }
    }
    checked
}

/// No 5-minute point shares its slot with a 30-second point of its series.
fn assert_no_coarse_beside_real_time(conn: &rusqlite::Connection) {
    let beside: i64 = conn
        .query_row(
            "SELECT count(*) FROM samples c JOIN samples f
               ON f.source = c.source AND f.app_id = c.app_id
              AND coalesce(f.room_id, '') = coalesce(c.room_id, '')
              AND coalesce(f.user_ids, '') = coalesce(c.user_ids, '')
              AND f.indicator = c.indicator
              AND f.resolution = 30 AND f.ts >= c.ts AND f.ts < c.ts + 300
             WHERE c.resolution = 300",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(beside, 0, "5-minute points beside 30-second ones");
}

/// No request broke the offline action's reach, span or rate.
fn assert_offline_polite(sim: &Sim) {
    let s = sim.stats();
    sim.assert_polite();
    if let Some(q) = s.actions.get("ListQuality") {
        assert_eq!(q.reach_violations, 0, "{s:?}");
        assert_eq!(q.span_violations, 0, "{s:?}");
        assert_eq!(q.rate_limited, 0, "{s:?}");
        assert_eq!(q.beyond_delay, 0, "{s:?}");
        assert!(q.max_lookback_secs <= 30.0 * 86_400.0, "{s:?}");
    }
}

fn offline_requests(sim: &Sim) -> u64 {
    sim.stats()
        .by_action
        .get("ListQuality")
        .copied()
        .unwrap_or(0)
}

#[test]
fn backfill_from_two_days_ago_gives_exact_5_minute_history_and_a_rerun_fetches_nothing() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    let before = now();
    env.cmd()
        .args(["backfill", "--from", "-2d"])
        .assert()
        .success()
        .stderr(predicate::str::contains("operation data"))
        .stderr(predicate::str::contains("backfill ["));
    // one request per quality stream: 40 hours fit in one 7-day call
    assert_eq!(offline_requests(&sim), 2);
    let conn = env.conn();
    let checked =
        assert_exact_history(&conn, &sim, before - 2 * 86_400, slot_floor(before - DELAY));
    assert!(checked > 6 * 450, "{checked}");
    let operation: i64 = conn
        .query_row(
            "SELECT count(*) FROM samples WHERE source = 'operation'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(operation, 0, "operation data has no offline history");
    let real_time: i64 = conn
        .query_row(
            "SELECT count(*) FROM samples WHERE resolution = 30",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(real_time, 0);

    // idempotent: nothing is asked twice
    let points: i64 = conn
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    env.cmd()
        .args(["backfill", "--from", "-2d"])
        .assert()
        .success()
        .stderr(predicate::str::contains("0 call(s) due"));
    assert_eq!(offline_requests(&sim), 2, "a re-run sends nothing");
    let again: i64 = conn
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert_eq!(points, again);

    // collected at 30 s afterwards: no 5-minute point beside a 30-second one
    env.cmd().args(["collect", "--once"]).assert().success();
    assert_no_coarse_beside_real_time(&conn);
    assert_offline_polite(&sim);
}

#[test]
fn backfill_bad_ranges_to_before_from_is_a_usage_error_and_beyond_the_reach_is_clamped() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd()
        .args(["backfill", "--from", "-1d", "--to", "-2d"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--from"));
    assert_eq!(offline_requests(&sim), 0);
    let before = now();
    env.cmd()
        .args(["backfill", "--from", "-40d", "--to", "-29d"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "beyond the offline API's 30-day reach",
        ));
    // one call per quality stream, none beyond the reach
    assert_eq!(offline_requests(&sim), 2);
    let oldest: i64 = env
        .conn()
        .query_row("SELECT min(ts) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert!(oldest >= before - 30 * 86_400, "{}", before - oldest);
    assert!(oldest < before - 30 * 86_400 + 1200, "{}", before - oldest);
    assert_offline_polite(&sim);
}

#[test]
fn backfill_interrupted_mid_run_resumes_to_the_same_archive() {
    let to = slot_floor(now() - 10 * H);
    let from = rtc_archiver::timeutil::fmt_utc(to - 10 * 86_400);
    let to = rtc_archiver::timeutil::fmt_utc(to);
    // uninterrupted
    let sim = Sim::start(SimConfig::default());
    let whole = Env::new();
    whole.write_config(&sim.endpoint, TARGETS);
    whole
        .cmd()
        .args(["backfill", "--from", &from, "--to", &to])
        .assert()
        .success();
    // the third request hangs: killed while it does
    let slow = Sim::start(SimConfig {
        faults: FaultPlan {
            script: vec![None, None, Some(Fault::Slow)],
            slow: Duration::from_secs(60),
            ..FaultPlan::default()
        },
        ..SimConfig::default()
    });
    let cut = Env::new();
    cut.write_config_with(
        &slow.endpoint,
        &ConfigSpec {
            timeout: "120s",
            ..ConfigSpec::default()
        },
        TARGETS,
    );
    let mut child = cut
        .std_cmd()
        .args(["backfill", "--from", &from, "--to", &to])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || slow
        .stats()
        .requests
        >= 3));
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = samples(&cut.conn()).len();
    assert!(
        partial > 0 && partial < samples(&whole.conn()).len(),
        "{partial}"
    );
    cut.cmd()
        .args(["backfill", "--from", &from, "--to", &to])
        .assert()
        .success();
    // 10 days: two calls per stream, 4 in all; the resumed run sent only what was left
    assert_eq!(offline_requests(&sim), 4);
    assert_eq!(offline_requests(&slow), 5, "2 stored, 1 killed, 2 resumed");
    assert_eq!(samples(&cut.conn()), samples(&whole.conn()));
    let logged = |env: &Env| -> Vec<(i64, String, i64, i64)> {
        env.conn()
            .prepare(
                "SELECT stream_id, indicator, start_ts, end_ts FROM history_log ORDER BY 1, 2, 3",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(logged(&cut), logged(&whole));
    assert_offline_polite(&sim);
}

/// (source, indicator, start, end, repaired_resolution)
type Gap = (String, String, i64, i64, Option<i64>);

fn gaps(env: &Env) -> Vec<Gap> {
    env.conn()
        .prepare(
            "SELECT source, indicator, start_ts, end_ts, repaired_resolution FROM gaps
             ORDER BY start_ts, source, indicator",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_collector_away_for_10_hours_has_its_hole_repaired_at_5_minutes_after_the_offline_delay() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    // the collector was away for the last 10 hours (and ran 2 hours before that)
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
    let hole = gaps(&env);
    assert_eq!(hole.len(), 5, "one gap per requested indicator: {hole:?}");
    for g in &hole {
        assert!(g.3 - g.2 > 8 * H, "{g:?}");
        assert_eq!(g.4, None, "not repairable before the offline delay: {g:?}");
    }
    assert_eq!(offline_requests(&sim), 0);
    let db = env.db();
    let db = db.to_str().unwrap();
    let status = env
        .cmd()
        .args(["status", "--db", db, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["history"]["unrepairable"]["operation_gaps"], 2, "{v}");

    // nine hours later, as the archive sees it: the hole ended over 8 hours ago
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
    env.cmd().args(["collect", "--once"]).assert().success();
    let after = gaps(&env);
    let old: Vec<&Gap> = after.iter().filter(|g| g.3 < now() - DELAY).collect();
    assert_eq!(old.len(), 5, "{after:?}");
    for g in &old {
        let want = if g.0 == "quality" { Some(300) } else { None };
        assert_eq!(g.4, want, "{g:?}");
    }
    // exact 5-minute values over the quality gaps' slots
    let (start, end) = (old[0].2, old[0].3);
    let checked = assert_exact_history(&env.conn(), &sim, slot_floor(start), slot_ceil(end));
    assert!(checked > 6 * 100, "{checked}");
    assert_no_coarse_beside_real_time(&env.conn());
    // one call per quality stream
    assert_eq!(offline_requests(&sim), 2);
    // a second pass repairs nothing more
    env.cmd().args(["collect", "--once"]).assert().success();
    assert_eq!(offline_requests(&sim), 2);
    assert_offline_polite(&sim);
    env.cmd()
        .args(["status", "--db", db])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "operation data has no offline history",
        ));
}

#[test]
fn backfill_against_the_independent_api_matches_its_truth() {
    let env = Env::new();
    let server = Server::start(&env, 0.0, 20, &[]);
    env.write_config(&server.endpoint(), TARGETS);
    let out = independent::cmd(&env)
        .args(["backfill", "--from", "-2d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let truth = server.get("/truth?action=ListQuality");
    let truth = truth.as_object().unwrap();
    assert!(!truth.is_empty());
    let conn = env.conn();
    let mut checked = 0;
    for (key, buckets) in truth {
        // ListQuality|app|room|users|name|granularity
        let parts: Vec<&str> = key.split('|').collect();
        assert_eq!(parts[5], "5min", "{key}");
        let stored = coarse(&conn, parts[2], parts[4]);
        let want: BTreeMap<i64, f64> = buckets
            .as_object()
            .unwrap()
            .iter()
            .map(|(ts, v)| (ts.parse().unwrap(), v.as_f64().unwrap()))
            .collect();
        assert_eq!(stored, want, "{key}");
        checked += want.len();
    }
    assert!(checked > 6 * 400, "{checked}");
    let stats = server.get("/stats");
    let q = &stats["per_action"]["ListQuality"];
    for k in [
        "horizon_violations",
        "span_violations",
        "rate_violations",
        "beyond_delay",
    ] {
        assert_eq!(q[k], 0, "{k}: {stats}");
    }
}
