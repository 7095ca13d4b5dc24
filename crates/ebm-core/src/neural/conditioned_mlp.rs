//! An MLP conditioned on time and class: `f([x ‖ c])` with `c` the sum of a time embedding and
//! a label embedding (TorchEBM 0.8.9's `TimeConditionedMLP` with `conditioning="concat"`).

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::Activation;
use super::column_product::column_product;
use super::field_model::{Cotangent, FieldModel};
use super::init::ParamInit;
use super::layers::{self, SecondOrderLayer};
use super::mlp::Dense;
use super::time_embedding::{TimeEmbedding, TimeEmbeddingConfig};
use crate::cpu_kernels::{CpuKernels, EbmBackend};
use crate::energy::{Energy, SecondOrderEnergy, assert_batch, assert_probes};
use crate::error::{EnergyError, InvalidParameter, MAX_TENSOR_ELEMENTS, Result, require_size};

/// Builds a [`ConditionedMlp`].
#[derive(Config, Debug)]
pub struct ConditionedMlpConfig {
    /// Features per input sample.
    pub input_dim: usize,
    /// Outputs per sample: `None` gives `input_dim` (a vector field), 1 an energy.
    #[config(default = "None")]
    pub output_dim: Option<usize>,
    /// Widths of the hidden layers (TorchEBM's default: three of 256).
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer.
    #[config(default = "Activation::Silu")]
    pub activation: Activation,
    /// Condition on time (a [`TimeEmbedding`]); without it and without classes the network is
    /// unconditional and ignores `t` (the Equilibrium Matching convention).
    #[config(default = true)]
    pub time: bool,
    /// Number of class labels, if conditioned on a class. One more embedding row, the null
    /// label [`ConditionedMlp::null_label`], stands for "no class" (classifier-free guidance);
    /// a batch given no labels at all is conditioned on time alone.
    #[config(default = "None")]
    pub classes: Option<usize>,
    /// Width of the conditioning vector `c`: `None` gives the first hidden width.
    #[config(default = "None")]
    pub condition_dim: Option<usize>,
    /// Sinusoidal features of the time embedding.
    #[config(default = 256)]
    pub frequencies: usize,
    /// Seed of the initialisation.
    #[config(default = 0)]
    pub seed: u64,
}

crate::json_config!(
    ConditionedMlpConfig,
    required = ["input_dim", "hidden"],
    template = ConditionedMlpConfig::new(0, vec![])
);

/// `f([x ‖ c])`: dense layers over the input concatenated with the condition
/// `c = embed(t) + label_row(y)`, `[N, D] → [N, output_dim]`.
///
/// Used as a vector field it implements [`FieldModel`]; with one output, [`ConditionedMlp::at`]
/// fixes a time and a class and gives an [`Energy`] (and [`SecondOrderEnergy`]), so samplers and
/// score matching take it. Input gradients and vector–Jacobian products are written with the
/// second-order layers of [`super::layers`], so losses in them train with one first-order
/// backward pass.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use ebm_core::neural::{ConditionedMlpConfig, FieldModel};
///
/// type B = Autodiff<NdArray>;
/// let device = Default::default();
/// let field = ConditionedMlpConfig::new(2, vec![32, 32])
///     .with_classes(Some(3))
///     .init::<B>(&device)
///     .unwrap();
/// let x = Tensor::<B, 2>::zeros([4, 2], &device);
/// let t = Tensor::<B, 1>::from_data([0.0, 0.25, 0.5, 1.0], &device);
/// let v = field.field(x, t, Some(&[0, 1, 2, field.null_label()]));
/// assert_eq!(v.dims(), [4, 2]);
/// ```
#[derive(Module, Debug)]
pub struct ConditionedMlp<B: Backend> {
    /// The time embedding, if conditioned on time.
    pub time: Option<TimeEmbedding<B>>,
    /// The label embedding `[classes + 1, condition_dim]`, if conditioned on a class.
    pub labels: Option<Param<Tensor<B, 2>>>,
    /// Hidden layers, input first; the first takes `[x ‖ c]`.
    pub hidden: Vec<Dense<B>>,
    /// Output layer.
    pub output: Dense<B>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    input_dim: usize,
    #[module(skip)]
    classes: usize,
}

