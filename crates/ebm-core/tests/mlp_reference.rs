//! The MLP energy against TorchEBM's float64 reference vectors (`tests/data/mlp_energy.json`):
//! energy, input gradient, Hessian, Laplacian, and the losses and parameter gradients of
//! contrastive divergence and of the score-matching family. The score-matching parameter
//! gradients are second order (∂θ of expressions in ∇ₓE and ∇ₓ²E): they go through the MLP's
//! hand-written input gradient and Hessian-vector product with one first-order backward pass.
//!
//! Tolerances (f32 against float64): `|ours − ref| ≤ rtol·(|ref| + max|ref of that tensor|)` with
//! rtol = 1e-5 for first-order quantities and 1e-4 for second-order ones, as the reference's
//! README suggests.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use ebm_core::neural::{Activation, Mlp};
use ebm_core::{Energy, SecondOrderEnergy};
use serde::Deserialize;
use std::collections::HashMap;

type B = Autodiff<NdArray>;
type Grads = <B as AutodiffBackend>::Gradients;

#[derive(Deserialize)]
struct File {
    inputs: Inputs,
    models: Vec<Model>,
}

#[derive(Deserialize)]
struct Inputs {
    x: Vec<Vec<f64>>,
    neg: Vec<Vec<f64>>,
    dsm_eps: Vec<Vec<f64>>,
    dsm_sigma: f64,
    ssm_v: Vec<Vec<Vec<f64>>>,
    sm_approx_probe_z: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Model {
    name: String,
    activation: String,
    params: HashMap<String, serde_json::Value>,
    energy: Vec<f64>,
    grad_energy: Vec<Vec<f64>>,
    hessian_energy: Vec<Vec<Vec<f64>>>,
    laplacian_energy: Vec<f64>,
    losses: HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct LossCase {
    loss: f64,
    param_grads: HashMap<String, serde_json::Value>,
}

fn file() -> File {
    serde_json::from_str(include_str!("data/mlp_energy.json")).expect("reference parses")
}

fn flatten(v: &serde_json::Value) -> (Vec<f64>, Vec<usize>) {
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

fn batch(rows: &[Vec<f64>]) -> Tensor<B, 2> {
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), rows[0].len()]),
        &Default::default(),
    )
}

