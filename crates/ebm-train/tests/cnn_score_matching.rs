//! Score matching trains a convolutional energy: on 1×4×4 images drawn from N(μ, s²I), a small
//! CNN trained by denoising or sliced score matching learns a score `−∇ₓE` that points where the
//! true score `−(x − μ)/s²` points (cosine similarity ≥ 0.9 on held-out images) with the right
//! size (norm ratio within 25%). A sign error in the CNN's hand-written input gradient or
//! Hessian-vector product, or in the objectives, fails here.

use burn::optim::AdamConfig;
use burn::tensor::{Tensor, TensorData};
use ebm_core::Energy;
use ebm_core::neural::{Activation, Cnn, CnnConfig, ConvLayerConfig};
use ebm_testing::{TestBackend, TestInner};
use ebm_train::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

type B = TestBackend;

const PIXELS: usize = 16;
const STD: f64 = 0.5;

fn mean_image() -> Vec<f64> {
    (0..PIXELS).map(|i| (i as f64 * 0.7).sin()).collect()
}

/// `n` images of N(μ, s²I), flattened to `[n, 16]`.
fn images(n: usize, seed: u64) -> Tensor<TestInner, 2> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mu = mean_image();
    let values: Vec<f64> = (0..n * PIXELS)
        .map(|k| mu[k % PIXELS] + STD * rng.sample::<f64, _>(StandardNormal))
        .collect();
    Tensor::from_data(TensorData::new(values, [n, PIXELS]), &Default::default())
}

fn train<L: Objective<B, Cnn<B>>>(objective: L) -> Cnn<B> {
    let model = CnnConfig::new(1, 4, 4)
        .with_layers(vec![ConvLayerConfig::new(8, 1), ConvLayerConfig::new(8, 2)])
        .with_head_hidden(32)
        .with_activation(Activation::Softplus)
        .with_seed(3)
        .init::<B>(&Default::default())
        .unwrap();
    let epochs = 4;
    let schedule = ebm_core::schedule::Schedule::Cosine {
        start: 2e-2,
        end: 1e-4,
        n_steps: 40 * epochs,
    };
    let config = TrainerConfig::new(epochs)
        .with_batch_size(100)
        .with_lr_schedule(Some(schedule))
        .with_quiet(true)
        .with_seed(1);
    let mut trainer = Trainer::new(model, AdamConfig::new().init(), objective, config).unwrap();
    trainer.fit(&images(4000, 7)).unwrap();
    trainer.model().clone()
}

/// Cosine similarity and norm ratio of the learned score against the true one, over held-out
/// images (all pixels of all images as one vector).
fn score_agreement(model: &Cnn<B>) -> (f64, f64) {
    let x = images(500, 11);
    let mu = Tensor::<TestInner, 1>::from_data(
        TensorData::new(mean_image(), [PIXELS]),
        &Default::default(),
    );
    let truth = (x.clone() - mu.unsqueeze()).div_scalar(-STD * STD);
    let learned = model.score(x);
    let dot = |a: &Tensor<TestInner, 2>, b: &Tensor<TestInner, 2>| -> f64 {
        (a.clone() * b.clone()).sum().into_scalar() as f64
    };
    let (tl, tt, ll) = (
        dot(&truth, &learned),
        dot(&truth, &truth),
        dot(&learned, &learned),
    );
    (tl / (tt * ll).sqrt(), (ll / tt).sqrt())
}

fn assert_learned(name: &str, model: &Cnn<B>) {
    let (cosine, ratio) = score_agreement(model);
    assert!(
        cosine >= 0.9 && (0.75..=1.25).contains(&ratio),
        "{name}: cosine {cosine:.3}, norm ratio {ratio:.3}"
    );
}

#[test]
fn denoising_score_matching_trains_a_cnn() {
    let dsm = DenoisingScoreMatchingConfig::new()
        .with_sigma(0.1.into())
        .init()
        .unwrap();
    assert_learned("DSM", &train(dsm));
}

#[test]
fn sliced_score_matching_trains_a_cnn() {
    let ssm = SlicedScoreMatchingConfig::new()
        .with_projections(2)
        .init()
        .unwrap();
    assert_learned("sliced SM", &train(ssm));
}
