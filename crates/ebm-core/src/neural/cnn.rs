//! Convolutional energy for images, with its head size computed from the input size.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use super::Activation;
use super::init::ParamInit;
use crate::energy::Energy;
use crate::error::{EnergyError, Result};

/// One 3×3 convolution (padding 1) of a [`Cnn`].
#[derive(Config, Debug, Copy, PartialEq)]
pub struct ConvLayerConfig {
    /// Output channels.
    pub channels: usize,
    /// Stride (1 keeps the size, 2 halves it, rounding up).
    pub stride: usize,
}

/// Builds a [`Cnn`]: convolutions, then `Linear(features, head_hidden) → act → Linear(·, 1)`.
///
/// The defaults are TorchEBM's documented image energy (32, 32/2, 64, 64/2, 128, 128/2, SELU,
/// head 128). TorchEBM sizes its head as `128·(W/8)·(H/8)`, which is wrong for 28×28 inputs
/// (the convolutions give 4×4, not 3×3); here the size is computed from the actual convolution
/// arithmetic, `out = ⌊(in + 2 − 3)/stride⌋ + 1`, so any input size works.
#[derive(Config, Debug)]
pub struct CnnConfig {
    /// Input channels `C`.
    pub channels: usize,
    /// Input height `H`.
    pub height: usize,
    /// Input width `W`.
    pub width: usize,
    /// The convolutions, in order.
    #[config(default = "CnnConfig::torchebm_layers()")]
    pub layers: Vec<ConvLayerConfig>,
    /// Width of the hidden layer of the head.
    #[config(default = 128)]
    pub head_hidden: usize,
    /// Activation after every convolution and the head's hidden layer.
    #[config(default = "Activation::Selu")]
    pub activation: Activation,
    /// Seed of the initialisation: the same seed gives the same weights, on every backend.
    #[config(default = 0)]
    pub seed: u64,
}

impl CnnConfig {
    /// TorchEBM's six convolutions: 32, 32/2, 64, 64/2, 128, 128/2.
    pub fn torchebm_layers() -> Vec<ConvLayerConfig> {
        [(32, 1), (32, 2), (64, 1), (64, 2), (128, 1), (128, 2)]
            .into_iter()
            .map(|(channels, stride)| ConvLayerConfig { channels, stride })
            .collect()
    }

    /// Spatial size `(H', W')` after the convolutions.
    pub fn feature_size(&self) -> (usize, usize) {
        self.layers
            .iter()
            .fold((self.height, self.width), |(h, w), l| {
                ((h - 1) / l.stride + 1, (w - 1) / l.stride + 1)
            })
    }

    /// Builds the network on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Cnn<B>> {
        for (name, v) in [
            ("channels", self.channels),
            ("height", self.height),
            ("width", self.width),
            ("head_hidden", self.head_hidden),
        ] {
            if v == 0 {
                return Err(EnergyError::InvalidParameter {
                    name,
                    value: 0.0,
                    requirement: "must be > 0",
                });
            }
        }
        if self.layers.is_empty() {
            return Err(EnergyError::Empty { what: "CNN layers" });
        }
        if let Some(l) = self
            .layers
            .iter()
            .find(|l| l.channels == 0 || l.stride == 0)
        {
            return Err(EnergyError::InvalidParameter {
                name: "conv layer channels/stride",
                value: l.channels.min(l.stride) as f64,
                requirement: "must be > 0",
            });
        }
        // Burn's layers with their default initialisers, whose lazy parameters are replaced
        // (before anything draws them) by values from our own seeded generator.
        let mut rng = ParamInit::new(self.seed);
        let mut c_in = self.channels;
        let convs = self
            .layers
            .iter()
            .map(|l| {
                let config = Conv2dConfig::new([c_in, l.channels], [3, 3])
                    .with_stride([l.stride, l.stride])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
                let mut conv = config.init(device);
                let (fan_in, fan_out) = (c_in * 9, l.channels * 9);
                let init = &config.initializer;
                conv.weight = rng.param(init, [l.channels, c_in, 3, 3], fan_in, fan_out, device);
                conv.bias = Some(rng.param(init, [l.channels], fan_in, fan_out, device));
                c_in = l.channels;
                conv
            })
            .collect();
        let (h, w) = self.feature_size();
        let features = c_in * h * w;
        let mut linear = |d_in: usize, d_out: usize| {
            let config = LinearConfig::new(d_in, d_out);
            let mut layer = config.init(device);
            let init = &config.initializer;
            layer.weight = rng.param(init, [d_in, d_out], d_in, d_out, device);
            layer.bias = Some(rng.param(init, [d_out], d_in, d_out, device));
            layer
        };
        Ok(Cnn {
            convs,
            hidden: linear(features, self.head_hidden),
            output: linear(self.head_hidden, 1),
            activation: self.activation,
            image_shape: [self.channels, self.height, self.width],
        })
    }
}

