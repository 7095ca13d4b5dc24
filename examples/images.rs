//! The seeds' CNN energy (3×3 convolutions 32-32/2-64-64/2-128-128/2, SELU, head 2048→128→1) on
//! 28×28 digit images, trained two ways:
//!
//! - persistent contrastive divergence with a replay buffer and short-run Langevin in pixel
//!   space (the IGEBM recipe of Du & Mordatch), and
//! - denoising score matching over 50 noise levels σ = 1 … 0.01 (NCSN), sampled by annealed
//!   Langevin down the levels and one denoising step (Tweedie's formula). By default the energy
//!   is noise-conditional: the CNN reads a second channel holding the level's code.
//!
//! Writes `data.png`, and per method a grid of samples and the loss curves (for DSM also noisy
//! training images and their denoised versions, `dsm_noisy.png`, `dsm_denoised.png`); prints the time per
//! epoch. Data: the embedded 8×8 digits upsampled to 28×28, or with `--idx DIR` the file
//! `train-images-idx3-ubyte` (uncompressed) of MNIST or Fashion-MNIST in `DIR`.
//!
//! `cargo run --release -p ebm-examples --features flex --example images -- --backend flex
//! [--quick] [--out DIR] [--idx DIR] [--images N] [--epochs N] [--method pcd|dsm|both]
//! [--levels N] [--steps-per-level N] [--lr RATE] [--ema DECAY] [--conditioning plane|scaled]`

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Instant;

use common::{Args, plot_images};
use ebm::burn::optim::AdamConfig;
use ebm::burn::tensor::{Tensor, TensorData};
use ebm::ebm_core::combinators::AtNoiseLevel;
use ebm::ebm_data::digits::Digits;
use ebm::ebm_data::idx::read_idx_images;
use ebm::ebm_data::transforms::{resize, to_symmetric};
use ebm::ebm_plot::{Series, plot_curves};
use ebm::ebm_sample::noise::Noise;
use ebm::ebm_train::StepLog;
use ebm::prelude::*;

const SIDE: usize = 28;

/// Images per batch: 64, or 16 in `--quick` mode, which only exercises the code paths (CI runs it
/// on lavapipe, a software GPU).
fn batch_size(args: &Args) -> usize {
    if args.quick { 16 } else { 64 }
}

/// Training images `[N, 784]` in `[−1, 1]`.
fn load_images<B: EbmBackend>(args: &Args) -> Result<Tensor<Inner<B>, 2>, String> {
    let device = Default::default();
    let limit = match args.option("--images") {
        Some(n) => Some(
            n.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("--images needs a positive count, got `{n}`"))?,
        ),
        None if args.quick => Some(2 * batch_size(args)),
        None => None,
    };
    let images = match args.option("--idx") {
        Some(dir) => {
            let path = Path::new(dir).join("train-images-idx3-ubyte");
            let (pixels, [n, h, w]) = read_idx_images(&path).map_err(|e| e.to_string())?;
            if [h, w] != [SIDE, SIDE] {
                return Err(format!("{}: images are {h}×{w}, not 28×28", path.display()));
            }
            // 60,000 images are an epoch of hours on a CPU: 4,096 unless --images says more.
            let n = n.min(limit.unwrap_or(4096));
            let pixels = pixels[..n * SIDE * SIDE].to_vec();
            Tensor::<Inner<B>, 2>::from_data(TensorData::new(pixels, [n, SIDE * SIDE]), &device)
        }
        None => {
            let digits = Digits::load().to_tensor::<Inner<B>>(&device);
            let n = digits.dims()[0].min(limit.unwrap_or(usize::MAX));
            resize(digits.narrow(0, 0, n), [1, 8, 8], [SIDE, SIDE]).map_err(|e| e.to_string())?
        }
    };
    Ok(to_symmetric(images))
}

fn grid<B: EbmBackend>(path: &Path, images: Tensor<Inner<B>, 2>) {
    plot_images(path, images, [1, SIDE, SIDE], 3);
}

