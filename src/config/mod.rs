//! The TOML configuration: what to collect, where to keep it, how to reach
//! the API. Everything is checked here, once, before any request leaves, and
//! every problem names the file, the key and the fix.
//!
//! This file reads the text, checks the top-level keys and holds what every
//! section shares (`Config`, `ConfigError`, the `Checker` that names keys).
//! Each section has a file with its types and its `check`: `api.rs`
//! (`[api]`), `targets.rs` (`[[target]]`), `report.rs` (`[report]`),
//! `notify.rs` (`[[notify]]` and `notify_lag`).
//! `Config::parse` deserializes the text and calls the checks in that
//! order, after the top level's; the first problem found is the one shown.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::HORIZON_SECS;
use crate::timeutil::{self, DurationRange};

mod api;
mod notify;
mod report;
mod targets;

use api::RawApi;
pub use api::{ApiConfig, TIMEOUT_RANGE, redact_userinfo};
use notify::RawNotify;
pub use notify::{
    DEFAULT_NOTIFY_LAG, EventKind, NOTIFY_LAG_RANGE, NotifyConfig, NotifyKind, SecretSource,
    check_url,
};
use report::RawReport;
pub use report::{IncidentConfig, ReportConfig, check_threshold, glob_match};
use targets::RawTarget;
pub use targets::{ProductType, StreamSpec, Target};

/// The config file used when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "rtc-archiver.toml";
/// The database used when the config does not name one.
pub const DEFAULT_DATABASE: &str = "rtc-archive.db";
/// The largest config file read (thousands of targets are a few hundred
/// kilobytes); `--config /dev/zero` must not fill the memory.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// A commented example configuration (`rtc-archiver config example`).
pub const EXAMPLE: &str = include_str!("../../rtc-archiver.example.toml");

/// `interval`: a poll at least every second, and often enough that nothing
/// slides out of the API's 60-minute reach between two polls.
pub const INTERVAL_RANGE: DurationRange = DurationRange::new(
    Duration::from_secs(1),
    Duration::from_secs(HORIZON_SECS.unsigned_abs() - 600),
);
/// `overlap`: re-read at most what the API still has.
pub const OVERLAP_RANGE: DurationRange = DurationRange::new(
    Duration::ZERO,
    Duration::from_secs(HORIZON_SECS.unsigned_abs() - 300),
);
/// `horizon_margin`: at most half the API's reach.
pub const HORIZON_MARGIN_RANGE: DurationRange =
    DurationRange::new(Duration::ZERO, Duration::from_secs(1800));

/// A configuration problem: which file, which key, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: {key}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// A problem with the file as a whole (unreadable, not TOML), no key.
    fn of_file(file: &str, message: String) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            key: None,
            message,
        }
    }
}

/// The file as written: every key optional (defaults apply), an unknown
/// key refused by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: Option<PathBuf>,
    interval: Option<String>,
    overlap: Option<String>,
    horizon_margin: Option<String>,
    timezone: Option<String>,
    api: Option<RawApi>,
    report: Option<RawReport>,
    #[serde(default)]
    target: Vec<RawTarget>,
    notify_lag: Option<String>,
    #[serde(default)]
    notify: Vec<RawNotify>,
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    pub database: PathBuf,
    pub interval: Duration,
    pub overlap: Duration,
    pub horizon_margin: Duration,
    pub timezone: Option<String>,
    pub api: ApiConfig,
    pub targets: Vec<Target>,
    pub report: ReportConfig,
    /// Indicator names the catalog does not know: worth a warning, not an error.
    pub unknown_indicators: Vec<String>,
    /// Where the report's digest and the collector's health events go.
    pub notify: Vec<NotifyConfig>,
    /// A stream lagging more than this is a `lag` event (and its recovery another).
    pub notify_lag: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            file: None,
            database: PathBuf::from(DEFAULT_DATABASE),
            interval: Duration::from_secs(60),
            overlap: Duration::from_secs(600),
            horizon_margin: Duration::from_secs(60),
            timezone: None,
            api: ApiConfig::default(),
            targets: Vec::new(),
            report: ReportConfig::default(),
            unknown_indicators: Vec::new(),
            notify: Vec::new(),
            notify_lag: DEFAULT_NOTIFY_LAG,
        }
    }
}

/// Checks the keys of one section of a file: every error names the file
/// and the key as the user writes it (`api.timeout`, `target[2].room_id`).
struct Checker<'a> {
    file: &'a str,
    /// The section's own key (`api`, `target[2]`); empty at the top level.
    section: String,
}

impl<'a> Checker<'a> {
    fn new(file: &'a str) -> Checker<'a> {
        Checker {
            file,
            section: String::new(),
        }
    }

    /// The checker of a section within this one.
    fn section(&self, name: &str) -> Checker<'a> {
        Checker {
            file: self.file,
            section: self.key(name),
        }
    }

