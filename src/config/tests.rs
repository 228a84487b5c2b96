//! The configuration's checks, one test per rule, through `Config::parse`
//! as a user's file meets them.

use super::*;
use crate::Source;
use crate::series::Dimension;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", Path::new("/etc/rtc"))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const ISSUE_EXAMPLE: &str = r#"
database = "rtc-archive.db"   # relative paths are relative to the config file
interval = "60s"              # collector poll interval
overlap  = "10m"              # how far back each poll re-reads already archived data

[api]
endpoint = "https://rtc.volcengineapi.com"
region   = "cn-north-1"
timeout  = "20s"

[[target]]                     # app-wide data
app_id    = "your-app-id"
quality   = ["stall_rate", "join_room_success_rate"]      # ListRealTimeQuality indicators
operation = ["online_user_count", "online_room_count"]   # ListRealTimeOperationData indicators

[[target]]                     # one room, optionally some of its users (quality only)
app_id   = "your-app-id"
room_id  = "room-1"
user_ids = ["u1", "u2"]
quality  = ["stall_rate"]
# product_type = "web"        # optional ProductType of ListRealTimeQuality
"#;

#[test]
fn the_documented_example_parses() {
    let c = parse(ISSUE_EXAMPLE).unwrap();
    assert_eq!(c.database, PathBuf::from("/etc/rtc/rtc-archive.db"));
    assert_eq!(c.interval, Duration::from_secs(60));
    assert_eq!(c.overlap, Duration::from_secs(600));
    assert_eq!(c.api.region, "cn-north-1");
    assert_eq!(c.api.timeout, Duration::from_secs(20));
    assert_eq!(c.targets.len(), 2);
    assert_eq!(c.targets[1].user_ids.to_vec(), ["u1", "u2"]);
    assert_eq!(
        c.targets[0].operation,
        ["online_user_count", "online_room_count"]
    );
    assert!(
        c.unknown_indicators.is_empty(),
        "{:?}",
        c.unknown_indicators
    );
}

#[test]
fn the_shipped_example_parses() {
    let c = parse(EXAMPLE).unwrap();
    assert!(!c.targets.is_empty());
}

#[test]
fn defaults_apply() {
    let c = parse("[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\"]\n").unwrap();
    assert_eq!(c.database, PathBuf::from("/etc/rtc/rtc-archive.db"));
    assert_eq!(c.interval, Duration::from_secs(60));
    assert_eq!(c.api, ApiConfig::default());
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let e = err("intervall = \"60s\"\n");
    assert!(e.starts_with("test.toml: "), "{e}");
    assert!(e.contains("intervall"), "{e}");
    let e = err("[[target]]\napp_id = \"a\"\nquality = [\"x\"]\nroom = \"r\"\n");
    assert!(e.contains("unknown field `room`"), "{e}");
}

#[test]
fn bad_durations_name_the_key() {
    let e = err("interval = \"sixty\"\n");
    assert!(
        e.contains("test.toml: interval: invalid duration \"sixty\""),
        "{e}"
    );
    let e = err("[api]\ntimeout = \"20\"\n");
    assert!(e.contains("api.timeout"), "{e}");
    let e = err("interval = \"2h\"\n");
    assert!(e.contains("interval: must be between"), "{e}");
}

#[test]
fn durations_near_2_pow_64_seconds_are_refused_naming_the_key() {
    // `as_secs() as i64` made these negative, and so "in range"
    for (text, want) in [
        (
            "horizon_margin = \"18446744073709550000s\"\n",
            "test.toml: horizon_margin: must be at most 30m, not \"18446744073709550000s\"",
        ),
        (
            "interval = \"18446744073709551615s\"\n",
            "test.toml: interval: must be between 1s and 50m",
        ),
        (
            "overlap = \"9223372036854775808s\"\n",
            "test.toml: overlap: must be at most 55m",
        ),
        (
            "[api]\ntimeout = \"18446744073709551615s\"\n",
            "test.toml: api.timeout: must be more than zero and at most 10m",
        ),
        (
            "[api]\nconnect_timeout = \"9223372036854775808s\"\n",
            "test.toml: api.connect_timeout: must be more than zero and at most 10m",
        ),
    ] {
        let e = err(text);
        assert!(e.contains(want), "{text}: {e}");
    }
    // the ends of each range are in it
    let c = parse(
        "interval = \"50m\"\noverlap = \"55m\"\nhorizon_margin = \"30m\"\n\
         [api]\ntimeout = \"10m\"\nconnect_timeout = \"1ms\"\n",
    )
    .unwrap();
    assert_eq!(c.interval, Duration::from_secs(3000));
    assert_eq!(c.horizon_margin, Duration::from_secs(1800));
    assert!(parse("interval = \"1s\"\noverlap = \"0s\"\n").is_ok());
    assert!(err("interval = \"999ms\"\n").contains("interval: must be between 1s and 50m"));
}

