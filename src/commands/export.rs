//! `rtc-archiver export`: the archive, or a selection of it, as JSON Lines
//! or CSV with the columns of the `samples` view — the format `import`
//! reads, so archives can be moved and merged — or as Parquet, one file or
//! one per UTC day, for the tools that load many archives at once; with
//! `--since-last`, only what is new since the previous export there.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;

use super::{Ctx, check_out, open_store, time_range, zone};
use crate::cli::{ExportArgs, ExportFormat, PartitionBy};
use crate::exit::{self, UsageError};
use crate::export::{self, ledger};
use crate::output::{AtomicFile, Format};
use crate::samples::{ParquetWriter, SampleWriter, Style};
use crate::store::read::{Point, SeriesFilter, StoredSeries};
use crate::store::{OpenMode, Store};
use crate::timeutil;

pub fn run(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<u8> {
    check_flags(&args)?;
    let (db, config) = ctx.read_target()?;
    // --since-last writes what it shipped into the archive; else only read
    let mode = if args.since_last {
        OpenMode::Existing
    } else {
        OpenMode::Read
    };
    let store = open_store(&db, mode)?;
    let tz = zone(args.tz.as_deref(), config.as_ref())?;
    let flags = time_flags(&args, tz)?;
    let destination = match &args.out {
        Some(out) if args.since_last => Some(destination(out, args.partition_by.is_some())?),
        _ => None,
    };
    let selection = selection(&args);
    let previous = match &destination {
        Some(d) => {
            let last = ledger::last(store.conn(), d)?;
            if let Some(last) = last.as_ref().filter(|l| l.selection != selection) {
                return Err(UsageError(format!(
                    "--since-last: the previous export to {d} was `{}`, this one is `{selection}`: \
                     export the same selection there, or choose another --out",
                    last.selection
                ))
                .into());
            }
            Some(last.map(|l| l.until_ts))
        }
        None => None,
    };
    let now = timeutil::now();
    let range = export::range(flags, previous, now);
    let series = store.select_series(&SeriesFilter::from(args.select.clone()))?;
    if let Some(path) = &args.out
        && args.partition_by.is_none()
    {
        check_out(path, store.path())?;
    }

    let rows = match (args.format, args.partition_by) {
        (ExportFormat::Parquet, Some(PartitionBy::Day)) => {
            let dir = args.out.as_deref().expect("--partition-by requires --out");
            write_days(&store, &series, range, dir)?
        }
        (ExportFormat::Parquet, None) => {
            let path = args.out.as_deref().expect("checked: parquet needs --out");
            let mut file = create(path)?;
            let mut out = ParquetWriter::new(BufWriter::with_capacity(1 << 16, &mut file))?;
            for_each(&store, &series, range, flags, |s, p| out.write(s, p))?;
            let rows = out.rows();
            out.finish()?.flush()?;
            commit(file, path)?;
            rows
        }
        (format, _) => write_samples(&store, &series, range, flags, format, &args, tz)?,
    };

    let (from, to) = range.unwrap_or((0, 0));
    match (&destination, range) {
        (Some(d), Some(_)) => {
            ledger::record(
                store.conn(),
                &ledger::Shipped {
                    destination: d.clone(),
                    selection,
                    until_ts: to,
                    points: i64::try_from(rows).unwrap_or(i64::MAX),
                    exported_at: now,
                },
            )?;
            eprintln!(
                "rtc-archiver: exported {rows} points of {} series from {} to {}; the next \
                 --since-last export to {d} starts there",
                series.len(),
                timeutil::fmt_utc(from),
                timeutil::fmt_utc(to)
            );
        }
        (Some(d), None) => eprintln!(
            "rtc-archiver: nothing new to export to {d} since the last export (buckets are \
             exported once they are an hour old)"
        ),
        (None, _) => eprintln!(
            "rtc-archiver: exported {rows} points of {} series",
            series.len()
        ),
    }
    Ok(exit::SUCCESS)
}

/// Refuses flag combinations that cannot work, before anything is opened.
fn check_flags(args: &ExportArgs) -> anyhow::Result<()> {
    let refuse = |m: &str| Err(UsageError(m.to_string()).into());
    if args.format == ExportFormat::Parquet && args.out.is_none() {
        return refuse(
            "--format parquet writes a file: give --out FILE, or --out DIR with --partition-by day",
        );
    }
    if args.partition_by.is_some() && args.format != ExportFormat::Parquet {
        return refuse("--partition-by writes Parquet files: add --format parquet");
    }
    Ok(())
}

/// `--from`/`--to` as given (`None` where not).
fn time_flags(args: &ExportArgs, tz: chrono_tz::Tz) -> anyhow::Result<(Option<i64>, Option<i64>)> {
    if args.from.is_none() && args.to.is_none() {
        return Ok((None, None));
    }
    let (from, to) = time_range(
        args.from.as_deref(),
        args.to.as_deref(),
        (timeutil::DATA_FROM, timeutil::DATA_TO),
        tz,
        "export",
    )?;
    Ok((
        args.from.as_ref().map(|_| from),
        args.to.as_ref().map(|_| to),
    ))
}

/// What an export to a destination is made of, which the next
/// `--since-last` export there must repeat (else it would skip or repeat).
fn selection(args: &ExportArgs) -> String {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.join(",")
    };
    let mut sources: Vec<String> = args
        .select
        .source
        .iter()
        .map(|&s| crate::Source::from(s).as_str().to_string())
        .collect();
    sources.sort();
    let mut s = format!("--format {:?}", args.format).to_lowercase();
    if args.partition_by.is_some() {
        s.push_str(" --partition-by day");
    }
    for (flag, values) in [
        ("--indicator", sorted(&args.select.indicator)),
        ("--app", sorted(&args.select.app)),
        ("--room", sorted(&args.select.room)),
        ("--user", sorted(&args.select.user)),
        ("--source", sources.join(",")),
    ] {
        if !values.is_empty() {
            s.push_str(&format!(" {flag} {values}"));
        }
    }
    if let Some(tz) = &args.tz {
        s.push_str(&format!(" --tz {tz}"));
    }
    s
}

