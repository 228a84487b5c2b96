//! Shared parts of the integration tests: the real binary, a temp directory
//! with a config and a database, and the built-in simulator on loopback.

#![allow(dead_code)]

pub mod faketime;
pub mod independent;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rtc_archiver::series::{StreamKey, UserSet};
use rtc_archiver::simulator::{self, SimConfig, SimHandle, SimStats};
use rusqlite::Connection;

/// The simulator, on its own runtime, for as long as the test holds it.
pub struct Sim {
    rt: tokio::runtime::Runtime,
    handle: Option<SimHandle>,
    pub endpoint: String,
    pub config: SimConfig,
}

impl Sim {
    pub fn start(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            simulator::start(listener, config.clone()).unwrap()
        });
        let endpoint = handle.endpoint();
        Sim {
            rt,
            handle: Some(handle),
            endpoint,
            config,
        }
    }

    pub fn stats(&self) -> SimStats {
        self.handle.as_ref().unwrap().stats()
    }

    /// Checks that no request broke the API's rules.
    pub fn assert_polite(&self) {
        let s = self.stats();
        assert_eq!(
            s.horizon_violations, 0,
            "requests beyond the 60-minute horizon: {s:?}"
        );
        assert_eq!(
            s.span_violations, 0,
            "requests spanning over 60 minutes: {s:?}"
        );
        assert_eq!(s.rate_limited, 0, "requests over the rate limit: {s:?}");
        assert_eq!(s.beyond_delay, 0, "requests for data not yet due: {s:?}");
        assert_eq!(s.auth_failures, 0, "requests with bad signatures: {s:?}");
        for (action, n) in &s.max_in_one_second {
            assert!(*n <= 2, "{n} requests of {action} within one second");
        }
        assert!(s.max_lookback_secs <= 3600.0, "{s:?}");
    }

    /// Requests of one action so far.
    pub fn requests(&self, action: &str) -> u64 {
        self.stats().by_action.get(action).copied().unwrap_or(0)
    }

    /// Checks that requests of an offline action were made and broke none
    /// of its rules (reach, span, rate, delay), nor any rule of the others.
    pub fn assert_offline_polite(&self, action: &str) {
        let s = self.stats();
        self.assert_polite();
        let a = &s.actions[action];
        assert_eq!(a.reach_violations, 0, "{s:?}");
        assert_eq!(a.span_violations, 0, "{s:?}");
        assert_eq!(a.rate_limited, 0, "{s:?}");
        assert_eq!(a.beyond_delay, 0, "{s:?}");
        assert!(a.max_lookback_secs <= 30.0 * 86_400.0, "{s:?}");
        assert!(
            s.max_in_one_second.get(action).is_none_or(|n| *n <= 2),
            "{s:?}"
        );
    }
}

/// No 5-minute point shares its slot with a 30-second point of its series
/// (every identity column of the samples view compared).
pub fn assert_no_5_minute_point_beside_a_30_second_one(conn: &Connection) {
    let beside: i64 = conn
        .query_row(
            "SELECT count(*) FROM samples c JOIN samples f
               ON f.source = c.source AND f.app_id = c.app_id
              AND f.room_id IS c.room_id AND f.user_ids IS c.user_ids
              AND f.dimension IS c.dimension AND f.dimension_value IS c.dimension_value
              AND f.indicator = c.indicator
              AND f.resolution = 30 AND f.ts >= c.ts AND f.ts < c.ts + 300
             WHERE c.resolution = 300",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(beside, 0, "5-minute points beside 30-second ones");
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.stop());
        }
    }
}

/// The knobs of a test config.
pub struct ConfigSpec<'a> {
    pub database: &'a str,
    pub interval: &'a str,
    pub timeout: &'a str,
}

impl Default for ConfigSpec<'_> {
    fn default() -> Self {
        ConfigSpec {
            database: "archive.db",
            interval: "5s",
            timeout: "5s",
        }
    }
}

/// A temp directory holding a config and an archive, with a clean environment.
pub struct Env {
    pub dir: tempfile::TempDir,
}

pub const ACCESS_KEY: &str = simulator::DEFAULT_ACCESS_KEY;
pub const SECRET_KEY: &str = simulator::DEFAULT_SECRET_KEY;

/// The targets most tests collect: app-wide quality and operation data, and a room with users.
pub const TARGETS: &str = r#"
[[target]]
app_id = "app1"
quality = ["stall_rate", "join_room_success_rate"]
operation = ["online_user_count", "online_room_count"]

