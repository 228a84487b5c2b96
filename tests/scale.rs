//! The collector with many targets against the simulator: passes that take
//! longer than the rate limit's slack must still keep every request inside
//! the API's rules.

mod common;

use common::{Env, Sim};
use rtc_archiver::simulator::SimConfig;

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
