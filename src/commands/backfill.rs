//! `rtc-archiver backfill`: fetch the 5-minute history of the configured
//! quality targets from `ListQuality`, and of their breakdowns from
//! `ListQualityDistribution`, for every slot of a range that the archive
//! holds neither at 30 seconds nor from an earlier backfill.
//!
//! The history ledger (`history_log`) is the progress: each call's interval
//! is logged with its points, in one transaction, so re-running fetches
//! nothing twice and an interrupted run resumes where it stopped. One
//! backfill (or collector repairing gaps) per archive, by the lock
//! `<database>.backfill.lock`.

use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tracing::info;

use super::{Ctx, check_store, open_store};
use crate::cli::BackfillArgs;
use crate::client::ApiClient;
use crate::config::{ConfigError, StreamSpec};
use crate::exit::{self, UsageError};
use crate::history::{self, Call, CallOutcome};
use crate::lock::{self, LockKind};
use crate::series::StreamKey;
use crate::store::OpenMode;
use crate::{Source, catalog, credentials, timeutil};

/// The configured streams the selection flags keep: app, room, user,
/// source and dimension (globs, any case) select a stream, `--indicator`
/// globs its requested indicators (by their requested or any answered
/// name). Streams left with no indicator are dropped.
pub fn select_streams(
    streams: Vec<StreamSpec>,
    select: &crate::cli::SelectionArgs,
) -> Vec<StreamSpec> {
    let glob = crate::config::glob_match;
    let sources: Vec<Source> = select.source.iter().map(|&s| s.into()).collect();
    streams
        .into_iter()
        .filter(|s| select.app.is_empty() || select.app.contains(&s.key.app_id))
        .filter(|s| {
            select.room.is_empty()
                || s.key
                    .room_id
                    .as_ref()
                    .is_some_and(|r| select.room.contains(r))
        })
        .filter(|s| {
            select.user.is_empty()
                || s.key
                    .user_ids
                    .iter()
                    .any(|u| select.user.iter().any(|x| x == u))
        })
        .filter(|s| sources.is_empty() || sources.contains(&s.key.source))
        .filter(|s| {
            select.dimension.is_empty()
                || s.key.dimension.is_some_and(|d| {
                    select.dimension.iter().any(|pat| {
                        glob(&pat.to_ascii_lowercase(), &d.as_str().to_ascii_lowercase())
                    })
                })
        })
        .filter_map(|mut s| {
            if !select.indicator.is_empty() {
                let source = s.key.source;
                s.indicators.retain(|ind| {
                    let answered = catalog::answered_names(source, ind).unwrap_or_default();
                    select
                        .indicator
                        .iter()
                        .any(|pat| glob(pat, ind) || answered.iter().any(|name| glob(pat, name)))
                });
            }
            (!s.indicators.is_empty()).then_some(s)
        })
        .collect()
}

/// A call that failed for good: what is missing, and why.
struct Missing {
    key: StreamKey,
    /// The requested indicators (a breakdown's call has one).
    indicators: Vec<String>,
    interval: String,
    why: String,
}

