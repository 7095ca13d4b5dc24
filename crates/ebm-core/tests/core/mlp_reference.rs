//! The MLP energy against TorchEBM's float64 reference vectors (`ebm-reference/data/mlp_energy.json`):
//! energy, input gradient, Hessian, Laplacian, and the exact score-matching loss with its
//! parameter gradients (the other losses are tested in `ebm-train`). Those parameter
//! gradients are second order (∂θ of expressions in ∇ₓE and ∇ₓ²E): they go through the MLP's
//! hand-written input gradient and Hessian-vector product with one first-order backward pass.
//!
//! Tolerances (f32 against float64): `|ours − ref| ≤ rtol·(|ref| + max|ref of that tensor|)` with
//! rtol = 1e-5 for first-order quantities and 1e-4 for second-order ones, as the reference's
//! README suggests.

use burn::tensor::Tensor;
use ebm_core::{Energy, SecondOrderEnergy};
use ebm_reference::mlp::*;

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
        let grad_tol = ebm_testing::tolerance(1e-5);
        assert_close(
            &format!("{} grad", model.name),
            &values(g),
            &g_ref,
            grad_tol,
        );
        // Tracked path gives the same gradient.
        assert_close(
            &format!("{} grad tracked", model.name),
            &values(mlp.grad_energy_tracked(x.clone()).inner()),
            &g_ref,
            grad_tol,
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
