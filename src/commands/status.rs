//! `rtc-archiver status`: per target and action, how fresh the archive is,
//! what failed, what was lost; `--max-lag` turns it into a health check.

use std::io::Write;

use super::Ctx;
use crate::budget;
use crate::cli::StatusArgs;
use crate::exit;
use crate::output::{Cell, Format, RecordWriter, fitted_table};
use crate::store::read::StreamStatus;
use crate::timeutil::{self, fmt_duration_secs};

/// How far a stream trails now: from the time up to which everything was fetched.
fn lag(s: &StreamStatus, now: i64) -> Option<i64> {
    s.fetched_until.map(|t| (now - t).max(0))
}

/// The columns of `status --format csv|jsonl`: one row per stream.
const STREAM_COLUMNS: [&str; 19] = [
    "app_id",
    "room_id",
    "user_ids",
    "source",
    "indicators",
    "fetched_until",
    "fetched_until_time",
    "lag_seconds",
    "newest_bucket",
    "newest_bucket_time",
    "last_success_at",
    "last_error",
    "points_24h",
    "revisions_24h",
    "gaps_24h",
    "gap_seconds_24h",
    "gaps_7d",
    "gap_seconds_7d",
    "dimension",
];

/// One action's demand against its budget, as `status` shows it.
#[derive(serde::Serialize)]
struct BudgetRow {
    action: &'static str,
    /// `2/s`, `10/m and 60/day`.
    limit: String,
    /// Requests per round: one per target asking for the action (one per
    /// indicator and dimension for a breakdown).
    targets: u64,
    /// How long a round takes at the limit.
    round_seconds: u64,
    /// The most targets the limit can revisit before their data slides out
    /// of the 60-minute reach.
    capacity: u64,
    over_capacity: bool,
    /// Requests today (UTC), as the archive counts them.
    requests_today: u32,
}

fn ago(t: Option<i64>, now: i64) -> String {
    match t {
        Some(t) => format!("{} ago", fmt_duration_secs(now - t)),
        None => "never".into(),
    }
}

/// The gap ledger's repair state, a line each, short enough for 80
/// columns; nothing when there was never a gap.
/// One stream as a block of lines, for a terminal too narrow for the table:
/// its identity, then its progress, activity and last error, wrapped.
fn write_stream_block(
    out: &mut impl Write,
    s: &StreamStatus,
    now: i64,
    width: Option<u16>,
) -> std::io::Result<()> {
    let mut title = format!("{} {}", s.key.source, s.key.label());
    if s.key.dimension.is_some() {
        title.push_str(&format!(": {}", s.indicators.join(", ")));
    }
    let progress = format!(
        "fetched until {} (lag {}), newest bucket {}",
        s.fetched_until
            .map(timeutil::fmt_utc)
            .unwrap_or_else(|| "-".into()),
        lag(s, now)
            .map(fmt_duration_secs)
            .unwrap_or_else(|| "never".into()),
        s.newest_bucket
            .map(timeutil::fmt_utc)
            .unwrap_or_else(|| "-".into()),
    );
    let activity = format!(
        "last success {}; 24h: {} points, {} revised; gaps 24h/7d: {}/{}",
        ago(s.last_success_at, now),
        s.points_24h,
        s.revisions_24h,
        s.gaps_24h,
        s.gaps_7d
    );
    writeln!(out, "{}", crate::output::wrap_words(&title, width, 2))?;
    for line in [progress, activity] {
        writeln!(
            out,
            "  {}",
            crate::output::wrap_words(&line, width.map(|w| w.saturating_sub(2)), 2)
        )?;
    }
    if let Some(e) = &s.last_error {
        let line = format!("last error: {e}");
        writeln!(
            out,
            "  {}",
            crate::output::wrap_words(&line, width.map(|w| w.saturating_sub(2)), 2)
        )?;
    }
    Ok(())
}

fn write_history(out: &mut impl Write, h: &crate::store::RepairStatus) -> std::io::Result<()> {
    let u = &h.unrepairable;
    if h.repaired_gaps > 0 {
        writeln!(
            out,
            "gaps repaired at 5 minutes (offline API): {} ({})",
            h.repaired_gaps,
            fmt_duration_secs(h.repaired_seconds)
        )?;
    }
    if h.pending_gaps > 0 {
        writeln!(
            out,
            "gaps awaiting repair (after the 8-hour offline delay): {}",
            h.pending_gaps
        )?;
    }
    if u.operation_gaps > 0 {
        writeln!(
            out,
            "unrepairable: {} operation gap(s) ({})\n  (operation data has no offline history)",
            u.operation_gaps,
            fmt_duration_secs(u.operation_seconds)
        )?;
    }
    if u.expired_gaps > 0 {
        writeln!(
            out,
            "unrepairable: {} quality or breakdown gap(s) ({})\n  (older than the 30-day offline reach)",
            u.expired_gaps,
            fmt_duration_secs(u.expired_seconds)
        )?;
    }
    Ok(())
}

