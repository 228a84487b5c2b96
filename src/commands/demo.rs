//! `rtc-archiver demo`: no credentials, no network. Starts the simulator in
//! this process, backfills 8 days of 5-minute history from its `ListQuality`
//! and `ListQualityDistribution` (so that the report has a previous day and
//! week to compare with, by dimension too),
//! collects the reachable hour into a demo archive, and shows what to look
//! at next.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use chrono_tz::Tz;
use tokio::sync::watch;
use url::Url;

use super::{Ctx, check_store, open_store};
use crate::cli::DemoArgs;
use crate::client::ApiClient;
use crate::collector::Collector;
use crate::config::{ApiConfig, Config, Target};
use crate::credentials::Credentials;
use crate::metrics::Metrics;
use crate::output::Format;
use crate::query::{Agg, Aggregation, Fill, aggregate_series};
use crate::samples::{SampleWriter, Style};
use crate::series::{Dimension, UserSet};
use crate::simulator::{self, SimConfig};
use crate::store::read::SeriesFilter;
use crate::store::{self, OpenMode, Store, StoreError};
use crate::{exit, lock, timeutil};

/// The demo's default archive file.
pub const DEMO_DB: &str = "rtc-archiver-demo.db";

fn demo_targets() -> Vec<Target> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        Target {
            app_id: "demo-app".into(),
            room_id: None,
            user_ids: UserSet::NONE,
            quality: s(&[
                "stall_rate",
                "join_room_success_rate",
                "network_trans_delay",
            ]),
            operation: s(&["online_user_count", "online_room_count"]),
            // the stall rate broken down by platform and network type
            distribution: s(&["stall_rate"]),
            dimensions: vec![Dimension::Os, Dimension::Access],
            product_type: None,
        },
        Target {
            app_id: "demo-app".into(),
            room_id: Some("room-1".into()),
            user_ids: UserSet::new(["u1", "u2"]).expect("valid UserIds"),
            quality: s(&["stall_rate", "first_frame_recv_success_rate"]),
            operation: vec![],
            distribution: vec![],
            dimensions: vec![],
            product_type: None,
        },
    ]
}

/// Days of history the demo backfills: the report's previous day and week.
const BACKFILL_DAYS: i64 = 8;

