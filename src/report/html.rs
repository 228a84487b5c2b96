//! The report as one self-contained HTML file: inline CSS, inline SVG
//! charts, no scripts, fonts or anything else fetched from elsewhere, so it
//! can be mailed, archived or served as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::format::{chart_step_label, fmt_pct, no_data_sentence};
use super::markdown::{
    ATTRIBUTION_HEADER, ATTRIBUTION_NOTE, ATTRIBUTION_NUMERIC, GAPS_HEADER, INCIDENT_HEADER,
    INCIDENT_NUMERIC, REGRESSION_HEADER, REGRESSION_NUMERIC, SERIES_HEADER, attribution_rows,
    attribution_title, breakdown_label, columns_note, gap_intervals, incident_rows, intro,
    more_incidents_sentence, no_incidents_sentence, regression_rows, series_numbers, sources,
};
use super::{RenderError, Report, SeriesReport, chart};
use crate::series::StreamKey;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
       margin: 1.5em auto; max-width: 1800px; padding: 0 1.5em; color: #222; font-size: 16px; }
.bars { display: flex; flex-wrap: wrap; gap: 1em; } .bars svg { width: 420px; max-width: 100%; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.95em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.regressions tr td { background: #fde8e8; }
table.regressions { border: 2px solid #d62728; }
table.incidents tr td { background: #fff4e5; }
table.incidents { border: 2px solid #e6550d; }
tr.regression td { background: #fff1f0; }
tr.regression td:first-child { font-weight: bold; }
p.ok { color: #2c7a2c; font-weight: bold; }
p.note { color: #555; font-size: 0.9em; }
figure { margin: 0 0 2em; }
figcaption { font-weight: bold; font-size: 1.1em; margin-bottom: 0.3em; }
svg.chart { display: block; width: 100%; height: auto; }
ul.legend { list-style: none; padding: 0; margin: 0.4em 0; font-size: 0.95em; }
ul.legend li { display: inline-block; margin-right: 1.6em; }
ul.legend li.emphasis { font-weight: bold; }
ul.key { color: #555; font-size: 0.85em; }
span.swatch { display: inline-block; width: 1.6em; height: 0.3em; vertical-align: middle;
              margin-right: 0.4em; }
li.emphasis span.swatch { height: 0.45em; }
span.prev { opacity: 0.35; height: 0.15em; width: 1.2em; }
span.band { opacity: 0.2; height: 0.9em; width: 1.2em; }
span.shade { background: #d62728; opacity: 0.15; height: 0.9em; width: 1.2em; }
span.tag { font-weight: normal; color: #b22; margin-left: 0.3em; }
";

fn tr(out: &mut String, class: Option<&str>, cells: &[(String, bool)]) {
    match class {
        Some(c) => {
            let _ = write!(out, "<tr class=\"{c}\">");
        }
        None => out.push_str("<tr>"),
    }
    for (text, num) in cells {
        if *num {
            let _ = write!(out, "<td class=\"num\">{}</td>", escape(text));
        } else {
            let _ = write!(out, "<td>{}</td>", escape(text));
        }
    }
    out.push_str("</tr>\n");
}

fn thead(out: &mut String, class: Option<&str>, header: &[&str]) {
    match class {
        Some(c) => {
            let _ = writeln!(out, "<table class=\"{c}\">");
        }
        None => out.push_str("<table>\n"),
    }
    out.push_str("<thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

fn tend(out: &mut String) {
    out.push_str("</tbody>\n</table>\n");
}

/// Renders the report.
pub fn render(report: &Report) -> Result<String, RenderError> {
    let (title, lines) = intro(report);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\
         <title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = escape(&title)
    );
    if report.no_data {
        let _ = writeln!(out, "<p>{}</p>", escape(&no_data_sentence(report)));
        gaps(&mut out, report);
        out.push_str("</body>\n</html>\n");
        return Ok(out);
    }
    for l in &lines {
        let _ = writeln!(out, "<p>{}</p>", escape(l));
    }

    out.push_str("<section id=\"incidents\">\n<h2>Incidents</h2>\n");
    if report.incidents.is_empty() {
        let _ = writeln!(out, "<p class=\"ok\">{}</p>", no_incidents_sentence(report));
    } else {
        thead(&mut out, Some("incidents"), &INCIDENT_HEADER);
        for r in incident_rows(report) {
            let cells: Vec<(String, bool)> = r
                .into_iter()
                .enumerate()
                .map(|(i, c)| (c, INCIDENT_NUMERIC.contains(&i)))
                .collect();
            tr(&mut out, None, &cells);
        }
        tend(&mut out);
        if let Some(more) = more_incidents_sentence(report) {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&more));
        }
        out.push_str(
            "<p class=\"note\">Each incident is shaded on its indicator's chart, over the \
             series' normal band (its baseline ± the anomaly bar).</p>\n",
        );
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"regressions\">\n<h2>Regressions</h2>\n");
    if report.regressions.is_empty() {
        out.push_str("<p class=\"ok\">No regressions beyond the thresholds.</p>\n");
    } else {
        thead(&mut out, Some("regressions"), &REGRESSION_HEADER);
        for r in regression_rows(report) {
            let cells: Vec<(String, bool)> = r
                .into_iter()
                .enumerate()
                .map(|(i, c)| (c, REGRESSION_NUMERIC.contains(&i)))
                .collect();
            tr(&mut out, None, &cells);
        }
        tend(&mut out);
    }
    out.push_str("</section>\n");

    attribution(&mut out, report);
    charts(&mut out, report)?;

    out.push_str("<section id=\"series\">\n<h2>All series</h2>\n");
    for source in sources(report) {
        let _ = writeln!(out, "<h3>{source}</h3>");
        thead(&mut out, None, &SERIES_HEADER);
        for s in report
            .series
            .iter()
            .filter(|s| s.series.stream.source == source)
        {
            let mut ind = match s.unit.as_deref() {
                Some(u) if !u.is_empty() => format!("{} ({u})", s.series.indicator),
                _ => s.series.indicator.clone(),
            };
            if let Some(by) = breakdown_label(s) {
                ind = format!("{ind} {by}");
            }
            let stream = &s.series.stream;
            let mut cells = vec![
                (ind, false),
                (stream.app_id.clone(), false),
                (stream.room_id.clone().unwrap_or_default(), false),
                (stream.user_ids.joined().to_string(), false),
            ];
            cells.extend(series_numbers(s).into_iter().map(|c| (c, true)));
            tr(
                &mut out,
                s.regression.then_some("regression"),
                cells.as_slice(),
            );
        }
        tend(&mut out);
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">{} Highlighted rows are regressions.</p>\n</section>",
        escape(&columns_note(report))
    );
    gaps(&mut out, report);
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// Whether a series is emphasised on its chart: a regression, or a
/// series with incidents.
fn emphasised(s: &SeriesReport) -> bool {
    s.regression || !s.chart.incidents.is_empty()
}

/// The series charted for one indicator: regressions and series with
/// incidents first, then in archive order, at most [`chart::MAX_LINES`].
fn charted<'a>(series: &[&'a SeriesReport]) -> Vec<&'a SeriesReport> {
    let mut v: Vec<&SeriesReport> = series.to_vec();
    v.sort_by_key(|s| !emphasised(s));
    v.truncate(chart::MAX_LINES);
    v
}

/// A colour per app, room and user set, in the report's order, so that
/// they have the same colour in every chart (quality and operation data
/// of an app alike).
fn stream_colors(report: &Report) -> BTreeMap<(&str, Option<&str>, &str), usize> {
    let mut colors = BTreeMap::new();
    for s in &report.series {
        let next = colors.len();
        colors.entry(color_key(&s.series.stream)).or_insert(next);
    }
    colors
}

fn color_key(k: &StreamKey) -> (&str, Option<&str>, &str) {
    (&k.app_id, k.room_id.as_deref(), k.user_ids.joined())
}

fn charts(out: &mut String, report: &Report) -> Result<(), RenderError> {
    // a breakdown's values have their own charts, by dimension, where it
    // explains a finding (the attribution section): here they would be a
    // dozen lines of one colour, crowding the app's own out
    let mut by_indicator: BTreeMap<&str, Vec<&SeriesReport>> = BTreeMap::new();
    for s in report
        .series
        .iter()
        .filter(|s| s.series.stream.source != crate::Source::Distribution)
    {
        by_indicator.entry(&s.series.indicator).or_default().push(s);
    }
    let colors = stream_colors(report);
    let previous = if report.period.day.is_some() {
        "previous day"
    } else {
        "period before"
    };
    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">{} averages; solid lines: this period, light lines: the {previous} \
         on the same clock; a colour stands for the same app, room and users in every chart; \
         regressions and series with incidents are drawn thicker, on top.</p>",
        chart_step_label(report.period.seconds)
    );
    for (indicator, series) in by_indicator {
        let shown = charted(&series);
        let unit = series.iter().find_map(|s| s.unit.as_deref());
        let lines: Vec<chart::Line> = shown
            .iter()
            .map(|s| chart::Line {
                series: s,
                color: colors
                    .get(&color_key(&s.series.stream))
                    .copied()
                    .unwrap_or(0),
                emphasis: emphasised(s),
            })
            .collect();
        let svg = chart::render(&report.period, unit, &lines)?;
        let _ = writeln!(
            out,
            "<figure class=\"chart\">\n<figcaption>{}</figcaption>",
            escape(indicator)
        );
        out.push_str(svg.trim_end());
        out.push_str("\n<ul class=\"legend\">");
        for l in &lines {
            let s = l.series;
            let class = if l.emphasis {
                " class=\"emphasis\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<li{class}><span class=\"swatch\" style=\"background:{}\"></span>{}",
                chart::css_color(l.color),
                escape(&s.label())
            );
            let mut tags = Vec::new();
            if s.regression {
                tags.push("regression".to_string());
            }
            match s.chart.incidents.len() {
                0 => {}
                1 => tags.push("incident".into()),
                n => tags.push(format!("{n} incidents")),
            }
            if !tags.is_empty() {
                let _ = write!(out, "<span class=\"tag\">({})</span>", tags.join(", "));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>\n");
        // what the lighter marks mean, only where the chart has them
        let mut key = Vec::new();
        if lines.iter().any(|l| !l.series.chart.previous.is_empty()) {
            key.push(format!(
                "<li><span class=\"swatch prev\" style=\"background:#555\"></span>the {previous}</li>"
            ));
        }
        if lines.iter().any(|l| !l.series.chart.band.is_empty()) {
            key.push(
                "<li><span class=\"swatch band\" style=\"background:#555\"></span>normal band \
                 (baseline ± the anomaly bar)</li>"
                    .to_string(),
            );
            key.push("<li><span class=\"swatch shade\"></span>incident</li>".to_string());
        }
        if !key.is_empty() {
            let _ = writeln!(out, "<ul class=\"legend key\">{}</ul>", key.concat());
        }
        if series.len() > shown.len() {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} of {} series shown (regressions and incidents first); the table lists all.</p>",
                shown.len(),
                series.len()
            );
        }
        out.push_str("</figure>\n");
    }
    out.push_str("</section>\n");
    Ok(())
}

fn gaps(out: &mut String, report: &Report) {
    out.push_str("<section id=\"gaps\">\n<h2>Gaps</h2>\n");
    if report.gaps.is_empty() {
        out.push_str("<p>No gaps recorded in this period.</p>\n</section>\n");
        return;
    }
    thead(out, None, &GAPS_HEADER);
    for g in &report.gaps {
        tr(
            out,
            None,
            &[
                (g.stream.source.to_string(), false),
                (g.stream.app_id.clone(), false),
                (g.stream.room_id.clone().unwrap_or_default(), false),
                (g.stream.user_ids.joined().to_string(), false),
                (g.seconds.to_string(), true),
                (fmt_pct(g.share), true),
                (gap_intervals(report, g).join("; "), false),
            ],
        );
    }
    tend(out);
    out.push_str(
        "<p class=\"note\">Gaps are intervals that slid out of the API's 60-minute reach \
         unfetched; they count against every series of their stream.</p>\n</section>\n",
    );
}

/// Where the regressions and incidents moved: per attribution, a table of
/// the top values of each dimension and a chart of them (before and now).
fn attribution(out: &mut String, report: &Report) {
    if report.attribution.is_empty() {
        return;
    }
    out.push_str("<section id=\"attribution\">\n<h2>Where it moved</h2>\n");
    for a in &report.attribution {
        let _ = writeln!(out, "<h3>{}</h3>", escape(&attribution_title(report, a)));
        thead(out, Some("attribution"), &ATTRIBUTION_HEADER);
        for r in attribution_rows(a) {
            let cells: Vec<(String, bool)> = r
                .into_iter()
                .enumerate()
                .map(|(i, c)| (c, ATTRIBUTION_NUMERIC.contains(&i)))
                .collect();
            tr(out, None, &cells);
        }
        tend(out);
        out.push_str("<div class=\"bars\">\n");
        for d in &a.dimensions {
            let bars: Vec<chart::Bar> = d
                .values
                .iter()
                .map(|m| chart::Bar {
                    label: m.value.clone(),
                    before: m.previous_avg,
                    now: m.avg,
                })
                .collect();
            out.push_str(&chart::bars(
                &format!("{} by {}", a.indicator, d.dimension),
                a.unit.as_deref(),
                &bars,
            ));
        }
        out.push_str("</div>\n");
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">{} Bars: the comparison (light) and now (dark).</p>\n</section>",
        escape(ATTRIBUTION_NOTE)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">it's & </a>"),
            "&lt;a href=&quot;x&quot;&gt;it&#39;s &amp; &lt;/a&gt;"
        );
    }
}
