//! Issue 13: notifications. `report --notify` sends the digest to Feishu,
//! DingTalk, Slack and a generic webhook, each signed as its platform
//! documents, checked by a local receiver that verifies the signatures;
//! the collector's health events never wait for a failing or hanging
//! destination; and (issue 9 item 7) only a config holding a webhook URL
//! or secret draws the "readable by others" warning.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use rtc_archiver::Source;
use rtc_archiver::config::{EventKind, NotifyConfig, NotifyKind, SecretSource};
use rtc_archiver::notify::send::QUEUE;
use rtc_archiver::notify::testing::{Receiver, Secrets};
use rtc_archiver::notify::{Destination, Event, Notifier};
use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::store::{OpenMode, Store, bucket_of, encode_value};
use serde_json::Value;

/// 2026-11-22T00:00:00Z: the reported day.
const DAY: i64 = 1_795_305_600;
/// Video stalls double 10:00–10:30; audio stalls are 0.5 pp worse all day.
const PLANT: (i64, i64) = (DAY + 10 * 3600, DAY + 10 * 3600 + 1800);

fn app1() -> StreamKey {
    StreamKey::new("app1", None, UserSet::NONE, Source::Quality)
}

/// Four weeks of steady history, then the day with an incident and a regression.
fn build(env: &Env) {
    let mut store = Store::open(&env.db(), OpenMode::Create).unwrap();
    let video = store
        .series_id(&app1(), "video_stall_rate", Some("%"))
        .unwrap();
    let audio = store
        .series_id(&app1(), "audio_stall_rate", Some("%"))
        .unwrap();
    let mut rows = Vec::new();
    let mut ts = DAY - 28 * 86400;
    while ts < DAY + 86400 {
        let wiggle = ((ts / 30) % 5 - 2) as f64 / 100.0;
        let mut v = 1.0 + wiggle;
        if (PLANT.0..PLANT.1).contains(&ts) {
            v += 1.0;
        }
        let a = 0.5 + wiggle + if ts >= DAY { 0.5 } else { 0.0 };
        rows.push((video, bucket_of(ts), encode_value(v)));
        rows.push((audio, bucket_of(ts), encode_value(a)));
        ts += 30;
    }
    store.upsert_points(&mut rows).unwrap();
}

const SECRETS: [(&str, &str); 3] = [
    ("RTC_FEISHU_SECRET", "feishu-secret"),
    ("RTC_DINGTALK_SECRET", "SECdingtalk-secret"),
    ("RTC_WEBHOOK_SECRET", "webhook-secret"),
];

fn receiver() -> Receiver {
    Receiver::start(Secrets {
        feishu: Some(SECRETS[0].1.into()),
        dingtalk: Some(SECRETS[1].1.into()),
        webhook: Some(SECRETS[2].1.into()),
    })
}

