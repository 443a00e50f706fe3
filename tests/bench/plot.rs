//! Renders the eviction curve (`evictions::evictions_file()`) to `docs/benchmark-evictions.png`:
//! the worker's RSS over the waiting runs started through a cache of 100, per kind of wait,
//! with own tokens and with the workflow's token.
//!
//! Renders the scale curve (`scale::points_file()`, one JSON line per point) to
//! `docs/benchmark-scale.png`: the worker's RSS while the runs wait (and, for the default
//! cache, a restarted worker's peak while they all resume), and how long after their timers
//! were due the slowest run was picked up after a restart, per cache size, against the
//! targets. The text is set in DejaVu Sans read from the system (`BENCH_PLOT_FONT`, default
//! Debian's `fonts-dejavu-core` path); no font is kept in the repository.

use crate::evictions::evictions_file;
use crate::scale::points_file;
use clawfactory_temporal::config::WorkerConfig;
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

/// Labelled lines of `(open runs, value)`.
type Series = Vec<(String, Vec<(f64, f64)>)>;

/// One line per cache size, the newest point winning where one was measured twice.
fn series(points: &[Value], value: impl Fn(&Value) -> f64) -> Series {
    let mut by_cache: BTreeMap<u64, BTreeMap<u64, f64>> = BTreeMap::new();
    for point in points {
        let cache = point["max_cached_workflows"].as_u64().unwrap();
        let open = point["open"].as_u64().unwrap();
        by_cache
            .entry(cache)
            .or_default()
            .insert(open, value(point));
    }
    by_cache
        .into_iter()
        .map(|(cache, values)| {
            let line = values
                .into_iter()
                .map(|(open, v)| (open as f64, v))
                .collect();
            (format!("max_cached_workflows = {cache}"), line)
        })
        .collect()
}

fn panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    lines: &Series,
    target: (f64, &str),
) -> Result<(), Box<dyn std::error::Error>> {
    let highest = lines
        .iter()
        .flat_map(|(_, line)| line)
        .map(|(_, v)| *v)
        .fold(target.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((50f64..10_000f64).log_scale(), 0f64..highest * 1.15)?;
    chart
        .configure_mesh()
        .x_desc("runs open at once")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    let dashed = BLACK.mix(0.6);
    chart
        .draw_series(DashedLineSeries::new(
            [(50.0, target.0), (10_000.0, target.0)],
            6,
            4,
            dashed.stroke_width(1),
        ))?
        .label(target.1)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], dashed));
    for (i, (label, line)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

fn render(points: &[Value], out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(out, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(700);
    let mut rss = series(points, |p| p["waiting"]["rss_mib"].as_f64().unwrap());
    // What a worker started with the runs already open needs: its peak while all of them
    // resume at once (the default cache's points).
    let default = WorkerConfig::default().max_cached_workflows as u64;
    let restarted: Vec<Value> = points
        .iter()
        .filter(|p| p["max_cached_workflows"].as_u64() == Some(default))
        .cloned()
        .collect();
    if let Some((_, line)) = series(&restarted, |p| {
        p["resume"]["peak_rss_mib"].as_f64().unwrap()
    })
    .pop()
    {
        rss.push((
            format!("restarted, peak while all resume ({default})"),
            line,
        ));
    }
    panel(
        &left,
        "Worker RSS while the runs wait",
        "MiB",
        &rss,
        (32.0, "target: 32 MiB"),
    )?;
    let resumed = series(points, |p| {
        p["resume"]["picked_up_after_due_s"]["max"]
            .as_f64()
            .unwrap()
    });
    panel(
        &right,
        "After a restart: slowest run picked up",
        "seconds after its timer was due",
        &resumed,
        (60.0, "target: 60 s"),
    )?;
    root.present()?;
    Ok(())
}

/// One JSON value per non-empty line of `file`, written by the benchmark `run` names.
fn read_lines(file: &Path, run: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|err| panic!("{}: {err} (run {run} first)", file.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("a benchmark line"))
        .collect()
}

fn register_font() {
    let font_path = std::env::var("BENCH_PLOT_FONT").unwrap_or_else(|_| FONT.into());
    let font = std::fs::read(&font_path).unwrap_or_else(|err| {
        panic!("{font_path}: {err} (install fonts-dejavu-core or set BENCH_PLOT_FONT)")
    });
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into()))
        .unwrap_or_else(|_| panic!("{font_path} is not a font plotters can read"));
}

fn docs_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name)
}

#[test]
#[ignore = "renders docs/benchmark-scale.png from the scale benchmark's points: cargo test --test bench -- --ignored plot::"]
fn render_the_scale_curve() {
    let points = read_lines(&points_file(), "scale::");
    register_font();
    let out = docs_file("benchmark-scale.png");
    render(&points, &out).unwrap();
    println!("rendered {} points to {}", points.len(), out.display());
}

/// The worker's VmRSS over the runs started, one line per kind, from the newest row of each
/// kind and token mode measured with `malloc` = `glibc`.
fn eviction_series(rows: &[Value], token: &str) -> Series {
    let mut newest: BTreeMap<String, &Value> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r["token"] == token && r["malloc"] == "glibc")
    {
        newest.insert(row["kind"].as_str().unwrap().to_owned(), row);
    }
    newest
        .into_iter()
        .map(|(kind, row)| {
            let line = row["points"].as_array().unwrap()[1..]
                .iter()
                .map(|p| (p["open"].as_f64().unwrap(), p["rss_mib"].as_f64().unwrap()))
                .collect();
            (kind, line)
        })
        .collect()
}

#[test]
#[ignore = "renders docs/benchmark-evictions.png from the eviction benchmark's rows: cargo test --test bench -- --ignored plot::"]
fn render_the_eviction_curve() {
    let rows = read_lines(&evictions_file(), "evictions::");
    register_font();
    let out = docs_file("benchmark-evictions.png");
    let root = BitMapBackend::new(&out, (1400, 560)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let (left, right) = root.split_horizontally(700);
    let target = (32.0, "target: 32 MiB");
    let own = eviction_series(&rows, "own");
    panel(&left, "Own tokens: worker RSS", "MiB", &own, target).unwrap();
    let shared = eviction_series(&rows, "shared");
    let title = "Workflow token (before): worker RSS";
    panel(&right, title, "MiB", &shared, target).unwrap();
    root.present().unwrap();
    println!("rendered {} rows to {}", rows.len(), out.display());
}
