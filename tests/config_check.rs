//! `config check` says where credentials come from (never their values),
//! and `--probe` asks the API once per action and explains the answer.

mod common;

use common::*;
use predicates::prelude::*;
use rtc_archiver::simulator::SimConfig;

const TARGET: &str = "\n[[target]]\napp_id = \"app1\"\nquality = [\"stall_rate\"]\noperation = [\"online_user_count\"]\n";

#[test]
fn check_names_where_credentials_come_from_never_their_values() {
    // issue 9: `config check` said "ok" without credentials
    let env = Env::new();
    env.write_config("http://127.0.0.1:1", TARGET);
    let out = env.cmd().args(["config", "check"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("credentials: from environment (VOLC_ACCESSKEY, VOLC_SECRETKEY)\n"),
        "{text}"
    );
    assert!(
        !text.contains(SECRET_KEY) && !text.contains(ACCESS_KEY),
        "{text}"
    );
    // none: the report, then exit 2 saying what to set
    env.cmd()
        .env_remove("VOLC_ACCESSKEY")
        .env_remove("VOLC_SECRETKEY")
        .args(["config", "check"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("rtc-archiver.toml: ok"))
        .stdout(predicate::str::contains("credentials: none usable"))
        .stderr(predicate::str::contains("VOLC_ACCESSKEY"));
    // a credentials file, with a session token: its path, and that a token is there
    let volc = env.path(".volc");
    std::fs::create_dir(&volc).unwrap();
    std::fs::write(
        volc.join("credentials"),
        "[default]\naccess_key_id = AKLTfile\nsecret_access_key = file-secret\nsession_token = tok-secret\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .env_remove("VOLC_ACCESSKEY")
        .env_remove("VOLC_SECRETKEY")
        .args(["config", "check"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(".volc/credentials, with an STS session token"),
        "{text}"
    );
    for secret in ["AKLTfile", "file-secret", "tok-secret"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    }
}

#[test]
fn probe_sends_one_request_per_action_and_says_ok() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGET);
    let out = env
        .cmd()
        .args(["config", "check", "--probe"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for action in ["ListRealTimeQuality", "ListRealTimeOperationData"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("probe {action} ")))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("target[1], app1"), "{line}");
        assert!(
            line.contains(": ok: the signed request was accepted"),
            "{line}"
        );
    }
    let stats = sim.stats();
    assert_eq!(stats.requests, 2, "{stats:?}");
    sim.assert_polite();
    assert!(!env.db().exists(), "a check writes no archive");
}

#[test]
fn probe_explains_a_refusal_and_an_endpoint_that_does_not_answer() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    env.write_config(&sim.endpoint, TARGET);
    let out = env
        .cmd()
        .env("VOLC_SECRETKEY", "not-the-secret")
        .args(["config", "check", "--probe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(text.contains("check the secret key"), "{text}");
    assert!(
        text.contains("retrying the same request cannot help"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret"), "{text}");

    // a port nobody listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    env.write_config(&endpoint, TARGET);
    let out = env
        .cmd()
        .args(["config", "check", "--probe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("{endpoint} did not answer")),
        "{text}"
    );
    assert!(text.contains("check api.endpoint"), "{text}");
}
