//! `rtc-archiver indicators [--archived]`: the names the catalog knows, or
//! the series the archive holds.

use std::io::Write;

use super::Ctx;
use crate::catalog::INDICATORS;
use crate::cli::{IndicatorsArgs, StatusFormat};
use crate::exit;
use crate::output::make_table;
use crate::store::read::{self, SeriesFilter};
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
                let table = make_table(&["source", "name", "unit", "answered as", "meaning"], rows);
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
    let series = read::select_series(store.conn(), &SeriesFilter::default())?;
    let mut rows = Vec::new();
    for s in &series {
        let (first, last, count) = read::series_extent(store.conn(), s.id)?;
        rows.push((s, first, last, count));
    }
    match args.format {
        StatusFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(s, first, last, count)| {
                    serde_json::json!({
                        "app_id": s.app_id, "room_id": s.room_id, "user_ids": s.user_ids,
                        "source": s.source.as_str(), "indicator": s.indicator, "unit": s.unit,
                        "first": first.map(timeutil::fmt_utc), "last": last.map(timeutil::fmt_utc),
                        "points": count,
                    })
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
                let table = make_table(
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
                            vec![
                                s.source.as_str().into(),
                                s.app_id.clone(),
                                s.room_id.clone().unwrap_or_default(),
                                s.user_ids.clone().unwrap_or_default(),
                                s.indicator.clone(),
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
