//! Image transforms for image EBMs, on `[N, C·H·W]` batches of values in `[0, 1]`.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::{DataError, positive};

/// Maps `[0, 1]` to `[−1, 1]`: `2x − 1`.
pub fn to_symmetric<Bk: Backend>(x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
    x.mul_scalar(2.0).sub_scalar(1.0)
}

/// Maps `[−1, 1]` back to `[0, 1]`, clamping.
pub fn from_symmetric<Bk: Backend>(x: Tensor<Bk, 2>) -> Tensor<Bk, 2> {
    x.add_scalar(1.0).mul_scalar(0.5).clamp(0.0, 1.0)
}

/// Uniform dequantisation: for data on `levels` evenly spaced values in `[0, 1]`, adds
/// `U(0, 1/levels)`-noise scaled from `uniform` (a tensor of `U(0, 1)` draws of the same shape),
/// so that a continuous density can be fitted to discrete pixels.
pub fn dequantize<Bk: Backend>(
    x: Tensor<Bk, 2>,
    uniform: Tensor<Bk, 2>,
    levels: f64,
) -> Result<Tensor<Bk, 2>, DataError> {
    positive("levels", levels)?;
    Ok((x.mul_scalar(levels - 1.0) + uniform).div_scalar(levels))
}

/// Mirrors images left–right: `x[n, c, h, w] → x[n, c, h, W − 1 − w]`, for images of shape
/// `[channels, height, width]` flattened row-major.
pub fn flip_horizontal<Bk: Backend>(
    x: Tensor<Bk, 2>,
    image_shape: [usize; 3],
) -> Result<Tensor<Bk, 2>, DataError> {
    let [n, f] = x.dims();
    let [c, h, w] = image_shape;
    if c * h * w != f {
        return Err(crate::error::invalid(
            "image_shape",
            c * h * w,
            "must multiply to the number of features",
        ));
    }
    Ok(x.reshape([n, c, h, w]).flip([3]).reshape([n, f]))
}

/// Resizes images of shape `[channels, height, width]` (flattened row-major in `[N, C·H·W]`)
/// to `size = [height', width']` by bilinear interpolation (Burn's `interpolate`), e.g. the 8×8
/// digits to MNIST's 28×28. Values stay within the range of the input.
pub fn resize<Bk: Backend>(
    x: Tensor<Bk, 2>,
    image_shape: [usize; 3],
    size: [usize; 2],
) -> Result<Tensor<Bk, 2>, DataError> {
    let [n, f] = x.dims();
    let [c, h, w] = image_shape;
    if c * h * w != f || c * h * w == 0 {
        return Err(crate::error::invalid(
            "image_shape",
            c * h * w,
            "must be positive and multiply to the number of features",
        ));
    }
    if size.contains(&0) {
        return Err(crate::error::invalid("size", 0usize, "must be positive"));
    }
    let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(true);
    let resized = interpolate(x.reshape([n, c, h, w]), size, options);
    Ok(resized.reshape([n, c * size[0] * size[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    #[test]
    fn transforms_do_what_they_say() {
        let device = Default::default();
        let x = Tensor::<TestInner, 2>::from_data([[0.0, 0.5, 1.0, 0.25]], &device);
        assert_eq!(
            to_symmetric(x.clone()).into_data().to_vec::<f32>().unwrap(),
            vec![-1.0, 0.0, 1.0, -0.5]
        );
        assert_eq!(
            from_symmetric(to_symmetric(x.clone()))
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
            vec![0.0, 0.5, 1.0, 0.25]
        );
        let flipped = flip_horizontal(x.clone(), [1, 2, 2]).unwrap();
        assert_eq!(
            flipped.into_data().to_vec::<f32>().unwrap(),
            vec![0.5, 0.0, 0.25, 1.0]
        );
        let u = Tensor::<TestInner, 2>::full([1, 4], 0.5, &device);
        let d = dequantize(
            Tensor::<TestInner, 2>::from_data([[0.0, 1.0, 0.0, 1.0]], &device),
            u,
            17.0,
        )
        .unwrap();
        let v = d.into_data().to_vec::<f32>().unwrap();
        assert!((v[0] - 0.5 / 17.0).abs() < 1e-6 && (v[1] - 16.5 / 17.0).abs() < 1e-6);
        assert!(matches!(
            flip_horizontal(x.clone(), [1, 3, 3]),
            Err(DataError::InvalidParameter(
                ebm_core::InvalidParameter { .. }
            ))
        ));
        assert!(matches!(
            dequantize(x.clone(), x.clone(), 0.0),
            Err(DataError::InvalidParameter(
                ebm_core::InvalidParameter { .. }
            ))
        ));
        // 2×2 → 3×3 with corners aligned: the corners stay, the centre is the mean.
        let big = resize(x.clone(), [1, 2, 2], [3, 3]).unwrap();
        let v = big.into_data().to_vec::<f32>().unwrap();
        let want = [0.0, 0.25, 0.5, 0.5, 0.4375, 0.375, 1.0, 0.625, 0.25];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{v:?}");
        }
        assert!(matches!(
            resize(x.clone(), [1, 3, 3], [28, 28]),
            Err(DataError::InvalidParameter(
                ebm_core::InvalidParameter { .. }
            ))
        ));
        assert!(matches!(
            resize(x, [1, 2, 2], [0, 28]),
            Err(DataError::InvalidParameter(
                ebm_core::InvalidParameter { .. }
            ))
        ));
    }
}
