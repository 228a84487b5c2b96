//! `rtc-archiver export`: the archive, or a selection of it, as JSON Lines
//! or CSV with the columns of the `samples` view — the format `import` reads,
//! so archives can be moved and merged.

use std::io::{self, BufWriter, Write};

use anyhow::Context as _;

use super::{Ctx, check_out, time_range, zone};
use crate::cli::ExportArgs;
use crate::exit::{self, UsageError};
use crate::output::{AtomicFile, Format};
use crate::samples::{SampleFormat, SampleWriter, Style};
use crate::store::read::SeriesFilter;
use crate::timeutil;

pub fn run(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<u8> {
    let (store, config) = ctx.open_read()?;
    let tz = zone(args.tz.as_deref(), config.as_ref())?;
    // without --from/--to, every point: none is left out silently
    let all = args.from.is_none() && args.to.is_none();
    let (from, to) = time_range(
        args.from.as_deref(),
        args.to.as_deref(),
        (timeutil::DATA_FROM, timeutil::DATA_TO),
        tz,
        "export",
    )?;
    let filter = SeriesFilter::from(args.select);
    let series = store.select_series(&filter)?;
    let format = match args.format {
        SampleFormat::Jsonl => Format::Jsonl,
        SampleFormat::Csv => Format::Csv,
    };

    if let Some(path) = &args.out {
        check_out(path, store.path())?;
    }
    let mut file = match &args.out {
        Some(path) => Some(
            AtomicFile::create(path)
                .map_err(|e| UsageError(format!("--out {}: {e}", path.display())))?,
        ),
        None => None,
    };
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
    for s in &series {
        let write = |ts, v| -> anyhow::Result<()> { Ok(out.write(s, ts, Some(v))?) };
        if all {
            store.for_each_point_all(s.id, write)
        } else {
            store.for_each_point(s.id, from, to, write)
        }
        .with_context(|| format!("exporting {}", s.key))?;
    }
    let rows = out.rows();
    out.finish()?;
    if let (Some(file), Some(path)) = (file, &args.out) {
        file.commit()
            .map_err(|e| UsageError(format!("--out {}: {e}", path.display())))?;
    }
    eprintln!(
        "rtc-archiver: exported {rows} points of {} series",
        series.len()
    );
    Ok(exit::SUCCESS)
}
