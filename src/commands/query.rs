//! `rtc-archiver query`: archived history, raw or aggregated, in any format.

use std::io::{self, BufWriter, Write as _};

use clap::ValueEnum as _;

use super::{Ctx, time_range, zone};
use crate::cli::QueryArgs;
use crate::exit::{self, UsageError};
use crate::output::Format;
use crate::output::{Cell, RecordWriter, fmt_value_text};
use crate::query::wide::{FIXED_COLUMNS, Group, Wide};
use crate::query::{
    Aggregation, Fill, MAX_FILLED_STEPS, Steps, aggregate_series, filled_steps, latest_due,
};
use crate::samples::{SampleWriter, Style};
use crate::store::Store;
use crate::store::read::SeriesFilter;
use crate::store::read::StoredSeries;
use crate::timeutil;

pub fn run(ctx: &Ctx, args: QueryArgs) -> anyhow::Result<u8> {
    let (store, config) = ctx.open_read()?;
    let tz = zone(args.tz.as_deref(), config.as_ref())?;
    let (from, to) = time_range(Some(&args.from), Some(&args.to), (0, 0), tz, "show")?;
    let now = timeutil::now();
    // --step is checked by its parser: whole buckets, 30s to 100 years
    let step = args.step.map(timeutil::secs_i64);
    if let Some(step) = step
        && Steps::new(step, tz)
            .whole(from, to, latest_due(now))
            .is_none()
    {
        eprintln!(
            "rtc-archiver: no step of {} from {} to {} is complete yet: a step is printed once \
             all its data is due",
            timeutil::fmt_duration_secs(step),
            timeutil::fmt_utc(from),
            timeutil::fmt_utc(to),
        );
    }
    if let (Some(d), Some(step)) = (args.step, step)
        && args.fill != Fill::None
    {
        // every step is a row: bound them before the first one is printed
        let rows = filled_steps(from, to, step, tz, latest_due(now));
        if rows > MAX_FILLED_STEPS {
            let fill = args
                .fill
                .to_possible_value()
                .expect("no variant is skipped");
            return Err(UsageError(format!(
                "--step {} from {} to {} with --fill {} makes {rows} rows per series, more than \
                 the {MAX_FILLED_STEPS} a query may print: narrow --from/--to or widen --step \
                 (without --fill, only the steps holding data are printed)",
                humantime::format_duration(d),
                timeutil::fmt_utc(from),
                timeutil::fmt_utc(to),
                fill.get_name(),
            ))
            .into());
        }
    }
    let filter = SeriesFilter::from(args.select);
    let series = store.select_series(&filter)?;
    if series.is_empty() {
        eprintln!(
            "rtc-archiver: no archived series match; `rtc-archiver indicators --archived` lists them"
        );
    }
    let format = args.format.unwrap_or_else(Format::default_for_stdout);
    let stdout = io::stdout().lock();
    // for people: values without float noise in tables and CSV, times in
    // the zone asked for (JSON keeps exact values; without --tz, UTC)
    let style = Style {
        text_values: true,
        zone: args.tz.is_some().then_some(tz),
        table_width: crate::output::terminal_width(),
    };
    if let (Some(_), Some(step)) = (args.by, step) {
        let a = Aggregation {
            step,
            agg: args.agg,
            fill: args.fill,
            tz,
            now,
        };
        write_wide(
            &store,
            &series,
            (from, to),
            a,
            (format, style.zone, false),
            stdout,
        )?;
        return Ok(exit::SUCCESS);
    }
    let mut out = SampleWriter::with_style(format, style, BufWriter::new(stdout))?;
    for s in &series {
        match step {
            None => store.for_each_point::<anyhow::Error>(s.id, from, to, |p| {
                Ok(out.write(s, p.ts, Some(p.value), Some(p.resolution))?)
            })?,
            Some(step) => aggregate_series::<anyhow::Error>(
                &store,
                s,
                from,
                to,
                Aggregation {
                    step,
                    agg: args.agg,
                    fill: args.fill,
                    tz,
                    now,
                },
                |ts, v| Ok(out.write(s, ts, v, None)?),
            )?,
        }
    }
    out.finish()?;
    Ok(exit::SUCCESS)
}

