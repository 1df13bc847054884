//! PNG figures: spike rasters, line plots, image grids (receptive fields, samples) and
//! heat maps (confusion matrices). Text uses a bundled DejaVu Sans font so plots work
//! on machines without system fonts. Files are written atomically.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

fn ensure_font() {
    FONT.call_once(|| {
        // The bundled font is a valid TTF; if registration still failed, plots would
        // only lose their text, so the error is deliberately not fatal.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../../../assets/DejaVuSans.ttf"),
        );
    });
}

/// Renders into a temporary PNG beside `path`, then renames it into place
/// ([`spikelab_core::io::write_atomic_to_path`]).
fn render_atomic(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    ensure_font();
    spikelab_core::io::write_atomic_to_path(path, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        draw(&root)?;
        root.present()
            .map_err(|e| anyhow::anyhow!("cannot write plot: {e}"))
    })
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("plotting failed: {e}")
}

/// One group of spikes in a raster (a population), drawn in its own colour.
pub struct RasterGroup<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Spike times (ms).
    pub times_ms: &'a [f64],
    /// Neuron index within the group.
    pub neurons: &'a [u32],
    /// Number of neurons in the group (rows it occupies).
    pub size: usize,
}

/// Palette used for groups and series (matplotlib's tab10: ten distinct colours, so the
/// eight populations of a cortical microcircuit do not share one).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A raster plot: one row per neuron, groups stacked, time on x.
pub fn raster(path: &Path, title: &str, groups: &[RasterGroup], t_max_ms: f64) -> Result<()> {
    let total: usize = groups.iter().map(|g| g.size).sum::<usize>().max(1);
    render_atomic(path, (1200, 700), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..t_max_ms.max(1e-9), 0f64..total as f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("time (ms)")
            .y_desc("neuron")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        let area = chart.plotting_area();
        let spikes: usize = groups.iter().map(|g| g.times_ms.len()).sum();
        // Up to 200,000 spikes each is a tick 3 pixels wide over its row (a single
        // pixel is nearly invisible when few neurons fire, e.g. latency codes); more
        // are drawn as pixels.
        let half_tick_ms = 1.5 * t_max_ms.max(1e-9) / 1200.0;
        let mut offset = 0usize;
        for (gi, g) in groups.iter().enumerate() {
            let color = PALETTE[gi % PALETTE.len()];
            for (&t, &n) in g.times_ms.iter().zip(g.neurons) {
                let row = (offset + n as usize) as f64;
                if spikes <= 200_000 {
                    area.draw(&Rectangle::new(
                        [(t - half_tick_ms, row), (t + half_tick_ms, row + 1.0)],
                        color.filled(),
                    ))
                    .map_err(plot_err)?;
                } else {
                    area.draw_pixel((t, row + 0.5), &color).map_err(plot_err)?;
                }
            }
            offset += g.size;
        }
        // Legend entries as invisible series.
        for (gi, g) in groups.iter().enumerate() {
            let color = PALETTE[gi % PALETTE.len()];
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(plot_err)?
                .label(g.label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 8, y + 4)], color.filled()));
        }
        if groups.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// A named line series.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Points (x, y).
    pub points: &'a [(f64, f64)],
}

/// A line plot of one or more series.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
) -> Result<()> {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let (y0, y1) = (y0 - pad, y1 + pad);
    render_atomic(path, (1000, 600), |root| {
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(title, ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70);
        macro_rules! finish {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .label_style(("sans-serif", 14))
                    .draw()
                    .map_err(plot_err)?;
                for (i, s) in series.iter().enumerate() {
                    let color = PALETTE[i % PALETTE.len()];
                    chart
                        .draw_series(LineSeries::new(
                            s.points.iter().copied(),
                            color.stroke_width(2),
                        ))
                        .map_err(plot_err)?
                        .label(s.label)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                }
                if series.len() > 1 || !series.first().is_none_or(|s| s.label.is_empty()) {
                    chart
                        .configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK)
                        .label_font(("sans-serif", 14))
                        .draw()
                        .map_err(plot_err)?;
                }
            }};
        }
        if log_x && x0 > 0.0 {
            finish!(builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(plot_err)?);
        } else {
            finish!(builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(plot_err)?);
        }
        Ok(())
    })
}

