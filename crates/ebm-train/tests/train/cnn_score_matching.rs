//! Score matching trains a convolutional energy: on 1×4×4 images drawn from N(μ, s²I), a small
//! CNN trained by denoising or sliced score matching learns a score `−∇ₓE` that points where the
//! true score `−(x − μ)/s²` points (cosine similarity ≥ 0.9 on held-out images) with the right
//! size (norm ratio within 25%). A sign error in the CNN's hand-written input gradient or
//! Hessian-vector product, or in the objectives, fails here. The same holds for an energy a user
//! writes from the second-order building blocks of `ebm_core::neural::layers`.

use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ebm_core::neural::layers::{Conv3x3, Conv3x3Config, DenseConfig, SecondOrderLayer};
use ebm_core::neural::{Activation, Cnn, CnnConfig, ConvLayerConfig, Dense};
use ebm_core::{EbmBackend, Energy, SecondOrderEnergy};
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

fn cnn() -> Cnn<B> {
    CnnConfig::new(1, 4, 4)
        .with_layers(vec![ConvLayerConfig::new(8, 1), ConvLayerConfig::new(8, 2)])
        .with_head_hidden(32)
        .with_activation(Activation::Softplus)
        .with_seed(3)
        .init::<B>(&Default::default())
        .unwrap()
}

fn train<M, L>(model: M, objective: L) -> M
where
    M: SecondOrderEnergy<B> + burn::module::AutodiffModule<B> + burn::module::ModuleDisplay,
    L: Objective<B, M>,
{
    let epochs = 4;
    let schedule = ebm_core::schedule::Schedule::Cosine {
        start: 2e-2,
        end: 1e-4,
        n_steps: 40 * epochs,
    };
    let config = TrainerConfig::new(epochs)
        .with_batch_size(100)
        .with_learning_rate(schedule)
        .with_quiet(true)
        .with_seed(1);
    let mut trainer = Trainer::new(model, AdamConfig::new().init(), objective, config).unwrap();
    trainer.fit(&Tensor::from_inner(images(4000, 7))).unwrap();
    trainer.model().clone()
}

/// Cosine similarity and norm ratio of the learned score against the true one, over held-out
/// images (all pixels of all images as one vector).
fn score_agreement(model: &impl Energy<B>) -> (f64, f64) {
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

fn assert_learned(name: &str, model: &impl Energy<B>) {
    let (cosine, ratio) = score_agreement(model);
    assert!(
        cosine >= 0.9 && (0.75..=1.25).contains(&ratio),
        "{name}: cosine {cosine:.3}, norm ratio {ratio:.3}"
    );
}

#[test]
fn denoising_score_matching_trains_a_cnn() {
    let dsm = DenoisingScoreMatchingConfig::new()
        .sigma(0.1)
        .init()
        .unwrap();
    assert_learned("DSM", &train(cnn(), dsm));
}

#[test]
fn sliced_score_matching_trains_a_cnn() {
    let ssm = SlicedScoreMatchingConfig::new()
        .with_projections(2)
        .init()
        .unwrap();
    assert_learned("sliced SM", &train(cnn(), ssm));
}

/// A user's own energy from the second-order building blocks: conv → Softplus → conv/2 →
/// Softplus → dense → Softplus → dense. (Burn's `Module` derive needs the backend parameter to be
/// called `B`.)
#[derive(Module, Debug)]
struct UserEnergy<B: Backend> {
    conv1: Conv3x3<B>,
    conv2: Conv3x3<B>,
    hidden: Dense<B>,
    out: Dense<B>,
}

impl<B: EbmBackend> UserEnergy<B> {
    fn new(device: &B::Device) -> Self {
        let conv1 = Conv3x3Config::new([1, 4, 4], 8)
            .with_seed(1)
            .init(device)
            .unwrap();
        let conv2 = Conv3x3Config::new([8, 4, 4], 8)
            .with_stride(2)
            .with_seed(2)
            .init(device)
            .unwrap();
        let hidden = DenseConfig::new(conv2.output_dim(), 32)
            .with_seed(3)
            .init(device)
            .unwrap();
        let out = DenseConfig::new(32, 1).with_seed(4).init(device).unwrap();
        Self {
            conv1,
            conv2,
            hidden,
            out,
        }
    }

    fn layers(&self) -> impl SecondOrderLayer<B> + '_ {
        let act = Activation::Softplus;
        (
            &self.conv1,
            act,
            &self.conv2,
            act,
            &self.hidden,
            act,
            &self.out,
        )
    }

    fn input_dim(&self) -> usize {
        self.conv1.input_dim()
    }
}

ebm_core::layer_energy!(UserEnergy);

#[test]
fn denoising_score_matching_trains_a_user_written_energy() {
    let dsm = DenoisingScoreMatchingConfig::new()
        .sigma(0.1)
        .init()
        .unwrap();
    let model = UserEnergy::<B>::new(&Default::default());
    assert_learned("user DSM", &train(model, dsm));
}