impl ConditionedMlpConfig {
    /// Builds the network on `device`: dense layers as Burn's `Linear` initialises them
    /// (PyTorch's default too), the embeddings N(0, 0.02²) as TorchEBM's.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<ConditionedMlp<B>> {
        if self.input_dim == 0 {
            return Err(EnergyError::Empty {
                what: "conditioned MLP input dimension",
            });
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(EnergyError::Empty {
                what: "conditioned MLP hidden layers (each needs a unit)",
            });
        }
        self.activation.validate()?;
        let output_dim = self.output_dim.unwrap_or(self.input_dim);
        let classes = self.classes.unwrap_or(0);
        if output_dim == 0 || self.classes == Some(0) {
            return Err(EnergyError::InvalidParameter(InvalidParameter::new(
                if output_dim == 0 {
                    "output_dim"
                } else {
                    "classes"
                },
                0usize,
                "must be >= 1",
            )));
        }
        let conditioned = self.time || classes > 0;
        let condition_dim = match conditioned {
            true => self.condition_dim.unwrap_or(self.hidden[0]),
            false => 0,
        };
        if conditioned && condition_dim == 0 {
            return Err(EnergyError::InvalidParameter(InvalidParameter::new(
                "condition_dim",
                0usize,
                "must be >= 1 for a conditioned network",
            )));
        }
        let mut widths = vec![self.input_dim + condition_dim];
        widths.extend(&self.hidden);
        widths.push(output_dim);
        for w in widths.windows(2) {
            require_size("conditioned MLP weight matrix", w, MAX_TENSOR_ELEMENTS)?;
        }
        require_size(
            "label embedding",
            &[classes + 1, condition_dim],
            MAX_TENSOR_ELEMENTS,
        )?;
        let mut rng = ParamInit::new(self.seed);
        let dense_init = Initializer::KaimingUniform {
            gain: 1.0 / 3.0f64.sqrt(),
            fan_out_only: false,
        };
        let mut layer = |d_in: usize, d_out: usize| Dense {
            weight: rng.param(&dense_init, [d_in, d_out], d_in, d_out, device),
            bias: rng.param(&dense_init, [d_out], d_in, d_out, device),
        };
        let mut layers: Vec<Dense<B>> = widths.windows(2).map(|w| layer(w[0], w[1])).collect();
        let output = layers.pop().expect("at least one layer");
        let time = match self.time {
            true => Some(
                TimeEmbeddingConfig::new(condition_dim)
                    .with_frequencies(self.frequencies)
                    .with_seed(crate::random_stream::stream_seed(self.seed, "time", 0))
                    .init(device)?,
            ),
            false => None,
        };
        let labels = (classes > 0).then(|| {
            rng.param(
                &Initializer::Normal {
                    mean: 0.0,
                    std: 0.02,
                },
                [classes + 1, condition_dim],
                classes + 1,
                condition_dim,
                device,
            )
        });
        Ok(ConditionedMlp {
            time,
            labels,
            hidden: layers,
            output,
            activation: self.activation,
            input_dim: self.input_dim,
            classes,
        })
    }
}

impl<B: CpuKernels> ConditionedMlp<B> {
    /// Outputs per sample.
    pub fn output_dim(&self) -> usize {
        self.output.bias.dims()[0]
    }

    /// The label that stands for "no class": `classes`, the embedding's extra row.
    pub fn null_label(&self) -> usize {
        self.classes
    }

