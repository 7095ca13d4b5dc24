//! Shared by the examples: command-line options and helpers for 2-D toy runs.
#![allow(dead_code)] // each example uses a different subset

use std::path::PathBuf;

use ebm::burn::tensor::{Tensor, TensorData};
use ebm::ebm_core::combinators::Mixture;
use ebm::ebm_data::synthetic::GaussianMixtureConfig;
use ebm::ebm_eval::{
    kernel_stein_discrepancy, log_partition_2d, mmd_squared, negative_log_likelihood_2d,
};
use ebm::prelude::*;

/// `--backend ndarray|flex|wgpu|cuda`, `--quick`, `--out DIR`, and the options an example
/// declares (`--name VALUE`).
pub struct Args {
    pub backend: String,
    pub quick: bool,
    pub out: PathBuf,
    /// The declared options that were given, with their values.
    pub options: Vec<(String, String)>,
}

impl Args {
    /// Parses the command line; `default_out` is the output folder when `--out` is absent.
    pub fn parse(default_out: &str) -> Args {
        Self::parse_with(default_out, &[])
    }

    /// Like [`Args::parse`], also accepting the options in `declared` (e.g. `"--idx"`), each
    /// followed by a value.
    pub fn parse_with(default_out: &str, declared: &[&str]) -> Args {
        let mut args = Args {
            backend: "ndarray".into(),
            quick: false,
            out: PathBuf::from(default_out),
            options: vec![],
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => args.quick = true,
                "--backend" => {
                    args.backend = it
                        .next()
                        .unwrap_or_else(|| usage("--backend needs a value"))
                }
                "--out" => {
                    args.out =
                        PathBuf::from(it.next().unwrap_or_else(|| usage("--out needs a value")))
                }
                "-h" | "--help" => usage(""),
                name if declared.contains(&name) => {
                    let value = it
                        .next()
                        .unwrap_or_else(|| usage(&format!("{name} needs a value")));
                    args.options.push((name.to_string(), value));
                }
                other => usage(&format!("unknown argument `{other}`")),
            }
        }
        std::fs::create_dir_all(&args.out)
            .unwrap_or_else(|e| usage(&format!("cannot create {}: {e}", args.out.display())));
        args
    }

    /// The value of a declared option, if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn usage(message: &str) -> ! {
    if !message.is_empty() {
        eprintln!("error: {message}");
    }
    eprintln!(
        "options: [--backend ndarray|flex|wgpu|cuda] [--quick] [--out DIR] \
         (images: [--idx DIR] [--images N] [--epochs N] [--method pcd|dsm|both])"
    );
    std::process::exit(2)
}

/// Ends the program with a message when `--backend` names a backend this build lacks (the
/// error of [`ebm::with_backend!`]).
pub fn unknown_backend<T>(e: ebm::backend::UnknownBackend) -> T {
    eprintln!("error: {e}");
    std::process::exit(2)
}

/// Writes the first (up to) 64 of `images` (`[N, C·H·W]` in `[−1, 1]`) as an 8-column grid,
/// each pixel a `scale × scale` block.
pub fn plot_images<Bk: ebm::burn::tensor::backend::Backend>(
    path: &std::path::Path,
    images: Tensor<Bk, 2>,
    image_shape: [usize; 3],
    scale: u32,
) {
    let n = images.dims()[0].min(64);
    let pixels: Vec<f32> = ebm::ebm_data::transforms::from_symmetric(images.narrow(0, 0, n))
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("floats");
    ebm::ebm_plot::plot_image_grid(path, &pixels, image_shape, 8, scale).expect("plot");
}

/// Points as host rows.
pub fn rows<Bk: ebm::burn::tensor::backend::Backend>(x: Tensor<Bk, 2>) -> Vec<Vec<f64>> {
    let d = x.dims()[1];
    let v: Vec<f64> = x.into_data().convert::<f64>().to_vec().expect("float data");
    v.chunks(d).map(<[f64]>::to_vec).collect()
}

