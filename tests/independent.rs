//! The collector against an independent implementation of the API
//! (tests/independent_api.py: Python's hmac and http.server, written from the
//! API notes alone), injecting about 15% faults of every kind, with a kill -9
//! and a restart mid-run: the archive must hold every served point with its
//! final value, nothing else, and no request may break the API's rules.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::independent::{Server, cmd};
use common::*;

fn signal(pid: u32, sig: &str) {
    assert!(
        Command::new("bash")
            .arg("-c")
            .arg(format!("kill -{sig} {pid}"))
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn every_served_point_lands_with_its_final_value_through_faults_and_a_crash() {
    let env = Env::new();
    let revision = 20;
    let server = Server::start(&env, 0.15, revision, &[]);
    let spec = ConfigSpec {
        interval: "1s",
        ..ConfigSpec::default()
    };
    env.write_config_with(&server.endpoint(), &spec, TARGETS);

    // a daemon, killed without warning mid-run, then restarted
    let mut daemon = cmd(&env).arg("collect").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(20_300));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let mut daemon = cmd(&env).arg("collect").spawn().unwrap();
    std::thread::sleep(Duration::from_secs(30));
    let t = Instant::now();
    signal(daemon.id(), "TERM");
    let status = daemon.wait().unwrap();
    assert!(
        status.success() && t.elapsed() < Duration::from_secs(5),
        "{status:?} after {:?}",
        t.elapsed()
    );

    // once every value served so far has settled, one more pass re-reads the overlap
    std::thread::sleep(Duration::from_secs(revision + 2));
    let final_pass = now();
    let mut ok = false;
    for _ in 0..5 {
        if cmd(&env)
            .args(["collect", "--once"])
            .status()
            .unwrap()
            .success()
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "a pass eventually succeeds for every target");

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
    let faults = stats["faults"].as_object().unwrap();
    assert_eq!(
        faults.len(),
        13,
        "faults of every kind were served: {stats}"
    );
    let share = faults.values().map(|n| n.as_u64().unwrap()).sum::<u64>() as f64
        / stats["requests"].as_u64().unwrap() as f64;
    assert!(
        share > 0.08,
        "about 15% of the answers were faults: {share}"
    );

    // the archive, keyed as the server keys its series
    let conn = env.conn();
    let archived = common::independent::archived_by_truth_key(&env);
    let truth = server.get("/truth");
    let truth = truth.as_object().unwrap();
    assert_eq!(
        archived.keys().collect::<BTreeSet<_>>(),
        truth.keys().collect::<BTreeSet<_>>(),
        "the same series"
    );
    let mut checked = 0;
    for (key, buckets) in truth {
        let delay = if key.starts_with("ListRealTimeQuality") {
            60
        } else {
            20
        };
        let got = &archived[key];
        for (ts, value) in buckets.as_object().unwrap() {
            let ts: i64 = ts.parse().unwrap();
            let want = value.as_f64().unwrap();
            // settled before the final pass read it
            if ts + 30 + delay + revision as i64 <= final_pass {
                assert_eq!(got.get(&ts), Some(&want), "{key} at {ts}");
                checked += 1;
            } else {
                assert!(
                    got.contains_key(&ts),
                    "{key} at {ts}: served but not archived"
                );
            }
        }
        // nothing the server did not serve: no garbage, no zero fill
        let served: BTreeSet<i64> = buckets
            .as_object()
            .unwrap()
            .keys()
            .map(|t| t.parse().unwrap())
            .collect();
        for ts in got.keys() {
            assert!(
                served.contains(ts),
                "{key} at {ts}: archived but never served"
            );
        }
    }
    assert!(checked > 800, "{checked}");
    let gaps: i64 = conn
        .query_row("SELECT count(*) FROM gaps", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gaps, 0);
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