/// Backfills the demo's quality streams and breakdowns from the
/// simulator's `ListQuality` and `ListQualityDistribution`, as `rtc-archiver backfill --from -8d` would; returns the requests and
/// the points answered.
async fn backfill(
    config: &Config,
    creds: Credentials,
    db: &std::path::Path,
) -> anyhow::Result<(u64, usize)> {
    use crate::history::{self, CallOutcome};
    let store = std::sync::Arc::new(std::sync::Mutex::new(open_store(db, OpenMode::Create)?));
    let client = ApiClient::new(&config.api, creds)?;
    let (_stop, mut shutdown) = watch::channel(false);
    let now = timeutil::now();
    let (lo, hi) = history::common_window(now);
    let from = lo.max(now - BACKFILL_DAYS * 86_400);
    let (mut requests, mut points) = (0, 0);
    for target in &config.targets {
        for spec in target.streams() {
            if spec.key.source.offline().is_none() {
                continue;
            }
            let due = history::due(&store, &spec.key, &spec.indicators, from, hi).await?;
            for call in history::plan_calls(&spec.key, &due, (from, hi), now) {
                match history::run_call(&client, &store, &call, None, &mut shutdown).await {
                    CallOutcome::Stored {
                        points: p,
                        attempts,
                        ..
                    } => {
                        requests += u64::from(attempts);
                        points += p;
                    }
                    CallOutcome::Store(e) => return Err(e.into()),
                    CallOutcome::Failed { error, .. } => {
                        return Err(anyhow::Error::new(error).context("the demo's backfill failed"));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok((requests, points))
}

/// `--fresh` removes only an archive (even a damaged one), never a file
/// that merely has its name.
fn check_removable(db: &std::path::Path) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(db).is_ok() && !store::is_archive_file(db) {
        return Err(StoreError::Unusable(
            db.to_path_buf(),
            "is not an rtc-archiver archive, and --fresh removes only an archive: pass --db \
             with another file name"
                .into(),
        )
        .into());
    }
    Ok(())
}

fn remove_db_files(db: &std::path::Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", db.display())),
        }
    }
    Ok(())
}

pub fn run(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<u8> {
    let db = ctx
        .global
        .db
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEMO_DB));
    if args.fresh {
        check_removable(&db)?;
    } else {
        check_store(&db, OpenMode::Create)?;
    }
    let _lock = lock::acquire(&db)?;
    if args.fresh {
        remove_db_files(&db)?;
    }
    let started = Instant::now();
    let runtime = super::runtime()?;
    let report = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on loopback for the simulator")?;
        let sim = simulator::start(listener, SimConfig::default())?;
        let config = Config {
            database: db.clone(),
            api: ApiConfig {
                endpoint: Url::parse(&sim.endpoint())?,
                ..ApiConfig::default()
            },
            targets: demo_targets(),
            ..Config::default()
        };
        let creds = Credentials::new(
            simulator::DEFAULT_ACCESS_KEY,
            simulator::DEFAULT_SECRET_KEY,
            None,
            "the built-in simulator",
        );
        let history = backfill(&config, creds.clone(), &db).await?;
        let store = open_store(&db, OpenMode::Create)?;
        let client = ApiClient::new(&config.api, creds)?;
        let collector = Collector::new(store, client, config, std::sync::Arc::new(Metrics::new()));
        let (_stop, shutdown) = watch::channel(false);
        let report = collector.run_pass(&shutdown).await;
        let stats = sim.stats();
        sim.stop().await;
        anyhow::Ok((report, stats, history))
    })?;
    let (mut pass, sim_stats, history) = report;
    if let Some(e) = pass.take_store_error() {
        return Err(anyhow::Error::new(e).context("archive write failed"));
    }
    let failures: Vec<String> = pass.failures().map(|(k, f)| format!("{k}: {f}")).collect();

    let store = open_store(&db, OpenMode::Read)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Backfilled {} days of 5-minute history from ListQuality and ListQualityDistribution first ({} requests, {} points; \
         `rtc-archiver backfill` does this for your archive).",
        BACKFILL_DAYS, history.0, history.1
    )?;
    show(&mut out, &store, &db, &pass, &sim_stats, started)?;
    if !failures.is_empty() {
        for f in &failures {
            writeln!(out, "failed: {f}")?;
        }
        return Ok(exit::FAILURE);
    }
    Ok(exit::SUCCESS)
}

