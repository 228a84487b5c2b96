//! `rtc-archiver indicators [--archived]`: the names the catalog knows, or
//! the series the archive holds, in any of the output formats.

use std::io::{BufWriter, Write};

use super::Ctx;
use crate::catalog::INDICATORS;
use crate::cli::IndicatorsArgs;
use crate::exit;
use crate::output::{Cell, Format, RecordWriter};
use crate::samples::{SERIES_COLUMNS, series_cells};
use crate::store::read::SeriesFilter;
use crate::timeutil;

/// The catalog's columns.
const CATALOG_COLUMNS: [&str; 6] = [
    "source",
    "name",
    "unit",
    "answered_as",
    "threshold_prefix",
    "meaning",
];

pub fn run(ctx: &Ctx, args: IndicatorsArgs) -> anyhow::Result<u8> {
    let format = args.format.unwrap_or_else(Format::default_for_stdout);
    let stdout = BufWriter::new(std::io::stdout().lock());
    if !args.archived {
        let names = CATALOG_COLUMNS.map(String::from).to_vec();
        let mut out = RecordWriter::new(format, names, stdout)?;
        for i in INDICATORS {
            let answers = Cell {
                text: i.answers_as.join(", "),
                json: i.answers_as.to_vec().into(),
            };
            let prefix = i.threshold.map(|u| format!("N{u}_"));
            out.write(vec![
                Cell::text(Some(i.source.as_str())),
                Cell::text(Some(i.name)),
                Cell::text(i.unit),
                answers,
                Cell::text(prefix.as_deref()),
                Cell::text(Some(i.meaning)),
            ])?;
        }
        let mut stdout = out.finish()?;
        if format == Format::Table {
            writeln!(
                stdout,
                "The list is not closed: other names are passed to the API, which decides."
            )?;
        }
        return Ok(exit::SUCCESS);
    }

    let (store, _) = ctx.open_read()?;
    let series = store.select_series(&SeriesFilter::default())?;
    if series.is_empty() && format == Format::Table {
        let mut stdout = stdout;
        writeln!(
            stdout,
            "The archive {} holds no series yet.",
            store.path().display()
        )?;
        return Ok(exit::SUCCESS);
    }
    let names = SERIES_COLUMNS
        .iter()
        .chain(&["first", "last", "points"])
        .map(|n| n.to_string())
        .collect();
    let mut out = RecordWriter::new(format, names, stdout)?;
    for s in &series {
        let (first, last, count) = store.series_extent(s.id)?;
        let mut cells = series_cells(s);
        cells.push(Cell::text(first.map(timeutil::fmt_utc).as_deref()));
        cells.push(Cell::text(last.map(timeutil::fmt_utc).as_deref()));
        cells.push(Cell {
            text: count.to_string(),
            json: count.into(),
        });
        out.write(cells)?;
    }
    out.finish()?;
    Ok(exit::SUCCESS)
}