/// The destination's key in the ledger: `--out` made absolute (a
/// partitioned directory is created here if need be).
fn destination(out: &Path, directory: bool) -> anyhow::Result<String> {
    let bad = |e: io::Error| UsageError(format!("--out {}: {e}", out.display()));
    let absolute = if directory {
        std::fs::create_dir_all(out).map_err(bad)?;
        std::fs::canonicalize(out).map_err(bad)?
    } else {
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = out
            .file_name()
            .ok_or_else(|| UsageError(format!("--out {}: not a file name", out.display())))?;
        std::fs::canonicalize(dir).map_err(bad)?.join(name)
    };
    Ok(absolute.display().to_string())
}

fn create(path: &Path) -> anyhow::Result<AtomicFile> {
    Ok(AtomicFile::create(path)
        .map_err(|e| UsageError(format!("--out {}: {e}", path.display())))?)
}

fn commit(file: AtomicFile, path: &Path) -> anyhow::Result<()> {
    Ok(file
        .commit()
        .map_err(|e| UsageError(format!("--out {}: {e}", path.display())))?)
}

/// Every point of the selection in `range`, series after series. Without
/// any of --from, --to and --since-last, every point: none is left out.
fn for_each(
    store: &Store,
    series: &[StoredSeries],
    range: Option<(i64, i64)>,
    flags: (Option<i64>, Option<i64>),
    mut write: impl FnMut(&StoredSeries, Point) -> io::Result<()>,
) -> anyhow::Result<()> {
    let Some((from, to)) = range else {
        return Ok(());
    };
    let all = flags == (None, None) && (from, to) == (timeutil::DATA_FROM, timeutil::DATA_TO);
    for s in series {
        let each = |p| -> anyhow::Result<()> { Ok(write(s, p)?) };
        if all {
            store.for_each_point_all(s.id, each)
        } else {
            store.for_each_point(s.id, from, to, each)
        }
        .with_context(|| format!("exporting {}", s.key))?;
    }
    Ok(())
}

/// JSON Lines or CSV, to `--out` or stdout.
fn write_samples(
    store: &Store,
    series: &[StoredSeries],
    range: Option<(i64, i64)>,
    flags: (Option<i64>, Option<i64>),
    format: ExportFormat,
    args: &ExportArgs,
    tz: chrono_tz::Tz,
) -> anyhow::Result<u64> {
    let format = match format {
        ExportFormat::Csv => Format::Csv,
        _ => Format::Jsonl,
    };
    let mut file = args.out.as_deref().map(create).transpose()?;
    let sink: Box<dyn Write + '_> = match file.as_mut() {
        Some(f) => Box::new(BufWriter::with_capacity(1 << 16, f)),
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    };
    // exact values (a round trip through import is exact); times in the
    // zone of --tz if given, else UTC
    let style = Style {
        zone: args.tz.is_some().then_some(tz),
        ..Style::default()
    };
    let mut out = SampleWriter::with_style(format, style, sink)?;
    for_each(store, series, range, flags, |s, p| {
        out.write(s, p.ts, Some(p.value), Some(p.resolution))
    })?;
    let rows = out.rows();
    out.finish()?;
    if let (Some(file), Some(path)) = (file, &args.out) {
        commit(file, path)?;
    }
    Ok(rows)
}

/// One Parquet file per UTC day with points in `range`, under `dir`.
fn write_days(
    store: &Store,
    series: &[StoredSeries],
    range: Option<(i64, i64)>,
    dir: &Path,
) -> anyhow::Result<u64> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("--out {}: {e}", dir.display())))?;
    let Some((from, to)) = range else {
        return Ok(0);
    };
    // the days that can hold a point: within the archive's first and last
    let counts = store.counts()?;
    let (Some(first), Some(last)) = (counts.first_ts, counts.last_ts) else {
        return Ok(0);
    };
    let (lo, hi) = (from.max(first), to.min(last + crate::BUCKET_SECS));
    let mut rows = 0;
    for day in export::days(lo, hi.max(lo)) {
        let (start, end) = export::within_day(day, (lo, hi));
        let mut buffered: Vec<(usize, Point)> = Vec::new();
        // a day's points, series after series; a file only for a day with some
        for (i, s) in series.iter().enumerate() {
            store
                .for_each_point::<anyhow::Error>(s.id, start, end, |p| {
                    buffered.push((i, p));
                    Ok(())
                })
                .with_context(|| format!("exporting {}", s.key))?;
        }
        if buffered.is_empty() {
            continue;
        }
        let path = export::day_file(dir, day, from);
        let partition = path.parent().expect("a partition directory");
        std::fs::create_dir_all(partition)
            .with_context(|| format!("cannot create {}", partition.display()))?;
        let mut file = create(&path)?;
        let mut out = ParquetWriter::new(BufWriter::with_capacity(1 << 16, &mut file))?;
        for &(i, p) in &buffered {
            out.write(&series[i], p)?;
        }
        rows += out.rows();
        out.finish()?.flush()?;
        commit(file, &path)?;
    }
    Ok(rows)
}
