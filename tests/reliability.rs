//! Nothing lost: faults on a schedule, crashes, overlapping runs, signals,
//! downtime beyond the horizon, and an honest status.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use predicates::prelude::*;
use rtc_archiver::simulator::{Fault, FaultPlan, SimConfig};

fn sim_with(script: &[Option<Fault>], slow: Duration) -> Sim {
    Sim::start(SimConfig {
        faults: FaultPlan {
            script: script.to_vec(),
            slow,
            ..FaultPlan::default()
        },
        ..SimConfig::default()
    })
}

fn integrity_ok(env: &Env) {
    let check: String = env
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("kill -{sig} {pid}"))
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn points(env: &Env) -> i64 {
    rusqlite::Connection::open(env.db())
        .and_then(|c| c.query_row("SELECT count(*) FROM points", [], |r| r.get(0)))
        .unwrap_or(0)
}

#[test]
fn every_fault_on_a_schedule_is_ridden_through() {
    let script: Vec<Option<Fault>> = Fault::RECOVERABLE.iter().copied().map(Some).collect();
    let sim = sim_with(&script, Duration::from_secs(7));
    let env = Env::new();
    // a 60 s interval gives the pass a 60 s budget for its retries
    let spec = ConfigSpec {
        interval: "60s",
        ..ConfigSpec::default()
    };
    env.write_config_with(&sim.endpoint, &spec, TARGETS);

    let before = now();
    let out = env.cmd().args(["collect", "--once"]).output().unwrap();
    let after = now();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // every fault was served, and logged as a retried failure or skipped points
    let stats = sim.stats();
    assert_eq!(stats.faults.len(), Fault::RECOVERABLE.len(), "{stats:?}");
    for needle in [
        "retrying",
        "skipped points",
        "timed out",
        "connection closed",
        "not JSON",
        "throttled",
        "502",
        "Indicators is not a list",
    ] {
        assert!(
            stderr.contains(needle),
            "no {needle:?} in the log:\n{stderr}"
        );
    }
    // and nothing was lost or stored wrong
    let conn = env.conn();
    assert_archive_matches_model(&conn, &sim, before, after);
    let skipped: i64 = conn
        .query_row("SELECT sum(points_skipped) FROM stream_stats", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(skipped >= 10, "{skipped}");
    let garbage: i64 = conn
        .query_row("SELECT count(*) FROM samples WHERE value < 0", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(garbage, 0, "points outside the window were stored");
    sim.assert_polite();
}

#[test]
fn a_second_collector_exits_75_naming_the_first() {
    let sim = sim_with(&[Some(Fault::Slow)], Duration::from_secs(4));
    let env = Env::new();
    let spec = ConfigSpec {
        timeout: "10s",
        ..ConfigSpec::default()
    };
    env.write_config_with(&sim.endpoint, &spec, TARGETS);

    let mut first = env
        .std_cmd()
        .args(["collect", "--once"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = env.path("archive.db.lock");
    assert!(wait_until(Duration::from_secs(10), || read(&lock).trim()
        == first.id().to_string()));
    assert!(wait_until(Duration::from_secs(10), || sim.stats().requests >= 1));
    let requests = sim.stats().requests;
    env.cmd()
        .args(["collect", "--once"])
        .assert()
        .code(75)
        .stderr(
            predicate::str::contains(format!("pid {}", first.id()))
                .and(predicate::str::contains("already collecting")),
        );
    // the second touched nothing: no request left it
    let status =
        wait_exit(&mut first, Duration::from_secs(30)).expect("the first collector finishes");
    assert!(status.success());
    assert!(sim.stats().requests >= requests);
    // reads work while a collector holds the lock
    let mut daemon = env
        .std_cmd()
        .arg("collect")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || read(&lock).trim()
        == daemon.id().to_string()));
    env.cmd().args(["status"]).assert().success();
    env.cmd()
        .args(["query", "--format", "csv"])
        .assert()
        .success();
    // compact needs the write lock for long: it refuses while a collector runs
    env.cmd()
        .args(["compact"])
        .assert()
        .code(75)
        .stderr(predicate::str::contains(format!("pid {}", daemon.id())));
    signal(daemon.id(), "TERM");
    assert!(
        wait_exit(&mut daemon, Duration::from_secs(5))
            .unwrap()
            .success()
    );
}

#[test]
fn sigterm_mid_request_exits_0_within_5_seconds() {
    // the first pass is quick; the second pass's first request hangs for 30 s
    let sim = sim_with(
        &[None, None, None, Some(Fault::Slow)],
        Duration::from_secs(30),
    );
    let env = Env::new();
    let spec = ConfigSpec {
        timeout: "40s",
        ..ConfigSpec::default()
    };
    env.write_config_with(&sim.endpoint, &spec, TARGETS);
    for sig in ["TERM", "INT"] {
        let mut child = env
            .std_cmd()
            .arg("collect")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(wait_until(Duration::from_secs(20), || sim
            .stats()
            .faults
            .contains_key("slow")
            || points(&env) > 0 && sig == "INT"));
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        signal(child.id(), sig);
        let status = wait_exit(&mut child, Duration::from_secs(10)).expect("the collector stops");
        let took = t.elapsed();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "SIG{sig}: {status:?}\n{stderr}");
        assert!(took < Duration::from_secs(5), "SIG{sig} took {took:?}");
        assert!(stderr.contains("shutdown requested"), "{stderr}");
        integrity_ok(&env);
    }
}

#[test]
fn kill_9_at_any_moment_loses_nothing() {
    // faults keep passes long and varied; the collector is killed again and again
    let sim = Sim::start(SimConfig {
        faults: FaultPlan {
            rate: 0.3,
            seed: 42,
            slow: Duration::from_secs(2),
            ..FaultPlan::default()
        },
        ..SimConfig::default()
    });
    let env = Env::new();
    let spec = ConfigSpec {
        interval: "1s",
        ..ConfigSpec::default()
    };
    env.write_config_with(&sim.endpoint, &spec, TARGETS);
    let before = now();
    let mut x: u64 = 0x2545_f491;
    for _ in 0..6 {
        let mut child = env
            .std_cmd()
            .arg("collect")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_millis(300 + x % 2500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        integrity_ok(&env);
    }
    // a final, complete run catches up
    let mut ok = false;
    for _ in 0..3 {
        if env
            .cmd()
            .args(["collect", "--once"])
            .output()
            .unwrap()
            .status
            .success()
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "a clean run succeeds after the crashes");
    let after = now();
    integrity_ok(&env);
    let conn = env.conn();
    // nothing lost, nothing duplicated, every value one the simulator served
    assert_archive_matches_model(&conn, &sim, before, after);
    let gaps: i64 = conn
        .query_row("SELECT count(*) FROM gaps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gaps, 0, "crashes inside the horizon lose nothing");
    sim.assert_polite();
}

#[test]
fn downtime_beyond_the_horizon_is_a_recorded_gap_and_status_says_so() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    // pretend the last run was three hours ago: progress then, nothing since
    let three_h = 3 * 3600;
    {
        let conn = env.conn();
        let done: i64 = conn
            .query_row("SELECT min(done_ts) FROM feeds", [], |r| r.get(0))
            .unwrap();
        let old_done = done - three_h;
        conn.execute(
            "UPDATE feeds SET done_ts = ?1, first_ts = first_ts - ?2",
            [old_done, three_h + 3600],
        )
        .unwrap();
        conn.execute(
            "DELETE FROM points WHERE bucket >= (?1 - 1767225600) / 30",
            [old_done],
        )
        .unwrap();
    }
    let db = env.db();
    let db = db.to_str().unwrap();
    env.cmd()
        .args(["status", "--db", db, "--max-lag", "5m"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("exceeds 5m"));

    env.cmd()
        .args(["collect", "--once"])
        .assert()
        .success()
        .stderr(predicate::str::contains("recording a gap"));
    let conn = env.conn();
    let gaps: Vec<(String, String, i64, i64, String)> = conn
        .prepare("SELECT source, indicator, start_ts, end_ts, cause FROM gaps ORDER BY source, indicator")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // one gap per requested indicator: 2 + 2 app-wide, 1 for the room
    assert_eq!(gaps.len(), 5, "{gaps:?}");
    for (source, indicator, start, end, cause) in &gaps {
        assert_eq!(cause, "not_collected", "{indicator}");
        let len = end - start;
        assert!(
            len > three_h - 3600 - 200 && len < three_h,
            "{source} {indicator}: {len} s"
        );
        // nothing archived inside a gap, and the data resumes right at its end
        let inside: i64 = conn
            .query_row(
                "SELECT count(*) FROM samples WHERE source = ?1 AND ts >= ?2 AND ts < ?3",
                rusqlite::params![source, start, end],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(inside, 0);
        let resumed: i64 = conn
            .query_row(
                "SELECT min(ts) FROM samples WHERE source = ?1 AND ts >= ?2",
                rusqlite::params![source, end],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            resumed - end <= 90,
            "{source}: data resumes {} s after the gap",
            resumed - end
        );
    }
    env.cmd()
        .args(["status", "--db", db, "--max-lag", "5m"])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["status", "--db", db, "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in v["streams"].as_array().unwrap() {
        assert!(s["gaps_24h"].as_i64().unwrap() >= 1, "{s}");
        assert!(s["gap_seconds_24h"].as_i64().unwrap() > 3600, "{s}");
        assert!(s["lag_seconds"].as_i64().unwrap() < 300, "{s}");
    }
    env.cmd()
        .args(["status", "--db", db])
        .assert()
        .success()
        .stdout(predicate::str::contains("gaps 24h/7d"));
}

#[test]
fn secrets_never_reach_logs_or_the_database() {
    let token = "STS-token-value-7f3a";
    let sim = Sim::start(SimConfig {
        session_token: Some(token.into()),
        ..SimConfig::default()
    });
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    for format in ["text", "json"] {
        let out = env
            .cmd()
            .env("RUST_LOG", "trace")
            .env("VOLC_SESSIONTOKEN", token)
            .args(["collect", "--once", "--log-format", format])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("fetched"),
            "the log says something: {stderr}"
        );
        assert!(!stderr.contains(SECRET_KEY), "the secret key is in the log");
        assert!(!stderr.contains(token), "the session token is in the log");
    }
    // a failing run's messages are clean too
    let out = env
        .cmd()
        .env("RUST_LOG", "trace")
        .env("VOLC_SESSIONTOKEN", "wrong-token-9c1d")
        .args(["collect", "--once"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("wrong-token-9c1d") && !stderr.contains(SECRET_KEY),
        "{stderr}"
    );
    // and none is stored
    drop(env.conn());
    let mut bytes = std::fs::read(env.db()).unwrap();
    bytes.extend(std::fs::read(env.path("archive.db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(SECRET_KEY) && !text.contains(token));
}

#[test]
fn json_logs_carry_every_request_field() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    let out = env
        .cmd()
        .args(["collect", "--once", "--log-format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let fetched: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|v| v["message"] == "fetched")
        .collect();
    assert_eq!(fetched.len(), 3);
    for v in &fetched {
        for key in [
            "action",
            "window_start",
            "window_end",
            "outcome",
            "points",
            "latency_ms",
            "request_id",
        ] {
            assert!(!v[key].is_null(), "{key} missing: {v}");
        }
        assert!(
            v["span"]["key"].as_str().unwrap().contains("app=app1"),
            "{v}"
        );
    }
}

#[test]
fn metrics_are_served_while_collecting() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = env
        .std_cmd()
        .args(["collect", "--metrics-listen", &addr])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let needles = [
        r#"rtc_archiver_requests_total{action="ListRealTimeQuality",outcome="ok"}"#,
        r#"rtc_archiver_points_total{action="ListRealTimeOperationData",kind="new"}"#,
        r#"rtc_archiver_last_success_timestamp_seconds{source="quality",app_id="app1",room_id="room-1",user_ids="u1,u2",indicator="video_stall_rate",dimension=""}"#,
        r#"rtc_archiver_lag_seconds{source="operation",app_id="app1",room_id="",user_ids="",indicator="online_user_count",dimension=""}"#,
        "rtc_archiver_rate_limiter_wait_seconds_total",
        // issue 14: the budget, demand and capacity per action, the worst lag
        r#"rtc_archiver_budget_requests{action="ListRealTimeQuality",window="day"}"#,
        r#"rtc_archiver_budget_allowed_requests{action="ListRealTimeQuality",window="minute"} 120"#,
        r#"rtc_archiver_demand_requests{action="ListRealTimeQuality"} 2"#,
        r#"rtc_archiver_capacity_requests{action="ListRealTimeOperationData"}"#,
        "rtc_archiver_worst_lag_seconds",
        // issue 9 item 9: families at 0 before anything went wrong
        r#"rtc_archiver_retries_total{action="ListRealTimeOperationData"} 0"#,
        r#"rtc_archiver_gaps_total{action="ListRealTimeQuality"} 0"#,
        r#"rtc_archiver_stream_failures_total{source="quality",app_id="app1",room_id="room-1",user_ids="u1,u2",dimension=""} 0"#,
    ];
    let mut body = String::new();
    let got = wait_until(Duration::from_secs(20), || {
        let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
            return false;
        };
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        body.clear();
        let _ = s.read_to_string(&mut body);
        needles.iter().all(|n| body.contains(n))
    });
    signal(child.id(), "TERM");
    assert!(
        wait_exit(&mut child, Duration::from_secs(5))
            .unwrap()
            .success()
    );
    assert!(got, "missing some of {needles:?} in\n{body}");
}

#[test]
fn storage_errors_exit_74_with_the_path() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    let spec = ConfigSpec {
        database: "no/such/dir/archive.db",
        ..ConfigSpec::default()
    };
    env.write_config_with(&sim.endpoint, &spec, TARGETS);
    env.cmd()
        .args(["collect", "--once"])
        .assert()
        .code(74)
        .stderr(predicate::str::contains("no/such/dir"));
    env.write_config(&sim.endpoint, TARGETS);
    std::fs::write(
        env.db(),
        "this is not a database, and it must stay as it is",
    )
    .unwrap();
    env.cmd()
        .args(["collect", "--once"])
        .assert()
        .code(74)
        .stderr(predicate::str::contains("archive.db"));
    assert_eq!(
        read(&env.db()),
        "this is not a database, and it must stay as it is"
    );
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn busy_archive_a_stream_failing_on_the_write_lock_is_logged_with_its_reason() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGETS);
    env.cmd().args(["collect", "--once"]).assert().success();
    // another process holds the write lock for longer than the collector's
    // busy timeout (10 s)
    let holder = env.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut child = env
        .std_cmd()
        .arg("collect")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(13));
    holder.execute_batch("ROLLBACK").unwrap();
    signal(child.id(), "TERM");
    wait_exit(&mut child, Duration::from_secs(10)).expect("the collector stops");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // plain text into a pipe: no colour codes around the fields
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(stderr.contains(" failed="), "{stderr}");
    assert!(stderr.contains("the archive was busy"), "{stderr}");
    assert!(stderr.contains("database is locked"), "{stderr}");
}
