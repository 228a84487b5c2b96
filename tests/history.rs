//! History from the offline action, with the real binary against the
//! simulator (and the independent API) on loopback: `backfill` gives exact
//! 5-minute values, is idempotent and resumable, honours the offline
//! reach, span and rate; the collector's gap repair fills a 10-hour hole
//! once the offline delay has passed, and leaves operation gaps as they are
//! (lived through on a faked clock: the binary under libfaketime, the
//! independent API's clock moved by the same offset).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::faketime::FakeTime;
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
    assert_eq!(sim.requests("ListQuality"), 2);
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
    assert_eq!(sim.requests("ListQuality"), 2, "a re-run sends nothing");
    let again: i64 = conn
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert_eq!(points, again);

    // collected at 30 s afterwards: no 5-minute point beside a 30-second one
    env.cmd().args(["collect", "--once"]).assert().success();
    assert_no_5_minute_point_beside_a_30_second_one(&conn);
    sim.assert_offline_polite("ListQuality");
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
    // no request can narrow to one value of a dimension
    env.cmd()
        .args(["backfill", "--dimension-value", "ios"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "backfill cannot take --dimension-value",
        ));
    assert_eq!(sim.requests("ListQuality"), 0);
    let before = now();
    env.cmd()
        .args(["backfill", "--from", "-40d", "--to", "-29d"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "beyond the offline API's 30-day reach",
        ));
    // one call per quality stream, none beyond the reach
    assert_eq!(sim.requests("ListQuality"), 2);
    let oldest: i64 = env
        .conn()
        .query_row("SELECT min(ts) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert!(oldest >= before - 30 * 86_400, "{}", before - oldest);
    assert!(oldest < before - 30 * 86_400 + 1200, "{}", before - oldest);
    sim.assert_offline_polite("ListQuality");
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
    assert_eq!(sim.requests("ListQuality"), 4);
    assert_eq!(
        slow.requests("ListQuality"),
        5,
        "2 stored, 1 killed, 2 resumed"
    );
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
    sim.assert_offline_polite("ListQuality");
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

/// (source, indicator, start, end, cause, repaired_resolution), oldest first.
type Gap = (String, String, i64, i64, String, Option<i64>);

fn gaps(env: &Env) -> Vec<Gap> {
    env.conn()
        .prepare(
            "SELECT source, indicator, start_ts, end_ts, cause, repaired_resolution FROM gaps
             ORDER BY start_ts, source, indicator",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A hole's gaps (`not_collected`, one per indicator), and the slivers a
/// pass may add at its end: the reach slides on while a stream waits for
/// the pacer's turn, and a bucket that slides out meanwhile is
/// `over_budget` (see `gaps::split_lost`), at most one 30-second bucket.
fn holes_and_slivers(gaps: Vec<Gap>) -> (Vec<Gap>, Vec<Gap>) {
    let (holes, slivers): (Vec<Gap>, Vec<Gap>) =
        gaps.into_iter().partition(|g| g.4 == "not_collected");
    for g in &slivers {
        assert_eq!(g.4, "over_budget", "{g:?}");
        assert!(g.3 - g.2 <= 30, "a sliver, not a hole: {g:?}");
        assert!(
            holes.iter().any(|h| h.3 == g.2),
            "at a hole's end: {g:?} {holes:?}"
        );
    }
    (holes, slivers)
}

/// The slots (5-minute starts) holding a 30-second point of one quality series.
fn real_time_slots(conn: &rusqlite::Connection, room: &str, name: &str) -> BTreeSet<i64> {
    conn.prepare(
        "SELECT DISTINCT ts - ts % 300 FROM samples WHERE resolution = 30 AND source = 'quality'
         AND coalesce(room_id, '') = ?1 AND indicator = ?2",
    )
    .unwrap()
    .query_map([room, name], |r| r.get(0))
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The real binary at `offset` seconds ahead of the machine's clock, with
/// the independent API's credentials; its stdout, and how long it took in
/// real time. Fails with its stderr when it fails, or after a minute.
fn run_faked(ft: &FakeTime, env: &Env, offset: i64, args: &[&str]) -> (Vec<u8>, Duration) {
    let mut cmd = ft.cmd(env, offset);
    cmd.args(args)
        .env("VOLC_ACCESSKEY", independent::ACCESS_KEY)
        .env("VOLC_SECRETKEY", independent::SECRET_KEY);
    let started = Instant::now();
    let out = assert_cmd::Command::from_std(cmd)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap_or_else(|e| panic!("{args:?} at +{offset}s: {e}"));
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{args:?} at +{offset}s: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, took)
}

/// The collector is away for 10 hours, on a clock that really moves: the
/// binary runs under libfaketime and the independent API's clock is set to
/// the same offset. Back at T+10 h the hole is recorded as not collected
/// and left alone (the offline API's data are 8 hours late); at T+19 h its
/// quality gaps are repaired with the API's exact 5-minute values, never in
/// a slot that holds a 30-second point, its operation gaps stay unrepairable,
/// and no request broke a rule of any action.
#[test]
fn a_10_hour_outage_is_repaired_at_5_minutes_only_after_the_offline_delay_on_a_faked_clock() {
    let Some(ft) = FakeTime::find(
        "a_10_hour_outage_is_repaired_at_5_minutes_only_after_the_offline_delay_on_a_faked_clock",
    ) else {
        return;
    };
    let env = Env::new();
    let api = Server::start(&env, 0.0, 20, &[]);
    env.write_config(&api.endpoint(), TARGETS);
    let list_quality_requests =
        || api.get("/stats")["per_action"]["ListQuality"]["requests"].clone();
    // one pass at `offset`, both sides on the same clock; the machine's
    // time when it started
    let collect_at = |offset: i64| -> i64 {
        // each process paces its requests afresh, and the API's rate is a
        // sliding window in real time: passes a second apart, as a cron'd
        // collector's are (minutes, there), so that back-to-back processes
        // on a loaded machine cannot put 3 requests in one second
        std::thread::sleep(Duration::from_secs(1));
        api.set_clock_offset(offset);
        let started = now();
        let (_, took) = run_faked(&ft, &env, offset, &["collect", "--once"]);
        // tokio's timers still measure real time under faketime: the pacer
        // spaces the two ListRealTimeQuality requests 550 ms apart
        assert!(
            took >= Duration::from_millis(500),
            "a pass at +{offset}s took {took:?}"
        );
        started
    };
    let status_at = |offset: i64| -> serde_json::Value {
        let before = now();
        let (out, _) = run_faked(&ft, &env, offset, &["status", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        // SystemTime follows the faked clock
        let its_now = v["now"].as_i64().unwrap() - offset;
        assert!(
            (before..=now()).contains(&its_now),
            "status at +{offset}s: {its_now} is not the machine's time: {v}"
        );
        v
    };

    let t = collect_at(0);
    assert_eq!(gaps(&env), vec![], "a first pass has no hole");

    // back after 10 hours: the hole (all but the last hour, which the
    // real-time API still reaches) is recorded, not yet repairable
    let back = collect_at(10 * H);
    let (hole, slivers) = holes_and_slivers(gaps(&env));
    assert_eq!(hole.len(), 5, "one gap per requested indicator: {hole:?}");
    for g in &hole {
        assert!(
            (t - 120..=t).contains(&g.2),
            "starts where the first pass ended: {g:?}"
        );
        assert!(g.3 - g.2 > DELAY, "longer than the offline delay: {g:?}");
        assert!(
            (back + 9 * H..=back + 9 * H + 300).contains(&g.3),
            "ends where the real-time API's 60-minute reach began: {g:?}"
        );
    }
    for g in hole.iter().chain(&slivers) {
        assert_eq!(g.5, None, "not repairable before the offline delay: {g:?}");
    }
    let quality = |gaps: &[Gap]| gaps.iter().filter(|g| g.0 == "quality").count();
    let operation = |gaps: &[Gap]| gaps.iter().filter(|g| g.0 == "operation").count();
    assert_eq!(
        list_quality_requests(),
        0,
        "nothing asked of the offline API yet"
    );
    let v = status_at(10 * H);
    let h = &v["history"];
    assert_eq!(h["pending_gaps"], quality(&hole) + quality(&slivers), "{v}");
    assert_eq!(h["repaired_gaps"], 0, "{v}");
    let unrepairable = operation(&hole) + operation(&slivers);
    assert_eq!(h["unrepairable"]["operation_gaps"], unrepairable, "{v}");

    // nine hours later the hole ended over 8 hours ago: the pass repairs it
    let _ = collect_at(19 * H);
    // the first absence (and its slivers) ends by back + 9 h + 5 min, the
    // second begins where the pass at +10 h ended, about back + 10 h
    let (first, second): (Vec<Gap>, Vec<Gap>) = gaps(&env)
        .into_iter()
        .partition(|g| g.2 < back + 9 * H + 1800);
    let (first_hole, first_slivers) = holes_and_slivers(first.clone());
    let (second_hole, _) = holes_and_slivers(second.clone());
    let interval = |gaps: &[Gap]| -> Vec<(String, String, i64, i64)> {
        gaps.iter()
            .map(|g| (g.0.clone(), g.1.clone(), g.2, g.3))
            .collect()
    };
    assert_eq!(
        interval(&first_hole),
        interval(&hole),
        "the ledger keeps what was lost at 30 s"
    );
    assert_eq!(
        second_hole.len(),
        5,
        "the second absence is a hole too: {second:?}"
    );
    for g in &first {
        let want = (g.0 == "quality").then_some(300);
        assert_eq!(g.5, want, "{g:?}");
    }
    for g in &second {
        assert_eq!(g.5, None, "the second hole waits for the delay: {g:?}");
    }
    // one call per quality stream; a sliver is asked for in a call of its
    // own (plan_calls does not merge it with the hole it touches)
    let calls = list_quality_requests().as_u64().unwrap() as usize;
    assert!(
        (2..=2 + quality(&first_slivers)).contains(&calls),
        "{calls} ListQuality calls for {first:?}"
    );

    // the 5-minute points are the API's own values, over the hole only,
    // and none in a slot the archive holds at 30 seconds
    let start = first.iter().map(|g| g.2).min().unwrap();
    let end = first.iter().map(|g| g.3).max().unwrap();
    let truth = api.get("/truth?action=ListQuality");
    let truth = truth.as_object().unwrap();
    // stall_rate answers audio_ and video_stall_rate, join_room_success_rate
    // 5s_ and 10s_: six series, two of them in the room
    assert_eq!(truth.len(), 6, "{:?}", truth.keys());
    let conn = env.conn();
    let mut checked = 0;
    for (key, buckets) in truth {
        // ListQuality|app|room|users|name|granularity
        let parts: Vec<&str> = key.split('|').collect();
        assert_eq!(parts[5], "5min", "{key}");
        let beside = real_time_slots(&conn, parts[2], parts[4]);
        let served: BTreeMap<i64, f64> = buckets
            .as_object()
            .unwrap()
            .iter()
            .map(|(ts, v)| (ts.parse().unwrap(), v.as_f64().unwrap()))
            .collect();
        for ts in served.keys() {
            assert!(
                (slot_floor(start)..end).contains(ts),
                "{key}: {ts} outside the hole"
            );
        }
        let want: BTreeMap<i64, f64> = served
            .iter()
            .filter(|(ts, _)| !beside.contains(ts))
            .map(|(ts, v)| (*ts, *v))
            .collect();
        assert!(
            served.len() - want.len() <= 2,
            "only the hole's edges: {key}"
        );
        assert_eq!(coarse(&conn, parts[2], parts[4]), want, "{key}");
        checked += want.len();
    }
    // 9 hours are 108 slots a series, less the odd quiet one
    assert!(checked > 6 * 95, "{checked}");
    assert_no_5_minute_point_beside_a_30_second_one(&conn);

    // another pass repairs nothing more
    let _ = collect_at(19 * H);
    assert_eq!(list_quality_requests(), calls);
    let v = status_at(19 * H);
    let h = &v["history"];
    assert_eq!(h["repaired_gaps"], quality(&first), "{v}");
    assert_eq!(h["pending_gaps"], quality(&second), "{v}");
    let unrepairable = operation(&first) + operation(&second);
    assert_eq!(h["unrepairable"]["operation_gaps"], unrepairable, "{v}");
    assert_eq!(h["unrepairable"]["expired_gaps"], 0, "{v}");
    let (text, _) = run_faked(&ft, &env, 19 * H, &["status"]);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(&format!("unrepairable: {unrepairable} operation gap(s)"))
            && text.contains("operation data has no offline history"),
        "{text}"
    );

    // both sides agreed on the time (signatures carry it) and no action's
    // reach, span or rate was broken
    let stats = api.get("/stats");
    for (action, s) in stats["per_action"].as_object().unwrap() {
        for k in [
            "auth_failures",
            "horizon_violations",
            "span_violations",
            "rate_violations",
            "quota_violations",
            "bad_requests",
            "beyond_delay",
        ] {
            assert_eq!(s[k], 0, "{action} {k}: {stats}");
        }
        assert!(
            s["max_per_second"].as_u64().unwrap() <= 2,
            "{action}: {stats}"
        );
    }
}
