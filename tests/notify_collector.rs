//! Issue 13: the collector's health events go out on transitions only,
//! and a hanging destination holds up neither a pass nor the process's
//! end for more than a few seconds. Against the simulator and the local
//! receiver (`notify::testing`), with the real binary.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rtc_archiver::notify::testing::{Receiver, Secrets};
use rtc_archiver::simulator::SimConfig;
use serde_json::Value;

const FEISHU_SECRET: &str = "feishu-secret";

fn receiver() -> Receiver {
    Receiver::start(Secrets {
        feishu: Some(FEISHU_SECRET.into()),
        ..Secrets::default()
    })
}

/// The text of a Feishu post: its title and lines.
fn text_of(body: &Value) -> String {
    let post = &body["content"]["post"]["zh_cn"];
    let mut t = post["title"].as_str().unwrap().to_string();
    for line in post["content"].as_array().unwrap() {
        t.push('\n');
        for part in line.as_array().unwrap() {
            t.push_str(part["text"].as_str().unwrap());
        }
    }
    t
}

#[test]
fn the_collector_reports_a_refusal_once_and_a_hanging_destination_does_not_hold_it_up() {
    let sim = Sim::start(SimConfig::default());
    let env = Env::new();
    let r = receiver();
    let config = env.write_config(&sim.endpoint, TARGETS);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[[notify]]\nkind = \"webhook\"\nurl_env = \"HANG\"\n\n[[notify]]\nkind = \"feishu\"\n\
         url_env = \"FEISHU\"\nsecret_env = \"RTC_FEISHU_SECRET\"\nevents = [\"refused\", \"gap\"]\n",
    );
    std::fs::write(&config, text).unwrap();
    let run = |secret_key: &str| {
        let started = Instant::now();
        let out = env
            .cmd()
            .args(["--config", "rtc-archiver.toml", "collect", "--once"])
            .env("VOLC_SECRETKEY", secret_key)
            .env("HANG", r.url("webhook", "hang"))
            .env("FEISHU", r.url("feishu", "ok"))
            .env("RTC_FEISHU_SECRET", FEISHU_SECRET)
            .output()
            .unwrap();
        (out, started.elapsed())
    };
    // a wrong secret key: every stream is refused
    let (out, took) = run("not-the-key");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the pass itself is quick; the queued messages get 3 s at most
    assert!(
        took < Duration::from_secs(8),
        "collect --once took {took:?}"
    );
    let got = r.wait_for(2, Duration::from_secs(5));
    let feishu: Vec<_> = got.iter().filter(|m| m.platform == "feishu").collect();
    assert_eq!(
        feishu.len(),
        1,
        "one digest for the streams refused at once: {got:?}"
    );
    assert!(feishu[0].verified, "{:?}", feishu[0].problem);
    let text = text_of(&feishu[0].body);
    assert!(text.contains("refused: quality app1"), "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(!text.contains("not-the-key"), "{text}");
    assert!(
        got.iter()
            .any(|m| m.platform == "webhook" && m.mode == "hang")
    );

    // the right key, then progress three hours old: a gap per stream,
    // all in one digest
    let (out, _) = run(SECRET_KEY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.conn()
        .execute(
            "UPDATE feeds SET done_ts = done_ts - 10800, first_ts = first_ts - 14400",
            [],
        )
        .unwrap();
    let (out, _) = run(SECRET_KEY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = r.wait_for(3, Duration::from_secs(5));
    let feishu: Vec<_> = got.iter().filter(|m| m.platform == "feishu").collect();
    assert_eq!(feishu.len(), 2, "{got:?}");
    let text = text_of(&feishu[1].body);
    assert!(
        text.starts_with("rtc-archiver: 3 collector events"),
        "{text}"
    );
    assert_eq!(text.matches("\ngap: quality app1").count(), 2, "{text}");
    assert!(text.contains("\ngap: operation app1:"), "{text}");
    assert!(text.contains("slid out of the API's 60-minute reach unfetched"));
}