    /// Checks `labels` for a batch of `n`: `n` values in `0..=classes` (the null label
    /// included), or none if the network also takes a time.
    pub fn check_labels(&self, labels: Option<&[usize]>, n: usize) -> Result<()> {
        let Some(labels) = labels else {
            return match self.time.is_none() && self.classes > 0 {
                true => Err(EnergyError::Empty {
                    what: "class labels of a network conditioned on the class alone",
                }),
                false => Ok(()),
            };
        };
        if self.classes == 0 {
            return Err(EnergyError::InvalidParameter(InvalidParameter::new(
                "labels",
                labels.len(),
                "this network takes no class labels",
            )));
        }
        if labels.len() != n {
            return Err(EnergyError::LengthMismatch {
                what: "class labels and batch rows",
                left: labels.len(),
                right: n,
            });
        }
        match labels.iter().find(|&&y| y > self.classes) {
            Some(&y) => Err(EnergyError::InvalidParameter(InvalidParameter::new(
                "label",
                y,
                "must be below the number of classes, or the null label",
            ))),
            None => Ok(()),
        }
    }

    /// The condition `c = embed(t) + label_row(y)` (`[N, condition_dim]`), or `None` for an
    /// unconditional network.
    fn condition(&self, t: Tensor<B, 1>, labels: Option<&[usize]>) -> Option<Tensor<B, 2>> {
        let n = t.dims()[0];
        let device = t.device();
        let from_time = self.time.as_ref().map(|embedding| embedding.forward(t));
        // Without labels the condition is the time's alone, as in TorchEBM.
        let from_labels = self.labels.as_ref().zip(labels).map(|(table, labels)| {
            let rows: Vec<i64> = labels.iter().map(|&y| y as i64).collect();
            let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [n]), &device);
            table.val().select(0, rows)
        });
        match (from_time, from_labels) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        }
    }

    fn layers(&self) -> (Vec<(&Dense<B>, Activation)>, &Dense<B>) {
        let hidden = self.hidden.iter().map(|d| (d, self.activation)).collect();
        (hidden, &self.output)
    }

    #[track_caller]
    fn check(&self, x: &Tensor<B, 2>, times: usize, labels: Option<&[usize]>) {
        let name = std::any::type_name::<Self>();
        assert_batch(name, Some(self.input_dim), x.dims());
        assert_eq!(
            times,
            x.dims()[0],
            "{name}: {times} times for {} rows",
            x.dims()[0]
        );
        if let Err(e) = self.check_labels(labels, x.dims()[0]) {
            panic!("{name}: {e}");
        }
    }

    /// `[x ‖ c]`, the first layer's input.
    fn joined(&self, x: Tensor<B, 2>, t: Tensor<B, 1>, labels: Option<&[usize]>) -> Tensor<B, 2> {
        match self.condition(t, labels) {
            Some(c) => Tensor::cat(vec![x, c], 1),
            None => x,
        }
    }

    /// `f(x, t, y)`: `[N, D] → [N, output_dim]`.
    ///
    /// # Panics
    /// If `x` is not `[N, input_dim]`, `t` not `[N]`, or `labels` not [`Self::check_labels`]-valid.
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        labels: Option<&[usize]>,
    ) -> Tensor<B, 2> {
        self.check(&x, t.dims()[0], labels);
        self.layers().forward(self.joined(x, t, labels), None).0
    }

    /// `f(x, t, y)` with one time for every row: the time's embedding and its product with
    /// the first layer's condition weights are computed once and broadcast, so the first layer
    /// costs what it would without a condition (the flow sampler's case).
    ///
    /// # Panics
    /// As [`Self::forward`].
    pub fn forward_at(&self, x: Tensor<B, 2>, t: f64, labels: Option<&[usize]>) -> Tensor<B, 2> {
        let [n, d] = x.dims();
        let device = x.device();
        self.check(&x, n, labels);
        let first = &self.hidden[0];
        let weight = first.weight.val();
        let [width, h] = weight.dims();
        let mut z = column_product(x, weight.clone().slice([0..d, 0..h]))
            + first.bias.val().unsqueeze_dim(0);
        if width > d {
            let from_condition = weight.slice([d..width, 0..h]);
            if let Some(embedding) = &self.time {
                let c = embedding.forward(Tensor::full([1], t, &device));
                z = z + c.matmul(from_condition.clone());
            }
            if let (Some(table), Some(labels)) = (&self.labels, labels) {
                let rows: Vec<i64> = labels.iter().map(|&y| y as i64).collect();
                let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [n]), &device);
                z = z + table.val().select(0, rows).matmul(from_condition);
            }
        }
        let rest: Vec<(&Dense<B>, Activation)> = self.hidden[1..]
            .iter()
            .map(|d| (d, self.activation))
            .collect();
        (rest, &self.output)
            .forward(self.activation.apply(z), None)
            .0
    }

    /// `f(x, t, y)` and `(∂f/∂x)ᵀ·u` for `u = cotangent(x, f)` (`[N, output_dim]`).
    pub fn forward_and_vjp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        labels: Option<&[usize]>,
        cotangent: &Cotangent<B>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        self.check(&x, t.dims()[0], labels);
        let [n, d] = x.dims();
        let chain = self.layers();
        let (f, _, cache) = chain.forward(self.joined(x.clone(), t, labels), None);
        let u = cotangent(&x, &f);
        let (g, _) = chain.backward(cache, u, None);
        (f, g.slice([0..n, 0..d]))
    }

    /// This network at one time `t` and class `label` (or the null label): with one output, an
    /// [`Energy`] `E(x) = f(x, t, y)` for the samplers and a [`SecondOrderEnergy`] for score
    /// matching.
    pub fn at(&self, t: f64, label: Option<usize>) -> Result<AtCondition<'_, B>> {
        if self.output_dim() != 1 {
            return Err(EnergyError::InvalidParameter(InvalidParameter::new(
                "output_dim",
                self.output_dim(),
                "an energy needs one output",
            )));
        }
        if !t.is_finite() {
            return Err(EnergyError::NonFinite { what: "the time" });
        }
        if let Some(y) = label {
            self.check_labels(Some(&[y]), 1)?;
        }
        Ok(AtCondition {
            model: self,
            t,
            label,
        })
    }
}

