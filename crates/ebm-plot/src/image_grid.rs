//! Grids of image samples.

use plotters::prelude::*;

use crate::{PlotError, draw_err};

/// Draws `images` (row-major `[n, C·H·W]` values in `[0, 1]`, `C` = 1 grey or 3 RGB) as a grid
/// with `columns` columns (fewer if there are fewer images), each pixel a `scale × scale` block,
/// and writes a PNG of at most [`MAX_SIDE`](crate::MAX_SIDE) pixels on a side.
pub fn plot_image_grid(
    path: impl AsRef<std::path::Path>,
    images: &[f32],
    image_shape: [usize; 3],
    columns: usize,
    scale: u32,
) -> Result<(), PlotError> {
    let [c, h, w] = image_shape;
    if !(c == 1 || c == 3) || h == 0 || w == 0 || columns == 0 || scale == 0 {
        return Err(PlotError::Input(format!(
            "image shape {image_shape:?}, {columns} columns, scale {scale}"
        )));
    }
    let per = c * h * w;
    if images.is_empty() || !images.len().is_multiple_of(per) {
        return Err(PlotError::Input(format!(
            "{} values are not a whole number of {per}-value images",
            images.len()
        )));
    }
    if let Some(i) = images.iter().position(|v| !v.is_finite()) {
        return Err(PlotError::Input(format!(
            "pixel {} of image {} is {}",
            i % per,
            i / per,
            images[i]
        )));
    }
    let n = images.len() / per;
    let columns = columns.min(n);
    let rows = n.div_ceil(columns);
    let gap = 2u64;
    let side = |count: usize, pixels: usize| {
        (count as u64)
            .saturating_mul(
                (pixels as u64)
                    .saturating_mul(scale as u64)
                    .saturating_add(gap),
            )
            .saturating_add(gap)
    };
    let (width, height) = (side(columns, w), side(rows, h));
    crate::check_size((width, height), (1, 1))?;
    let gap = gap as u32;
    let cell = |side: usize| side as u32 * scale + gap;
    let size = (width as u32, height as u32);
    let root = BitMapBackend::new(path.as_ref(), size).into_drawing_area();
    root.fill(&RGBColor(40, 40, 40)).map_err(draw_err)?;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for k in 0..n {
        let img = &images[k * per..(k + 1) * per];
        let (ox, oy) = (
            gap + (k % columns) as u32 * cell(w),
            gap + (k / columns) as u32 * cell(h),
        );
        for y in 0..h {
            for x in 0..w {
                let colour = if c == 1 {
                    let g = byte(img[y * w + x]);
                    RGBColor(g, g, g)
                } else {
                    RGBColor(
                        byte(img[y * w + x]),
                        byte(img[h * w + y * w + x]),
                        byte(img[2 * h * w + y * w + x]),
                    )
                };
                let (px, py) = (
                    (ox + x as u32 * scale) as i32,
                    (oy + y as u32 * scale) as i32,
                );
                root.draw(&Rectangle::new(
                    [(px, py), (px + scale as i32, py + scale as i32)],
                    colour.filled(),
                ))
                .map_err(draw_err)?;
            }
        }
    }
    root.present().map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_valid_png, temp_png};

    #[test]
    fn renders_a_grid_of_the_right_size() {
        let images: Vec<f32> = (0..6 * 64).map(|i| ((i * 37) % 64) as f32 / 63.0).collect();
        let path = temp_png("grid");
        plot_image_grid(&path, &images, [1, 8, 8], 3, 4).unwrap();
        // 3 columns × (8·4 + 2) + 2, 2 rows × (8·4 + 2) + 2.
        assert_valid_png(&path, (104, 70));
        std::fs::remove_file(path).ok();
        assert!(matches!(
            plot_image_grid(temp_png("bad"), &images[..10], [1, 8, 8], 3, 4),
            Err(PlotError::Input(_))
        ));
    }
}
