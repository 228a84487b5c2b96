//! The command line: every subcommand and flag, with help from the doc comments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;
use crate::query::{Agg, Fill};
use crate::samples::SampleFormat;
use crate::simulator::Fault;
use crate::store::read::SeriesFilter;
use crate::timeutil::{self, DurationRange};

/// Keeps a permanent, SQL-queryable history of Volcengine RTC real-time data.
///
/// The API forgets everything older than 60 minutes; rtc-archiver fetches it
/// before it is gone and keeps it in SQLite for as long as you like.
#[derive(Debug, Parser)]
#[command(name = "rtc-archiver", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";
/// The heading of `--config` and `--db`, where a command uses them.
const ARCHIVE: &str = "Archive";

/// Options of the program as a whole: `--log-format` everywhere (every
/// command may warn); `--config` and `--db` before the subcommand, as
/// older versions took them, accepted but not shown (each command that
/// uses them lists its own, see [`ArchiveArgs`]).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=debug)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, help_heading = GLOBAL)]
    pub log_format: LogFormat,
    #[arg(long, hide = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, hide = true, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// The configuration file and the archive, for the commands that use them.
#[derive(Debug, Clone, Default, Args)]
pub struct ArchiveArgs {
    /// Configuration file [default: $RTC_ARCHIVER_CONFIG, else rtc-archiver.toml in the working directory]
    #[arg(long, value_name = "FILE", help_heading = ARCHIVE)]
    pub config: Option<PathBuf>,
    /// The archive database, overriding `database` from the config [default: $RTC_ARCHIVER_DB].
    /// Commands that only read the archive need nothing else.
    #[arg(long, value_name = "FILE", help_heading = ARCHIVE)]
    pub db: Option<PathBuf>,
}

/// The environment variables that stand for `--config` and `--db`.
pub const CONFIG_ENV: &str = "RTC_ARCHIVER_CONFIG";
pub const DB_ENV: &str = "RTC_ARCHIVER_DB";

/// What a command runs with: its `--config` and `--db`, else the ones
/// given before the subcommand, else the environment's.
#[derive(Debug, Clone)]
pub struct GlobalOpts {
    pub config: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub log_format: LogFormat,
}

