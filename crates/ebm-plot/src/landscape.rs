//! Energy landscapes.

use ebm_core::grid::EnergyGrid;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::{FONT, PlotError, draw_err, ensure_font};

/// Options of [`plot_landscape`].
#[derive(Debug, Clone)]
pub struct LandscapeOptions {
    /// Title above the picture.
    pub title: String,
    /// Picture size in pixels.
    pub size: (u32, u32),
    /// Show `log(1 + E − min E)` instead of `E`, which keeps deep wells and high walls both
    /// visible (as TorchEBM's examples do).
    pub log_scale: bool,
}

impl Default for LandscapeOptions {
    fn default() -> Self {
        Self {
            title: "energy".to_string(),
            size: (900, 760),
            log_scale: true,
        }
    }
}

/// Draws `grid` as a heatmap (low energy dark, high energy bright) with a colour bar, optional
/// `samples` as white dots and optional `trajectories` as red polylines, and writes a PNG.
pub fn plot_landscape(
    path: impl AsRef<std::path::Path>,
    grid: &EnergyGrid,
    options: &LandscapeOptions,
    samples: Option<&[[f64; 2]]>,
    trajectories: Option<&[Vec<[f64; 2]>]>,
) -> Result<(), PlotError> {
    // The colour bar takes 120 pixels on the right.
    let (w, h) = options.size;
    crate::check_size((w.into(), h.into()), (240, 120))?;
    ensure_font();
    let (nx, ny) = (grid.xs.len(), grid.ys.len());
    if nx < 2 || ny < 2 || grid.energies.len() != nx * ny {
        return Err(PlotError::Input(format!(
            "a {nx}x{ny} grid with {} energies",
            grid.energies.len()
        )));
    }
    let finite: Vec<f64> = grid
        .energies
        .iter()
        .copied()
        .filter(|e| e.is_finite())
        .collect();
    if finite.is_empty() {
        return Err(PlotError::Input("no finite energy on the grid".into()));
    }
    let e_min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let shown = |e: f64| {
        if options.log_scale {
            (e - e_min).max(0.0).ln_1p()
        } else {
            e
        }
    };
    let values: Vec<f64> = grid.energies.iter().map(|&e| shown(e)).collect();
    let lo = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let hi = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let colour = |v: f64| {
        if v.is_finite() {
            ViridisRGB::get_color_normalized(v, lo, lo + span)
        } else {
            RGBColor(255, 255, 255)
        }
    };

    let root = BitMapBackend::new(path.as_ref(), options.size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (main, bar) = root.split_horizontally(options.size.0 - 120);
    let (x0, x1) = (grid.xs[0], grid.xs[nx - 1]);
    let (y0, y1) = (grid.ys[0], grid.ys[ny - 1]);
    let mut chart = ChartBuilder::on(&main)
        .caption(&options.title, (FONT, 22))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .label_style((FONT, 14))
        .draw()
        .map_err(draw_err)?;
    let (hx, hy) = (
        (x1 - x0) / (nx - 1) as f64 / 2.0,
        (y1 - y0) / (ny - 1) as f64 / 2.0,
    );
    chart
        .draw_series(
            (0..ny)
                .flat_map(|iy| (0..nx).map(move |ix| (ix, iy)))
                .map(|(ix, iy)| {
                    let (x, y) = (grid.xs[ix], grid.ys[iy]);
                    Rectangle::new(
                        [(x - hx, y - hy), (x + hx, y + hy)],
                        colour(values[iy * nx + ix]).filled(),
                    )
                }),
        )
        .map_err(draw_err)?;
    if let Some(paths) = trajectories {
        for path in paths {
            chart
                .draw_series(LineSeries::new(
                    path.iter().map(|p| (p[0], p[1])),
                    RED.stroke_width(1),
                ))
                .map_err(draw_err)?;
        }
    }
    if let Some(points) = samples {
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p[0].is_finite() && p[1].is_finite())
                    .map(|p| Circle::new((p[0], p[1]), 2, WHITE.mix(0.7).filled())),
            )
            .map_err(draw_err)?;
    }

    // Colour bar.
    let label = if options.log_scale {
        "log(1 + E − min E)"
    } else {
        "E"
    };
    let mut bar_chart = ChartBuilder::on(&bar)
        .margin_top(45)
        .margin_bottom(45)
        .margin_right(10)
        .y_label_area_size(55)
        .caption(label, (FONT, 13))
        .build_cartesian_2d(0.0..1.0, lo..lo + span)
        .map_err(draw_err)?;
    bar_chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style((FONT, 12))
        .draw()
        .map_err(draw_err)?;
    let steps = 100;
    bar_chart
        .draw_series((0..steps).map(|i| {
            let a = lo + span * i as f64 / steps as f64;
            let b = lo + span * (i + 1) as f64 / steps as f64;
            Rectangle::new([(0.0, a), (1.0, b)], colour((a + b) / 2.0).filled())
        }))
        .map_err(draw_err)?;
    root.present().map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_valid_png, temp_png};

    fn grid() -> EnergyGrid {
        let xs: Vec<f64> = (0..50).map(|i| -2.0 + 4.0 * i as f64 / 49.0).collect();
        let energies = xs
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| (x * x - 1.0).powi(2) + y * y))
            .collect();
        EnergyGrid {
            xs: xs.clone(),
            ys: xs,
            energies,
        }
    }

    #[test]
    fn renders_a_landscape_with_samples_and_trajectories() {
        let path = temp_png("landscape");
        let samples = [[1.0, 0.0], [-1.0, 0.1], [0.9, -0.2]];
        let trajectory = vec![vec![[0.0, 1.5], [0.5, 0.8], [0.9, 0.1]]];
        let options = LandscapeOptions {
            size: (640, 480),
            ..Default::default()
        };
        plot_landscape(&path, &grid(), &options, Some(&samples), Some(&trajectory)).unwrap();
        assert_valid_png(&path, (640, 480));
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn rejects_an_inconsistent_grid() {
        let mut g = grid();
        g.energies.pop();
        assert!(matches!(
            plot_landscape(
                temp_png("bad"),
                &g,
                &LandscapeOptions::default(),
                None,
                None
            ),
            Err(PlotError::Input(_))
        ));
    }
}
