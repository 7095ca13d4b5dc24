//! The embedding of a time `t` that conditions a network: sinusoidal features through a small
//! MLP (DiT's timestep embedder, TorchEBM 0.8.9's `MLPTimestepEmbedder`).

use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::Activation;
use super::init::ParamInit;
use super::layers::SecondOrderLayer;
use super::mlp::Dense;
use crate::cpu_kernels::CpuKernels;
use crate::error::{EnergyError, Result, require_positive};

/// Builds a [`TimeEmbedding`].
#[derive(Config, Debug)]
pub struct TimeEmbeddingConfig {
    /// Width of the embedding (the conditioning vector).
    pub width: usize,
    /// Sinusoidal features: `frequencies / 2` cosines and as many sines (an odd count ends with
    /// a zero feature).
    #[config(default = 256)]
    pub frequencies: usize,
    /// The longest period: the feature frequencies run geometrically from 1 down to
    /// `1 / max_period`.
    #[config(default = 10000.0)]
    pub max_period: f64,
    /// Seed of the initialisation.
    #[config(default = 0)]
    pub seed: u64,
}

crate::json_config!(
    TimeEmbeddingConfig,
    required = ["width"],
    template = TimeEmbeddingConfig::new(0)
);

/// `t ↦ W₂·SiLU(W₁·φ(t) + b₁) + b₂` with `φ(t) = [cos(t·fₖ), sin(t·fₖ)]`,
/// `fₖ = max_period^(−k/half)`: `[N] → [N, width]`.
///
/// Initialised as TorchEBM initialises its default embedder: weights N(0, 0.02²), biases zero.
#[derive(Module, Debug)]
pub struct TimeEmbedding<B: Backend> {
    /// Sinusoidal features → width.
    pub first: Dense<B>,
    /// Width → width.
    pub second: Dense<B>,
    #[module(skip)]
    frequencies: usize,
    #[module(skip)]
    max_period: f64,
}

impl TimeEmbeddingConfig {
    /// Builds the embedding on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<TimeEmbedding<B>> {
        if self.width == 0 || self.frequencies == 0 {
            return Err(EnergyError::Empty {
                what: "time embedding width and frequencies",
            });
        }
        require_positive("max_period", self.max_period)?;
        let mut rng = ParamInit::new(self.seed);
        let weights = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let mut dense = |d_in: usize, d_out: usize| Dense {
            weight: rng.param(&weights, [d_in, d_out], d_in, d_out, device),
            bias: rng.param(&Initializer::Zeros, [d_out], d_in, d_out, device),
        };
        Ok(TimeEmbedding {
            first: dense(self.frequencies, self.width),
            second: dense(self.width, self.width),
            frequencies: self.frequencies,
            max_period: self.max_period,
        })
    }
}

impl<B: CpuKernels> TimeEmbedding<B> {
    /// Width of the embedding.
    pub fn width(&self) -> usize {
        self.second.bias.dims()[0]
    }

    /// The sinusoidal features `φ(t)`: `[N] → [N, frequencies]`.
    pub fn features(&self, t: Tensor<B, 1>) -> Tensor<B, 2> {
        let n = t.dims()[0];
        let half = self.frequencies / 2;
        let freqs: Vec<f32> = (0..half)
            .map(|k| (-(self.max_period.ln()) * k as f64 / half as f64).exp() as f32)
            .collect();
        let freqs = Tensor::<B, 2>::from_data(TensorData::new(freqs, [1, half]), &t.device());
        let args = t.reshape([n, 1]) * freqs;
        let mut parts = vec![args.clone().cos(), args.sin()];
        if self.frequencies % 2 == 1 {
            parts.push(Tensor::zeros([n, 1], &parts[0].device()));
        }
        Tensor::cat(parts, 1)
    }

    /// The embedding of each time: `[N] → [N, width]`.
    pub fn forward(&self, t: Tensor<B, 1>) -> Tensor<B, 2> {
        let chain = (&self.first, Activation::Silu, &self.second);
        chain.forward(self.features(t), None).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    #[test]
    fn the_features_are_cosines_and_sines_of_geometric_frequencies() {
        let device = Default::default();
        let embedding = TimeEmbeddingConfig::new(4)
            .with_frequencies(5)
            .with_max_period(100.0)
            .init::<TestInner>(&device)
            .unwrap();
        let t = Tensor::<TestInner, 1>::from_data([0.0, 0.5, 2.0], &device);
        let phi = embedding.features(t).into_data().to_vec::<f32>().unwrap();
        for (row, t) in [0.0f64, 0.5, 2.0].into_iter().enumerate() {
            // half = 2: frequencies 1 and 100^(−1/2) = 0.1; a fifth, zero feature.
            let expected = [t.cos(), (0.1 * t).cos(), t.sin(), (0.1 * t).sin(), 0.0];
            for (k, e) in expected.into_iter().enumerate() {
                assert!((phi[row * 5 + k] as f64 - e).abs() < 1e-6, "{row} {k}");
            }
        }
        let out = embedding.forward(Tensor::from_data([0.3, 0.7], &device));
        assert_eq!(out.dims(), [2, 4]);
    }

    #[test]
    fn an_empty_embedding_is_an_error() {
        let device = Default::default();
        assert!(
            TimeEmbeddingConfig::new(0)
                .init::<TestInner>(&device)
                .is_err()
        );
        let bad = TimeEmbeddingConfig::new(3).with_max_period(0.0);
        assert!(bad.init::<TestInner>(&device).is_err());
    }
}