fn curves(path: &Path, title: &str, history: &[StepLog], negatives: bool) {
    let curve = |name: &str, f: &dyn Fn(&StepLog) -> f64| Series {
        name: name.into(),
        points: history.iter().map(|l| (l.step as f64, f(l))).collect(),
    };
    let mut series = vec![
        curve("loss", &|l| l.loss),
        curve("E(data)", &|l| l.metric("pos_energy").unwrap_or(f64::NAN)),
    ];
    if negatives {
        series.push(curve("E(samples)", &|l| {
            l.metric("neg_energy").unwrap_or(f64::NAN)
        }));
    }
    plot_curves(path, title, "step", &series, (900, 500)).expect("plot");
}

/// The seeds' CNN on images of `channels` channels (2 for a noise-conditional energy: the image
/// and its level's plane).
fn model<B: EbmBackend>(channels: usize, seed: u64) -> Cnn<B> {
    CnnConfig::new(channels, SIDE, SIDE)
        .with_seed(seed)
        .init::<B>(&Default::default())
        .expect("valid CNN")
}

/// The positive count given as `name`, or `default`; anything else ends the program with a
/// message.
fn count(args: &Args, name: &str, default: usize) -> usize {
    match args.option(name) {
        Some(n) => n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
            eprintln!("error: {name} needs a positive count, got `{n}`");
            std::process::exit(2)
        }),
        None => default,
    }
}

/// The number given as `name` that `valid` accepts, or `default`; anything else ends the program
/// with a message naming `what` it must be.
fn number(args: &Args, name: &str, default: f64, what: &str, valid: fn(f64) -> bool) -> f64 {
    match args.option(name) {
        Some(x) => x.parse().ok().filter(|&x| valid(x)).unwrap_or_else(|| {
            eprintln!("error: {name} needs {what}, got `{x}`");
            std::process::exit(2)
        }),
        None => default,
    }
}

fn trainer_config(args: &Args, epochs: usize, learning_rate: f64, seed: u64) -> TrainerConfig {
    let epochs = count(args, "--epochs", if args.quick { 1 } else { epochs });
    let learning_rate = number(
        args,
        "--lr",
        learning_rate,
        "a positive learning rate",
        |x| x > 0.0 && x.is_finite(),
    );
    TrainerConfig::new(epochs)
        .with_batch_size(batch_size(args))
        .learning_rate(learning_rate)
        .with_grad_clip_norm(Some(10.0))
        .with_log_every(if args.quick { 1 } else { 5 })
        .with_seed(seed)
}

/// Seconds per epoch of a finished run.
fn per_epoch(started: Instant, epochs: usize) -> f64 {
    started.elapsed().as_secs_f64() / epochs as f64
}

/// PCD with a replay buffer: returns the seconds per epoch.
fn persistent_cd<B: EbmBackend>(args: &Args, data: &Tensor<Inner<B>, 2>) -> f64 {
    // Short-run Langevin in pixel space (Du & Mordatch): a large step on the gradient and small
    // noise, σ·√(2η) = 0.01, clamped to the pixel range.
    let sampler = LangevinConfig::new()
        .step_size(10.0)
        .noise_scale(0.01 / 20f64.sqrt())
        .with_clamp(Some((-1.0, 1.0)))
        .init()
        .expect("valid sampler");
    let pcd = PersistentContrastiveDivergenceConfig::new()
        .with_k(if args.quick { 2 } else { 20 })
        .with_buffer_size(if args.quick { 64 } else { 4096 })
        .with_init_scale(0.5)
        .with_energy_reg_weight(1.0)
        .init::<B, _>(sampler.clone())
        .expect("valid objective");
    let config = trainer_config(args, 30, 1e-4, 3);
    let epochs = config.epochs;
    let mut trainer = Trainer::new(model::<B>(1, 1), AdamConfig::new().init(), pcd, config)
        .expect("valid trainer")
        .with_callback(|log| {
            if log.step % 50 == 0 {
                println!(
                    "  PCD step {:>5}  loss {:>8.4}  E(data) {:>8.3}  E(samples) {:>8.3}",
                    log.step,
                    log.loss,
                    log.metric("pos_energy").unwrap_or(f64::NAN),
                    log.metric("neg_energy").unwrap_or(f64::NAN)
                );
            }
        });
    let started = Instant::now();
    trainer
        .fit(&Tensor::from_inner(data.clone()))
        .expect("training runs");
    let seconds = per_epoch(started, epochs);
    let buffer = trainer
        .objective()
        .buffer()
        .expect("buffer exists after training")
        .states()
        .clone();
    grid::<B>(&args.out.join("pcd_replay_buffer.png"), buffer.clone());
    // Fresh chains: the same short-run sampler from noise, for longer.
    let shown = batch_size(args);
    let init = Noise::new(9)
        .normal([shown, SIDE * SIDE], &buffer)
        .mul_scalar(0.5)
        .clamp(-1.0, 1.0);
    let steps = if args.quick { 3 } else { 200 };
    let samples = Sampler::<B>::sample(
        &sampler,
        trainer.model(),
        init,
        &RunConfig::new(steps).with_seed(10),
    )
    .expect("sampling");
    grid::<B>(&args.out.join("pcd_samples.png"), samples.final_state);
    curves(
        &args.out.join("pcd_loss.png"),
        "persistent CD (replay buffer)",
        trainer.history(),
        true,
    );
    seconds
}

