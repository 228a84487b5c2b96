//! One module per subcommand, and what they share: finding the config, the
//! database and the time zone.

pub mod backfill;
pub mod backup;
pub mod collect;
pub mod compact;
pub mod completions;
pub mod config;
pub mod demo;
pub mod export;
pub mod import;
pub mod indicators;
pub mod query;
pub mod report;
pub mod simulate;
pub mod sql;
pub mod status;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono_tz::Tz;

use crate::cli::{Cli, Command, GlobalOpts};
use crate::config::{Config, DEFAULT_CONFIG};
use crate::exit::UsageError;
use crate::store::{self, OpenMode, Store};
use crate::timeutil;

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let global = GlobalOpts::resolve(&cli.global, cli.command.archive(), |k| std::env::var_os(k));
    if let Some(why) = global.db.as_deref().and_then(store::not_a_file_path) {
        let db = global.db.as_deref().unwrap_or(Path::new(""));
        return Err(UsageError(format!("--db {:?}: {why}", db.as_os_str())).into());
    }
    let ctx = Ctx { global };
    match cli.command {
        Command::Collect(args) => collect::run(&ctx, args),
        Command::Backfill(args) => backfill::run(&ctx, args),
        Command::Query(args) => query::run(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Indicators(args) => indicators::run(&ctx, args),
        Command::Simulate(args) => simulate::run(&ctx, args),
        Command::Demo(args) => demo::run(&ctx, args),
        Command::Report(args) => report::run(&ctx, args),
        Command::Export(args) => export::run(&ctx, args),
        Command::Import(args) => import::run(&ctx, args),
        Command::Sql(args) => sql::run(&ctx, args),
        Command::Compact(_) => compact::run(&ctx),
        Command::Backup(args) => backup::run(&ctx, args),
        Command::Config(cmd) => config::run(&ctx, cmd),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

/// What every command knows: the global options.
pub struct Ctx {
    pub global: GlobalOpts,
}

impl Ctx {
    fn config_path(&self) -> (PathBuf, bool) {
        match &self.global.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        }
    }

    /// The configuration, which must exist (collect).
    pub fn config(&self) -> anyhow::Result<Config> {
        let (path, explicit) = self.config_path();
        if !explicit && !path.exists() {
            return Err(UsageError(format!(
                "no configuration: {} does not exist here; pass --config FILE, or start from \
                 `rtc-archiver config example > {}`",
                path.display(),
                DEFAULT_CONFIG
            ))
            .into());
        }
        let mut config = Config::load(&path)?;
        if let Some(db) = &self.global.db {
            config.database = db.clone();
        }
        Ok(config)
    }

    /// The configuration if one is meant: `--config` given, or no `--db` and
    /// the default file present. Read-only commands with `--db` need none.
    pub fn optional_config(&self) -> anyhow::Result<Option<Config>> {
        let (path, explicit) = self.config_path();
        if explicit || (self.global.db.is_none() && path.exists()) {
            return self.config().map(Some);
        }
        Ok(None)
    }

    /// The archive path for read-only commands, and the config if any.
    pub fn read_target(&self) -> anyhow::Result<(PathBuf, Option<Config>)> {
        let config = self.optional_config()?;
        let db = match (&self.global.db, &config) {
            (Some(db), _) => db.clone(),
            (None, Some(c)) => c.database.clone(),
            (None, None) => {
                return Err(UsageError(format!(
                    "which archive? pass --db FILE (or set RTC_ARCHIVER_DB), or --config FILE; \
                     {} was not found here",
                    DEFAULT_CONFIG
                ))
                .into());
            }
        };
        Ok((db, config))
    }

    /// Opens the archive for a read-only command.
    pub fn open_read(&self) -> anyhow::Result<(Store, Option<Config>)> {
        let (db, config) = self.read_target()?;
        let store = open_store(&db, OpenMode::Read)?;
        Ok((store, config))
    }
}

/// Opens a store, naming the file in the error.
pub fn open_store(path: &Path, mode: OpenMode) -> anyhow::Result<Store> {
    Store::open(path, mode).with_context(|| format!("cannot open the archive {}", path.display()))
}

/// Checks that a store could be opened, before the commands that take the
/// collector's lock take it (see `Store::check_path`).
pub fn check_store(path: &Path, mode: OpenMode) -> anyhow::Result<()> {
    Store::check_path(path, mode)
        .with_context(|| format!("cannot open the archive {}", path.display()))
}

/// Refuses an `--out` that names the archive, or a file SQLite or the lock
/// keeps beside it: the rename that writes `--out` would replace it.
pub fn check_out(out: &Path, db: &Path) -> anyhow::Result<()> {
    // the directory resolved, the name as given: what a rename replaces
    let resolve = |p: &Path| -> Option<PathBuf> {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
    };
    let archive = std::fs::canonicalize(db).ok();
    let mut files: Vec<PathBuf> = archive
        .iter()
        .flat_map(|a| {
            ["", "-wal", "-shm", "-journal"].map(|suffix| {
                let mut name = a.as_os_str().to_owned();
                name.push(suffix);
                PathBuf::from(name)
            })
        })
        .collect();
    files.extend(resolve(&crate::lock::lock_path(db)));
    files.extend(resolve(&crate::lock::LockKind::History.path(db)));
    let same_inode = || {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            if let (Ok(a), Ok(b)) = (std::fs::metadata(out), std::fs::metadata(db)) {
                return a.dev() == b.dev() && a.ino() == b.ino();
            }
        }
        false
    };
    if resolve(out).is_some_and(|o| files.contains(&o)) || same_inode() {
        return Err(UsageError(format!(
            "--out {}: that is the archive {} or one of its files, which the output would \
             replace: give another path",
            out.display(),
            db.display()
        ))
        .into());
    }
    Ok(())
}

/// The async runtime of the commands that talk HTTP: two workers, as the
/// machines this runs on have few cores and the work is mostly waiting.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `--from`/`--to` as Unix seconds (from inclusive, to exclusive), each
/// defaulting to its `defaults` entry when not given; `what` names the
/// command's job in the error for an empty range.
pub fn time_range(
    from: Option<&str>,
    to: Option<&str>,
    defaults: (i64, i64),
    tz: Tz,
    what: &str,
) -> anyhow::Result<(i64, i64)> {
    let now = timeutil::now();
    let parse = |flag: &str, value: Option<&str>, bound, default| -> anyhow::Result<i64> {
        match value {
            None => Ok(default),
            Some(v) => Ok(timeutil::parse_time_arg(v, now, tz, bound)
                .map_err(|e| UsageError(format!("{flag}: {e}")))?),
        }
    };
    let from = parse("--from", from, timeutil::Bound::Start, defaults.0)?;
    let to = parse("--to", to, timeutil::Bound::End, defaults.1)?;
    if from >= to {
        return Err(UsageError(format!(
            "--from ({}) is not before --to ({}): nothing to {what}",
            timeutil::fmt_utc(from),
            timeutil::fmt_utc(to)
        ))
        .into());
    }
    Ok((from, to))
}

/// The time zone: the flag, else the config's `timezone`, else the machine's.
pub fn zone(flag: Option<&str>, config: Option<&Config>) -> anyhow::Result<Tz> {
    if let Some(name) = flag {
        return timeutil::parse_zone(name).map_err(|e| UsageError(format!("--tz: {e}")).into());
    }
    if let Some(name) = config.and_then(|c| c.timezone.as_deref()) {
        return timeutil::parse_zone(name).map_err(|e| UsageError(e).into());
    }
    Ok(timeutil::local_zone())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