#[test]
fn a_zero_connect_timeout_is_reported_as_api_connect_timeout() {
    let e = err("[api]\nconnect_timeout = \"0s\"\n");
    assert!(
        e.contains("test.toml: api.connect_timeout: must be more than zero"),
        "{e}"
    );
    let e = err("[api]\ntimeout = \"0s\"\n");
    assert!(
        e.contains("test.toml: api.timeout: must be more than zero"),
        "{e}"
    );
}

#[test]
fn target_rules() {
    let e = err("[[target]]\napp_id = \"a\"\nuser_ids = [\"u\"]\nquality = [\"stall_rate\"]\n");
    assert!(e.contains("target[1].user_ids: needs room_id"), "{e}");

    let users: Vec<String> = (0..21).map(|i| format!("\"u{i}\"")).collect();
    let e = err(&format!(
        "[[target]]\napp_id = \"a\"\nroom_id = \"r\"\nuser_ids = [{}]\nquality = [\"stall_rate\"]\n",
        users.join(",")
    ));
    assert!(e.contains("target[1].user_ids: has 21 users"), "{e}");

    let e =
        err("[[target]]\napp_id = \"a\"\nroom_id = \"r\"\noperation = [\"online_user_count\"]\n");
    assert!(e.contains("target[1].operation: is app-wide only"), "{e}");

    let e = err("[[target]]\napp_id = \"a\"\nquality = []\n");
    assert!(e.contains("target[1].quality: is empty"), "{e}");

    let e = err("[[target]]\napp_id = \"a\"\n");
    assert!(e.contains("target[1]: asks for nothing"), "{e}");

    let e = err("[[target]]\napp_id = \"\"\nquality = [\"stall_rate\"]\n");
    assert!(e.contains("target[1].app_id: is empty"), "{e}");

    let e = err(
        "[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\"]\n[[target]]\napp_id = \"a\"\nquality = [\"video_stall_rate\"]\n",
    );
    assert!(
        e.contains("target[2]: asks for the same quality data as target[1]"),
        "{e}"
    );

    let e = err("[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\"]\nproduct_type = \"ios\"\n");
    assert!(e.contains("product_type") || e.contains("ios"), "{e}");
}

#[test]
fn control_characters_in_target_ids_are_refused() {
    let e = err("[[target]]\napp_id = \"a\\u001b[2J\"\nquality = [\"stall_rate\"]\n");
    assert!(
        e.contains("target[1].app_id: ") && e.contains("control character (\\u{1b})"),
        "{e}"
    );
    let e = err("[[target]]\napp_id = \"a\"\nroom_id = \"r\\u0000\"\nquality = [\"stall_rate\"]\n");
    assert!(e.contains("target[1].room_id: "), "{e}");
    let e = err(
        "[[target]]\napp_id = \"a\"\nroom_id = \"r\"\nuser_ids = [\"u\\r\"]\nquality = [\"stall_rate\"]\n",
    );
    assert!(e.contains("target[1].user_ids: "), "{e}");
}

#[test]
fn a_config_file_without_end_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    let line = "# a comment, repeated\n";
    let n = (MAX_CONFIG_BYTES as usize) / line.len() + 2;
    std::fs::write(&path, line.repeat(n)).unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(e.contains("huge.toml: is larger than 4 MiB"), "{e}");
    #[cfg(unix)]
    {
        let e = Config::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero: "), "{e}");
    }
}

