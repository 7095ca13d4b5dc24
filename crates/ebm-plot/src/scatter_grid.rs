//! Grids of 2-D scatter plots: one panel per method, on common axes, for side-by-side samples.

use plotters::prelude::*;

use crate::{FONT, PlotError, draw_err, ensure_font};

/// One panel of [`plot_scatter_grid`]: a title and its points.
#[derive(Debug, Clone)]
pub struct ScatterPanel {
    /// Shown above the panel.
    pub title: String,
    /// The points; non-finite ones and those outside the axes are not drawn.
    pub points: Vec<[f64; 2]>,
}

/// Draws `panels` in rows of `columns`, each `panel_side` pixels square, all on the axes
/// `x_range × y_range`, with `title` above the whole picture, and writes a PNG.
pub fn plot_scatter_grid(
    path: impl AsRef<std::path::Path>,
    title: &str,
    panels: &[ScatterPanel],
    columns: usize,
    panel_side: u32,
    x_range: (f64, f64),
    y_range: (f64, f64),
) -> Result<(), PlotError> {
    if panels.is_empty() || columns == 0 {
        return Err(PlotError::Input(format!(
            "{} panels in {columns} columns",
            panels.len()
        )));
    }
    for (name, (lo, hi)) in [("x", x_range), ("y", y_range)] {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(PlotError::Input(format!("the {name} range {lo}..{hi}")));
        }
    }
    let columns = columns.min(panels.len());
    let rows = panels.len().div_ceil(columns);
    let header = 40u64;
    let size = (
        u64::from(panel_side) * columns as u64,
        u64::from(panel_side) * rows as u64 + header,
    );
    crate::check_size(size, (120, 160))?;
    if panel_side < 120 {
        return Err(PlotError::Input(format!(
            "panels of {panel_side} pixels: needs at least 120"
        )));
    }
    ensure_font();
    let root =
        BitMapBackend::new(path.as_ref(), (size.0 as u32, size.1 as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (top, body) = root.split_vertically(header as u32);
    top.titled(title, (FONT, 22)).map_err(draw_err)?;
    let cells = body.split_evenly((rows, columns));
    // Dots shrink with the number of points, so dense panels still show their structure.
    for (panel, area) in panels.iter().zip(cells.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, (FONT, 15))
            .margin(6)
            .x_label_area_size(22)
            .y_label_area_size(30)
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(5)
            .y_labels(5)
            .label_style((FONT, 11))
            .draw()
            .map_err(draw_err)?;
        let inside = |p: &&[f64; 2]| {
            (x_range.0..=x_range.1).contains(&p[0]) && (y_range.0..=y_range.1).contains(&p[1])
        };
        let radius = if panel.points.len() > 3000 { 1 } else { 2 };
        chart
            .draw_series(
                panel
                    .points
                    .iter()
                    .filter(inside)
                    .map(|p| Circle::new((p[0], p[1]), radius, BLUE.mix(0.35).filled())),
            )
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_valid_png, temp_png};

    fn ring(n: usize, radius: f64) -> Vec<[f64; 2]> {
        (0..n)
            .map(|i| {
                let a = i as f64 * 0.37;
                [radius * a.cos(), radius * a.sin()]
            })
            .collect()
    }

    #[test]
    fn renders_panels_in_rows() {
        let path = temp_png("scatter-grid");
        let panels: Vec<ScatterPanel> = (0..5)
            .map(|k| ScatterPanel {
                title: format!("panel {k}"),
                points: ring(2000, 0.5 + 0.3 * k as f64),
            })
            .collect();
        plot_scatter_grid(&path, "rings", &panels, 3, 200, (-2.0, 2.0), (-2.0, 2.0))
            .expect("plots");
        assert_valid_png(&path, (600, 440));
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn rejects_an_empty_grid_and_bad_ranges() {
        let path = temp_png("scatter-grid-bad");
        assert!(plot_scatter_grid(&path, "", &[], 3, 200, (0.0, 1.0), (0.0, 1.0)).is_err());
        let one = [ScatterPanel {
            title: "x".into(),
            points: ring(10, 1.0),
        }];
        assert!(plot_scatter_grid(&path, "", &one, 1, 200, (1.0, 1.0), (0.0, 1.0)).is_err());
        assert!(plot_scatter_grid(&path, "", &one, 1, 200, (0.0, f64::NAN), (0.0, 1.0)).is_err());
        assert!(plot_scatter_grid(&path, "", &one, 1, 50, (0.0, 1.0), (0.0, 1.0)).is_err());
    }
}
