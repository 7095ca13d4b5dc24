//! The 8×8 handwritten digits (UCI, CC BY 4.0; see `data/DIGITS-LICENSE.md`), compiled into the
//! crate so that nothing is downloaded at run time.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

const RAW: &[u8] = include_bytes!("../data/digits.bin");
const RECORD: usize = 65;

/// Number of images.
pub const N_IMAGES: usize = 1797;

/// Image side (8).
pub const SIDE: usize = 8;

/// The digits: images as `[1797, 64]` floats in `[0, 1]` (pixel counts 0..=16 divided by 16),
/// and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// Row-major pixels, `N_IMAGES × 64`.
    pub pixels: Vec<f32>,
    /// Labels 0..=9.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Loads the embedded data.
    pub fn load() -> Self {
        let pixels = RAW
            .chunks_exact(RECORD)
            .flat_map(|r| r[..64].iter().map(|&p| p as f32 / 16.0))
            .collect();
        let labels = RAW.chunks_exact(RECORD).map(|r| r[64]).collect();
        Self { pixels, labels }
    }

    /// The images as a `[1797, 64]` tensor.
    pub fn to_tensor<Bk: Backend>(&self, device: &Bk::Device) -> Tensor<Bk, 2> {
        Tensor::from_data(
            TensorData::new(self.pixels.clone(), [self.labels.len(), SIDE * SIDE]),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_images_load_with_plausible_statistics() {
        let d = Digits::load();
        assert_eq!(RAW.len(), N_IMAGES * RECORD);
        assert_eq!(d.labels.len(), N_IMAGES);
        assert_eq!(d.pixels.len(), N_IMAGES * 64);
        assert!(d.pixels.iter().all(|&p| (0.0..=1.0).contains(&p)));
        // Every class is present, about 180 images each.
        for c in 0..10 {
            let count = d.labels.iter().filter(|&&l| l == c).count();
            assert!((170..=190).contains(&count), "class {c}: {count}");
        }
        // The first image is a 0 (scikit-learn's digits.images[0]).
        assert_eq!(d.labels[0], 0);
        assert_eq!(&d.pixels[2..4], &[5.0 / 16.0, 13.0 / 16.0]);
    }
}
