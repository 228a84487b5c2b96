//! `rtc-archiver collect [--once]`: the collector, as a daemon or a cron job.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tracing::{info, warn};

use super::{Ctx, check_store, open_store};
use crate::cli::CollectArgs;
use crate::client::ApiClient;
use crate::collector::{self, Collector};
use crate::config::ConfigError;
use crate::exit::{self, UsageError};
use crate::metrics::Metrics;
use crate::store::OpenMode;
use crate::{credentials, lock};

pub fn run(ctx: &Ctx, args: CollectArgs) -> anyhow::Result<u8> {
    let config = ctx.config()?;
    if config.targets.is_empty() {
        return Err(ConfigError {
            file: config.file_name(),
            key: Some("target".into()),
            message: "no [[target]] to collect: add one with app_id and quality = [...] or operation = [...]"
                .into(),
        }
        .into());
    }
    for warning in crate::budget::demand(&config)
        .iter()
        .filter_map(crate::budget::Demand::warning)
    {
        warn!("{warning}");
    }
    for name in &config.unknown_indicators {
        warn!(indicator = %name, "indicator not in the built-in catalog; the API decides whether it exists");
    }
    let creds = credentials::discover(|k| std::env::var(k).ok(), std::env::home_dir().as_deref())?;
    info!(credentials = %creds.origin, "credentials found");

    check_store(&config.database, OpenMode::Create)?;
    let _lock = lock::acquire(&config.database)?;
    let store = open_store(&config.database, OpenMode::Create)?;
    let client = ApiClient::new(&config.api, creds)?;
    let metrics = Arc::new(Metrics::new());
    metrics.start_at_zero(&config);

    let runtime = super::runtime()?;
    runtime.block_on(async move {
        if let Some(addr) = args.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                UsageError(format!("--metrics-listen {addr}: cannot listen there: {e}"))
            })?;
            info!(%addr, "serving metrics at /metrics");
            tokio::spawn(crate::metrics::serve(listener, metrics.clone()));
        }
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(async move {
            super::wait_for_signal().await;
            info!("shutdown requested: finishing what is in flight");
            let _ = stop.send(true);
        });
        let database = config.database.display().to_string();
        let targets = config.targets.len();
        let once = args.once;
        let collector = Arc::new(Collector::new(store, client, config, metrics.clone()));
        info!(%database, targets, once, "collector starting");
        // the budget gauges, refreshed from the pacers every few seconds
        let watched = collector.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                for source in crate::Source::ALL {
                    let pacer = watched.client().pacer(source.realtime());
                    metrics.budget(source, pacer.usage(), pacer.limit());
                }
                metrics.notifications(&watched.notifier().counters());
            }
        });
        if once {
            let started = Instant::now();
            let mut report = collector.run_pass(&shutdown).await;
            collector::log_pass(&report, started.elapsed());
            collector.checkpoint().await;
            if let Some(e) = report.take_store_error() {
                return Err(anyhow::Error::new(e).context("archive write failed"));
            }
            let failures: Vec<String> = report
                .failures()
                .map(|(key, f)| format!("{key}: {f}"))
                .collect();
            if !failures.is_empty() {
                for f in &failures {
                    eprintln!("rtc-archiver: failed: {f}");
                }
                return Ok(exit::FAILURE);
            }
            Ok(exit::SUCCESS)
        } else {
            collector.run_daemon(shutdown).await?;
            info!("collector stopped");
            Ok(exit::SUCCESS)
        }
    })
}