#[test]
fn report_thresholds() {
    let c = parse(
        "[report]\nthreshold = 0.5\n[report.thresholds]\n\"*stall_rate\" = 0.3\n\"5s_*\" = 1\n",
    )
    .unwrap();
    assert_eq!(c.report.threshold_for("video_stall_rate"), 0.3);
    assert_eq!(c.report.threshold_for("5s_join_room_success_rate"), 1.0);
    assert_eq!(c.report.threshold_for("online_user_count"), 0.5);
    assert_eq!(Config::default().report.threshold_for("x"), 0.2);
    let e = err("[report]\nthreshold = -1\n");
    assert!(e.contains("report.threshold"), "{e}");
    assert!(glob_match("*_stall_rate", "80ms_audio_stall_rate"));
    assert!(!glob_match("*_stall_rate", "stall_rate"));
    assert!(glob_match("a?c", "abc"));
}

#[test]
fn unknown_indicators_are_warnings() {
    let c = parse("[[target]]\napp_id = \"a\"\nquality = [\"stall_rate\", \"brand_new_rate\"]\n")
        .unwrap();
    assert_eq!(c.unknown_indicators, ["brand_new_rate (target[1].quality)"]);
    assert_eq!(c.targets[0].quality, ["stall_rate", "brand_new_rate"]);
}

#[test]
fn an_endpoint_with_credentials_is_refused_without_echoing_them() {
    for endpoint in [
        "https://user:s3cret-pw@rtc.example.com",
        "http://user:s3cret-pw@rtc.example.com",
        "https://:s3cret-pw@rtc.example.com/",
        "https://s3cret-pw@rtc.example.com",
        "http://user:s3cret-pw@127.0.0.1:8080",
        // not even a URL: still not echoed
        "https://user:s3cret-pw@rtc example.com",
        "https://user:s3cret/pw@rtc.example.com",
    ] {
        let e = err(&format!("[api]\nendpoint = \"{endpoint}\"\n"));
        assert!(
            e.starts_with("test.toml: api.endpoint: "),
            "{endpoint}: {e}"
        );
        assert!(!e.contains("s3cret"), "{endpoint}: {e}");
    }
    let e = err("[api]\nendpoint = \"https://user:s3cret-pw@rtc.example.com\"\n");
    assert!(
        e.contains("\"https://***@rtc.example.com\" holds a user or password"),
        "{e}"
    );
    // a TOML error quoting the line hides it too
    let e = err("[api]\nendpoint = \"https://user:s3cret-pw@rtc.example.com\" x\n");
    assert!(!e.contains("s3cret"), "{e}");
    assert!(e.contains("https://***@rtc.example.com"), "{e}");
    assert_eq!(
        redact_userinfo("a http://u:p@h/x and 'https://h2/p@q' ftp://x"),
        "a http://***@h/x and 'https://***@q' ftp://x"
    );
}

#[test]
fn plain_http_only_to_loopback_or_when_allowed() {
    assert!(parse("[api]\nendpoint = \"http://127.0.0.1:8080\"\n").is_ok());
    assert!(parse("[api]\nendpoint = \"http://localhost:8080\"\n").is_ok());
    let e = err("[api]\nendpoint = \"http://rtc.example.com\"\n");
    assert!(
        e.contains("api.endpoint") && e.contains("allow_http"),
        "{e}"
    );
    assert!(parse("[api]\nendpoint = \"http://rtc.example.com\"\nallow_http = true\n").is_ok());
    let e = err("[api]\nendpoint = \"not a url\"\n");
    assert!(e.contains("api.endpoint"), "{e}");
}

