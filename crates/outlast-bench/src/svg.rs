//! Bar charts as standalone SVG text, one per benchmark comparison in BENCHMARKS.md.
//!
//! Groups of horizontal bars (median) with a whisker from min to max, optional reference lines
//! (goals, published figures, floors), on a linear or logarithmic axis. About a hundred lines of
//! string building: a plotting crate would bring a font stack and a dependency tree for what is
//! rectangles and text.
//!
//! Must never: read clocks or files; the same input gives the same bytes.

use std::fmt::Write as _;

/// One bar: its label and median, with min and max for the whisker.
#[derive(Clone, Debug)]
pub struct Bar {
    /// What the bar is.
    pub label: String,
    /// Its length.
    pub median: f64,
    /// Whisker start.
    pub min: f64,
    /// Whisker end.
    pub max: f64,
    /// Drawn in the accent colour (Outlast's own figures).
    pub ours: bool,
}

impl Bar {
    /// A bar of ours.
    pub fn ours(label: impl Into<String>, median: f64, min: f64, max: f64) -> Bar {
        Bar { label: label.into(), median, min, max, ours: true }
    }
    /// A bar of another system's (or a published figure: give min = max = median).
    pub fn theirs(label: impl Into<String>, median: f64, min: f64, max: f64) -> Bar {
        Bar { label: label.into(), median, min, max, ours: false }
    }
}

/// A chart.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// Title, at the top.
    pub title: String,
    /// The axis' unit, e.g. "commands/s".
    pub unit: String,
    /// Groups of bars, each with a heading (may be empty).
    pub groups: Vec<(String, Vec<Bar>)>,
    /// Vertical reference lines: label and value.
    pub lines: Vec<(String, f64)>,
    /// A logarithmic axis (for figures that span orders of magnitude).
    pub log: bool,
}

const WIDTH: f64 = 820.0;
const LABEL_W: f64 = 300.0;
const PLOT_W: f64 = WIDTH - LABEL_W - 30.0;
const BAR_H: f64 = 18.0;
const GAP: f64 = 6.0;
const HEADING_H: f64 = 20.0;
const TOP: f64 = 44.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A short human form of `value`: 1.2M, 35k, 64, 0.63.
pub fn short(value: f64) -> String {
    let a = value.abs();
    if a >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if a >= 100.0 {
        format!("{value:.0}")
    } else if a >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A round tick step (1, 2 or 5 times a power of ten) giving about four to ten ticks up to `top`.
fn nice_step(top: f64) -> f64 {
    let raw = top / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power)
}

