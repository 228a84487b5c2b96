//! The collector with many targets against the simulator: passes that take
//! longer than the rate limit's slack must still keep every request inside
//! the API's rules.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::independent::{self, Server};
use common::{ConfigSpec, Env, Sim};
use rtc_archiver::simulator::SimConfig;
use rtc_archiver::store::OpenMode;

/// `n` app-wide quality targets, one app each.
fn app_targets(n: usize) -> String {
    (0..n)
        .map(|i| format!("[[target]]\napp_id = \"app{i:03}\"\nquality = [\"stall_rate\"]\n\n"))
        .collect()
}

#[test]
fn horizon_bug_a_pass_longer_than_the_margin_never_asks_beyond_the_horizon() {
    // 64 requests of one action take 35 s at the API's rate; a window planned
    // when the pass starts would be up to 35 s older than the horizon allows
    // by the time the last one leaves (the margin is 1 s): windows must be
    // planned at the moment their request leaves
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    std::fs::write(
        env.path("rtc-archiver.toml"),
        format!(
            "database = \"archive.db\"\ninterval = \"30s\"\nhorizon_margin = \"1s\"\n\n\
             [api]\nendpoint = \"{}\"\ntimeout = \"5s\"\n\n{}",
            sim.endpoint,
            app_targets(64)
        ),
    )
    .unwrap();
    env.cmd().args(["collect", "--once"]).assert().success();
    sim.assert_polite();
    let stats = sim.stats();
    assert_eq!(stats.answered, 64, "{stats:?}");
    assert_eq!(stats.bad_requests, 0, "{stats:?}");
    let streams: i64 = env
        .conn()
        .query_row(
            "SELECT count(DISTINCT app_id) FROM samples WHERE source = 'quality'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(streams, 64);
}

#[test]
fn ten_thousand_targets_are_not_accepted_silently() {
    // a pass of 10,000 requests takes 92 minutes at the API's rate: gaps are
    // certain, and both `config check` and the collector say so with the numbers
    let env = Env::new();
    let targets: String = (0..10_000)
        .map(|i| {
            format!("[[target]]\napp_id = \"a\"\nroom_id = \"r{i}\"\nquality = [\"stall_rate\"]\n")
        })
        .collect();
    std::fs::write(env.path("rtc-archiver.toml"), targets).unwrap();
    env.cmd()
        .args(["config", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "warning: 10000 targets ask for ListRealTimeQuality",
        ))
        .stdout(predicates::str::contains("1h 31m 40s"))
        .stdout(predicates::str::contains("at most 6272 targets fit"));
}

/// `n` room targets of app1 asking for stall_rate, plus the app-wide quality
/// and operation streams.
fn room_targets(n: usize) -> String {
    let mut t = String::from(
        "[[target]]\napp_id = \"app1\"\nquality = [\"stall_rate\"]\noperation = [\"online_user_count\"]\n\n",
    );
    for i in 0..n {
        t += &format!(
            "[[target]]\napp_id = \"app1\"\nroom_id = \"room-{i:04}\"\nquality = [\"stall_rate\"]\n\n"
        );
    }
    t
}

#[test]
fn two_hundred_forty_rooms_at_two_per_second_lose_nothing() {
    // issue 14: 240 room targets plus the app-wide streams, 2 requests per
    // second, a 30-second interval: a round of 241 quality requests takes
    // 2m13s, four times the interval. Against the independent API (which
    // compares StartTime with its float clock), two full rounds.
    let env = Env::new();
    let revision = 20;
    let server = Server::start(&env, 0.0, revision, &[]);
    let spec = ConfigSpec {
        interval: "30s",
        ..ConfigSpec::default()
    };
    env.write_config_with(&server.endpoint(), &spec, &room_targets(240));
    let mut daemon = independent::cmd(&env).arg("collect").spawn().unwrap();
    let round = 241.0 * 0.55;
    std::thread::sleep(Duration::from_secs_f64(round * 2.0 + 15.0));
    let stopped = common::now();
    let lag = {
        let out = independent::cmd(&env)
            .args(["status", "--format", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["worst_lag_seconds"].as_i64().unwrap()
    };
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(daemon.wait().unwrap().success());

    let stats = server.get("/stats");
    for rule in [
        "rate_violations",
        "horizon_violations",
        "span_violations",
        "auth_failures",
        "bad_requests",
    ] {
        assert_eq!(stats[rule], 0, "{rule}: {stats}");
    }
    assert!(stats["max_per_second"].as_u64().unwrap() <= 2, "{stats}");
    // freshness: within one round plus the data delay plus a few buckets
    assert!(
        (lag as f64) <= round + 60.0 + 4.0 * 30.0,
        "worst lag {lag} s for a round of {round} s"
    );
    let gaps: i64 = env
        .conn()
        .query_row("SELECT count(*) FROM gaps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gaps, 0, "nothing lost");

    // every bucket served is archived, settled ones with their final value,
    // and nothing the server did not serve
    let archived = common::independent::archived_by_truth_key(&env);
    let truth = server.get("/truth");
    let truth = truth.as_object().unwrap();
    // app-wide: audio and video stall rates, online users; two per room
    assert_eq!(truth.len(), 3 + 2 * 240, "every series was served");
    assert_eq!(
        archived.keys().collect::<BTreeSet<_>>(),
        truth.keys().collect::<BTreeSet<_>>()
    );
    let mut checked = 0;
    for (key, buckets) in truth {
        let delay = if key.starts_with("ListRealTimeQuality") {
            60
        } else {
            20
        };
        let got = &archived[key];
        let served: BTreeSet<i64> = buckets
            .as_object()
            .unwrap()
            .keys()
            .map(|t| t.parse().unwrap())
            .collect();
        for (ts, value) in buckets.as_object().unwrap() {
            let ts: i64 = ts.parse().unwrap();
            assert!(got.contains_key(&ts), "{key} at {ts}: served, not archived");
            // settled at least a round before the end: fetched again since
            if (ts + 30 + delay + revision as i64) as f64 + round < stopped as f64 - 30.0 {
                assert_eq!(got.get(&ts), value.as_f64().as_ref(), "{key} at {ts}");
                checked += 1;
            }
        }
        for ts in got.keys() {
            assert!(served.contains(ts), "{key} at {ts}: archived, never served");
        }
    }
    // about an hour of buckets for each of the 483 series
    assert!(checked > 40_000, "{checked}");
}

#[test]
fn over_capacity_the_loss_is_an_over_budget_gap_and_status_says_so() {
    // 10 requests a minute for 600 room targets: a round would take 66
    // minutes, more than the 57m30s each target can wait. The archive holds
    // progress 58 minutes old, as if a collector had stopped then: the
    // targets whose turn comes after the oldest buckets slid out lose them,
    // as over_budget gaps; what was never reachable while this collector
    // ran is not blamed on the budget.
    let sim = Sim::start(SimConfig {
        limits: {
            let mut l = rtc_archiver::budget::Limits::default();
            l.set(
                "ListRealTimeQuality",
                rtc_archiver::budget::Limit {
                    rate: rtc_archiver::budget::Rate::parse("10/m").unwrap(),
                    daily: None,
                },
            );
            l
        },
        ..SimConfig::default()
    });
    let env = Env::new();
    let mut targets = String::new();
    for i in 0..600 {
        targets += &format!(
            "[[target]]\napp_id = \"app1\"\nroom_id = \"room-{i:04}\"\nquality = [\"stall_rate\"]\n\n"
        );
    }
    std::fs::write(
        env.path("rtc-archiver.toml"),
        format!(
            "database = \"archive.db\"\ninterval = \"30s\"\n\n[api]\nendpoint = \"{}\"\ntimeout = \"5s\"\n\n\
             [api.limits]\nListRealTimeQuality = {{ rate = \"10/m\" }}\n\n{targets}",
            sim.endpoint
        ),
    )
    .unwrap();
    // the progress of a collector that stopped 58 minutes ago
    let started = common::now();
    let done = (started - 58 * 60).div_euclid(30) * 30;
    {
        let store = rtc_archiver::store::Store::open(&env.db(), OpenMode::Create).unwrap();
        let conn = store.conn();
        for i in 0..600 {
            conn.execute(
                "INSERT INTO streams (app_id, room_id, user_ids, source) VALUES ('app1', ?1, '', 'quality')",
                [format!("room-{i:04}")],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO feeds (stream_id, indicator, first_ts, done_ts)
                 VALUES (last_insert_rowid(), 'stall_rate', ?1, ?1)",
                [done],
            )
            .unwrap();
        }
        store.checkpoint().unwrap();
    }
    env.cmd()
        .args(["config", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "warning: 600 targets ask for ListRealTimeQuality",
        ));
    let mut daemon = env
        .std_cmd()
        .arg("collect")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(200));
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(daemon.wait().unwrap().success());
    sim.assert_polite();
    let served = sim.stats().answered;
    assert!(
        (15..=40).contains(&served),
        "10 a minute for 200 s: {served}"
    );

    let causes: BTreeMap<String, (i64, i64)> = env
        .conn()
        .prepare("SELECT cause, count(*), min(start_ts) FROM gaps GROUP BY cause")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let (over_budget, first) = causes.get("over_budget").copied().unwrap_or((0, 0));
    assert!(
        over_budget >= 5,
        "streams served late lost their oldest buckets: {causes:?}"
    );
    assert_eq!(first, done, "{causes:?}");
    assert!(!causes.contains_key("fetch_failed"), "{causes:?}");
    // status says demand exceeds capacity, and what to change
    let out = env
        .cmd()
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let budget = &v["budget"][0];
    assert_eq!(budget["action"], "ListRealTimeQuality", "{v}");
    assert_eq!(budget["targets"], 600);
    assert_eq!(budget["over_capacity"], true);
    assert!(budget["capacity"].as_u64().unwrap() < 600);
    assert!(budget["requests_today"].as_u64().unwrap() >= served);
    env.cmd()
        .arg("status")
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "warning: 600 targets ask for ListRealTimeQuality",
        ))
        .stdout(predicates::str::contains("over_budget"));
}
