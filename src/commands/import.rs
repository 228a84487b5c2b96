//! `rtc-archiver import FILE|-`: points in the samples format (what
//! `export` writes) upserted into the archive, with every line validated.

use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::Path;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Ctx, compact, open_store};
use crate::cli::ImportArgs;
use crate::exit::{self, UsageError};
use crate::import::{ImportOptions, import};
use crate::lock;
use crate::samples::SampleFormat;
use crate::store::OpenMode;

/// Files smaller than this import too fast to be worth a progress bar.
const PROGRESS_MIN_BYTES: u64 = 8 << 20;
/// Imports of fewer new points are not worth compacting the archive for.
const COMPACT_MIN_POINTS: u64 = 100_000;

pub fn run(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<u8> {
    let (db, _config) = ctx.read_target()?;
    let stdin = args.file == Path::new("-");
    let format = args
        .format
        .unwrap_or_else(|| SampleFormat::of_path(&args.file));
    let name = if stdin {
        "<stdin>".to_string()
    } else {
        args.file.display().to_string()
    };
    let (input, size): (Box<dyn BufRead>, u64) = if stdin {
        (
            Box::new(BufReader::with_capacity(1 << 20, io::stdin().lock())),
            0,
        )
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| UsageError(format!("cannot read {name}: {e}")))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(BufReader::with_capacity(1 << 20, file)), size)
    };

    let store = open_store(&db, OpenMode::Create)?;
    let bar = if !args.quiet && size >= PROGRESS_MIN_BYTES && io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}",
            )
            .expect("a valid template"),
        );
        Some(bar)
    } else {
        None
    };
    let mut shown = 0;
    let report = import(
        store,
        input,
        ImportOptions {
            format,
            strict: args.strict,
            batch: args.batch as usize,
        },
        |bytes| {
            if let Some(bar) = &bar {
                bar.set_position(bytes);
            }
        },
        |bad| {
            // a flood of bad lines is summarised, not printed line by line forever
            shown += 1;
            if shown <= 100 {
                let msg = format!("rtc-archiver: {name}:{}: {}", bad.line, bad.reason);
                match &bar {
                    Some(bar) => bar.println(msg),
                    None => eprintln!("{msg}"),
                }
            } else if shown == 101 {
                eprintln!("rtc-archiver: {name}: more bad lines; only the first 100 are shown");
            }
        },
    )
    .with_context(|| format!("importing {name} into {}", db.display()))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let w = report.written;
    eprintln!(
        "rtc-archiver: {name}: {} lines, {} points of {} series: {} new, {} revised, {} unchanged; {} bad line{}{}",
        report.lines,
        report.imported,
        report.series,
        w.new,
        w.revised,
        w.unchanged,
        report.bad,
        if report.bad == 1 { "" } else { "s" },
        if report.stopped {
            " (stopped at the first, --strict: earlier batches were stored)"
        } else {
            ""
        }
    );
    if !args.no_compact && should_compact(report.written.new, &db)? {
        // the collector's lock keeps a collector from waiting on VACUUM's write lock
        match lock::acquire(&db) {
            Ok(_lock) => compact::compact(&mut open_store(&db, OpenMode::Existing)?)?,
            Err(e) => eprintln!(
                "rtc-archiver: not compacting ({e:#}); run `rtc-archiver compact` while no collector runs to pack the archive"
            ),
        }
    }
    Ok(if report.bad > 0 {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// An import that brought most of the archive's points (a bulk load, a
/// move) leaves pages 85–90% full: worth a compaction. Small merges are not.
fn should_compact(new_points: u64, db: &Path) -> anyhow::Result<bool> {
    if new_points < COMPACT_MIN_POINTS {
        return Ok(false);
    }
    let total = open_store(db, OpenMode::Read)?.point_count()?;
    Ok(new_points as i64 * 2 >= total)
}