/// Convolutional image energy.
///
/// As an [`Energy`] it takes images flattened row-major to `[N, C·H·W]`, so samplers treat
/// every energy alike; [`Cnn::energy_images`] takes `[N, C, H, W]`.
///
/// **First order only.** Its input gradient comes from autodiff through Burn's fused
/// convolution and linear ops, which cannot be differentiated a second time; `Cnn` therefore
/// does not implement [`crate::SecondOrderEnergy`], and score-matching objectives (which require
/// it) reject it at compile time. Train it with contrastive divergence.
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    convs: Vec<Conv2d<B>>,
    hidden: Linear<B>,
    output: Linear<B>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    image_shape: [usize; 3],
}

impl<B: Backend> Cnn<B> {
    /// `[C, H, W]` of the images this network takes.
    pub fn image_shape(&self) -> [usize; 3] {
        self.image_shape
    }

    /// Energy of a batch of images `[N, C, H, W]`, with a typed error when the image shape does
    /// not match the network.
    pub fn energy_images(&self, images: Tensor<B, 4>) -> Result<Tensor<B, 1>> {
        let [n, c, h, w] = images.dims();
        if n == 0 {
            return Err(EnergyError::EmptyBatch);
        }
        let [ec, eh, ew] = self.image_shape;
        if [c, h, w] != self.image_shape {
            return Err(EnergyError::Dimension {
                expected: ec * eh * ew,
                got: c * h * w,
            });
        }
        Ok(self.forward(images))
    }

    fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 1> {
        let n = images.dims()[0];
        let features = self
            .convs
            .iter()
            .fold(images, |x, conv| self.activation.apply(conv.forward(x)));
        let flat: Tensor<B, 2> = features.flatten(1, 3);
        let hidden = self.activation.apply(self.hidden.forward(flat));
        self.output.forward(hidden).reshape([n])
    }
}

impl<B: AutodiffBackend> Energy<B> for Cnn<B> {
    fn input_dim(&self) -> Option<usize> {
        Some(self.image_shape.iter().product())
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let n = x.dims()[0];
        let [c, h, w] = self.image_shape;
        self.forward(x.reshape([n, c, h, w]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckConfig, check_energy};
    use ebm_testing::TestBackend;

    type B = TestBackend;

    #[test]
    fn head_size_follows_the_input_size() {
        assert_eq!(CnnConfig::new(1, 28, 28).feature_size(), (4, 4));
        assert_eq!(CnnConfig::new(1, 8, 8).feature_size(), (1, 1));
        assert_eq!(CnnConfig::new(3, 32, 32).feature_size(), (4, 4));
    }

    #[test]
    fn runs_on_28_8_and_32_pixel_images() {
        let device = Default::default();
        for (c, s) in [(1, 28), (1, 8), (3, 32)] {
            let cfg = CnnConfig::new(c, s, s)
                .with_layers(vec![
                    ConvLayerConfig::new(4, 1),
                    ConvLayerConfig::new(4, 2),
                    ConvLayerConfig::new(8, 2),
                    ConvLayerConfig::new(8, 2),
                ])
                .with_head_hidden(16);
            let cnn = cfg.init::<B>(&device).unwrap();
            let images = Tensor::<B, 4>::random(
                [2, c, s, s],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            assert_eq!(cnn.energy_images(images.clone()).unwrap().dims(), [2]);
            let flat = images.inner().reshape([2, c * s * s]);
            let report = check_energy::<B, _>(&cnn, flat, &CheckConfig::default()).unwrap();
            assert!(report.is_healthy(), "{s}x{s}: {report:?}");
        }
        // TorchEBM's full default network on 28×28, which its own head size gets wrong.
        let cnn = CnnConfig::new(1, 28, 28).init::<B>(&device).unwrap();
        assert_eq!(
            cnn.energy_images(Tensor::zeros([1, 1, 28, 28], &device))
                .unwrap()
                .dims(),
            [1]
        );
    }

    #[test]
    fn wrong_image_shape_is_a_typed_error() {
        let device = Default::default();
        let cnn = CnnConfig::new(1, 8, 8).init::<B>(&device).unwrap();
        let err = cnn
            .energy_images(Tensor::zeros([1, 1, 28, 28], &device))
            .unwrap_err();
        assert_eq!(
            err,
            EnergyError::Dimension {
                expected: 64,
                got: 784
            }
        );
        assert!(matches!(
            CnnConfig::new(1, 8, 8)
                .with_layers(vec![])
                .init::<B>(&device),
            Err(EnergyError::Empty { .. })
        ));
    }
}