pub fn run(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<u8> {
    let (store, config) = ctx.open_read()?;
    let now = timeutil::now();
    let mut streams = store.stream_status(now)?;
    // configured targets that never reached the archive count too
    if let Some(config) = &config {
        // (the lines of one breakdown dimension share their stream)
        let fetched = streams.len();
        for t in &config.targets {
            for spec in t.streams() {
                match streams.iter().position(|s| s.key == spec.key) {
                    Some(i) if i < fetched => {}
                    Some(i) => streams[i].indicators.extend(spec.indicators),
                    None => streams.push(StreamStatus::never_fetched(spec.key, spec.indicators)),
                }
            }
        }
    }
    let max_lag = args.max_lag.map(timeutil::secs_i64);
    // demand against the budget: the configuration's, else the archive's
    // streams under the documented limits
    let demand = match &config {
        Some(c) => budget::demand(c),
        None => budget::demand_of(
            |source| streams.iter().filter(|s| s.key.source == source).count() as u64,
            &budget::Limits::default(),
            crate::config::Config::default().horizon_margin,
        ),
    };
    let budget_rows: Vec<BudgetRow> = demand
        .iter()
        .map(|d| {
            let (_, today) = store
                .api_usage(d.source.realtime(), now)
                .unwrap_or((None, 0));
            BudgetRow {
                action: d.source.action(),
                limit: d.limit.to_string(),
                targets: d.requests,
                round_seconds: d.pass.as_secs(),
                capacity: d.capacity(),
                over_capacity: d.over_capacity(),
                requests_today: today,
            }
        })
        .collect();
    let history = store.repair_status(now, crate::history::reach_secs())?;
    let worst_lag = streams.iter().filter_map(|s| lag(s, now)).max();
    let lagging: Vec<&StreamStatus> = match max_lag {
        Some(max) => streams
            .iter()
            .filter(|s| lag(s, now).is_none_or(|l| l > max))
            .collect(),
        None => Vec::new(),
    };

    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
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
                    "worst_lag_seconds": worst_lag,
                    "budget": budget_rows,
                    "history": history,
                }),
            )?;
            writeln!(out)?;
        }
        Format::Csv | Format::Jsonl => {
            let mut w = RecordWriter::new(
                args.format,
                STREAM_COLUMNS.iter().map(|c| c.to_string()).collect(),
                &mut out,
            )?;
            for s in &streams {
                let time = |t: Option<i64>| Cell::text(t.map(timeutil::fmt_utc).as_deref());
                w.write(vec![
                    Cell::text(Some(&s.key.app_id)),
                    Cell::text(s.key.room_id.as_deref()),
                    Cell::text(s.key.user_ids.as_option()),
                    Cell::text(Some(s.key.source.as_str())),
                    Cell::text(Some(&s.indicators.join(","))),
                    Cell::int(s.fetched_until),
                    time(s.fetched_until),
                    Cell::int(lag(s, now)),
                    Cell::int(s.newest_bucket),
                    time(s.newest_bucket),
                    Cell::int(s.last_success_at),
                    Cell::text(s.last_error.as_deref()),
                    Cell::int(Some(s.points_24h)),
                    Cell::int(Some(s.revisions_24h)),
                    Cell::int(Some(s.gaps_24h)),
                    Cell::int(Some(s.gap_seconds_24h)),
                    Cell::int(Some(s.gaps_7d)),
                    Cell::int(Some(s.gap_seconds_7d)),
                    Cell::text(s.key.dimension.map(|d| d.as_str())),
                ])?;
            }
            w.finish()?;
        }
        Format::Table => {
            if streams.is_empty() {
                writeln!(
                    out,
                    "The archive {} holds no streams yet: run `rtc-archiver collect`.",
                    store.path().display()
                )?;
            } else {
                let rows: Vec<Vec<String>> = streams
                    .iter()
                    .map(|s| {
                        vec![
                            s.key.source.to_string(),
                            s.key.app_id.clone(),
                            s.key.room_id.clone().unwrap_or_default(),
                            s.key.user_ids.joined().to_string(),
                            s.key
                                .dimension
                                .map(|d| format!("{d}: {}", s.indicators.join(",")))
                                .unwrap_or_default(),
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
                let header = [
                    "source",
                    "app",
                    "room",
                    "users",
                    "breakdown",
                    "fetched until",
                    "lag",
                    "newest bucket",
                    "last success",
                    "points/revised 24h",
                    "gaps 24h/7d",
                    "last error",
                ];
                let width = crate::output::terminal_width();
                match width {
                    // too narrow for the table without cutting words: a
                    // block per stream instead
                    Some(w) if !crate::output::table_fits(&header, &rows, w) => {
                        for s in &streams {
                            write_stream_block(&mut out, s, now, width)?;
                        }
                    }
                    _ => writeln!(out, "{}", fitted_table(&header, rows))?,
                }
            }
            let width = crate::output::terminal_width();
            for (b, d) in budget_rows.iter().zip(&demand) {
                let line = format!(
                    "{}: {} request{} a round (one per target, or per indicator and dimension of a \
                     breakdown), taking {} at {}; up to {} fit in the 60-minute reach; \
                     {} requests today",
                    b.action,
                    b.targets,
                    if b.targets == 1 { "" } else { "s" },
                    fmt_duration_secs(b.round_seconds as i64),
                    b.limit,
                    b.capacity,
                    b.requests_today
                );
                writeln!(out, "{}", crate::output::wrap_words(&line, width, 2))?;
                if let Some(w) = d.warning() {
                    let line = format!("warning: {w}");
                    writeln!(out, "{}", crate::output::wrap_words(&line, width, 2))?;
                }
            }
            if let Some(w) = worst_lag {
                writeln!(out, "worst lag: {}", fmt_duration_secs(w))?;
            }
            write_history(&mut out, &history)?;
        }
    }
    if let Some(max) = max_lag
        && let Some(floor) = demand.iter().map(|d| d.source.delay_secs() + 30).max()
        && max < floor
    {
        eprintln!(
            "rtc-archiver: --max-lag {} can never pass: data lags at least {} (the API's delay \
             plus one 30-second bucket); use at least {} plus your interval",
            fmt_duration_secs(max),
            fmt_duration_secs(floor),
            fmt_duration_secs(floor)
        );
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