pub fn pairs(rows: &[Vec<f64>]) -> Vec<[f64; 2]> {
    rows.iter().map(|r| [r[0], r[1]]).collect()
}

pub fn tensor<Bk: ebm::burn::tensor::backend::Backend>(
    rows: &[Vec<f64>],
    device: &Bk::Device,
) -> Tensor<Bk, 2> {
    let d = rows[0].len();
    Tensor::from_data(
        TensorData::new(
            rows.iter().flatten().copied().collect::<Vec<_>>(),
            [rows.len(), d],
        ),
        device,
    )
}

/// The report of a 2-D run: MMD and KSD of model samples, NLL of held-out data under the model
/// and under the true density.
pub struct Report {
    pub mmd2: f64,
    pub ksd2: f64,
    pub nll_model: f64,
    pub nll_true: f64,
}

/// Computes the [`Report`] on the square `[−range, range]²`.
pub fn evaluate<B: EbmBackend, E: Energy<B>, T: Energy<B>>(
    model: &E,
    truth: &T,
    samples: &[Vec<f64>],
    held_out: &[Vec<f64>],
    range: f64,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Report {
    let mmd2 = mmd_squared(samples, held_out, None).expect("mmd").mmd2;
    let ksd2 = kernel_stein_discrepancy::<B, _>(model, samples, None, device).expect("ksd");
    let r = (-range, range);
    let log_z = log_partition_2d::<B, _>(model, r, r, 300, device).expect("log Z");
    let nll_model =
        negative_log_likelihood_2d::<B, _>(model, held_out, log_z, device).expect("nll");
    let log_z_true = log_partition_2d::<B, _>(truth, r, r, 300, device).expect("log Z");
    let nll_true =
        negative_log_likelihood_2d::<B, _>(truth, held_out, log_z_true, device).expect("nll");
    Report {
        mmd2,
        ksd2,
        nll_model,
        nll_true,
    }
}

impl Report {
    pub fn print(&self, label: &str) {
        println!(
            "{label}: MMD² (samples vs held-out data) = {:.5}, KSD² (samples under the model) = {:.5}, held-out NLL = {:.4} (true density: {:.4}, gap {:.4} nats)",
            self.mmd2,
            self.ksd2,
            self.nll_model,
            self.nll_true,
            self.nll_model - self.nll_true
        );
    }
}

/// The true density of the generator's Gaussian mixture as an energy.
pub fn mixture_energy<B: EbmBackend>(mixture: &GaussianMixtureConfig) -> Mixture<B, Vec<Gaussian>>
where
    Gaussian: Energy<B>,
{
    let var = mixture.std * mixture.std;
    let parts: Vec<Gaussian> = mixture
        .centres()
        .iter()
        .map(|c| Gaussian::new(c.to_vec(), vec![vec![var, 0.0], vec![0.0, var]]).expect("valid"))
        .collect();
    let n = parts.len();
    Mixture::new(parts, vec![1.0; n]).expect("valid mixture")
}

/// 1000 samples of a 2-D model: fresh MALA chains (step 0.02; 1000 steps, 100 with `quick`)
/// from N(0, 1.5²·I), not a replay buffer, so that they show the model's own density.
pub fn model_samples<B: EbmBackend, E: Energy<B>>(
    model: &E,
    quick: bool,
    device: &ebm::burn::tensor::Device<Inner<B>>,
) -> Vec<Vec<f64>> {
    let mala = MalaConfig::new()
        .step_size(0.02)
        .init()
        .expect("valid sampler");
    let like = Tensor::<Inner<B>, 2>::zeros([1, 2], device);
    let init = ebm::ebm_sample::noise::Noise::new(7)
        .normal([1000, 2], &like)
        .mul_scalar(1.5);
    let n_steps = if quick { 100 } else { 1000 };
    let out = Sampler::<B>::sample(&mala, model, init, &RunConfig::new(n_steps).with_seed(8))
        .expect("sampling runs");
    rows(out.final_state)
}
