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
pub mod export;
pub mod gaps;
pub mod history;
pub mod import;
pub mod lock;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod pacer;
pub mod planner;
pub mod probe;
pub mod query;
pub mod report;
pub mod retry;
pub mod samples;
pub mod series;
pub mod sign;
pub mod simulator;
pub mod store;
pub mod timeutil;

/// Every bucket the API serves is 30 seconds long and starts on a multiple of 30 s.
pub const BUCKET_SECS: i64 = 30;
/// How far back the API reaches, and the longest span it serves.
pub const HORIZON_SECS: i64 = 3600;
/// Requests per second the API allows, per action.
pub const API_RATE_PER_SEC: u32 = 2;
/// The API version both actions use.
pub const API_VERSION: &str = "2020-12-01";

pub use series::Source;