pub fn run(ctx: &Ctx, args: BackfillArgs) -> anyhow::Result<u8> {
    if !args.select.dimension_value.is_empty() {
        return Err(UsageError(
            "backfill cannot take --dimension-value: the API answers every value of a \
             dimension in one request; select the breakdown with --dimension"
                .into(),
        )
        .into());
    }
    let config = ctx.config()?;
    if config.targets.is_empty() {
        return Err(ConfigError {
            file: config.file_name(),
            key: Some("target".into()),
            message: "no [[target]] to backfill: add one with app_id and quality = [...] (or \
                      distribution = [...] and dimensions = [...])"
                .into(),
        }
        .into());
    }
    let tz = super::zone(args.tz.as_deref(), Some(&config))?;
    let now = timeutil::now();
    let (lo, hi) = history::common_window(now);
    let (from, to) = super::time_range(
        args.from.as_deref(),
        args.to.as_deref(),
        (lo, now),
        tz,
        "backfill",
    )?;
    if from < now - history::reach_secs() {
        eprintln!(
            "rtc-archiver: note: --from {} is beyond the offline API's 30-day reach; \
             backfilling from {} instead",
            timeutil::fmt_utc(from),
            timeutil::fmt_utc(lo)
        );
    }
    if to > hi {
        info!(
            until = %timeutil::fmt_utc(hi),
            "the last 8 hours are not in the offline store yet: the collector's gap repair fetches what it lost of them later"
        );
    }
    let (from, to) = (from.max(lo), to.min(hi));

    let mut streams = Vec::new();
    let mut operation = 0;
    for target in &config.targets {
        let product_type = target.product_type.map(|p| p.as_str().to_string());
        for spec in select_streams(target.streams(), &args.select) {
            // a breakdown's line is one indicator by one dimension
            match spec.key.source.offline() {
                Some(_) => streams.push((spec, product_type.clone())),
                None => operation += 1,
            }
        }
    }
    if operation > 0 {
        eprintln!(
            "rtc-archiver: note: {operation} operation stream(s) skipped: operation data \
             (online_user_count, ...) has no offline history; its gaps stay unrepaired"
        );
    }
    if streams.is_empty() {
        return Err(UsageError(
            "no quality target or breakdown to backfill: the configuration (and the selection \
             flags) leave none; backfill fetches the indicators of [[target]] quality = [...] \
             and distribution = [...]"
                .into(),
        )
        .into());
    }

    let creds = credentials::discover(|k| std::env::var(k).ok(), std::env::home_dir().as_deref())?;
    check_store(&config.database, OpenMode::Create)?;
    let _lock = lock::acquire_kind(&config.database, LockKind::History)?;
    let store = open_store(&config.database, OpenMode::Create)?;
    let client = ApiClient::new(&config.api, creds)?;
    // each offline action's pacer goes on from the requests before this run
    for action in history::ACTIONS {
        match store.api_usage(action, now) {
            Ok((last, today)) => client.pacer(action).resume(last, today),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the request history; pacing from now")
            }
        }
    }
    let store = Arc::new(Mutex::new(store));

    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let (stop, mut shutdown) = watch::channel(false);
        tokio::spawn(async move {
            super::wait_for_signal().await;
            info!("shutdown requested: stopping after what is in flight");
            let _ = stop.send(true);
        });
        // the plan: what is due of every stream, in calls
        let mut calls: Vec<(Call, Option<String>)> = Vec::new();
        if from < to {
            for (spec, product_type) in &streams {
                let due = history::due(&store, &spec.key, &spec.indicators, from, to).await?;
                for call in history::plan_calls(&spec.key, &due, (from, to), now) {
                    calls.push((call, product_type.clone()));
                }
            }
        }
        let bar = if !args.quiet && std::io::stderr().is_terminal() && !calls.is_empty() {
            let bar = ProgressBar::with_draw_target(
                Some(calls.len() as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} requests {wide_bar} eta {eta} {msg}",
                )
                .expect("a valid template"),
            );
            Some(bar)
        } else {
            None
        };
        let (mut requests, mut points, mut new) = (0u64, 0usize, 0u64);
        let mut missing: Vec<Missing> = Vec::new();
        let mut cancelled = false;
        let mut done = 0;
        for (call, product_type) in &calls {
            if let Some(bar) = &bar {
                bar.set_message(format!("{}", call.key));
            }
            let outcome =
                history::run_call(&client, &store, call, product_type.as_deref(), &mut shutdown)
                    .await;
            let why = match outcome {
                CallOutcome::Stored {
                    written,
                    points: p,
                    attempts,
                    from,
                } => {
                    requests += u64::from(attempts);
                    points += p;
                    new += written.new;
                    info!(stream = %call.key, indicators = %call.indicators.join(","), from = %timeutil::fmt_utc(from), to = %timeutil::fmt_utc(call.to), points = p, new = written.new, "history fetched");
                    None
                }
                CallOutcome::OutOfReach => None,
                CallOutcome::Failed { error, attempts } => {
                    requests += u64::from(attempts);
                    Some(format!("{error} (after {attempts} attempt(s))"))
                }
                CallOutcome::OverBudget(e) => Some(format!("not fetched: {e}")),
                CallOutcome::Store(e) => {
                    return Err(anyhow::Error::new(e).context("archive write failed"));
                }
                CallOutcome::Cancelled => {
                    cancelled = true;
                    Some("cancelled by shutdown".into())
                }
            };
            if let Some(why) = why {
                missing.push(Missing {
                    key: call.key.clone(),
                    indicators: call.indicators.clone(),
                    interval: call.interval(),
                    why,
                });
            }
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            done += 1;
            if cancelled {
                break;
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .checkpoint()
            .ok();
        let range = format!(
            "[{}, {})",
            timeutil::fmt_utc(from),
            timeutil::fmt_utc(to.max(from))
        );
        eprintln!(
            "rtc-archiver: backfill {range}: {} stream(s), {} call(s) due, {requests} request(s), \
             {points} 5-minute point(s) answered, {new} new",
            streams.len(),
            calls.len()
        );
        if cancelled {
            let left = calls.len() + 1 - done;
            eprintln!(
                "rtc-archiver: interrupted with {left} call(s) left; run the same backfill \
                 again to resume (what was stored is kept)"
            );
            return Ok(exit::FAILURE);
        }
        if !missing.is_empty() {
            for m in &missing {
                eprintln!(
                    "rtc-archiver: missing: {} indicator={} {}: {}",
                    m.key,
                    m.indicators.join(","),
                    m.interval,
                    m.why
                );
            }
            eprintln!(
                "rtc-archiver: {} interval(s) not fetched; run the same backfill again to retry them",
                missing.len()
            );
            return Ok(exit::FAILURE);
        }
        Ok(exit::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::SelectionArgs;
    use crate::series::{Dimension, StreamKey, UserSet};

    fn specs() -> Vec<StreamSpec> {
        let spec = |key: StreamKey, ind: &str| StreamSpec {
            key,
            indicators: vec![ind.to_string()],
        };
        vec![
            spec(
                StreamKey::new("a", None, UserSet::NONE, Source::Quality),
                "stall_rate",
            ),
            spec(StreamKey::distribution("a", Dimension::Os), "stall_rate"),
            spec(
                StreamKey::distribution("a", Dimension::Access),
                "stall_rate",
            ),
        ]
    }

    #[test]
    fn dimension_selects_breakdown_streams_in_any_case() {
        let keep = |select: SelectionArgs| -> Vec<Option<Dimension>> {
            select_streams(specs(), &select)
                .into_iter()
                .map(|s| s.key.dimension)
                .collect()
        };
        let by = |d: &str| SelectionArgs {
            dimension: vec![d.into()],
            ..SelectionArgs::default()
        };
        assert_eq!(keep(by("os")), [Some(Dimension::Os)]);
        assert_eq!(keep(by("A*")), [Some(Dimension::Access)]);
        assert_eq!(keep(SelectionArgs::default()).len(), 3);
        // an answered name selects the stream that asks for it
        let video = SelectionArgs {
            indicator: vec!["video_stall_rate".into()],
            ..SelectionArgs::default()
        };
        assert_eq!(keep(video).len(), 3);
    }
}