    /// A key of this section, as the user writes it.
    fn key(&self, key: &str) -> String {
        if self.section.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.section)
        }
    }

    /// A problem with a key of this section.
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            key: Some(self.key(key)),
            message: message.into(),
        }
    }

    /// A problem with the section as a whole (`target[2]: asks for nothing`).
    fn section_err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            key: Some(self.section.clone()),
            message: message.into(),
        }
    }

    /// A duration key: parsed, checked against its range, the key named in
    /// any error, with `hint` saying what to choose.
    fn duration(
        &self,
        key: &str,
        value: Option<&str>,
        default: Duration,
        range: DurationRange,
        hint: &str,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = value else {
            return Ok(default);
        };
        let d = timeutil::parse_duration(v).map_err(|e| self.err(key, e))?;
        range
            .check(d)
            .map_err(|e| self.err(key, format!("{e}, not {v:?}: {hint}")))
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read as _;
        let file = path.display().to_string();
        let problem = |message: String| ConfigError::of_file(&file, message);
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| {
                problem(format!(
                    "cannot read it ({e}); pass --config FILE, or --db FILE for commands that only read the archive"
                ))
            })?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(problem(format!(
                "is larger than {} MiB, which no configuration is: pass the right --config FILE",
                MAX_CONFIG_BYTES >> 20
            )));
        }
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let config = Config::parse(&text, &file, base)?;
        // only a file holding a secret (an inline webhook URL or signing
        // secret) is worth a warning; access keys never live here
        if config.notify.iter().any(NotifyConfig::holds_secret) {
            crate::credentials::warn_if_readable_by_others(path);
        }
        Ok(Config {
            file: Some(path.to_path_buf()),
            ..config
        })
    }

    /// Parses and checks config text; relative paths are taken from `base`.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            ConfigError::of_file(
                file,
                // the error quotes the line, which may hold an endpoint's password
                format!(
                    "{}; see `rtc-archiver config example` for every key",
                    notify::redact_secret_lines(&redact_userinfo(e.to_string().trim_end()))
                ),
            )
        })?;
        let c = Checker::new(file);
        let top = check_top_level(&c, &raw, base)?;
        let api = api::check(&c.section("api"), raw.api)?;
        let targets = targets::check(&c, raw.target)?;
        let report = report::check(&c.section("report"), raw.report)?;
        let (notify, notify_lag) = notify::check(&c, raw.notify, raw.notify_lag.as_deref())?;
        Ok(Config {
            file: None,
            database: top.database,
            interval: top.interval,
            overlap: top.overlap,
            horizon_margin: top.horizon_margin,
            timezone: top.timezone,
            api,
            targets: targets.targets,
            report,
            unknown_indicators: targets.unknown_indicators,
            notify,
            notify_lag,
        })
    }

    /// The file name for messages.
    pub fn file_name(&self) -> String {
        self.file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(built-in configuration)".into())
    }
}

/// The top-level keys, checked: where the archive is and how passes are timed.
struct TopLevel {
    database: PathBuf,
    interval: Duration,
    overlap: Duration,
    horizon_margin: Duration,
    timezone: Option<String>,
}

/// The top-level keys: `database` a file path (a relative one taken from
/// `base`), each duration within its range, `timezone` an IANA name;
/// absent keys keep the defaults.
fn check_top_level(c: &Checker, raw: &RawConfig, base: &Path) -> Result<TopLevel, ConfigError> {
    let defaults = Config::default();
    let database = match &raw.database {
        Some(path) => match crate::store::not_a_file_path(path) {
            Some(why) => return Err(c.err("database", why)),
            None => base.join(path),
        },
        None => base.join(DEFAULT_DATABASE),
    };
    let interval = c.duration(
        "interval",
        raw.interval.as_deref(),
        defaults.interval,
        INTERVAL_RANGE,
        "the API forgets data after 60 minutes, so polls further apart lose data \
         (60s is a good choice)",
    )?;
    let overlap = c.duration(
        "overlap",
        raw.overlap.as_deref(),
        defaults.overlap,
        OVERLAP_RANGE,
        "it must stay inside the API's 60-minute reach (10m is a good choice)",
    )?;
    let horizon_margin = c.duration(
        "horizon_margin",
        raw.horizon_margin.as_deref(),
        defaults.horizon_margin,
        HORIZON_MARGIN_RANGE,
        "the default, 60s, suits a synchronised clock",
    )?;
    if let Some(zone) = &raw.timezone {
        timeutil::parse_zone(zone).map_err(|e| c.err("timezone", e))?;
    }
    Ok(TopLevel {
        database,
        interval,
        overlap,
        horizon_margin,
        timezone: raw.timezone.clone(),
    })
}

#[cfg(test)]
mod tests;
