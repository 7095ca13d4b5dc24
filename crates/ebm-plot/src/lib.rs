//! # ebm-plot
//!
//! PNG pictures of energy-based models, drawn with `plotters`.
//!
//! | file | picture |
//! |---|---|
//! | `landscape.rs` | [`plot_landscape`]: a 2-D energy as a heatmap with a colour bar, optionally with samples and chain trajectories on top |
//! | `curves.rs` | [`plot_curves`]: loss and energy curves of a training run |
//! | `image_grid.rs` | [`plot_image_grid`]: a grid of image samples |
//! | `scatter_grid.rs` | [`plot_scatter_grid`]: 2-D samples of several methods side by side, on common axes |
//!
//! Text uses the DejaVu Sans font compiled into the crate (see `fonts/DEJAVU-LICENSE.txt`), so
//! no system font is needed.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod curves;
mod image_grid;
mod landscape;
mod scatter_grid;

pub use curves::{Series, plot_curves};
pub use image_grid::plot_image_grid;
pub use landscape::{LandscapeOptions, plot_landscape};
pub use scatter_grid::{ScatterPanel, plot_scatter_grid};

use thiserror::Error;

/// Errors while drawing.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The drawing backend failed (e.g. the file cannot be written).
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The input cannot be drawn.
    #[error("cannot plot: {0}")]
    Input(String),
}

/// The largest side of a picture, in pixels.
pub const MAX_SIDE: u64 = 16384;

/// [`PlotError::Input`] unless `size` lies between `min` and [`MAX_SIDE`] on both sides.
pub(crate) fn check_size(size: (u64, u64), min: (u64, u64)) -> Result<(), PlotError> {
    let fits = |v: u64, lo: u64| v >= lo && v <= MAX_SIDE;
    if fits(size.0, min.0) && fits(size.1, min.1) {
        Ok(())
    } else {
        Err(PlotError::Input(format!(
            "a picture of {} × {} pixels: needs at least {} × {} and at most {MAX_SIDE} a side",
            size.0, size.1, min.0, min.1
        )))
    }
}

pub(crate) fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The font family every picture uses.
pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded font once per process.
pub(crate) fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(
            FONT,
            plotters::style::FontStyle::Normal,
            include_bytes!("../fonts/DejaVuSans.ttf"),
        )
        .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is a valid TrueType file"));
    });
}

#[cfg(test)]
pub(crate) mod test_support {
    /// Checks that `path` is a PNG of `size` whose pixels are not all the same colour.
    pub fn assert_valid_png(path: &std::path::Path, size: (u32, u32)) {
        let img = image::open(path).expect("a readable PNG").to_rgb8();
        assert_eq!(img.dimensions(), size);
        let first = img.get_pixel(0, 0);
        let distinct = img.pixels().filter(|p| *p != first).count();
        assert!(
            distinct > (size.0 * size.1 / 20) as usize,
            "the picture is (almost) blank: {distinct} differing pixels"
        );
    }

    pub fn temp_png(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("ebm-plot-{}-{name}.png", std::process::id()))
    }
}
