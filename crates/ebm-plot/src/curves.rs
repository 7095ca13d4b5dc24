//! Training curves.

use plotters::prelude::*;

use crate::{FONT, PlotError, draw_err, ensure_font};

/// One curve: a name for the legend and `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// Draws curves (e.g. loss, positive and negative energy against the step) on one chart with a
/// legend and writes a PNG of `size`.
pub fn plot_curves(
    path: impl AsRef<std::path::Path>,
    title: &str,
    x_label: &str,
    series: &[Series],
    size: (u32, u32),
) -> Result<(), PlotError> {
    crate::check_size((size.0.into(), size.1.into()), (100, 80))?;
    ensure_font();
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if all.is_empty() {
        return Err(PlotError::Input("no finite points to plot".into()));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, y) in &all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let pad = |a: f64, b: f64| if b > a { (b - a) * 0.05 } else { 1.0 };
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let root = BitMapBackend::new(path.as_ref(), size).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0 - px..x1 + px, y0 - py..y1 + py)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .label_style((FONT, 14))
        .draw()
        .map_err(draw_err)?;
    for (i, s) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points
                    .iter()
                    .copied()
                    .filter(|(x, y)| x.is_finite() && y.is_finite()),
                colour.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_valid_png, temp_png};

    #[test]
    fn renders_curves() {
        let path = temp_png("curves");
        let loss = Series {
            name: "loss".into(),
            points: (0..100)
                .map(|i| (i as f64, (-(i as f64) / 30.0).exp()))
                .collect(),
        };
        let energy = Series {
            name: "E+".into(),
            points: (0..100)
                .map(|i| (i as f64, 0.5 - i as f64 / 200.0))
                .collect(),
        };
        plot_curves(&path, "training", "step", &[loss, energy], (500, 350)).unwrap();
        assert_valid_png(&path, (500, 350));
        std::fs::remove_file(path).ok();
        assert!(matches!(
            plot_curves(temp_png("empty"), "t", "x", &[], (100, 100)),
            Err(PlotError::Input(_))
        ));
    }
}