impl GlobalOpts {
    pub fn resolve(
        global: &GlobalArgs,
        archive: ArchiveArgs,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> GlobalOpts {
        let env_path = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        GlobalOpts {
            config: archive
                .config
                .or_else(|| global.config.clone())
                .or_else(|| env_path(CONFIG_ENV)),
            db: archive
                .db
                .or_else(|| global.db.clone())
                .or_else(|| env_path(DB_ENV)),
            log_format: global.log_format,
        }
    }
}

impl Command {
    /// The `--config` and `--db` this command was given, if it takes them.
    pub fn archive(&self) -> ArchiveArgs {
        match self {
            Command::Collect(a) => a.archive.clone(),
            Command::Backfill(a) => a.archive.clone(),
            Command::Query(a) => a.archive.clone(),
            Command::Status(a) => a.archive.clone(),
            Command::Indicators(a) => a.archive.clone(),
            Command::Report(a) => a.archive.clone(),
            Command::Export(a) => a.archive.clone(),
            Command::Import(a) => a.archive.clone(),
            Command::Sql(a) => a.archive.clone(),
            Command::Compact(a) => a.archive.clone(),
            Command::Backup(a) => a.archive.clone(),
            Command::Config(ConfigCommand::Check(a)) => a.archive.clone(),
            Command::Demo(a) => ArchiveArgs {
                config: None,
                db: a.db.clone(),
            },
            Command::Simulate(_)
            | Command::Config(ConfigCommand::Example)
            | Command::Completions(_)
            | Command::Man(_) => ArchiveArgs::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect data into the archive: a pass every `interval` until SIGINT/SIGTERM, or one pass with --once
    Collect(CollectArgs),
    /// Fetch 5-minute history (ListQuality, and ListQualityDistribution for breakdowns; up to 30 days back) for what the archive does not hold at 30 s
    Backfill(BackfillArgs),
    /// Print archived history
    Query(QueryArgs),
    /// Show the collector's health per target and action
    Status(StatusArgs),
    /// List known indicator names, or with --archived the series the archive holds
    Indicators(IndicatorsArgs),
    /// Run the built-in API simulator on a loopback address
    Simulate(SimulateArgs),
    /// Start the simulator, collect an hour of history into a demo archive, and show it
    Demo(DemoArgs),
    /// Summarise a day (or a period) per series: statistics, changes, regressions first, charts
    Report(ReportArgs),
    /// Write the archive, or a selection of it, as JSON Lines or CSV in the samples format, or as Parquet
    Export(ExportArgs),
    /// Read JSON Lines or CSV in the samples format and upsert it into the archive
    Import(ImportArgs),
    /// Run read-only SQL against the archive (the `samples` view and friends)
    Sql(SqlArgs),
    /// Rewrite the archive with full pages (VACUUM); takes the collector's lock
    Compact(CompactArgs),
    /// Write a consistent copy of the archive to a file, safe while a collector writes
    Backup(BackupArgs),
    /// Configuration helpers
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (e.g. `rtc-archiver completions bash > /etc/bash_completion.d/rtc-archiver`)
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or with --dir write one per subcommand
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write rtc-archiver.1 and rtc-archiver-COMMAND.1 for every subcommand into this directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Html,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The day to report, YYYY-MM-DD in --tz [default: yesterday]
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub day: Option<String>,
    /// Start of a period instead of a day (same forms as `query --from`)
    #[arg(long, requires = "to", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End of the period, exclusive
    #[arg(long, requires = "from", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Time zone of day boundaries (IANA name) [default: config `timezone`, else local]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Output format [default: from the --out extension, else markdown]
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write to this file (atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectionArgs,
    /// Regression threshold, overriding config `report.threshold` (percentage points for rates)
    #[arg(long, value_parser = parse_threshold)]
    pub threshold: Option<f64>,
    /// Also send the digest (incidents and regressions, or a one-line summary) to every
    /// [[notify]] destination of the config subscribed to them; the output is unchanged
    #[arg(long)]
    pub notify: bool,
    /// Where the full report can be read, for the digest (e.g. the URL --out is published at)
    /// [default: the --out file]
    #[arg(long, value_name = "URL", requires = "notify")]
    pub notify_link: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Write to this file (atomically) instead of stdout; with --partition-by, this directory
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Parquet only: one file per UTC day in a Hive-style directory, --out/date=YYYY-MM-DD/part-*.parquet
    #[arg(long, value_enum, value_name = "PERIOD", requires = "out")]
    pub partition_by: Option<PartitionBy>,
    /// Only what is new since the previous export to the same --out, as remembered in the archive; buckets up to an hour ago (final by then)
    #[arg(long, requires = "out")]
    pub since_last: bool,
    #[command(flatten)]
    pub select: SelectionArgs,
    /// Start, inclusive [default: the beginning of the archive]
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End, exclusive [default: now]
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Time zone for dates in --from/--to, and of the `time` written (with its offset) [default: UTC]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}

/// `export --format`: the samples format `import` reads, or Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON Lines with the samples view's keys (what import reads)
    Jsonl,
    /// CSV with the samples view's columns (what import reads)
    Csv,
    /// Parquet with typed columns, for DuckDB, ClickHouse, Spark or BigQuery (needs --out)
    Parquet,
}

/// `export --partition-by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartitionBy {
    /// One directory per UTC day: date=YYYY-MM-DD
    Day,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The file to read, or - for standard input
    pub file: PathBuf,
    /// Input format [default: csv for *.csv, else jsonl]
    #[arg(long, value_enum)]
    pub format: Option<SampleFormat>,
    /// Stop at the first bad line (nothing of its batch is stored)
    #[arg(long)]
    pub strict: bool,
    /// Lines per transaction (1 to 1000000)
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=crate::import::MAX_BATCH))]
    pub batch: u64,
    /// Never show a progress bar
    #[arg(long)]
    pub quiet: bool,
    /// Do not pack the archive after an import that made up most of it
    #[arg(long)]
    pub no_compact: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The copy to write (replaced atomically if it exists; mode 0600)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The SQL, e.g. "SELECT indicator, avg(value) FROM samples GROUP BY 1", or - to read it from standard input
    #[arg(value_name = "SQL")]
    pub query: String,
    /// Output format [default: table on a terminal, else jsonl]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// One pass over every target, then exit (for cron)
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Start, inclusive (same forms as `query --from`) [default: the offline API's reach, 30 days ago];
    /// an older start is clamped to the reach, with a note
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End, exclusive [default: now]; the last 8 hours are not in the offline store yet
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Time zone of dates in --from/--to (IANA name) [default: config `timezone`, else local]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Restrict the configured quality targets: --app/--room/--user/--source select
    /// streams, --indicator the requested (or answered) indicator names
    #[command(flatten)]
    pub select: SelectionArgs,
    /// Never show a progress bar
    #[arg(long)]
    pub quiet: bool,
}