#[test]
fn api_limits_are_per_action_and_bad_values_name_the_key() {
    use crate::budget::{Limit, Rate};
    let c = parse(
        "[api.limits]\nListQuality = { rate = \"10/m\", daily = 60 }\nListRealTimeQuality = { rate = \"1/s\" }\n",
    )
    .unwrap();
    assert_eq!(
        c.api.limits.of("ListQuality"),
        Limit {
            rate: Rate::parse("10/m").unwrap(),
            daily: Some(60)
        }
    );
    assert_eq!(c.api.limits.of("ListRealTimeQuality").rate.requests, 1);
    assert_eq!(
        c.api.limits.of("ListRealTimeOperationData"),
        Limit::default()
    );
    let e = err("[api.limits]\nListRealtimeQuality = { rate = \"1/s\" }\n");
    assert!(
        e.contains("api.limits.ListRealtimeQuality: is not an action"),
        "{e}"
    );
    assert!(
        e.contains("ListRealTimeQuality, ListRealTimeOperationData"),
        "{e}"
    );
    let e = err("[api.limits]\nListQuality = { rate = \"10 per minute\" }\n");
    assert!(
        e.contains("api.limits.ListQuality.rate: \"10 per minute\" is not a rate"),
        "{e}"
    );
    let e = err("[api.limits]\nListQuality = { daily = 0 }\n");
    assert!(
        e.contains("api.limits.ListQuality.daily: allows no request"),
        "{e}"
    );
    let e = err("[api.limits]\nListQuality = { rate = \"1/s\", burst = 3 }\n");
    assert!(e.contains("burst"), "{e}");
}

/// An app-wide target with `extra` lines.
fn breakdown(extra: &str) -> String {
    format!("[[target]]\napp_id = \"a\"\n{extra}\n")
}

#[test]
fn a_breakdown_is_one_request_line_per_dimension_and_indicator() {
    let c = parse(&breakdown(
        "quality = [\"stall_rate\"]\ndistribution = [\"stall_rate\", \"join_room_success_rate\"]\ndimensions = [\"os\", \"Access\", \"OS\"]",
    ))
    .unwrap();
    let t = &c.targets[0];
    // any case, repeats dropped
    assert_eq!(t.dimensions, [Dimension::Os, Dimension::Access]);
    let lines: Vec<(Source, Option<Dimension>, Vec<String>)> = t
        .streams()
        .into_iter()
        .map(|s| (s.key.source, s.key.dimension, s.indicators))
        .collect();
    let d = |dim, ind: &str| (Source::Distribution, Some(dim), vec![ind.to_string()]);
    assert_eq!(
        lines,
        [
            (Source::Quality, None, vec!["stall_rate".to_string()]),
            d(Dimension::Os, "stall_rate"),
            d(Dimension::Os, "join_room_success_rate"),
            d(Dimension::Access, "stall_rate"),
            d(Dimension::Access, "join_room_success_rate"),
        ]
    );
    // a breakdown alone is a target
    let alone = parse(&breakdown(
        "distribution = [\"stall_rate\"]\ndimensions = [\"Province\"]",
    ))
    .unwrap();
    assert_eq!(alone.targets[0].streams().len(), 1);
}

#[test]
fn breakdown_errors_name_the_key_and_the_allowed_values() {
    let allowed = "Province, Country, OS, Access";
    let cases = [
        (
            breakdown("distribution = [\"stall_rate\"]"),
            vec!["target[1].distribution", "needs dimensions", allowed],
        ),
        (
            breakdown("quality = [\"stall_rate\"]\ndimensions = [\"OS\"]"),
            vec!["target[1].dimensions", "needs distribution"],
        ),
        (
            breakdown("distribution = [\"stall_rate\"]\ndimensions = [\"City\"]"),
            vec!["target[1].dimensions", "\"City\"", allowed],
        ),
        (
            breakdown("distribution = [\"stall_rate\"]\ndimensions = []"),
            vec!["target[1].dimensions", "is empty", allowed],
        ),
        (
            breakdown("distribution = []\ndimensions = [\"OS\"]"),
            vec!["target[1].distribution", "is empty"],
        ),
        (
            "[[target]]\napp_id = \"a\"\nroom_id = \"r\"\ndistribution = [\"stall_rate\"]\ndimensions = [\"OS\"]\n"
                .to_string(),
            vec!["target[1].distribution", "app-wide only"],
        ),
    ];
    for (text, wants) in cases {
        let e = err(&text);
        for want in wants {
            assert!(e.contains(want), "{text}: {e} lacks {want:?}");
        }
    }
}
