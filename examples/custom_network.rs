//! Seed 003's "MLP model for 2-D data" (TorchEBM's custom-network guide), ported line for line:
//! a user-written Burn module as the energy, CD-10 with Langevin under a cosine noise schedule,
//! Adam, 200 epochs, then 500 samples by 1000 Langevin steps from noise.
//! `cargo run --release -p ebm-examples --example custom_network -- [--quick]`
use ebm::backend::Cpu;
use ebm::burn::nn::{Linear, LinearConfig};
use ebm::burn::tensor::activation::selu;
use ebm::prelude::*;

const SEED: u64 = 42;

#[derive(Module, Debug)]
struct MlpModel<B: Backend> {
    layers: Vec<Linear<B>>,
}

impl<B: Backend> MlpModel<B> {
    fn new(input_dim: usize, hidden_dim: usize, device: &B::Device) -> Self {
        let sizes = [
            (input_dim, hidden_dim),
            (hidden_dim, hidden_dim),
            (hidden_dim, 1),
        ];
        let layers = sizes
            .map(|(i, o)| LinearConfig::new(i, o).init(device))
            .to_vec();
        Self { layers }
    }
}

impl<B: EbmBackend> Energy<B> for MlpModel<B> {
    fn input_dim(&self) -> Option<usize> {
        Some(self.layers[0].weight.dims()[0])
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let (last, hidden) = self.layers.split_last().expect("three layers");
        let h = hidden.iter().fold(x, |h, layer| selu(layer.forward(h)));
        last.forward(h).squeeze_dim(1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let device = Default::default();
    let dataset = GaussianMixtureConfig::new()
        .with_n_samples(1000)
        .with_n_components(5)
        .with_std(0.1)
        .with_radius(1.5)
        .with_seed(data_seed(SEED))
        .generate()?;
    // Burn's layers draw their weights from the backend's generator.
    Cpu::seed(&device, model_seed(SEED));
    let model: MlpModel<Cpu> = MlpModel::new(2, 64, &device);
    let sampler = LangevinConfig::new()
        .step_size(0.01)
        .noise_scale(Schedule::cosine(2e-1, 1e-2, 50))
        .init()?;
    let loss_fn = ContrastiveDivergenceConfig::new()
        .with_k(10)
        .init(sampler)?;
    let n_epochs = if quick { 10 } else { 200 };
    let config = TrainerConfig::new(n_epochs)
        .with_batch_size(128)
        .learning_rate(1e-3)
        .with_log_every(1)
        .with_seed(SEED);
    let mut trainer = Trainer::new(model, AdamConfig::new().init(), loss_fn, config)?
        .with_epoch_callback(move |e| {
            if (e.epoch + 1) % 10 == 0 {
                let loss = e.mean_loss().unwrap_or(f64::NAN);
                println!("Epoch {}/{n_epochs}, Loss: {loss:.4}", e.epoch + 1);
            }
        });
    trainer.fit(&dataset.to_tensor(&device))?;

    let sampler = LangevinConfig::new().step_size(0.005).init()?;
    let run = RunConfig::new(1000).with_seed(SEED);
    let samples = sampler.sample_from_noise(trainer.model(), 500, 2, &device, &run)?;
    let n = samples.final_state.dims()[0];
    println!("Generated {n} samples from the energy-based model");
    Ok(())
}