/// `status --max-lag`: up to the archive's whole time range.
pub const MAX_LAG_RANGE: DurationRange = DurationRange::new(
    Duration::ZERO,
    Duration::from_secs(timeutil::DATA_SPAN_SECS),
);
/// `simulate --slow`: a slow answer, not a hung one.
pub const SLOW_RANGE: DurationRange = DurationRange::new(Duration::ZERO, Duration::from_secs(3600));

fn parse_threshold(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    crate::config::check_threshold(v)
}

fn parse_fault_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a share: use a number from 0 to 1"))
    }
}

fn parse_step(s: &str) -> Result<Duration, String> {
    timeutil::parse_duration_in(s, crate::query::STEP_RANGE).and_then(crate::query::check_step)
}

fn parse_max_lag(s: &str) -> Result<Duration, String> {
    timeutil::parse_duration_in(s, MAX_LAG_RANGE)
}

fn parse_slow(s: &str) -> Result<Duration, String> {
    timeutil::parse_duration_in(s, SLOW_RANGE)
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    #[command(flatten)]
    pub select: SelectionArgs,
    /// Start, inclusive: RFC 3339, YYYY-MM-DD, now, today, yesterday, or relative (-7d, -90m)
    #[arg(long, default_value = "-24h", allow_hyphen_values = true)]
    pub from: String,
    /// End, exclusive (a bare date means the end of that day)
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    pub to: String,
    /// Aggregate into whole steps of this length, a multiple of 30s (5m, 1h, 1d); days follow --tz
    #[arg(long, value_parser = parse_step)]
    pub step: Option<Duration>,
    /// Aggregation per step
    #[arg(long, value_enum, default_value_t = Agg::Avg, requires = "step")]
    pub agg: Agg,
    /// What to print for a step without data
    #[arg(long, value_enum, default_value_t = Fill::None, requires = "step")]
    pub fill: Fill,
    /// With --step, one row per app, indicator, dimension and step, and one column per
    /// dimension value (windows, wifi, 广东...): a breakdown side by side; series without a
    /// dimension value are left out
    #[arg(long, value_enum, value_name = "COLUMN", requires = "step")]
    pub by: Option<QueryBy>,
    /// Time zone for dates and day steps (IANA name) [default: config `timezone`, else local]; times print in it when given, else in UTC
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Output format [default: table on a terminal, else jsonl]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Which series a command reads: the same flags, and the same meaning,
/// for `query`, `export` and `report`. Empty lists select everything.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectionArgs {
    /// Only this indicator (the answered name; globs such as '*_stall_rate' work); repeatable
    #[arg(long, short = 'i', value_name = "NAME", help_heading = "Selection")]
    pub indicator: Vec<String>,
    /// Only this AppId; repeatable
    #[arg(long, value_name = "APP_ID", help_heading = "Selection")]
    pub app: Vec<String>,
    /// Only this room; repeatable
    #[arg(long, value_name = "ROOM_ID", help_heading = "Selection")]
    pub room: Vec<String>,
    /// Only user sets that include this UserId; repeatable
    #[arg(long, value_name = "USER_ID", help_heading = "Selection")]
    pub user: Vec<String>,
    /// Only this source; repeatable
    #[arg(long, value_enum, help_heading = "Selection")]
    pub source: Vec<SourceArg>,
    /// Only breakdowns by this dimension (Province, Country, OS, Access, in any case; globs work); repeatable
    #[arg(long, value_name = "NAME", help_heading = "Selection")]
    pub dimension: Vec<String>,
    /// Only this value of a dimension (as answered: 'windows', 'wifi', '广东'; globs work); repeatable
    #[arg(long, value_name = "VALUE", help_heading = "Selection")]
    pub dimension_value: Vec<String>,
}

