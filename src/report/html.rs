//! The report as one self-contained HTML file: inline CSS, inline SVG
//! charts, no scripts, fonts or anything else fetched from elsewhere, so it
//! can be mailed, archived or served as it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::format::{chart_step_label, fmt_pct, no_data_sentence};
use super::markdown::{
    GAPS_HEADER, REGRESSION_HEADER, REGRESSION_NUMERIC, SERIES_HEADER, columns_note, gap_intervals,
    intro, regression_rows, series_numbers, sources,
};
use super::{RenderError, Report, SeriesReport, chart};

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
       margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.regressions tr td { background: #fde8e8; }
table.regressions { border: 2px solid #d62728; }
tr.regression td { background: #fff1f0; }
tr.regression td:first-child { font-weight: bold; }
p.ok { color: #2c7a2c; font-weight: bold; }
p.note { color: #666; font-size: 0.85em; }
figure { margin: 0 0 1.5em; }
figcaption { font-weight: bold; margin-bottom: 0.3em; }
ul.legend { list-style: none; padding: 0; margin: 0.3em 0; font-size: 0.85em; }
ul.legend li { display: inline-block; margin-right: 1.2em; }
span.swatch { display: inline-block; width: 1.4em; height: 0.35em; vertical-align: middle;
              margin-right: 0.4em; }
span.prev { opacity: 0.35; height: 0.2em; }
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
            let ind = match s.unit.as_deref() {
                Some(u) if !u.is_empty() => format!("{} ({u})", s.series.indicator),
                _ => s.series.indicator.clone(),
            };
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

/// The series charted for one indicator: regressions first, then in
/// archive order, at most [`chart::MAX_LINES`].
fn charted<'a>(series: &[&'a SeriesReport]) -> Vec<&'a SeriesReport> {
    let mut v: Vec<&SeriesReport> = series.to_vec();
    v.sort_by_key(|s| !s.regression);
    v.truncate(chart::MAX_LINES);
    v
}

fn charts(out: &mut String, report: &Report) -> Result<(), RenderError> {
    let mut by_indicator: BTreeMap<&str, Vec<&SeriesReport>> = BTreeMap::new();
    for s in &report.series {
        by_indicator.entry(&s.series.indicator).or_default().push(s);
    }
    let previous = if report.period.day.is_some() {
        "previous day"
    } else {
        "period before"
    };
    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">{} averages; solid lines: this period, light lines: the {previous} \
         on the same clock.</p>",
        chart_step_label(report.period.seconds)
    );
    for (indicator, series) in by_indicator {
        let shown = charted(&series);
        let unit = series.iter().find_map(|s| s.unit.as_deref());
        let svg = chart::render(&report.period, unit, &shown)?;
        let _ = writeln!(
            out,
            "<figure class=\"chart\">\n<figcaption>{}</figcaption>",
            escape(indicator)
        );
        out.push_str(svg.trim_end());
        out.push_str("\n<ul class=\"legend\">");
        for (i, s) in shown.iter().enumerate() {
            let c = chart::css_color(i);
            let _ = write!(
                out,
                "<li><span class=\"swatch\" style=\"background:{c}\"></span>\
                 <span class=\"swatch prev\" style=\"background:{c}\"></span>{}</li>",
                escape(&s.label())
            );
        }
        out.push_str("</ul>\n");
        if series.len() > shown.len() {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} of {} series shown (regressions first); the table lists all.</p>",
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
