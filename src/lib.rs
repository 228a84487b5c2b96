//! rtc-archiver keeps a permanent, SQL-queryable history of Volcengine RTC
//! real-time data, which the API itself forgets after 60 minutes.
//!
//! A bucket of data travels: [`client`] (signed with [`sign`], parsed by
//! [`api`]) → [`collector`] (windows from [`planner`]) → [`store`] (SQLite,
//! schema in `migrations/`) → the `samples` view, [`query`] and the reports.

pub mod api;
pub mod budget;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod collector;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod exit;
pub mod import;
pub mod lock;
pub mod metrics;
pub mod output;
pub mod planner;
pub mod query;
pub mod report;
pub mod retry;
pub mod sign;
pub mod simulator;
pub mod store;
pub mod timeutil;

use std::fmt;
use std::str::FromStr;

/// Every bucket the API serves is 30 seconds long and starts on a multiple of 30 s.
pub const BUCKET_SECS: i64 = 30;
/// How far back the API reaches, and the longest span it serves.
pub const HORIZON_SECS: i64 = 3600;
/// Requests per second the API allows, per action.
pub const API_RATE_PER_SEC: u32 = 2;
/// The API version both actions use.
pub const API_VERSION: &str = "2020-12-01";

/// The first control character in a piece of a series' identity (app,
/// room, user, indicator, unit), if any. Identities are printed in tables,
/// CSV and reports, and compared byte for byte: a control character would be
/// a terminal escape, a broken line or an invisible difference, so every
/// entry point (config, import, API answers) refuses one.
pub fn control_char(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

/// Which of the two actions a series comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// `ListRealTimeQuality`
    Quality,
    /// `ListRealTimeOperationData`
    Operation,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Quality, Source::Operation];

    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Quality => "quality",
            Source::Operation => "operation",
        }
    }

    /// The OpenAPI action.
    pub fn action(self) -> &'static str {
        match self {
            Source::Quality => "ListRealTimeQuality",
            Source::Operation => "ListRealTimeOperationData",
        }
    }

    pub fn from_action(action: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.action() == action)
    }

    /// How long after the fact the API has a bucket's data, in seconds.
    pub fn delay_secs(self) -> i64 {
        match self {
            Source::Quality => 60,
            Source::Operation => 20,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quality" => Ok(Source::Quality),
            "operation" => Ok(Source::Operation),
            other => Err(format!(
                "unknown source {other:?}: expected \"quality\" or \"operation\""
            )),
        }
    }
}