/// Denoising score matching over a ladder of noise levels, sampled by annealed Langevin: returns
/// the seconds per epoch.
fn denoising<B: EbmBackend>(args: &Args, data: &Tensor<Inner<B>, 2>) -> f64 {
    // σ_max = 1 reaches from the chains' start (a Gaussian with the data's per-pixel mean and
    // standard deviation) to the digits; σ_min = 0.01 is below what the eye sees.
    let levels = count(args, "--levels", if args.quick { 10 } else { 50 });
    let ladder = NoiseLadderConfig::new()
        .with_sigma_max(1.0)
        .with_sigma_min(0.01)
        .with_levels(levels);
    // `--conditioning plane` (the default) gives the CNN a second input channel holding the
    // level's code; `scaled` trains one energy E/σ for every level.
    let conditioning = match args.option("--conditioning").unwrap_or("plane") {
        "plane" => LevelConditioning::Plane,
        "scaled" => LevelConditioning::Scaled,
        other => {
            eprintln!("error: --conditioning is plane or scaled, not `{other}`");
            std::process::exit(2)
        }
    };
    let dsm = MultiscaleDenoisingScoreMatchingConfig::new()
        .with_ladder(ladder)
        .with_conditioning(conditioning)
        .init()
        .expect("valid objective");
    let ladder = dsm.ladder().clone();
    // `--ema DECAY`: sample from a moving average of the parameters (NCSN uses 0.999).
    let ema = args.option("--ema").map(|_| {
        number(args, "--ema", 0.0, "a decay in [0, 1)", |x| {
            (0.0..1.0).contains(&x)
        })
    });
    let config = trainer_config(args, 60, 1e-3, 5).with_ema_decay(ema);
    let epochs = config.epochs;
    let channels = match conditioning {
        LevelConditioning::Scaled => 1,
        LevelConditioning::Plane => 2,
    };
    let mut trainer = Trainer::new(
        model::<B>(channels, 6),
        AdamConfig::new().init(),
        dsm,
        config,
    )
    .expect("valid trainer")
    .with_callback(|log| {
        if log.step % 50 == 0 {
            println!("  DSM step {:>5}  loss {:>10.2}", log.step, log.loss);
        }
    });
    let started = Instant::now();
    trainer
        .fit(&Tensor::from_inner(data.clone()))
        .expect("training runs");
    let seconds = per_epoch(started, epochs);
    // With `--ema`, samples come from the moving average.
    let model = trainer.ema().unwrap_or(trainer.model());
    // Annealed Langevin down the ladder (Song & Ermon's step rule), then Tweedie's denoising
    // step at the smallest level, as score-based models show their samples.
    // No clamp: at the large levels the smoothed density reaches well outside the pixel range,
    // and clamping there would sample another law.
    let steps_per_level = if args.quick {
        1
    } else {
        count(args, "--steps-per-level", 20)
    };
    // Chains start from a Gaussian with the data's per-pixel mean and standard deviation: within
    // σ_max of the data, with no data point copied.
    let mean = data.clone().mean_dim(0);
    let std = (data.clone() - mean.clone()).square().mean_dim(0).sqrt();
    let shown = batch_size(args);
    let init = (Noise::new(11).normal([shown, SIDE * SIDE], data) * std + mean).clamp(-1.0, 1.0);
    const STEP_SCALE: f64 = 2e-5;
    // ∇E at level σ, of the energy the objective trained.
    let grad_at = |x: Tensor<Inner<B>, 2>, sigma: f64| match conditioning {
        LevelConditioning::Scaled => model.grad_energy(x),
        LevelConditioning::Plane => AtNoiseLevel::new(model, ladder.code(sigma))
            .expect("a finite code")
            .grad_energy(x),
    };
    let x = match conditioning {
        LevelConditioning::Scaled => {
            let langevin = ladder
                .annealed_langevin(steps_per_level, STEP_SCALE, None)
                .expect("valid sampler");
            let run = RunConfig::new(ladder.annealed_steps(steps_per_level)).with_seed(12);
            Sampler::<B>::sample(&langevin, model, init, &run)
                .expect("sampling")
                .final_state
        }
        LevelConditioning::Plane => ladder
            .sample_conditioned(model, init, steps_per_level, STEP_SCALE, None, 12)
            .expect("sampling"),
    };
    let grad = grad_at(x.clone(), ladder.sigma_min());
    grid::<B>(
        &args.out.join("dsm_samples.png"),
        ladder.denoise(x, grad).clamp(-1.0, 1.0),
    );
    // What the energy learned, without the sampler: training images with noise of σ = 0.3, and
    // the same images after one denoising step x̃ − σ·∇E(x̃) (Tweedie's formula at that level).
    const SHOWN_SIGMA: f64 = 0.3;
    let clean = data.clone().narrow(0, 0, shown.min(data.dims()[0]));
    let noisy = clean.clone()
        + Noise::new(13)
            .normal(clean.dims(), &clean)
            .mul_scalar(SHOWN_SIGMA);
    let grad = grad_at(noisy.clone(), SHOWN_SIGMA);
    let denoised = noisy.clone() - grad.mul_scalar(SHOWN_SIGMA);
    grid::<B>(&args.out.join("dsm_noisy.png"), noisy.clamp(-1.0, 1.0));
    grid::<B>(
        &args.out.join("dsm_denoised.png"),
        denoised.clamp(-1.0, 1.0),
    );
    curves(
        &args.out.join("dsm_loss.png"),
        "denoising score matching, levels σ = 1 … 0.01",
        trainer.history(),
        false,
    );
    seconds
}