/// A grid of grey-scale images (e.g. receptive fields), each scaled to its own range.
pub fn image_grid(
    path: &Path,
    title: &str,
    images: &[Vec<f32>],
    width: usize,
    height: usize,
    cols: usize,
) -> Result<()> {
    let cols = cols.max(1);
    let rows = images.len().div_ceil(cols).max(1);
    let scale = (900 / (cols * (width + 1)).max(1)).clamp(1, 8);
    let tile_w = (width + 1) * scale;
    let tile_h = (height + 1) * scale;
    let top = 40;
    let size = (
        (cols * tile_w + scale) as u32,
        (rows * tile_h + scale + top) as u32,
    );
    render_atomic(path, size, |root| {
        root.draw(&Text::new(title.to_string(), (10, 10), ("sans-serif", 20)))
            .map_err(plot_err)?;
        for (k, img) in images.iter().enumerate() {
            let (lo, hi) = img
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            let range = if hi > lo { hi - lo } else { 1.0 };
            let (r, c) = (k / cols, k % cols);
            let x0 = (c * tile_w + scale) as i32;
            let y0 = (r * tile_h + scale + top) as i32;
            for y in 0..height {
                for x in 0..width {
                    let v = ((img[y * width + x] - lo) / range * 255.0).clamp(0.0, 255.0) as u8;
                    let px = x0 + (x * scale) as i32;
                    let py = y0 + (y * scale) as i32;
                    root.draw(&Rectangle::new(
                        [(px, py), (px + scale as i32, py + scale as i32)],
                        RGBColor(v, v, v).filled(),
                    ))
                    .map_err(plot_err)?;
                }
            }
        }
        Ok(())
    })
}

/// A heat map with the value written in each cell (e.g. a confusion matrix; rows =
/// true class, columns = predicted class).
pub fn heatmap(
    path: &Path,
    title: &str,
    matrix: &[Vec<f64>],
    row_desc: &str,
    col_desc: &str,
) -> Result<()> {
    let n_rows = matrix.len();
    let n_cols = matrix.first().map_or(0, |r| r.len());
    let max = matrix
        .iter()
        .flatten()
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-12);
    render_atomic(path, (800, 760), |root| {
        // Cells are centred on integer coordinates so tick labels sit mid-cell.
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5f64..n_cols as f64 - 0.5, n_rows as f64 - 0.5..-0.5f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(col_desc)
            .y_desc(row_desc)
            .x_labels(n_cols.min(30))
            .y_labels(n_rows.min(30))
            .x_label_formatter(&|x| {
                if x.fract().abs() < 1e-9 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| {
                if y.fract().abs() < 1e-9 {
                    format!("{y:.0}")
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        for (r, row) in matrix.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let t = (v / max).clamp(0.0, 1.0);
                let color = RGBColor(
                    (255.0 * (1.0 - 0.8 * t)) as u8,
                    (255.0 * (1.0 - 0.6 * t)) as u8,
                    255,
                );
                let (x, y) = (c as f64, r as f64);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        color.filled(),
                    )))
                    .map_err(plot_err)?;
            }
        }
        if n_rows * n_cols <= 400 {
            for (r, row) in matrix.iter().enumerate() {
                for (c, &v) in row.iter().enumerate() {
                    let (x, y) = chart.backend_coord(&(c as f64, r as f64));
                    let label = if v.fract() == 0.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.2}")
                    };
                    let style = TextStyle::from(("sans-serif", 13).into_font()).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ),
                    );
                    root.draw(&Text::new(label, (x, y), style))
                        .map_err(plot_err)?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plot_kind_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.png");
        raster(
            &p,
            "raster",
            &[RasterGroup {
                label: "a",
                times_ms: &[1.0, 2.0],
                neurons: &[0, 1],
                size: 2,
            }],
            5.0,
        )
        .unwrap();
        let q = dir.path().join("l.png");
        lines(
            &q,
            "lines",
            "x",
            "y",
            &[Series {
                label: "s",
                points: &[(1.0, 2.0), (2.0, 3.0)],
            }],
            true,
        )
        .unwrap();
        let g = dir.path().join("g.png");
        image_grid(&g, "grid", &vec![vec![0.0, 1.0, 0.5, 0.2]; 3], 2, 2, 2).unwrap();
        let h = dir.path().join("h.png");
        heatmap(
            &h,
            "heat",
            &[vec![1.0, 2.0], vec![3.0, 4.0]],
            "true",
            "pred",
        )
        .unwrap();
        for f in [p, q, g, h] {
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", f.display());
        }
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
    }
}