impl Chart {
    /// The chart as SVG text.
    pub fn render(&self) -> String {
        let values = self.groups.iter().flat_map(|(_, bars)| bars.iter().flat_map(|b| [b.median, b.max]));
        let top = values.chain(self.lines.iter().map(|l| l.1)).fold(0.0_f64, f64::max).max(1e-9);
        let bottom = if self.log {
            let smallest = self.groups.iter().flat_map(|(_, b)| b.iter().map(|b| b.min.min(b.median)));
            let smallest = smallest.chain(self.lines.iter().map(|l| l.1)).filter(|v| *v > 0.0).fold(top, f64::min);
            10f64.powf((smallest / 2.0).log10().floor())
        } else {
            0.0
        };
        let step = nice_step(top);
        let top = if self.log { 10f64.powf(top.log10().ceil()) } else { (top * 1.05 / step).ceil() * step };
        let x = |value: f64| -> f64 {
            let fraction = if self.log {
                (value.max(bottom).log10() - bottom.log10()) / (top.log10() - bottom.log10())
            } else {
                value / top
            };
            LABEL_W + fraction.clamp(0.0, 1.0) * PLOT_W
        };
        let bars: usize = self.groups.iter().map(|(_, b)| b.len()).sum();
        let headings = self.groups.iter().filter(|(h, _)| !h.is_empty()).count();
        let plot_h = bars as f64 * (BAR_H + GAP) + headings as f64 * HEADING_H + GAP;
        let height = TOP + plot_h + 40.0 + 16.0 * self.lines.len() as f64;
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
            escape(&self.title)
        );
        let mut y = TOP;
        for (heading, group) in &self.groups {
            if !heading.is_empty() {
                let _ = writeln!(
                    out,
                    "<text x=\"10\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
                    y + 14.0,
                    escape(heading)
                );
                y += HEADING_H;
            }
            for bar in group {
                let colour = if bar.ours { "#2b6cb0" } else { "#a0aec0" };
                let (x0, x1) = (x(bottom), x(bar.median));
                let mid = y + BAR_H / 2.0;
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
                     <rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_H}\" fill=\"{colour}\"/>\n\
                     <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{mid:.1}\" y2=\"{mid:.1}\" stroke=\"black\"/>\n\
                     <text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
                    LABEL_W - 6.0,
                    mid + 4.0,
                    escape(&bar.label),
                    (x1 - x0).max(0.5),
                    x(bar.min),
                    x(bar.max),
                    x(bar.max.max(bar.median)) + 4.0,
                    mid + 4.0,
                    short(bar.median),
                );
                y += BAR_H + GAP;
            }
        }
        let axis_y = TOP + plot_h;
        let _ = writeln!(
            out,
            "<line x1=\"{LABEL_W}\" x2=\"{:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\" stroke=\"black\"/>",
            LABEL_W + PLOT_W
        );
        let ticks: Vec<f64> = if self.log {
            let mut t = bottom;
            let mut ticks = Vec::new();
            while t <= top * 1.0001 {
                ticks.push(t);
                t *= 10.0;
            }
            ticks
        } else {
            (0..=(top / step).round() as u32).map(|i| step * f64::from(i)).collect()
        };
        for tick in ticks {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text>",
                x(tick),
                axis_y + 14.0,
                short(tick)
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#4a5568\">{}{}</text>",
            LABEL_W + PLOT_W,
            axis_y + 28.0,
            escape(&self.unit),
            if self.log { " (log scale)" } else { "" }
        );
        for (index, (label, value)) in self.lines.iter().enumerate() {
            let lx = x(*value);
            let ly = axis_y + 44.0 + 16.0 * index as f64;
            let _ = write!(
                out,
                "<line x1=\"{lx:.1}\" x2=\"{lx:.1}\" y1=\"{TOP}\" y2=\"{axis_y:.1}\" stroke=\"#c53030\" stroke-dasharray=\"4 3\"/>\n\
                 <text x=\"{lx:.1}\" y=\"{ly:.1}\" fill=\"#c53030\" text-anchor=\"middle\">{} {}</text>\n",
                escape(label),
                short(*value),
            );
        }
        out.push_str("</svg>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_every_bar_and_line_inside_its_plot() {
        let chart = Chart {
            title: "t <&>".into(),
            unit: "ops/s".into(),
            groups: vec![
                ("".into(), vec![Bar::ours("a", 100.0, 90.0, 110.0), Bar::theirs("b", 25.0, 25.0, 25.0)]),
                ("g".into(), vec![Bar::ours("c", 50.0, 40.0, 60.0)]),
            ],
            lines: vec![("goal".into(), 75.0)],
            log: false,
        };
        let svg = chart.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect").count(), 1 + 3, "background plus one per bar");
        assert!(svg.contains("t &lt;&amp;&gt;"), "text is escaped");
        assert!(svg.contains("goal 75.0"));
        // Bar "a" (the largest) reaches at most the plot's right edge; "b" is a quarter of it.
        let widths: Vec<f64> = svg
            .lines()
            .filter(|l| l.starts_with("<rect x"))
            .map(|l| l.split("width=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
            .collect();
        assert!(widths[0] <= PLOT_W && (widths[0] / widths[1] - 4.0).abs() < 0.01);
        assert_eq!(svg, chart.render(), "rendering is deterministic");
    }

    #[test]
    fn a_log_axis_spans_the_decades_of_its_values() {
        let chart = Chart {
            groups: vec![("".into(), vec![Bar::ours("fast", 0.6, 0.5, 0.9), Bar::theirs("slow", 90.0, 90.0, 90.0)])],
            log: true,
            ..Chart::default()
        };
        let svg = chart.render();
        for tick in ["0.10", "1.00", "10.0", "100"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "tick {tick} in {svg}");
        }
    }
}
