//! `rtc-archiver indicators [--archived]`: the names the catalog knows, or
//! the series the archive holds.

use std::io::Write;

use super::Ctx;
use crate::catalog::INDICATORS;
use crate::cli::{IndicatorsArgs, StatusFormat};
use crate::exit;
use crate::output::fitted_table;
use crate::store::read::{SeriesFilter, StoredSeries};
use crate::timeutil;

pub fn run(ctx: &Ctx, args: IndicatorsArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    if !args.archived {
        match args.format {
            StatusFormat::Json => {
                let list: Vec<_> = INDICATORS
                    .iter()
                    .map(|i| {
                        serde_json::json!({
                            "source": i.source.as_str(),
                            "name": i.name,
                            "unit": i.unit,
                            "meaning": i.meaning,
                            "answered_as": i.answers_as,
                            "threshold_prefix": i.threshold.map(|u| format!("N{u}_")),
                        })
                    })
                    .collect();
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
            }
            StatusFormat::Table => {
                let rows = INDICATORS
                    .iter()
                    .map(|i| {
                        vec![
                            i.source.as_str().into(),
                            match i.threshold {
                                Some(u) => format!("{} (N{u}_{})", i.name, i.name),
                                None => i.name.into(),
                            },
                            i.unit.unwrap_or("").into(),
                            i.answers_as.join(", "),
                            i.meaning.into(),
                        ]
                    })
                    .collect();
                let table =
                    fitted_table(&["source", "name", "unit", "answered as", "meaning"], rows);
                writeln!(out, "{table}")?;
                writeln!(
                    out,
                    "The list is not closed: other names are passed to the API, which decides."
                )?;
            }
        }
        return Ok(exit::SUCCESS);
    }

    let (store, _) = ctx.open_read()?;
    let series = store.select_series(&SeriesFilter::default())?;
    let mut rows = Vec::new();
    for s in &series {
        let (first, last, count) = store.series_extent(s.id)?;
        rows.push((s, first, last, count));
    }
    match args.format {
        StatusFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(s, first, last, count)| {
                    #[derive(serde::Serialize)]
                    struct Row<'a> {
                        #[serde(flatten)]
                        series: &'a StoredSeries,
                        first: Option<String>,
                        last: Option<String>,
                        points: i64,
                    }
                    Row {
                        series: s,
                        first: first.map(timeutil::fmt_utc),
                        last: last.map(timeutil::fmt_utc),
                        points: *count,
                    }
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        StatusFormat::Table => {
            if rows.is_empty() {
                writeln!(
                    out,
                    "The archive {} holds no series yet.",
                    store.path().display()
                )?;
            } else {
                let table = fitted_table(
                    &[
                        "source",
                        "app",
                        "room",
                        "users",
                        "indicator",
                        "unit",
                        "first",
                        "last",
                        "points",
                    ],
                    rows.iter()
                        .map(|(s, first, last, count)| {
                            let stream = &s.key.stream;
                            vec![
                                stream.source.as_str().into(),
                                stream.app_id.clone(),
                                stream.room_id.clone().unwrap_or_default(),
                                stream.user_ids.joined().to_string(),
                                s.key.indicator.clone(),
                                s.unit.clone().unwrap_or_default(),
                                first.map(timeutil::fmt_utc).unwrap_or_default(),
                                last.map(timeutil::fmt_utc).unwrap_or_default(),
                                count.to_string(),
                            ]
                        })
                        .collect(),
                );
                writeln!(out, "{table}")?;
            }
        }
    }
    Ok(exit::SUCCESS)
}
