//! What every flow objective draws for a data batch: the noise, its pairing with the data, the
//! times, and the point and velocity of the path between them.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ebm_core::interpolant::Interpolant;
use ebm_sample::noise::Noise;

use crate::TrainError;
use crate::coupling::Coupling;
use crate::objective::TrainStep;
use crate::time_sampler::TimeSampler;

/// A batch of paths `x_t = α(t)·x₁ + σ(t)·x₀` with their velocities `u_t`.
#[derive(Debug, Clone)]
pub struct PathBatch<Bk: Backend> {
    /// The noise `[N, D]`.
    pub x0: Tensor<Bk, 2>,
    /// The data `[N, D]`, reordered to its partners of `x0`.
    pub x1: Tensor<Bk, 2>,
    /// The times `[N]`.
    pub t: Tensor<Bk, 1>,
    /// The points of the paths `[N, D]`.
    pub xt: Tensor<Bk, 2>,
    /// The conditional velocities `dx_t/dt` `[N, D]`.
    pub ut: Tensor<Bk, 2>,
}

impl<Bk: Backend> PathBatch<Bk> {
    /// The paths from given noise `x0`, data `x1` and times `t` (no pairing).
    pub fn new(
        interpolant: &Interpolant,
        x0: Tensor<Bk, 2>,
        x1: Tensor<Bk, 2>,
        t: Tensor<Bk, 1>,
    ) -> Self {
        let (xt, ut) = interpolant.interpolate(x0.clone(), x1.clone(), t.clone());
        Self { x0, x1, t, xt, ut }
    }
}

/// The draws of one training step: N(0, I) noise (stream `"{name}/noise"`), paired with the data
/// by `coupling` (`"{name}/coupling"`), times from `time` (`"{name}/time"`).
pub(crate) fn draw_paths<Bk: Backend>(
    name: &str,
    interpolant: &Interpolant,
    coupling: &Coupling,
    time: &TimeSampler,
    data: Tensor<Bk, 2>,
    step: TrainStep,
) -> Result<PathBatch<Bk>, TrainError> {
    let [n, d] = data.dims();
    let x0 = Noise::new(step.stream(&format!("{name}/noise"))).normal([n, d], &data);
    let x1 = coupling.couple(&x0, data, step.stream(&format!("{name}/coupling")))?;
    let t = time.draw(n, step.stream(&format!("{name}/time")));
    let t = Tensor::from_data(TensorData::new(t, [n]), (&x1.device(), x1.dtype()));
    Ok(PathBatch::new(interpolant, x0, x1, t))
}

/// Checks the parameters every flow objective shares.
pub(crate) fn validate(
    interpolant: &Interpolant,
    coupling: &Coupling,
    time: &TimeSampler,
) -> Result<(), TrainError> {
    interpolant.validate()?;
    coupling.validate()?;
    time.validate()
}

/// A data batch of `dims` for a field of width `input_dim`: non-empty, the right width.
pub(crate) fn check_field_batch(input_dim: usize, dims: [usize; 2]) -> Result<(), TrainError> {
    Ok(ebm_core::check_batch(Some(input_dim), dims)?)
}
