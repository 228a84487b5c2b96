//! `rtc-archiver status`: per target and action, how fresh the archive is,
//! what failed, what was lost; `--max-lag` turns it into a health check.

use std::io::Write;

use super::Ctx;
use crate::cli::{StatusArgs, StatusFormat};
use crate::exit;
use crate::output::make_table;
use crate::store::read::StreamStatus;
use crate::timeutil::{self, fmt_duration_secs};

/// How far a stream trails now: from the time up to which everything was fetched.
fn lag(s: &StreamStatus, now: i64) -> Option<i64> {
    s.fetched_until.map(|t| (now - t).max(0))
}

fn ago(t: Option<i64>, now: i64) -> String {
    match t {
        Some(t) => format!("{} ago", fmt_duration_secs(now - t)),
        None => "never".into(),
    }
}

pub fn run(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<u8> {
    let (store, config) = ctx.open_read()?;
    let now = timeutil::now();
    let mut streams = store.stream_status(now)?;
    // configured targets that never reached the archive count too
    if let Some(config) = &config {
        for t in &config.targets {
            for source in crate::Source::ALL {
                let inds = t.indicators(source);
                if inds.is_empty() {
                    continue;
                }
                let key = t.stream_key(source);
                if !streams.iter().any(|s| s.key == key) {
                    streams.push(StreamStatus::never_fetched(key, inds.to_vec()));
                }
            }
        }
    }
    let max_lag = args.max_lag.map(timeutil::secs_i64);
    let lagging: Vec<&StreamStatus> = match max_lag {
        Some(max) => streams
            .iter()
            .filter(|s| lag(s, now).is_none_or(|l| l > max))
            .collect(),
        None => Vec::new(),
    };

    let mut out = std::io::stdout().lock();
    match args.format {
        StatusFormat::Json => {
            #[derive(serde::Serialize)]
            struct Row<'a> {
                #[serde(flatten)]
                status: &'a StreamStatus,
                lag_seconds: Option<i64>,
                fetched_until_time: Option<String>,
                newest_bucket_time: Option<String>,
            }
            let rows: Vec<Row> = streams
                .iter()
                .map(|s| Row {
                    status: s,
                    lag_seconds: lag(s, now),
                    fetched_until_time: s.fetched_until.map(timeutil::fmt_utc),
                    newest_bucket_time: s.newest_bucket.map(timeutil::fmt_utc),
                })
                .collect();
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({
                    "now": now,
                    "database": store.path().display().to_string(),
                    "streams": rows,
                    "max_lag_seconds": max_lag,
                    "lagging": lagging.len(),
                }),
            )?;
            writeln!(out)?;
        }
        StatusFormat::Table => {
            if streams.is_empty() {
                writeln!(
                    out,
                    "The archive {} holds no streams yet: run `rtc-archiver collect`.",
                    store.path().display()
                )?;
            } else {
                let rows = streams
                    .iter()
                    .map(|s| {
                        vec![
                            s.key.source.to_string(),
                            s.key.app_id.clone(),
                            s.key.room_id.clone().unwrap_or_default(),
                            s.key.user_ids.joined().to_string(),
                            s.fetched_until
                                .map(timeutil::fmt_utc)
                                .unwrap_or_else(|| "-".into()),
                            lag(s, now)
                                .map(fmt_duration_secs)
                                .unwrap_or_else(|| "never".into()),
                            s.newest_bucket
                                .map(timeutil::fmt_utc)
                                .unwrap_or_else(|| "-".into()),
                            ago(s.last_success_at, now),
                            format!("{}/{}", s.points_24h, s.revisions_24h),
                            format!("{}/{}", s.gaps_24h, s.gaps_7d),
                            s.last_error.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                let table = make_table(
                    &[
                        "source",
                        "app",
                        "room",
                        "users",
                        "fetched until",
                        "lag",
                        "newest bucket",
                        "last success",
                        "points/revised 24h",
                        "gaps 24h/7d",
                        "last error",
                    ],
                    rows,
                );
                writeln!(out, "{table}")?;
            }
        }
    }
    if let Some(max) = max_lag
        && !lagging.is_empty()
    {
        for s in &lagging {
            match lag(s, now) {
                Some(l) => eprintln!(
                    "rtc-archiver: {}: lag {} exceeds {}",
                    s.key,
                    fmt_duration_secs(l),
                    fmt_duration_secs(max)
                ),
                None => eprintln!(
                    "rtc-archiver: {}: never fetched (the limit is {})",
                    s.key,
                    fmt_duration_secs(max)
                ),
            }
        }
        return Ok(exit::FAILURE);
    }
    Ok(exit::SUCCESS)
}