impl From<SelectionArgs> for SeriesFilter {
    fn from(a: SelectionArgs) -> SeriesFilter {
        SeriesFilter {
            indicators: a.indicator,
            apps: a.app,
            rooms: a.room,
            users: a.user,
            sources: a.source.into_iter().map(Into::into).collect(),
            // a dimension's name in any case, as in the config (`os` is `OS`)
            dimensions: a
                .dimension
                .into_iter()
                .map(|d| {
                    d.parse::<crate::series::Dimension>()
                        .map_or(d, |d| d.as_str().to_string())
                })
                .collect(),
            dimension_values: a.dimension_value,
        }
    }
}

/// What `query --by` makes columns of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryBy {
    /// One column per value of a breakdown's dimension
    #[value(name = "dimension_value", alias = "dimension-value")]
    DimensionValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    Quality,
    Operation,
    Distribution,
}

impl From<SourceArg> for crate::Source {
    fn from(s: SourceArg) -> Self {
        match s {
            SourceArg::Quality => crate::Source::Quality,
            SourceArg::Operation => crate::Source::Operation,
            SourceArg::Distribution => crate::Source::Distribution,
        }
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Output format: a table (the default, also into a pipe: status is for
    /// people), one JSON document (json), or one row per stream (csv, jsonl)
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit 1 if any series lags more than this behind now (for monitoring)
    #[arg(long, value_name = "DURATION", value_parser = parse_max_lag)]
    pub max_lag: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct IndicatorsArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// List the series the archive holds, with first/last time and point counts
    #[arg(long)]
    pub archived: bool,
    /// Output format [default: table on a terminal, else jsonl]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Access key the simulator accepts
    #[arg(long, default_value = crate::simulator::DEFAULT_ACCESS_KEY)]
    pub access_key: String,
    /// Secret key the simulator checks signatures with
    #[arg(long, default_value = crate::simulator::DEFAULT_SECRET_KEY)]
    pub secret_key: String,
    /// Require this X-Security-Token
    #[arg(long)]
    pub session_token: Option<String>,
    /// Region the simulator expects in signatures
    #[arg(long, default_value = "cn-north-1")]
    pub region: String,
    /// Share of requests (0–1) that get a random fault
    #[arg(long, default_value_t = 0.0, value_parser = parse_fault_rate)]
    pub fault_rate: f64,
    /// Which faults the random ones pick from, comma-separated [default: all recoverable ones]
    #[arg(long, value_delimiter = ',')]
    pub fault_kinds: Vec<Fault>,
    /// Faults for the first requests, in order, e.g. 500,ok,429,truncate (then --fault-rate applies)
    #[arg(long, value_name = "LIST")]
    pub fault_script: Option<String>,
    /// Seed of the random faults and of the data
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long a `slow` answer takes
    #[arg(long, default_value = "30s", value_parser = parse_slow)]
    pub slow: Duration,
    /// Seconds a value stays provisional before its final value (0 to 3600)
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(i64).range(0..=crate::HORIZON_SECS))]
    pub revision_secs: i64,
    /// Buckets without data, per thousand (0 to 1000)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub missing_per_mille: u64,
    /// An action's limit, as in [api.limits]: ACTION=RATE or ACTION=RATE:DAILY,
    /// e.g. ListRealTimeQuality=10/m:1440; repeatable [default: 2/s for every action]
    #[arg(long, value_name = "ACTION=LIMIT")]
    pub limit: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Start from an empty demo archive (the file named by --db)
    #[arg(long)]
    pub fresh: bool,
    /// The demo archive [default: $RTC_ARCHIVER_DB, else rtc-archiver-demo.db]
    #[arg(long, value_name = "FILE", help_heading = ARCHIVE)]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also send one minimal signed request per configured action (one bucket, one target) and explain the answer
    #[arg(long)]
    pub probe: bool,
    #[command(flatten)]
    pub archive: ArchiveArgs,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example configuration
    Example,
    /// Check a configuration file and print what it means, where credentials come from, and with --probe whether the API accepts them
    Check(CheckArgs),
}