/// What `report --notify` would send for the demo's hour, and what the
/// collector sends when a gap is recorded: printed, not sent.
fn show_message(out: &mut impl Write, store: &Store, now: i64) -> anyhow::Result<()> {
    let report = crate::report::build(
        store,
        &crate::report::Options {
            period: crate::report::PeriodSpec::Range {
                from: now - 3600,
                to: now,
            },
            tz: Tz::UTC,
            filter: SeriesFilter::default(),
            thresholds: crate::config::ReportConfig::default(),
            database: String::new(),
            now,
        },
    )?;
    let digest = crate::notify::Message::of_report(
        &report,
        &|_| true,
        Some("https://rtc.example.com/reports/last-hour.html"),
    );
    let gap = crate::notify::Message::of_events(&[crate::notify::Event::gap(
        &demo_targets()[0].stream_key(crate::Source::Quality),
        now - 3 * 3600,
        now - 3 * 3600 + 600,
    )]);
    writeln!(
        out,
        "\nWith [[notify]] tables in the config (Feishu/Lark, DingTalk, Slack or any webhook; see \
         the README),\n`report --notify` would send this digest (printed here, not sent):\n"
    )?;
    for line in digest.map(|m| m.text()).unwrap_or_default().lines() {
        writeln!(out, "  {line}")?;
    }
    writeln!(
        out,
        "\nand the collector, when a gap is recorded (an example):\n"
    )?;
    for line in gap.text().lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

fn show(
    out: &mut impl Write,
    store: &Store,
    db: &std::path::Path,
    pass: &crate::collector::PassReport,
    sim: &simulator::SimStats,
    started: Instant,
) -> anyhow::Result<()> {
    let counts = store.counts()?;
    let written = pass.written();
    let dbs = db.display();
    writeln!(
        out,
        "rtc-archiver demo: the built-in simulator served {} requests, {} points;",
        sim.requests, sim.points_served
    )?;
    writeln!(
        out,
        "one collector pass archived {} new and {} revised points into {dbs} in {:.1} s.",
        written.new,
        written.revised,
        started.elapsed().as_secs_f64()
    )?;
    writeln!(
        out,
        "The archive holds {} points in {} series of {} streams, {} to {}.\n",
        counts.points,
        counts.series,
        counts.streams,
        counts.first_ts.map(timeutil::fmt_utc).unwrap_or_default(),
        counts.last_ts.map(timeutil::fmt_utc).unwrap_or_default(),
    )?;

    writeln!(
        out,
        "Stall rates over the last hour, app-wide, 10-minute averages:"
    )?;
    let series = store.select_series(&SeriesFilter {
        indicators: vec!["*_stall_rate".into()],
        apps: vec!["demo-app".into()],
        sources: vec![crate::Source::Quality],
        ..SeriesFilter::default()
    })?;
    let now = timeutil::now();
    let style = Style {
        table_width: crate::output::terminal_width(),
        ..Style::default()
    };
    let mut w = SampleWriter::with_style(Format::Table, style, Vec::new())?;
    for s in series.iter().filter(|s| s.key.stream.room_id.is_none()) {
        aggregate_series::<anyhow::Error>(
            store,
            s,
            now - 3600,
            now,
            Aggregation {
                step: 600,
                agg: Agg::Avg,
                fill: Fill::None,
                tz: Tz::UTC,
                now,
            },
            |ts, v| Ok(w.write(s, ts, v.map(|v| (v * 100.0).round() / 100.0), None)?),
        )?;
    }
    out.write_all(&w.finish()?)?;

    writeln!(
        out,
        "\nThe video stall rate by network type, one column per value (`rtc-archiver query --db \
         {dbs} --dimension Access\n--indicator video_stall_rate --step 10m --by dimension_value`):"
    )?;
    let breakdown = store.select_series(&SeriesFilter {
        indicators: vec!["video_stall_rate".into()],
        apps: vec!["demo-app".into()],
        dimensions: vec![Dimension::Access.to_string()],
        ..SeriesFilter::default()
    })?;
    let mut wide = Vec::new();
    super::query::write_wide(
        store,
        &breakdown,
        (now - 3600, now),
        Aggregation {
            step: 600,
            agg: Agg::Avg,
            fill: Fill::None,
            tz: Tz::UTC,
            now,
        },
        (Format::Table, None, true),
        &mut wide,
    )?;
    out.write_all(&wide)?;

    show_message(out, store, now)?;

    writeln!(
        out,
        "\nNext, try (from a checkout, `cargo run --release --` stands for `rtc-archiver`):\n\
         \n  rtc-archiver query --db {dbs} --indicator online_user_count --from -15m\
         \n  rtc-archiver query --db {dbs} --indicator '*_stall_rate' --step 10m --agg max --format csv\
         \n  rtc-archiver query --db {dbs} --dimension OS --indicator video_stall_rate --step 10m --by dimension_value\
         \n  rtc-archiver report --db {dbs} --from -1h --to now --out demo-report.html\
         \n  rtc-archiver status --db {dbs}\
         \n  rtc-archiver indicators --archived --db {dbs}\
         \n  rtc-archiver sql --db {dbs} \"SELECT indicator, count(*) AS points, round(avg(value), 2) AS avg FROM samples GROUP BY indicator\"\
         \n\nThe `samples` view is the SQL interface (any SQLite client works):\
         \n\n  SELECT room_id, indicator, date(ts, 'unixepoch') AS day, avg(value)\
         \n  FROM samples WHERE indicator LIKE '%stall_rate' GROUP BY 1, 2, 3;\
         \n\nand the breakdowns (source 'distribution') have `dimension` and `dimension_value`:\
         \n\n  SELECT dimension_value AS network, round(avg(value), 2) AS video_stall_rate\
         \n  FROM samples WHERE dimension = 'Access' AND indicator = 'video_stall_rate' GROUP BY 1;\
         \n\nTo archive your own app: `rtc-archiver config example > rtc-archiver.toml`, edit it,\
         \nset VOLC_ACCESSKEY and VOLC_SECRETKEY, and run `rtc-archiver collect` (or `collect --once` from cron)."
    )?;
    Ok(())
}