/// `--by dimension_value`: the breakdown series' steps, one column per
/// value (see [`crate::query::wide`]). The steps are gathered before the
/// first row is printed: a row needs every value's step. `round2` rounds
/// the values to two decimals, as the API gives them (for the demo); times
/// print in `zone` if given, else UTC.
pub(crate) fn write_wide(
    store: &Store,
    series: &[StoredSeries],
    (from, to): (i64, i64),
    a: Aggregation,
    (format, zone, round2): (Format, Option<chrono_tz::Tz>, bool),
    out: impl io::Write,
) -> anyhow::Result<()> {
    let mut wide = Wide::default();
    let mut left_out = 0;
    for s in series {
        let (Some(dimension), Some(value)) = (s.key.stream.dimension, &s.key.dimension_value)
        else {
            left_out += 1;
            continue;
        };
        let group = Group {
            app_id: s.key.stream.app_id.clone(),
            indicator: s.key.indicator.clone(),
            dimension: dimension.to_string(),
        };
        aggregate_series::<anyhow::Error>(store, s, from, to, a, |ts, v| {
            let v = v.map(|v| {
                if round2 {
                    (v * 100.0).round() / 100.0
                } else {
                    v
                }
            });
            wide.add(&group, value, ts, v);
            Ok(())
        })?;
    }
    if left_out > 0 {
        eprintln!(
            "rtc-archiver: --by dimension_value: {left_out} series without a dimension value \
             left out (select breakdowns with --source distribution or --dimension)"
        );
    }
    let time = |ts: i64| match zone {
        Some(tz) => timeutil::fmt_in(ts, tz),
        None => timeutil::fmt_utc(ts),
    };
    if format == Format::Table {
        return write_wide_tables(&wide, time, out);
    }
    let mut w = RecordWriter::new(format, wide.header(), BufWriter::new(out))?;
    for row in wide.rows() {
        let mut cells = vec![
            Cell::text(Some(&row.group.app_id)),
            Cell::text(Some(&row.group.indicator)),
            Cell::text(Some(&row.group.dimension)),
            Cell::int(Some(row.ts)),
            Cell::text(Some(&time(row.ts))),
        ];
        cells.extend(row.values.iter().map(|v| Cell {
            text: fmt_value_text(*v),
            json: v.map_or(serde_json::Value::Null, Into::into),
        }));
        w.write(cells)?;
    }
    w.finish()?;
    Ok(())
}

/// `--by dimension_value` for people: one table per app, indicator and
/// dimension, under a line naming them, with the time and a column per
/// value (those the group has), values to 3 decimals (the API's have 2),
/// so that a breakdown of a few values fits a terminal of 80 columns.
fn write_wide_tables(
    wide: &Wide,
    time: impl Fn(i64) -> String,
    out: impl io::Write,
) -> anyhow::Result<()> {
    let mut out = BufWriter::new(out);
    let values = wide.header().split_off(FIXED_COLUMNS.len());
    let mut header: Vec<&str> = vec!["time"];
    header.extend(values.iter().map(String::as_str));
    let short = |v: Option<f64>| {
        v.map(|v| {
            let t = format!("{v:.3}");
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        })
        .unwrap_or_default()
    };
    let mut rows = wide.rows().peekable();
    if rows.peek().is_none() {
        writeln!(out, "(no data)")?;
    }
    let mut first = true;
    while let Some(row) = rows.next() {
        let group = row.group;
        let mut table = vec![row];
        while let Some(next) = rows.next_if(|r| r.group == group) {
            table.push(next);
        }
        if !first {
            writeln!(out)?;
        }
        first = false;
        writeln!(
            out,
            "{} {} by {}:",
            group.app_id, group.indicator, group.dimension
        )?;
        let cells: Vec<Vec<String>> = table
            .iter()
            .map(|r| {
                let mut c = vec![time(r.ts)];
                c.extend(r.values.iter().map(|v| short(*v)));
                c
            })
            .collect();
        writeln!(out, "{}", crate::output::fitted_table(&header, cells))?;
    }
    out.flush()?;
    Ok(())
}
