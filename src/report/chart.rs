//! One SVG line chart per indicator, drawn with plotters' SVG backend: the
//! period's downsampled series as solid lines over the previous period's
//! as lighter, thinner lines in the same colour; a series with incidents
//! gets its normal band (baseline ± the anomaly bar) and each incident a
//! shaded stretch. Colours follow the series' stream (the same stream has
//! the same colour in every chart), regressions are drawn on top and
//! thicker, and the time ticks fall on round wall-clock times of the zone.
//! The legend is left to the HTML around the chart, where long names wrap
//! and stay readable.

use chrono::{DateTime, Duration, NaiveTime, TimeZone};
use chrono_tz::Tz;
use plotters::prelude::*;

use super::{Period, RenderError, SeriesReport};
use crate::timeutil;

/// At most this many series per chart; the rest are named as left out.
pub const MAX_LINES: usize = 8;

/// The drawing's own size; the page scales it to its full width.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 380;

/// Line colours (Tableau 10), as `#rrggbb` for the HTML legend too.
pub const COLORS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The shade of an incident's stretch.
const INCIDENT_SHADE: RGBColor = RGBColor(214, 39, 40);

pub fn css_color(i: usize) -> String {
    let (r, g, b) = COLORS[i % COLORS.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// One line of a chart: the series, its colour (an index into
/// [`COLORS`]) and whether it is emphasised (a regression or incident).
pub struct Line<'a> {
    pub series: &'a SeriesReport,
    pub color: usize,
    pub emphasis: bool,
}

/// Splits a line where steps are missing, so a gap shows as a gap.
fn runs(points: &[(f64, f64)], step_hours: f64, x_max: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<f64> = None;
    for &(x, y) in points {
        if !y.is_finite() || x > x_max {
            continue;
        }
        match (out.last_mut(), last) {
            (Some(run), Some(l)) if x - l <= step_hours * 1.5 => run.push((x, y)),
            _ => out.push(vec![(x, y)]),
        }
        last = Some(x);
    }
    out
}

/// Shortest of `12`, `12.5`, `12.25`.
fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Tick steps, in seconds: round on a clock.
const TICK_STEPS: [i64; 16] = [
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    28 * 86400,
];

/// Times for the x axis's ticks in `[from, to]`: the smallest round step
/// (1, 2, 5, 10, 15, 30 minutes; 1, 2, 3, 6, 12 hours; 1, 2, 7, ... days)
/// giving at most `max` ticks, on the wall clock of the zone (whole hours
/// from local midnight, days at local midnight), as Unix seconds.
pub fn ticks(from: i64, to: i64, tz: Tz, max: usize) -> Vec<i64> {
    let span = (to - from).max(1);
    let step = TICK_STEPS
        .into_iter()
        .find(|s| span / s < max as i64)
        .unwrap_or((span + max as i64 - 1) / max as i64);
    // from local midnight of the first day, in wall-clock steps
    let day = timeutil::date_of(from, tz);
    let mut local = day.and_time(NaiveTime::MIN);
    let mut out = Vec::new();
    let mut guard = 0;
    loop {
        guard += 1;
        if guard > 100_000 {
            break;
        }
        let ts = match tz.from_local_datetime(&local).earliest() {
            Some(t) => t.timestamp(),
            // inside a DST gap: that wall-clock time does not exist
            None => {
                local += Duration::seconds(step);
                continue;
            }
        };
        if ts > to {
            break;
        }
        if ts >= from && out.last() != Some(&ts) {
            out.push(ts);
        }
        local += Duration::seconds(step);
    }
    out
}

/// The time axis: hours since the period's start, with its ticks where
/// [`ticks`] puts them (plotters' own would fall on round hour fractions,
/// odd minutes on the clock).
struct TimeAxis {
    inner: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for TimeAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Draws the chart of one indicator's series; returns the `<svg>` element,
/// scaled by the page to its width.
pub fn render(period: &Period, unit: Option<&str>, lines: &[Line]) -> Result<String, RenderError> {
    let tz = period.zone();
    let x_max = period.seconds as f64 / 3600.0;
    let shown = &lines[..lines.len().min(MAX_LINES)];
    let step_hours = shown
        .first()
        .map_or(300.0, |l| l.series.chart.step.max(1) as f64)
        / 3600.0;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for l in shown {
        let c = &l.series.chart;
        let band = c.band.iter().flat_map(|&(x, a, b)| [(x, a), (x, b)]);
        for (x, y) in c.current.iter().chain(&c.previous).copied().chain(band) {
            if y.is_finite() && x <= x_max {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        lo.abs().max(1.0) * 0.05
    };
    let (y0, y1) = (lo - pad, hi + pad);

    let multi_day = period.multi_day();
    let from = period.from;
    let tick_hours: Vec<f64> = ticks(period.from, period.to, tz, 13)
        .into_iter()
        .map(|t| (t - from) as f64 / 3600.0)
        .collect();
    let x_fmt = move |x: &f64| -> String {
        let ts = from + (x * 3600.0).round() as i64;
        let Some(t) = DateTime::from_timestamp(ts, 0) else {
            return format!("@{ts}");
        };
        let t = t.with_timezone(&tz);
        if multi_day {
            t.format("%m-%d %H:%M").to_string()
        } else {
            t.format("%H:%M").to_string()
        }
    };
    let y_fmt = |y: &f64| fmt_tick(*y);
    let y_desc = match unit {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => "value".to_string(),
    };
    let x_desc = format!("time ({})", period.tz);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d(
                TimeAxis {
                    inner: (0f64..x_max).into(),
                    ticks: tick_hours,
                },
                y0..y1,
            )
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .axis_desc_style(("sans-serif", 18))
            .label_style(("sans-serif", 18))
            .draw()
            .map_err(draw_err)?;
        // the incidents' stretches, then the bands, under every line
        for l in shown {
            for &(a, b) in &l.series.chart.incidents {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a.max(0.0), y0), (b.min(x_max), y1)],
                        INCIDENT_SHADE.mix(0.12).filled(),
                    )))
                    .map_err(draw_err)?;
            }
        }
        for l in shown {
            let band = &l.series.chart.band;
            if band.is_empty() {
                continue;
            }
            let (r, g, b) = COLORS[l.color % COLORS.len()];
            let mut outline: Vec<(f64, f64)> = band.iter().map(|&(x, _, h)| (x, h)).collect();
            outline.extend(band.iter().rev().map(|&(x, lo, _)| (x, lo)));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    RGBColor(r, g, b).mix(0.15).filled(),
                )))
                .map_err(draw_err)?;
        }
        for l in shown {
            let (r, g, b) = COLORS[l.color % COLORS.len()];
            for run in runs(&l.series.chart.previous, step_hours, x_max) {
                chart
                    .draw_series(LineSeries::new(
                        run,
                        RGBColor(r, g, b).mix(0.3).stroke_width(1),
                    ))
                    .map_err(draw_err)?;
            }
        }
        // the emphasised lines last: on top of the others
        let mut order: Vec<&Line> = shown.iter().collect();
        order.sort_by_key(|l| l.emphasis);
        for l in order {
            let (r, g, b) = COLORS[l.color % COLORS.len()];
            let width = if l.emphasis { 3 } else { 2 };
            for run in runs(&l.series.chart.current, step_hours, x_max) {
                chart
                    .draw_series(LineSeries::new(run, RGBColor(r, g, b).stroke_width(width)))
                    .map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(fit_width(&svg))
}

/// The root `<svg>` scaled to the page's width (its viewBox keeps the
/// proportions) instead of a fixed pixel size.
fn fit_width(svg: &str) -> String {
    svg.replacen(
        &format!("width=\"{WIDTH}\" height=\"{HEIGHT}\""),
        "class=\"chart\" preserveAspectRatio=\"xMidYMid meet\"",
        1,
    )
}

fn draw_err<E: std::fmt::Display>(e: E) -> RenderError {
    RenderError::Chart(e.to_string())
}

/// One value of a dimension on an attribution chart: its average in the
/// comparison and now.
pub struct Bar {
    pub label: String,
    pub before: Option<f64>,
    pub now: Option<f64>,
}

/// Escapes text for SVG element content.
fn svg_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A small horizontal bar chart of the top values of one dimension: per
/// value a light bar (the comparison) over a dark one (now), on one scale
/// from 0, with the numbers at their ends. Plain SVG, so any script in a
/// value (they are text as answered) stays text.
pub fn bars(title: &str, unit: Option<&str>, bars: &[Bar]) -> String {
    const W: f64 = 420.0;
    const LABEL: f64 = 90.0;
    const ROW: f64 = 34.0;
    const TOP: f64 = 28.0;
    let h = TOP + ROW * bars.len() as f64 + 8.0;
    let max = bars
        .iter()
        .flat_map(|b| [b.before, b.now])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let scale = (W - LABEL - 70.0) / max;
    let unit = unit
        .filter(|u| !u.is_empty())
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" role=\"img\">\
         <text x=\"0\" y=\"16\" font-size=\"14\" font-family=\"sans-serif\">{}</text>",
        svg_text(&format!("{title}{unit}"))
    );
    let (r, g, b) = COLORS[0];
    for (i, bar) in bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\" font-family=\"sans-serif\">{}</text>",
            y + 20.0,
            svg_text(&bar.label)
        ));
        for (k, (v, opacity)) in [(bar.before, 0.35), (bar.now, 1.0)].into_iter().enumerate() {
            let Some(v) = v.filter(|v| v.is_finite()) else {
                continue;
            };
            let yy = y + 4.0 + 13.0 * k as f64;
            let w = (v.abs() * scale).max(1.0);
            svg.push_str(&format!(
                "<rect x=\"{LABEL}\" y=\"{yy}\" width=\"{w:.1}\" height=\"11\" \
                 fill=\"rgb({r},{g},{b})\" fill-opacity=\"{opacity}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" font-family=\"sans-serif\">{}</text>",
                LABEL + w + 4.0,
                yy + 10.0,
                fmt_tick(v)
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z

    #[test]
    fn lines_break_at_missing_steps() {
        let h = 300.0 / 3600.0;
        let pts = [(0.0, 1.0), (h, 2.0), (3.0 * h, 3.0), (4.0 * h, f64::NAN)];
        let r = runs(&pts, h, 24.0);
        assert_eq!(r, vec![vec![(0.0, 1.0), (h, 2.0)], vec![(3.0 * h, 3.0)]]);
        assert!(runs(&pts, h, 0.01).len() == 1);
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(fmt_tick(12.0), "12");
        assert_eq!(fmt_tick(12.5), "12.5");
        assert_eq!(fmt_tick(0.126), "0.13");
        assert_eq!(fmt_tick(-0.001), "0");
    }

    #[test]
    fn time_ticks_fall_on_round_clock_times() {
        let clock = |ts: &[i64], tz: Tz, f: &str| -> Vec<String> {
            ts.iter()
                .map(|&t| {
                    DateTime::from_timestamp(t, 0)
                        .unwrap()
                        .with_timezone(&tz)
                        .format(f)
                        .to_string()
                })
                .collect()
        };
        // a day: every 2 hours from midnight, both ends included
        let t = ticks(DAY, DAY + 86400, Tz::UTC, 13);
        assert_eq!(t.len(), 13);
        assert_eq!(
            clock(&t[..3], Tz::UTC, "%H:%M"),
            ["00:00", "02:00", "04:00"]
        );
        // an hour from 12:34:56: every 5 minutes on the minute
        let from = DAY + 12 * 3600 + 34 * 60 + 56;
        let t = ticks(from, from + 3600, Tz::UTC, 13);
        assert_eq!(
            clock(&t[..2], Tz::UTC, "%H:%M:%S"),
            ["12:35:00", "12:40:00"]
        );
        assert_eq!(t.len(), 12);
        // in Kathmandu (+05:45) the hours are local hours
        let ktm: Tz = "Asia/Kathmandu".parse().unwrap();
        let t = ticks(DAY, DAY + 86400, ktm, 13);
        assert!(clock(&t, ktm, "%M").iter().all(|m| m == "00"), "{t:?}");
        // a week: days at local midnight
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let t = ticks(DAY - 8 * 3600, DAY - 8 * 3600 + 7 * 86400, sh, 13);
        assert_eq!(t.len(), 8);
        assert!(clock(&t, sh, "%H:%M").iter().all(|m| m == "00:00"));
    }
}