[[target]]
app_id = "app1"
room_id = "room-1"
user_ids = ["u2", "u1"]
quality = ["stall_rate"]
"#;

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db(&self) -> PathBuf {
        self.path("archive.db")
    }

    /// Writes `rtc-archiver.toml` pointing at an endpoint, with `targets` appended.
    pub fn write_config(&self, endpoint: &str, targets: &str) -> PathBuf {
        self.write_config_with(endpoint, &ConfigSpec::default(), targets)
    }

    pub fn write_config_with(
        &self,
        endpoint: &str,
        spec: &ConfigSpec<'_>,
        targets: &str,
    ) -> PathBuf {
        let path = self.path("rtc-archiver.toml");
        std::fs::write(
            &path,
            format!(
                "database = \"{}\"\ninterval = \"{}\"\n\n[api]\nendpoint = \"{endpoint}\"\ntimeout = \"{}\"\n{targets}",
                spec.database, spec.interval, spec.timeout
            ),
        )
        .unwrap();
        path
    }

    /// The real binary, run in the temp directory with the simulator's credentials.
    pub fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_cmd())
    }

    /// The same, as a std command (for processes the test signals or kills).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("rtc-archiver"));
        self.prepare(&mut cmd);
        cmd
    }

    fn prepare(&self, cmd: &mut std::process::Command) {
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("VOLC_ACCESSKEY", ACCESS_KEY)
            .env("VOLC_SECRETKEY", SECRET_KEY)
            .env("RUST_LOG", "info");
    }

    pub fn conn(&self) -> Connection {
        Connection::open(self.db()).unwrap()
    }
}

/// One archived point: (source, app, room, users, indicator, ts, value).
pub type Point = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    f64,
);

pub fn samples(conn: &Connection) -> Vec<Point> {
    let mut stmt = conn
        .prepare(
            "SELECT source, app_id, room_id, user_ids, indicator, ts, value FROM samples
             ORDER BY source, app_id, room_id, user_ids, indicator, ts",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Fetched ranges of every feed: (source, app, room, users, requested indicator, first_ts, done_ts).
pub fn feeds(conn: &Connection) -> Vec<(String, String, String, String, String, i64, i64)> {
    let mut stmt = conn
        .prepare(
            "SELECT st.source, st.app_id, st.room_id, st.user_ids, f.indicator, f.first_ts, f.done_ts
             FROM feeds f JOIN streams st ON st.id = f.stream_id ORDER BY 1, 2, 3, 4, 5",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The answered names of the TARGETS above, per stream.
pub fn target_series() -> Vec<(
    rtc_archiver::Source,
    &'static str,
    &'static str,
    Vec<&'static str>,
)> {
    use rtc_archiver::Source::*;
    vec![
        (
            Quality,
            "",
            "",
            vec![
                "10s_join_room_success_rate",
                "5s_join_room_success_rate",
                "audio_stall_rate",
                "video_stall_rate",
            ],
        ),
        (
            Operation,
            "",
            "",
            vec!["online_room_count", "online_user_count"],
        ),
        (
            Quality,
            "room-1",
            "u1,u2",
            vec!["audio_stall_rate", "video_stall_rate"],
        ),
    ]
}

/// Checks the archive against what the simulator serves: inside every
/// fetched range, each bucket the model has data for is archived with a
/// value the simulator served at some moment in `[served_from, served_to]`
/// (or its final value if `final_before` says the bucket had settled), and
/// no other bucket is archived. Returns the number of points checked.
pub fn assert_archive_matches_model(
    conn: &Connection,
    sim: &Sim,
    served_from: i64,
    served_to: i64,
) -> usize {
    let model = sim.config.model;
    let points = samples(conn);
    let feeds = feeds(conn);
    let mut checked = 0;
    for (source, room, users, names) in target_series() {
        let (first, done) = feeds
            .iter()
            .filter(|f| f.0 == source.as_str() && f.2 == room && f.3 == users)
            .fold((i64::MAX, i64::MIN), |(a, b), f| (a.min(f.5), b.max(f.6)));
        assert!(first < done, "no fetched range for {source} {room}");
        for name in names {
            let s = StreamKey::new(
                "app1",
                Some(room.to_string()),
                UserSet::parse(users).unwrap(),
                source,
            )
            .series(name);
            let stored: std::collections::BTreeMap<i64, f64> = points
                .iter()
                .filter(|p| {
                    p.0 == source.as_str()
                        && p.2.as_deref().unwrap_or("") == room
                        && p.3.as_deref().unwrap_or("") == users
                        && p.4 == name
                })
                .map(|p| (p.5, p.6))
                .collect();
            let mut ts = first;
            while ts < done {
                let candidates: Vec<f64> = (served_from..=served_to)
                    .filter_map(|t| model.served_value(&s, ts, t))
                    .collect();
                match (model.has_data(&s, ts), stored.get(&ts)) {
                    (true, Some(v)) => {
                        assert!(
                            candidates.contains(v),
                            "{name} {room} at {ts}: archived {v}, served {candidates:?}"
                        );
                        checked += 1;
                    }
                    (true, None) => {
                        panic!("{name} {room}: bucket {ts} was served but is not archived")
                    }
                    (false, Some(v)) => {
                        panic!("{name} {room}: bucket {ts} has no data but {v} is archived")
                    }
                    (false, None) => {}
                }
                ts += 30;
            }
            for ts in stored.keys() {
                assert!(
                    (first..done).contains(ts),
                    "{name}: {ts} outside the fetched range {first}..{done}"
                );
            }
        }
    }
    checked
}

pub fn now() -> i64 {
    rtc_archiver::timeutil::now()
}

/// Polls `f` until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
