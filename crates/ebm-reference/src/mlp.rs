//! The MLP reference file (`data/mlp_energy.json`), an MLP built from its PyTorch parameters,
//! and the comparisons the reference tests make.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use ebm_core::neural::{Activation, Mlp};
use ebm_testing::{TestBackend, TestInner};
use serde::Deserialize;
use std::collections::HashMap;

/// The backend the reference tests run on.
pub type B = TestBackend;
/// Its gradients.
pub type Grads = <B as AutodiffBackend>::Gradients;

#[derive(Deserialize)]
/// The whole file.
pub struct File {
    /// The inputs every model is evaluated on.
    pub inputs: Inputs,
    /// The models (one per activation).
    pub models: Vec<Model>,
}

#[derive(Deserialize)]
/// The fixed inputs of the reference: data, negatives, and the noise the losses drew.
pub struct Inputs {
    /// Data batch `[N, D]`.
    pub x: Vec<Vec<f64>>,
    /// Negatives for contrastive divergence `[N, D]`.
    pub neg: Vec<Vec<f64>>,
    /// Denoising score matching's noise `[N, D]`.
    pub dsm_eps: Vec<Vec<f64>>,
    /// Denoising score matching's σ.
    pub dsm_sigma: f64,
    /// Sliced score matching's projections `[P, N, D]`.
    pub ssm_v: Vec<Vec<Vec<f64>>>,
    /// Hutchinson's Rademacher probes `[N, D]`.
    pub sm_approx_probe_z: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
/// One model: its PyTorch parameters and everything computed from them.
pub struct Model {
    /// Case name.
    pub name: String,
    /// Activation (`silu` or `softplus`).
    pub activation: String,
    /// `W1..W3` (`[out][in]`) and `b1..b3`.
    pub params: HashMap<String, serde_json::Value>,
    /// `E(x)` per row.
    pub energy: Vec<f64>,
    /// `∇E(x)` per row.
    pub grad_energy: Vec<Vec<f64>>,
    /// `∇²E(x)` per row.
    pub hessian_energy: Vec<Vec<Vec<f64>>>,
    /// `ΔE(x)` per row.
    pub laplacian_energy: Vec<f64>,
    /// Loss cases by name ([`LossCase`]).
    pub losses: HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
/// A loss value and its parameter gradients.
pub struct LossCase {
    /// The loss.
    pub loss: f64,
    /// Its gradient with respect to each parameter, by name.
    pub param_grads: HashMap<String, serde_json::Value>,
}

/// The parsed reference file.
pub fn file() -> File {
    serde_json::from_str(include_str!("../data/mlp_energy.json")).expect("reference parses")
}

/// A nested JSON array as flat values and a shape.
pub fn flatten(v: &serde_json::Value) -> (Vec<f64>, Vec<usize>) {
    match v {
        serde_json::Value::Array(items) if items.first().is_some_and(|i| i.is_array()) => {
            let parts: Vec<_> = items.iter().map(flatten).collect();
            let mut shape = vec![items.len()];
            shape.extend(&parts[0].1);
            (parts.into_iter().flat_map(|p| p.0).collect(), shape)
        }
        serde_json::Value::Array(items) => (
            items.iter().map(|i| i.as_f64().unwrap()).collect(),
            vec![items.len()],
        ),
        other => (vec![other.as_f64().unwrap()], vec![]),
    }
}

/// Rows as a `[N, D]` tensor.
pub fn batch(rows: &[Vec<f64>]) -> Tensor<B, 2> {
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), rows[0].len()]),
        &Default::default(),
    )
}

/// Builds our MLP from the PyTorch parameters (`W[out][in]`, transposed to our `[in, out]`).
pub fn mlp(model: &Model) -> Mlp<B> {
    let device = Default::default();
    let activation = match model.activation.as_str() {
        "silu" | "SiLU" => Activation::Silu,
        "softplus" | "Softplus" => Activation::Softplus,
        other => panic!("unexpected activation {other}"),
    };
    let (mut ws, mut bs) = (vec![], vec![]);
    for l in 1..=3 {
        let (w, shape) = flatten(&model.params[&format!("W{l}")]);
        let w = Tensor::<B, 2>::from_data(TensorData::new(w, [shape[0], shape[1]]), &device)
            .transpose();
        let (b, _) = flatten(&model.params[&format!("b{l}")]);
        ws.push(w.detach().require_grad());
        bs.push(
            Tensor::<B, 1>::from_data(TensorData::new(b.clone(), [b.len()]), &device)
                .require_grad(),
        );
    }
    Mlp::from_parameters(ws, bs, activation).unwrap()
}

/// Panics unless `ours` matches `reference` within `rtol` of each value plus the largest.
pub fn assert_close(what: &str, ours: &[f32], reference: &[f64], rtol: f64) {
    assert_eq!(ours.len(), reference.len(), "{what}: length");
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (&o, &r)) in ours.iter().zip(reference).enumerate() {
        let err = (o as f64 - r).abs();
        // The 1e-7 floor covers entries that are 0 up to float64 rounding (d/db3 of plain CD).
        assert!(
            err <= rtol * (r.abs() + scale) + 1e-7,
            "{what}[{i}]: ours {o} vs reference {r} (err {err:e})"
        );
    }
}

/// A tensor's values.
pub fn values<const D: usize>(t: Tensor<TestInner, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

/// Compares our loss and every parameter gradient with a reference loss case.
pub fn check_loss(
    model: &Model,
    mlp: &Mlp<B>,
    key: &str,
    reference: &serde_json::Value,
    loss: Tensor<B, 1>,
    rtol: f64,
) {
    let case: LossCase = serde_json::from_value(reference.clone()).unwrap();
    let what = format!("{} {key}", model.name);
    assert_close(
        &format!("{what} loss"),
        &values(loss.clone().inner()),
        &[case.loss],
        rtol,
    );
    let grads: Grads = loss.backward();
    let layers = [&mlp.hidden[0], &mlp.hidden[1], &mlp.output];
    for (l, layer) in layers.iter().enumerate() {
        let name_w = format!("W{}", l + 1);
        let name_b = format!("b{}", l + 1);
        let zeros_w = || Tensor::zeros(layer.weight.val().dims(), &Default::default());
        let zeros_b = || Tensor::zeros(layer.bias.val().dims(), &Default::default());
        // A parameter that the loss does not reach (b3 in score matching) has a zero gradient.
        let gw = layer
            .weight
            .val()
            .grad(&grads)
            .unwrap_or_else(zeros_w)
            .transpose();
        let gb = layer.bias.val().grad(&grads).unwrap_or_else(zeros_b);
        assert_close(
            &format!("{what} d/d{name_w}"),
            &values(gw),
            &flatten(&case.param_grads[&name_w]).0,
            rtol,
        );
        assert_close(
            &format!("{what} d/d{name_b}"),
            &values(gb),
            &flatten(&case.param_grads[&name_b]).0,
            rtol,
        );
    }
}