impl<B: CpuKernels> FieldModel<B> for ConditionedMlp<B> {
    fn input_dim(&self) -> usize {
        self.input_dim
    }

    fn classes(&self) -> usize {
        self.classes
    }

    fn field(&self, x: Tensor<B, 2>, t: Tensor<B, 1>, labels: Option<&[usize]>) -> Tensor<B, 2> {
        self.forward(x, t, labels)
    }

    fn field_at(&self, x: Tensor<B, 2>, t: f64, labels: Option<&[usize]>) -> Tensor<B, 2> {
        self.forward_at(x, t, labels)
    }

    fn field_and_vjp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        labels: Option<&[usize]>,
        cotangent: &Cotangent<B>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        self.forward_and_vjp(x, t, labels, cotangent)
    }
}

/// A one-output [`ConditionedMlp`] at a fixed time and class: an energy
/// ([`ConditionedMlp::at`]).
#[derive(Debug, Clone, Copy)]
pub struct AtCondition<'a, B: Backend> {
    model: &'a ConditionedMlp<B>,
    t: f64,
    label: Option<usize>,
}

impl<B: CpuKernels> AtCondition<'_, B> {
    fn joined(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let t = Tensor::full([n], self.t, &x.device());
        let labels = self.label.map(|y| vec![y; n]);
        self.model.joined(x, t, labels.as_deref())
    }
}

impl<B: EbmBackend> Energy<B> for AtCondition<'_, B> {
    fn input_dim(&self) -> Option<usize> {
        Some(self.model.input_dim)
    }

    fn energy(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        assert_batch(
            std::any::type_name::<Self>(),
            Some(self.model.input_dim),
            x.dims(),
        );
        layers::energy(&self.model.layers(), self.joined(x))
    }
}

