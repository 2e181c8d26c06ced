//! Statistics over repeated runs and the BENCHMARKS.md section writer.

use std::fs;
use std::io;
use std::path::Path;

use crate::svg::Chart;

/// Median, minimum and maximum of a set of runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

/// The spread of `values`; `None` if empty.
pub fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
    Some(Spread { median, min: sorted[0], max: sorted[sorted.len() - 1] })
}

/// The value at quantile `q` (0..=1) of sorted `values`, nearest-rank.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    assert!(!sorted.is_empty() && (0.0..=1.0).contains(&q));
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `path` with
/// `body`, appending the marked section if the file or the markers do not exist yet.
pub fn write_section(path: &Path, name: &str, body: &str) -> io::Result<()> {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let text = fs::read_to_string(path).unwrap_or_default();
    let section = format!("{start}\n{}\n{end}", body.trim_end());
    let updated = match (text.find(&start), text.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &text[..a], &text[b + end.len()..]),
        _ if text.is_empty() => format!("{section}\n"),
        _ => format!("{}\n\n{section}\n", text.trim_end()),
    };
    fs::write(path, updated)
}

/// Where section charts go, relative to the markdown file's directory.
pub const CHART_DIR: &str = "docs/bench";

/// Writes `body` into section `name` of `path`; with a chart, also writes the chart as
/// `CHART_DIR/<name>.svg` beside `path` and links it at the end of the section.
pub fn write_section_with_chart(path: &Path, name: &str, body: &str, chart: Option<&Chart>) -> io::Result<()> {
    let Some(chart) = chart else { return write_section(path, name, body) };
    let dir = path.parent().unwrap_or(Path::new(".")).join(CHART_DIR);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(format!("{name}.svg")), chart.render())?;
    let linked = format!("{}\n\n![{}]({CHART_DIR}/{name}.svg)\n", body.trim_end(), chart.title);
    write_section(path, name, &linked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_quantiles() {
        let s = spread(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&sorted, 0.5), 500);
        assert_eq!(quantile(&sorted, 0.99), 990);
        assert_eq!(quantile(&sorted, 0.999), 999);
        assert_eq!(quantile(&sorted, 1.0), 1000);
    }

    #[test]
    fn sections_are_replaced_in_place() {
        let dir = std::env::temp_dir().join(format!("outlast-report-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("B.md");
        fs::write(&path, "# Title\n\nintro\n").unwrap();
        write_section(&path, "x", "one").unwrap();
        write_section(&path, "x", "two").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Title\n\nintro\n"));
        assert!(text.contains("two") && !text.contains("one"));
        assert_eq!(text.matches("x:start").count(), 1);
        let chart = Chart { title: "T".into(), ..Chart::default() };
        write_section_with_chart(&path, "y", "three", Some(&chart)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("three\n\n![T](docs/bench/y.svg)"));
        assert!(fs::read_to_string(dir.join("docs/bench/y.svg")).unwrap().starts_with("<svg"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