/// Builds our MLP from the PyTorch parameters (`W[out][in]`, transposed to our `[in, out]`).
fn mlp(model: &Model) -> Mlp<B> {
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

fn assert_close(what: &str, ours: &[f32], reference: &[f64], rtol: f64) {
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

fn values<const D: usize>(t: Tensor<NdArray, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

/// Compares our loss and every parameter gradient with a reference loss case.
fn check_loss(
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

fn mean_rows(t: Tensor<B, 1>) -> Tensor<B, 1> {
    t.mean()
}

#[test]
fn energy_gradient_hessian_and_laplacian_match() {
    let file = file();
    let x = batch(&file.inputs.x);
    let [n, d] = x.dims();
    for model in &file.models {
        let mlp = mlp(model);
        let (e, g) = mlp.energy_and_grad(x.clone().inner());
        assert_close(
            &format!("{} energy", model.name),
            &values(e),
            &model.energy,
            1e-5,
        );
        let g_ref: Vec<f64> = model.grad_energy.iter().flatten().copied().collect();
        assert_close(&format!("{} grad", model.name), &values(g), &g_ref, 1e-5);
        // Tracked path gives the same gradient.
        assert_close(
            &format!("{} grad tracked", model.name),
            &values(mlp.grad_energy_tracked(x.clone()).inner()),
            &g_ref,
            1e-5,
        );
        // Hessian column k = H·e_k.
        let h_ref: Vec<f64> = model
            .hessian_energy
            .iter()
            .flatten()
            .flatten()
            .copied()
            .collect();
        let mut hess = vec![0.0f32; n * d * d];
        for k in 0..d {
            let basis = Tensor::<B, 2>::zeros([n, d], &Default::default())
                .slice_assign([0..n, k..k + 1], Tensor::ones([n, 1], &Default::default()));
            let hv = values(mlp.grad_and_hvp_tracked(x.clone(), basis).1.inner());
            for i in 0..n {
                for j in 0..d {
                    hess[i * d * d + j * d + k] = hv[i * d + j];
                }
            }
        }
        assert_close(&format!("{} hessian", model.name), &hess, &h_ref, 1e-4);
        let (_, lap) = mlp.grad_and_laplacian_tracked(x.clone());
        assert_close(
            &format!("{} laplacian", model.name),
            &values(lap.inner()),
            &model.laplacian_energy,
            1e-4,
        );
    }
}

#[test]
fn contrastive_divergence_loss_and_parameter_gradients_match() {
    let file = file();
    for model in &file.models {
        for (key, w) in [
            ("energy_reg_weight_0.0", 0.0),
            ("energy_reg_weight_0.001", 0.001),
        ] {
            let mlp = mlp(model);
            let pos = mlp.energy(batch(&file.inputs.x));
            let neg = mlp.energy(batch(&file.inputs.neg).detach());
            let reg = (pos.clone().square().mean() + neg.clone().square().mean()).mul_scalar(w);
            let loss = pos.mean() - neg.mean() + reg;
            check_loss(
                model,
                &mlp,
                key,
                &model.losses["contrastive_divergence"][key],
                loss,
                1e-5,
            );
        }
    }
}

#[test]
fn exact_score_matching_second_order_parameter_gradients_match() {
    let file = file();
    for model in &file.models {
        let mlp = mlp(model);
        let (g, lap) = mlp.grad_and_laplacian_tracked(batch(&file.inputs.x));
        let n = g.dims()[0];
        let loss = mean_rows(g.square().sum_dim(1).reshape([n]).mul_scalar(0.5) - lap);
        check_loss(
            model,
            &mlp,
            "score_matching_exact",
            &model.losses["score_matching_exact"],
            loss,
            1e-4,
        );
    }
}

#[test]
fn denoising_score_matching_parameter_gradients_match() {
    let file = file();
    let sigma = file.inputs.dsm_sigma;
    for model in &file.models {
        let mlp = mlp(model);
        let eps = batch(&file.inputs.dsm_eps);
        let x_noisy = batch(&file.inputs.x) + eps.clone().mul_scalar(sigma);
        let g = mlp.grad_energy_tracked(x_noisy);
        let n = g.dims()[0];
        // The sign: ∇E(x̃) is regressed onto +ε/σ, i.e. the score −∇E onto −(x̃ − x)/σ².
        let loss = mean_rows(
            (g - eps.div_scalar(sigma))
                .square()
                .sum_dim(1)
                .reshape([n])
                .mul_scalar(0.5),
        );
        check_loss(
            model,
            &mlp,
            "denoising_score_matching",
            &model.losses["denoising_score_matching"],
            loss,
            1e-4,
        );
    }
}

#[test]
fn sliced_score_matching_parameter_gradients_match() {
    let file = file();
    for model in &file.models {
        let mlp = mlp(model);
        let p = file.inputs.ssm_v.len();
        let x = batch(&file.inputs.x).repeat_dim(0, p);
        let v_rows: Vec<Vec<f64>> = file.inputs.ssm_v.iter().flatten().cloned().collect();
        let v = batch(&v_rows);
        let (g, hv) = mlp.grad_and_hvp_tracked(x, v.clone());
        let rows = g.dims()[0];
        let vg = (v.clone() * g).sum_dim(1).reshape([rows]);
        let vhv = (v * hv).sum_dim(1).reshape([rows]);
        let loss = mean_rows(vg.square().mul_scalar(0.5) - vhv);
        check_loss(
            model,
            &mlp,
            "sliced_score_matching",
            &model.losses["sliced_score_matching"],
            loss,
            1e-4,
        );
    }
}

/// TorchEBM's `hessian_method="approx"` divides its trace estimate by the dimension d. Its
/// value equals `½·mean‖∇E‖² − mean(zᵀHz)/d` (up to its finite-difference error), which this
/// test confirms; the correct Hutchinson objective, `½·mean‖∇E‖² − mean(zᵀHz)`, is what our
/// learners use, and it differs from TorchEBM's by the factor on the trace.
#[test]
fn reference_approx_score_matching_is_the_trace_divided_by_d() {
    let file = file();
    for model in &file.models {
        let mlp = mlp(model);
        let x = batch(&file.inputs.x);
        let [n, d] = x.dims();
        let z = batch(&file.inputs.sm_approx_probe_z);
        let (g, hz) = mlp.grad_and_hvp_tracked(x, z.clone());
        let half_sq = g.square().sum_dim(1).reshape([n]).mul_scalar(0.5).mean();
        let zhz = (z * hz).sum_dim(1).reshape([n]).mean();
        let torchebm =
            values((half_sq.clone() - zhz.clone().div_scalar(d as f64)).inner())[0] as f64;
        let correct = values((half_sq - zhz).inner())[0] as f64;
        let reference: LossCase =
            serde_json::from_value(model.losses["score_matching_approx"].clone()).unwrap();
        assert!(
            (torchebm - reference.loss).abs() < 1e-4 * (1.0 + reference.loss.abs()),
            "{}: {torchebm} vs {}",
            model.name,
            reference.loss
        );
        assert!(
            (correct - reference.loss).abs() > 1e-2,
            "{}: the undivided trace must differ",
            model.name
        );
    }
}