impl<B: EbmBackend> SecondOrderEnergy<B> for AtCondition<'_, B> {
    fn grad_energy_tracked(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        assert_batch(
            std::any::type_name::<Self>(),
            Some(self.model.input_dim),
            x.dims(),
        );
        let [n, d] = x.dims();
        layers::grad(&self.model.layers(), self.joined(x)).slice([0..n, 0..d])
    }

    fn grad_and_hvp_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        assert_probes(std::any::type_name::<Self>(), x.dims(), v.dims(), false);
        self.grad_and_hvps_tracked(x, v)
    }

    fn grad_and_hvps_tracked(
        &self,
        x: Tensor<B, 2>,
        v: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let name = std::any::type_name::<Self>();
        assert_batch(name, Some(self.model.input_dim), x.dims());
        assert_probes(name, x.dims(), v.dims(), true);
        let [n, d] = x.dims();
        let rows = v.dims()[0];
        let joined = self.joined(x);
        let width = joined.dims()[1];
        // The condition does not move with x: its probe entries are zero.
        let v = match width > d {
            true => Tensor::cat(
                vec![v.clone(), Tensor::zeros([rows, width - d], &v.device())],
                1,
            ),
            false => v,
        };
        let (g, hv) = layers::grad_and_hvps(&self.model.layers(), joined, v);
        (g.slice([0..n, 0..d]), hv.slice([0..rows, 0..d]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combinators::second_order_check::assert_agrees;
    use ebm_testing::{TestBackend as Test, TestInner};

    fn x_and_t(device: &burn::tensor::Device<Test>) -> (Tensor<Test, 2>, Tensor<Test, 1>) {
        let x = Tensor::from_data([[0.3, -0.2], [1.1, 0.4], [-0.7, 0.9]], device);
        let t = Tensor::from_data([0.1, 0.5, 0.9], device);
        (x, t)
    }

    #[test]
    fn time_and_labels_change_the_field() {
        let device = Default::default();
        let field = ConditionedMlpConfig::new(2, vec![16, 16])
            .with_classes(Some(2))
            .with_seed(3)
            .init::<Test>(&device)
            .unwrap();
        let (x, t) = x_and_t(&device);
        let a = field.field(x.clone(), t.clone(), Some(&[0, 1, 2]));
        let b = field.field(x.clone(), t.clone() + 0.2, Some(&[0, 1, 2]));
        let c = field.field(x.clone(), t.clone(), Some(&[1, 0, 2]));
        let null = field.field(x.clone(), t.clone(), None);
        let differ = |p: &Tensor<Test, 2>, q: &Tensor<Test, 2>, row: usize| {
            let p = p.clone().slice([row..row + 1, 0..2]);
            let q = q.clone().slice([row..row + 1, 0..2]);
            (p - q).abs().max().into_scalar() > 1e-6
        };
        assert!((0..3).all(|row| differ(&a, &b, row)));
        assert!(differ(&a, &c, 0) && differ(&a, &c, 1) && !differ(&a, &c, 2));
        // No labels: the time's condition alone, not the null label's row.
        assert!((0..3).all(|row| differ(&a, &null, row)));
    }

    #[test]
    fn one_shared_time_gives_the_batched_field() {
        let device = Default::default();
        for classes in [None, Some(3)] {
            let field = ConditionedMlpConfig::new(2, vec![16, 8])
                .with_classes(classes)
                .with_seed(4)
                .init::<Test>(&device)
                .unwrap();
            let (x, _) = x_and_t(&device);
            let labels = classes.map(|_| [2usize, 0, 3]);
            let batched = field.field(
                x.clone(),
                Tensor::full([3], 0.3, &device),
                labels.as_ref().map(|l| &l[..]),
            );
            let shared = field.field_at(x, 0.3, labels.as_ref().map(|l| &l[..]));
            shared.into_data().assert_approx_eq::<f32>(
                &batched.into_data(),
                burn::tensor::Tolerance::absolute(1e-5),
            );
        }
    }

    #[test]
    fn an_unconditional_network_ignores_time() {
        let device = Default::default();
        let field = ConditionedMlpConfig::new(2, vec![8])
            .with_time(false)
            .init::<Test>(&device)
            .unwrap();
        let (x, t) = x_and_t(&device);
        let a = field.field(x.clone(), t.clone(), None);
        let b = field.field(x, t.zeros_like(), None);
        a.into_data().assert_eq(&b.into_data(), true);
    }

    #[test]
    fn the_vector_jacobian_product_matches_differences() {
        let device = Default::default();
        let field = ConditionedMlpConfig::new(2, vec![12, 12])
            .with_activation(Activation::Gelu)
            .with_seed(5)
            .init::<Test>(&device)
            .unwrap();
        let (x, t) = x_and_t(&device);
        // u = x: the gradient of x·f(x) minus f gives Jᵀx.
        let (f, vjp) = field.forward_and_vjp(x.clone(), t.clone(), None, &|x, _| x.clone());
        let dot = |x: Tensor<Test, 2>| {
            let f = field.field(x.clone(), t.clone(), None);
            (x * f)
                .sum_dim(1)
                .into_data()
                .convert::<f64>()
                .to_vec::<f64>()
                .unwrap()
        };
        let grad = (f + vjp)
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .unwrap();
        let h = 1e-2;
        for k in 0..2 {
            let mut e = vec![0.0f32; 6];
            for row in 0..3 {
                e[row * 2 + k] = h as f32;
            }
            let step = Tensor::<Test, 2>::from_data(TensorData::new(e, [3, 2]), &device);
            let (up, down) = (dot(x.clone() + step.clone()), dot(x.clone() - step));
            for row in 0..3 {
                let fd = (up[row] - down[row]) / (2.0 * h);
                assert!(
                    (grad[row * 2 + k] - fd).abs() < 2e-3,
                    "{row} {k}: {} vs {fd}",
                    grad[row * 2 + k]
                );
            }
        }
    }

    #[test]
    fn at_a_fixed_condition_it_is_a_second_order_energy() {
        let device = Default::default();
        let net = ConditionedMlpConfig::new(3, vec![10, 10])
            .with_output_dim(Some(1))
            .with_classes(Some(4))
            .with_activation(Activation::Softplus)
            .with_seed(8)
            .init::<Test>(&device)
            .unwrap();
        let energy = net.at(0.4, Some(2)).unwrap();
        let x = Tensor::<TestInner, 2>::from_data([[0.3, -0.2, 0.5], [1.1, 0.4, -0.6]], &device);
        assert_agrees(&energy, x);
        assert!(net.at(0.4, Some(5)).is_err());
        assert!(net.at(f64::NAN, None).is_err());
        let field = ConditionedMlpConfig::new(3, vec![4])
            .init::<Test>(&device)
            .unwrap();
        assert!(field.at(0.0, None).is_err());
    }

    #[test]
    fn bad_configs_and_labels_are_errors() {
        let device = Default::default();
        let init = |c: ConditionedMlpConfig| c.init::<Test>(&device).map(|_| ());
        assert!(init(ConditionedMlpConfig::new(0, vec![4])).is_err());
        assert!(init(ConditionedMlpConfig::new(2, vec![])).is_err());
        assert!(init(ConditionedMlpConfig::new(2, vec![4, 0])).is_err());
        assert!(init(ConditionedMlpConfig::new(2, vec![4]).with_classes(Some(0))).is_err());
        assert!(init(ConditionedMlpConfig::new(2, vec![4]).with_output_dim(Some(0))).is_err());
        let net = ConditionedMlpConfig::new(2, vec![4])
            .with_classes(Some(3))
            .init::<TestInner>(&device)
            .unwrap();
        assert!(net.check_labels(Some(&[0, 3]), 2).is_ok());
        assert!(matches!(
            net.check_labels(Some(&[0, 4]), 2),
            Err(EnergyError::InvalidParameter(p)) if p.name == "label"
        ));
        assert!(matches!(
            net.check_labels(Some(&[0]), 2),
            Err(EnergyError::LengthMismatch { .. })
        ));
    }
}
