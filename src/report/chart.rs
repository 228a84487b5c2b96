//! One SVG line chart per indicator, drawn with plotters' SVG backend: the
//! period's downsampled series as solid lines over the previous period's
//! as lighter, thinner lines in the same colour. The legend is left to the
//! HTML around the chart, where long names wrap and stay readable.

use chrono::DateTime;
use plotters::prelude::*;

use super::{Period, RenderError, SeriesReport};

/// At most this many series per chart; the rest are named as left out.
pub const MAX_LINES: usize = 8;

pub const WIDTH: u32 = 880;
pub const HEIGHT: u32 = 300;

/// Line colours (Tableau 10), as `#rrggbb` for the HTML legend too.
pub const COLORS: [(u8, u8, u8); MAX_LINES] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
];

pub fn css_color(i: usize) -> String {
    let (r, g, b) = COLORS[i % COLORS.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
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

/// Draws the chart of one indicator's series; returns the `<svg>` element.
pub fn render(
    period: &Period,
    unit: Option<&str>,
    series: &[&SeriesReport],
) -> Result<String, RenderError> {
    let tz = period.zone();
    let x_max = period.seconds as f64 / 3600.0;
    let shown = &series[..series.len().min(MAX_LINES)];
    let step_hours = shown.first().map_or(300.0, |s| s.chart.step.max(1) as f64) / 3600.0;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for s in shown {
        for &(x, y) in s.chart.current.iter().chain(&s.chart.previous) {
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
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_labels(if multi_day { 8 } else { 13 })
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .axis_desc_style(("sans-serif", 13))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        for (i, s) in shown.iter().enumerate() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            let color = RGBColor(r, g, b);
            for run in runs(&s.chart.previous, step_hours, x_max) {
                chart
                    .draw_series(LineSeries::new(run, color.mix(0.3).stroke_width(1)))
                    .map_err(draw_err)?;
            }
        }
        for (i, s) in shown.iter().enumerate() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            let color = RGBColor(r, g, b);
            for run in runs(&s.chart.current, step_hours, x_max) {
                chart
                    .draw_series(LineSeries::new(run, color.stroke_width(2)))
                    .map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn draw_err<E: std::fmt::Display>(e: E) -> RenderError {
    RenderError::Chart(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
