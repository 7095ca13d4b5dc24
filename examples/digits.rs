//! A CNN energy on the 8×8 handwritten digits, trained with persistent contrastive divergence and
//! a replay buffer; writes a grid of fresh samples and a grid of replay-buffer states.
//!
//! `cargo run --release -p ebm-examples --example digits -- [--quick] [--backend B] [--out DIR]`

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Args, plot_images};
use ebm::burn::optim::AdamConfig;
use ebm::ebm_core::neural::ConvLayerConfig;
use ebm::ebm_data::digits::Digits;
use ebm::ebm_data::transforms::to_symmetric;
use ebm::prelude::*;

fn run<B: EbmBackend>(args: &Args) {
    let started = Instant::now();
    let device = Default::default();
    let all = to_symmetric(Digits::load().to_tensor::<B>(&device));
    // --quick trains on two batches only, so CI exercises every code path in seconds.
    let data = if args.quick {
        all.clone().slice([0..128, 0..64])
    } else {
        all.clone()
    };
    let model = CnnConfig::new(1, 8, 8)
        .with_layers(vec![
            ConvLayerConfig::new(8, 1),
            ConvLayerConfig::new(16, 2),
            ConvLayerConfig::new(32, 2),
        ])
        .with_head_hidden(32)
        .with_activation(Activation::Silu)
        .with_seed(1)
        .init::<B>(&device)
        .expect("valid CNN");
    // Short-run Langevin in pixel space (Du & Mordatch): a large step on the gradient and small
    // noise, σ·√(2η) = 0.01, clamped to the pixel range.
    let sampler = LangevinConfig::new()
        .step_size(1.0)
        .noise_scale(0.01 / 2f64.sqrt())
        .with_clamp(Some((-1.0, 1.0)))
        .init()
        .expect("valid sampler");
    let pcd = PersistentContrastiveDivergenceConfig::new()
        .with_k(20)
        .with_buffer_size(2000)
        .with_init_scale(0.5)
        .with_energy_reg_weight(1.0)
        .init::<B, _>(sampler.clone())
        .expect("valid objective");
    // NdArray's convolutions are direct loops (its input-gradient conv_transpose2d dominates a
    // profile), so the full run is kept to a few minutes on two cores.
    let epochs = if args.quick { 1 } else { 8 };
    let config = TrainerConfig::new(epochs)
        .with_batch_size(64)
        .learning_rate(1e-3)
        .with_grad_clip_norm(Some(10.0))
        .with_log_every(20)
        .with_seed(3);
    let mut trainer = Trainer::new(model, AdamConfig::new().init(), pcd, config)
        .expect("valid trainer")
        .with_callback(|log| {
            if log.step % 100 == 0 {
                println!(
                    "  step {:>4}  loss {:>8.4}  E(data) {:>8.3}  E(samples) {:>8.3}",
                    log.step,
                    log.loss,
                    log.metric("pos_energy").unwrap_or(f64::NAN),
                    log.metric("neg_energy").unwrap_or(f64::NAN)
                );
            }
        });
    trainer.fit(&data).expect("training runs");
    let buffer = trainer
        .objective()
        .buffer()
        .expect("buffer exists after training")
        .states()
        .clone();
    plot_images(
        &args.out.join("replay_buffer.png"),
        buffer.clone(),
        [1, 8, 8],
        8,
    );
    // Fresh samples: 200 sampler steps from noise.
    let langevin = sampler;
    let init = ebm::ebm_sample::noise::Noise::new(9)
        .normal([64, 64], &buffer)
        .mul_scalar(0.5)
        .clamp(-1.0, 1.0);
    let steps = if args.quick { 20 } else { 200 };
    let samples = Sampler::<B>::sample(
        &langevin,
        trainer.model(),
        init,
        &RunConfig::new(steps).with_seed(10),
    )
    .expect("sampling");
    plot_images(
        &args.out.join("samples.png"),
        samples.final_state,
        [1, 8, 8],
        8,
    );
    plot_images(&args.out.join("data.png"), all, [1, 8, 8], 8);
    println!(
        "done in {:.1} s; pictures in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
}

fn main() {
    let args = Args::parse("out/digits");
    ebm::with_backend!(args.backend.as_str(), B => run::<B>(&args))
        .unwrap_or_else(common::unknown_backend);
}