fn run<B: EbmBackend>(args: &Args) {
    let started = Instant::now();
    let data = load_images::<B>(args).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let n = data.dims()[0];
    let batch = batch_size(args);
    println!("{n} images of 28×28 on {}", args.backend);
    grid::<B>(&args.out.join("data.png"), data.clone());
    let method = args.option("--method").unwrap_or("both");
    if !["pcd", "dsm", "both"].contains(&method) {
        eprintln!("error: --method is pcd, dsm or both, not `{method}`");
        std::process::exit(2)
    }
    if method != "dsm" {
        let pcd = persistent_cd::<B>(args, &data);
        println!(
            "PCD: {pcd:.1} s per epoch ({} steps of {batch})",
            n.div_ceil(batch)
        );
    }
    if method != "pcd" {
        let dsm = denoising::<B>(args, &data);
        println!(
            "DSM: {dsm:.1} s per epoch ({} steps of {batch})",
            n.div_ceil(batch)
        );
    }
    println!(
        "done in {:.1} s; pictures in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
}

fn main() {
    let args = Args::parse_with(
        "out/images",
        &[
            "--idx",
            "--images",
            "--epochs",
            "--method",
            "--levels",
            "--steps-per-level",
            "--lr",
            "--ema",
            "--conditioning",
        ],
    );
    ebm::with_backend!(args.backend.as_str(), B => run::<B>(&args))
        .unwrap_or_else(common::unknown_backend);
}