/// `[[notify]]` tables for the four platforms, URLs and secrets from the
/// environment, and that environment (pointing at `r` in `mode`).
fn destinations(r: &Receiver, mode: &str, events: &str) -> (String, Vec<(String, String)>) {
    let mut toml = String::from("database = \"archive.db\"\n");
    let mut env = Vec::new();
    for (kind, secret) in [
        ("feishu", Some("RTC_FEISHU_SECRET")),
        ("dingtalk", Some("RTC_DINGTALK_SECRET")),
        ("slack", None),
        ("webhook", Some("RTC_WEBHOOK_SECRET")),
    ] {
        let var = format!("RTC_{}_WEBHOOK", kind.to_uppercase());
        toml.push_str(&format!(
            "\n[[notify]]\nkind = \"{kind}\"\nurl_env = \"{var}\"\nevents = {events}\n"
        ));
        if let Some(s) = secret {
            toml.push_str(&format!("secret_env = \"{s}\"\n"));
        }
        env.push((var, r.url(kind, mode)));
    }
    env.extend(SECRETS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    (toml, env)
}

/// The text a platform's message shows.
fn text_of(platform: &str, body: &Value) -> String {
    match platform {
        "feishu" => {
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
        "dingtalk" => body["text"]["content"].as_str().unwrap().to_string(),
        "slack" => body["text"].as_str().unwrap().to_string(),
        _ => body["text"].as_str().unwrap().to_string(),
    }
}

fn report_notify(env: &Env, extra_env: &[(String, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.args([
        "--config",
        "rtc-archiver.toml",
        "report",
        "--day",
        "2026-11-22",
    ])
    .args(["--tz", "UTC", "--notify"])
    .args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn report_notify_sends_signed_digests_with_the_incident_to_every_platform() {
    let env = Env::new();
    build(&env);
    let r = receiver();
    let (toml, vars) = destinations(&r, "ok", "[\"incident\", \"regression\"]");
    std::fs::write(env.path("rtc-archiver.toml"), toml).unwrap();
    let out_file = env.path("2026-11-22.html");
    let out = report_notify(&env, &vars, &["--out", out_file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "--out prints nothing");
    assert!(
        std::fs::read_to_string(&out_file)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let got = r.wait_for(4, Duration::from_secs(10));
    assert_eq!(got.len(), 4, "{got:?}");
    for m in &got {
        assert!(m.verified, "{}: {:?}", m.platform, m.problem);
        let text = text_of(&m.platform, &m.body);
        let first = text.lines().next().unwrap();
        assert_eq!(
            first, "RTC report for 2026-11-22 (UTC): 2 incidents, 1 regression",
            "{}",
            m.platform
        );
        assert!(
            text.contains("incident: video_stall_rate, app1: 10:00:00–10:30:00 (30 min)"),
            "{}: {text}",
            m.platform
        );
        assert!(
            text.contains("regression: audio_stall_rate, app1"),
            "{text}"
        );
        assert!(
            text.contains(&format!("Full report: {}", out_file.display())),
            "{text}"
        );
    }
    // the signature is where each platform wants it
    let feishu = got.iter().find(|m| m.platform == "feishu").unwrap();
    assert!(feishu.body["sign"].is_string() && feishu.body["timestamp"].is_string());
    assert_eq!(feishu.body["msg_type"], "post");
    // the webhook gets the incidents as the report's JSON has them
    let hook = got.iter().find(|m| m.platform == "webhook").unwrap();
    assert_eq!(hook.body["kind"], "report");
    let incident = &hook.body["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["indicator"] == "video_stall_rate")
        .unwrap();
    assert_eq!(incident["start_ts"], PLANT.0);
    assert_eq!(incident["end_ts"], PLANT.1);
    assert_eq!(hook.body["regressions"][0]["indicator"], "audio_stall_rate");
    assert_eq!(
        got.iter().find(|m| m.platform == "slack").unwrap().body["mrkdwn"],
        false
    );
}

#[test]
fn each_destination_gets_what_it_subscribed_to_and_a_summary_when_none() {
    let env = Env::new();
    build(&env);
    let r = receiver();
    // regressions only
    let (toml, vars) = destinations(&r, "ok", "[\"regression\"]");
    std::fs::write(env.path("rtc-archiver.toml"), toml).unwrap();
    let out = report_notify(
        &env,
        &vars,
        &["--notify-link", "https://rtc.example.com/r.html"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = r.wait_for(4, Duration::from_secs(10));
    let text = text_of(
        "dingtalk",
        &got.iter().find(|m| m.platform == "dingtalk").unwrap().body,
    );
    assert!(
        text.starts_with("RTC report for 2026-11-22 (UTC): 1 regression\n"),
        "{text}"
    );
    assert!(!text.contains("incident"), "{text}");
    assert!(
        text.ends_with("Full report: https://rtc.example.com/r.html"),
        "{text}"
    );
    // a quiet day: one line saying so
    let out = report_notify(&env, &vars, &["--threshold", "5"]);
    assert!(out.status.success());
    let got = r.wait_for(8, Duration::from_secs(10));
    let text = text_of(
        "slack",
        &got[4..]
            .iter()
            .find(|m| m.platform == "slack")
            .unwrap()
            .body,
    );
    assert_eq!(
        text,
        "RTC report for 2026-11-22 (UTC): no regressions beyond the thresholds"
    );
    // subscribed to health events only: nothing is sent
    let (toml, vars) = destinations(&r, "ok", "[\"gap\", \"lag\"]");
    std::fs::write(env.path("rtc-archiver.toml"), toml).unwrap();
    assert!(report_notify(&env, &vars, &[]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.received().len(), 8);
}

#[test]
fn a_refused_or_missing_destination_is_named_without_its_url_or_secret() {
    let env = Env::new();
    build(&env);
    // the receiver expects other secrets: Feishu and DingTalk refuse
    let r = Receiver::start(Secrets {
        feishu: Some("another".into()),
        dingtalk: Some("another".into()),
        webhook: Some("another".into()),
    });
    let (toml, vars) = destinations(&r, "ok", "[\"incident\"]");
    std::fs::write(env.path("rtc-archiver.toml"), toml).unwrap();
    let out = report_notify(&env, &vars, &[]);
    assert_eq!(out.status.code(), Some(1), "a digest not delivered");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notify[1] (feishu): Feishu refused the signature (code 19021)"),
        "{err}"
    );
    assert!(
        err.contains("notify[2] (dingtalk): DingTalk refused the message (errcode 310000"),
        "{err}"
    );
    for (_, v) in &vars {
        assert!(!err.contains(v.as_str()), "{v} in {err}");
    }
    assert!(!err.contains("127.0.0.1"), "{err}");
    // the report itself still came out
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# RTC report"));
    // a variable not set: a usage error before anything is done
    let out = report_notify(&env, &vars[1..], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "--notify: notify[1] (feishu): the environment variable RTC_FEISHU_WEBHOOK is not set"
        ),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

fn webhook(r: &Receiver, mode: &str) -> Destination {
    let c = NotifyConfig {
        kind: NotifyKind::Webhook,
        url: SecretSource::Env("URL".into()),
        secret: Some(SecretSource::Env("SECRET".into())),
        events: EventKind::ALL.to_vec(),
    };
    let url = r.url("webhook", mode);
    Destination::resolve(1, &c, &|k: &str| match k {
        "URL" => Some(url.clone()),
        _ => Some(SECRETS[2].1.into()),
    })
    .unwrap()
}

#[test]
fn a_failing_or_hanging_destination_never_delays_the_caller() {
    let r = receiver();
    let notifier = Notifier::with_destinations(
        vec![webhook(&r, "hang"), webhook(&r, "fail"), webhook(&r, "ok")],
        Duration::from_secs(600),
    );
    let counters = notifier.counters();
    let started = Instant::now();
    for i in 0..200 {
        notifier.notify(Event::gap(&app1(), DAY + i * 30, DAY + i * 30 + 30));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(200), "notify took {took:?}");
    // the healthy destination gets everything, grouped into digests
    let until = Instant::now() + Duration::from_secs(20);
    let events = || -> usize {
        r.received()
            .iter()
            .filter(|m| m.mode == "ok")
            .map(|m| m.body["events"].as_array().unwrap().len())
            .sum()
    };
    while Instant::now() < until && events() < 200 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(events(), 200);
    let ok: Vec<_> = r
        .received()
        .into_iter()
        .filter(|m| m.mode == "ok")
        .collect();
    assert!(
        ok.len() <= 3,
        "{} messages for 200 events at once",
        ok.len()
    );
    assert!(ok.iter().all(|m| m.verified));
    assert!(
        ok[0].body["title"]
            .as_str()
            .unwrap()
            .ends_with("collector events")
    );
    // the failing one is retried with backoff (1 s, then 2 s)
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && r.received().iter().filter(|m| m.mode == "fail").count() < 3 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(counters.retries.load(Ordering::Relaxed) >= 2);
    // dropping it waits a few seconds at most for what is still queued
    let started = Instant::now();
    drop(notifier);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_hanging_destination_s_full_queue_drops_and_counts_new_events() {
    let r = receiver();
    let notifier = Notifier::with_destinations(vec![webhook(&r, "hang")], Duration::from_secs(600));
    notifier.notify(Event::gap(&app1(), DAY, DAY + 30));
    // the digest's window passes, its request hangs
    assert_eq!(r.wait_for(1, Duration::from_secs(5)).len(), 1);
    let started = Instant::now();
    for i in 0..QUEUE as i64 + 10 {
        notifier.notify(Event::gap(&app1(), DAY + i * 30, DAY + i * 30 + 30));
    }
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(notifier.counters().dropped.load(Ordering::Relaxed), 10);
}

#[test]
fn only_a_config_holding_a_webhook_url_or_secret_warns_when_readable() {
    // issue 9 item 7: access keys never live in the config, so a 0644
    // config without a webhook credential is fine
    let env = Env::new();
    let base =
        "database = \"archive.db\"\n[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\"]\n";
    let check = |text: &str| -> String {
        let path = env.path("rtc-archiver.toml");
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let out = env
            .cmd()
            .args(["--config", "rtc-archiver.toml", "config", "check"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let quiet = check(&format!(
        "{base}[[notify]]\nkind = \"slack\"\nurl_env = \"RTC_SLACK_WEBHOOK\"\n"
    ));
    assert!(!quiet.contains("readable by other users"), "{quiet}");
    let url = "https://hooks.slack.com/services/T000/B000/tok-123";
    let loud = check(&format!(
        "{base}[[notify]]\nkind = \"slack\"\nurl = \"{url}\"\n"
    ));
    #[cfg(unix)]
    assert!(loud.contains("readable by other users"), "{loud}");
    assert!(!loud.contains("tok-123"), "{loud}");
}
