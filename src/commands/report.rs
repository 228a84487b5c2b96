//! `rtc-archiver report`: a day (or a period) per series, incidents and
//! regressions first, as Markdown, self-contained HTML, JSON or CSV; with
//! `--notify`, its digest sent to the config's `[[notify]]` destinations.

use std::io::Write as _;
use std::path::Path;

use chrono::NaiveDate;

use super::{Ctx, check_out, time_range, zone};
use crate::cli::{ReportArgs, ReportFormat};
use crate::config::Config;
use crate::config::ReportConfig;
use crate::exit::{self, UsageError};
use crate::notify::{self, Destination};
use crate::output::AtomicFile;
use crate::report::{self, Options, PeriodSpec};
use crate::timeutil;

/// The format asked for, else the one the output file's extension names,
/// else Markdown.
pub fn infer_format(format: Option<ReportFormat>, out: Option<&Path>) -> ReportFormat {
    if let Some(f) = format {
        return f;
    }
    let ext = out
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => ReportFormat::Html,
        Some("json") => ReportFormat::Json,
        Some("csv") => ReportFormat::Csv,
        _ => ReportFormat::Markdown,
    }
}

pub fn run(ctx: &Ctx, args: ReportArgs) -> anyhow::Result<u8> {
    let (store, config) = ctx.open_read()?;
    if let Some(path) = &args.out {
        check_out(path, store.path())?;
    }
    // the destinations first: a missing variable stops before anything is done
    let dests = if args.notify {
        Some(destinations(config.as_ref())?)
    } else {
        None
    };
    let tz = zone(args.tz.as_deref(), config.as_ref())?;
    let now = timeutil::now();
    let period = match (&args.day, &args.from, &args.to) {
        (Some(day), _, _) => {
            let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| {
                UsageError(format!(
                    "--day: invalid date {day:?}: use YYYY-MM-DD, such as 2026-11-22"
                ))
            })?;
            PeriodSpec::Day(
                timeutil::check_date_arg(date).map_err(|e| UsageError(format!("--day: {e}")))?,
            )
        }
        (None, Some(from), Some(to)) => {
            let (from, to) = time_range(Some(from), Some(to), (0, 0), tz, "report")?;
            PeriodSpec::Range { from, to }
        }
        // clap requires --from and --to together; the default is yesterday
        _ => PeriodSpec::Day(timeutil::date_of(now, tz) - chrono::Duration::days(1)),
    };
    let mut thresholds = config
        .as_ref()
        .map(|c| c.report.clone())
        .unwrap_or_else(ReportConfig::default);
    if let Some(t) = args.threshold {
        // checked by its parser: finite, at least zero
        thresholds.threshold = t;
    }
    let format = infer_format(args.format, args.out.as_deref());
    let opts = Options {
        period,
        tz,
        filter: args.select.into(),
        thresholds,
        database: store.path().display().to_string(),
        now,
    };
    let report = report::build(&store, &opts)?;
    let text = match format {
        ReportFormat::Markdown => report::markdown::render(&report),
        ReportFormat::Html => report::html::render(&report)?,
        ReportFormat::Json => report::data::json(&report)?,
        ReportFormat::Csv => report::data::csv(&report)?,
    };
    match &args.out {
        Some(path) => {
            let mut f = AtomicFile::create(path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            f.write_all(text.as_bytes())?;
            f.commit()
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    if let Some(dests) = dests {
        let link = args.notify_link.clone().or_else(|| {
            args.out
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .map(|p| p.display().to_string())
        });
        let mut failed = false;
        for outcome in notify::send_report(&dests, &report, link.as_deref()) {
            match outcome {
                Ok(label) => tracing::info!(destination = %label, "report digest sent"),
                Err(e) => {
                    eprintln!("rtc-archiver: the report's digest was not delivered: {e}");
                    failed = true;
                }
            }
        }
        if failed {
            return Ok(exit::FAILURE);
        }
    }
    Ok(exit::SUCCESS)
}

/// The config's `[[notify]]` destinations, their URLs and secrets read
/// from the environment; a usage error if there are none or one is missing.
fn destinations(config: Option<&Config>) -> anyhow::Result<Vec<Destination>> {
    let Some(config) = config else {
        return Err(UsageError(
            "--notify needs a configuration with [[notify]] tables: pass --config FILE".into(),
        )
        .into());
    };
    if config.notify.is_empty() {
        return Err(UsageError(format!(
            "--notify: {} has no [[notify]] table: add one (kind, url_env, events; see the README)",
            config.file_name()
        ))
        .into());
    }
    notify::resolve_all(&config.notify, &|k| std::env::var(k).ok())
        .map_err(|e| UsageError(format!("--notify: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension() {
        let f = |p: &str| infer_format(None, Some(Path::new(p)));
        assert_eq!(f("/var/www/rtc/2026-11-22.html"), ReportFormat::Html);
        assert_eq!(f("r.HTM"), ReportFormat::Html);
        assert_eq!(f("r.json"), ReportFormat::Json);
        assert_eq!(f("r.csv"), ReportFormat::Csv);
        assert_eq!(f("r.md"), ReportFormat::Markdown);
        assert_eq!(f("report"), ReportFormat::Markdown);
        assert_eq!(infer_format(None, None), ReportFormat::Markdown);
        assert_eq!(
            infer_format(Some(ReportFormat::Json), Some(Path::new("r.html"))),
            ReportFormat::Json
        );
    }
}
