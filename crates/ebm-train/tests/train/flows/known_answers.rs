//! Known answers of the flow objectives: the losses of the exact optimal field for Gaussian data
//! (sign and scale of flow matching and Equilibrium Matching), the explicit energies' fields of a
//! linear model, and Energy Matching's terms on a small discrete case.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use ebm_core::analytic::Harmonic;
use ebm_core::interpolant::Interpolant;
use ebm_core::neural::{Cotangent, FieldModel};
use ebm_testing::{TestBackend as B, TestInner};
use ebm_train::{
    EquilibriumEnergy, EquilibriumMatchingConfig, PathBatch, TargetScale, TimeSampler,
    energy_matching_contrastive_loss, energy_matching_flow_loss, equilibrium_field,
    equilibrium_matching_loss, flow_matching_loss,
};

/// Data N(μ, s²) per coordinate, noise N(0, 1), the linear path: the optimal velocity
/// `E[x₁ − x₀ | x_t = x] = μ + k(t)·(x − tμ)`, `k = (ts² − (1 − t)) / (t²s² + (1 − t)²)`,
/// scaled by `scale(t)` (1 for flow matching, `−c(t)` for Equilibrium Matching's target).
struct OptimalField {
    mu: f64,
    s: f64,
    scale: fn(f64) -> f64,
    shift: f64,
}

impl OptimalField {
    fn k(&self, t: f64) -> f64 {
        let s2 = self.s * self.s;
        (t * s2 - (1.0 - t)) / (t * t * s2 + (1.0 - t) * (1.0 - t))
    }

    /// The least expected squared error at time `t`: `Var(u) − Cov(u, x_t)²/Var(x_t)`.
    fn residual(&self, t: f64) -> f64 {
        let s2 = self.s * self.s;
        let cov = t * s2 - (1.0 - t);
        (s2 + 1.0) - cov * cov / (t * t * s2 + (1.0 - t) * (1.0 - t))
    }
}

impl<Bk: Backend> FieldModel<Bk> for OptimalField {
    fn input_dim(&self) -> usize {
        2
    }

    fn classes(&self) -> usize {
        0
    }

    fn field(&self, x: Tensor<Bk, 2>, t: Tensor<Bk, 1>, _: Option<&[usize]>) -> Tensor<Bk, 2> {
        let ts = t.into_data().convert::<f64>().to_vec::<f64>().unwrap();
        let [n, d] = x.dims();
        let x = x.into_data().convert::<f64>().to_vec::<f64>().unwrap();
        let v: Vec<f64> = (0..n * d)
            .map(|i| {
                let t = ts[i / d];
                (self.scale)(t) * (self.mu + self.k(t) * (x[i] - t * self.mu)) + self.shift
            })
            .collect();
        Tensor::from_data(TensorData::new(v, [n, d]), &Default::default())
    }

    fn field_and_vjp(
        &self,
        _: Tensor<Bk, 2>,
        _: Tensor<Bk, 1>,
        _: Option<&[usize]>,
        _: &Cotangent<Bk>,
    ) -> (Tensor<Bk, 2>, Tensor<Bk, 2>) {
        unreachable!("the optimal field is evaluated, never differentiated")
    }
}

/// `n` linear paths from N(0, I) to N(μ, s²I) in 2-D, at uniform times.
fn gaussian_paths(n: usize, mu: f64, s: f64) -> PathBatch<TestInner> {
    let device = Default::default();
    let x0 = ebm_testing::normal::<TestInner, 2>([n, 2], 1.0, 1, &device);
    let x1 = ebm_testing::normal::<TestInner, 2>([n, 2], s as f32, 2, &device).add_scalar(mu);
    let t = TimeSampler::uniform().draw(n, 3);
    let t = Tensor::from_data(TensorData::new(t, [n]), &device);
    PathBatch::new(&Interpolant::Linear, x0, x1, t)
}

/// `∫₀¹ f(t) dt` by the midpoint rule.
fn integral(f: impl Fn(f64) -> f64) -> f64 {
    let m = 4000;
    (0..m).map(|i| f((i as f64 + 0.5) / m as f64)).sum::<f64>() / m as f64
}

fn scalar(t: Tensor<TestInner, 1>) -> f64 {
    t.into_scalar() as f64
}

#[test]
fn the_optimal_field_attains_the_least_flow_matching_loss_and_an_offset_adds_its_square() {
    let (mu, s) = (1.5, 0.5);
    let paths = gaussian_paths(40_000, mu, s);
    let optimal = OptimalField {
        mu,
        s,
        scale: |_| 1.0,
        shift: 0.0,
    };
    let least = integral(|t| optimal.residual(t));
    let loss = scalar(flow_matching_loss(&optimal, &paths, None, false));
    // The per-sample residual has a standard deviation of about 2 at this size: SE ≈ 0.007.
    assert!((loss - least).abs() < 0.03, "{loss} vs {least}");
    let shifted = OptimalField {
        shift: 0.3,
        ..optimal
    };
    let loss_shifted = scalar(flow_matching_loss(&shifted, &paths, None, false));
    assert!(
        (loss_shifted - loss - 0.09).abs() < 0.01,
        "{loss_shifted} − {loss}"
    );
    // The negated objective's optimum is the negated field.
    let negated = OptimalField {
        scale: |_| -1.0,
        ..optimal
    };
    let loss_negated = scalar(flow_matching_loss(&negated, &paths, None, true));
    assert!((loss_negated - loss).abs() < 1e-4);
}

#[test]
fn with_the_true_clock_equilibrium_matchings_optimum_is_the_scaled_negated_velocity() {
    let (mu, s) = (-0.5, 0.8);
    let paths = gaussian_paths(40_000, mu, s);
    let c = |t: f64| 4.0 * ((1.0 - t) / (1.0 - 0.8)).min(1.0);
    let optimal = OptimalField {
        mu,
        s,
        scale: |t| -4.0 * ((1.0 - t) / 0.2).min(1.0),
        shift: 0.0,
    };
    let config = EquilibriumMatchingConfig::new()
        .with_target_scale(TargetScale::Truncated {
            threshold: 0.8,
            multiplier: 4.0,
        })
        .with_time_invariant(false);
    let loss = scalar(equilibrium_matching_loss(&optimal, &config, &paths, None));
    let least = integral(|t| c(t) * c(t) * optimal.residual(t));
    assert!((loss - least).abs() < 0.02 * least, "{loss} vs {least}");
    let shifted = OptimalField {
        shift: 0.5,
        ..optimal
    };
    let loss_shifted = scalar(equilibrium_matching_loss(&shifted, &config, &paths, None));
    assert!(
        (loss_shifted - loss - 0.25).abs() < 0.02,
        "{loss_shifted} − {loss}"
    );
}

/// `f(x) = x·Wᵀ` for a fixed `W`: the explicit energies' fields are `(W + Wᵀ)x` (dot) and
/// `−WᵀWx` (l2).
struct Linear(Tensor<B, 2>);

impl FieldModel<B> for Linear {
    fn input_dim(&self) -> usize {
        2
    }

    fn classes(&self) -> usize {
        0
    }

    fn field(&self, x: Tensor<B, 2>, _: Tensor<B, 1>, _: Option<&[usize]>) -> Tensor<B, 2> {
        x.matmul(self.0.clone().transpose())
    }

    fn field_and_vjp(
        &self,
        x: Tensor<B, 2>,
        t: Tensor<B, 1>,
        labels: Option<&[usize]>,
        cotangent: &Cotangent<B>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let f = self.field(x.clone(), t, labels);
        let u = cotangent(&x, &f);
        (f, u.matmul(self.0.clone()))
    }
}

#[test]
fn the_explicit_energies_of_a_linear_field_have_their_closed_form_gradients() {
    let device = Default::default();
    let w = Tensor::<B, 2>::from_data([[1.0, 2.0], [-0.5, 0.25]], &device);
    let x = Tensor::<B, 2>::from_data([[0.3, -1.2], [2.0, 0.5]], &device);
    let t = Tensor::<B, 1>::zeros([2], &device);
    let model = Linear(w.clone());
    let dot = equilibrium_field(&model, EquilibriumEnergy::Dot, x.clone(), t.clone(), None);
    let expected = x.clone().matmul(w.clone() + w.clone().transpose());
    dot.into_data()
        .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
    let l2 = equilibrium_field(&model, EquilibriumEnergy::L2, x.clone(), t.clone(), None);
    let expected = x.clone().matmul(w.clone().transpose().matmul(w)).neg();
    l2.into_data()
        .assert_approx_eq::<f32>(&expected.into_data(), Default::default());
    let implicit = equilibrium_field(&model, EquilibriumEnergy::Implicit, x.clone(), t, None);
    implicit.into_data().assert_approx_eq::<f32>(
        &model
            .field(x, Tensor::zeros([2], &device), None)
            .into_data(),
        Default::default(),
    );
}

#[test]
fn energy_matchings_terms_on_a_small_discrete_case() {
    let device = Default::default();
    // V = ½‖x‖², so −∇V(x) = −x.
    let potential = Harmonic::new(1.0).unwrap();
    let x0 = Tensor::<B, 2>::from_data([[1.0, 0.0], [0.0, 2.0]], &device);
    let x1 = Tensor::<B, 2>::from_data([[3.0, 1.0], [-1.0, 1.0]], &device);
    let t = Tensor::<B, 1>::from_data([0.5, 0.9], &device);
    let paths = PathBatch::new(&Interpolant::Linear, x0, x1, t);
    // Row 0: x_t = (2, 0.5), u = (2, 1): (−x_t − u)² = (16, 2.25) → mean 9.125, weight 1.
    // Row 1: x_t = (−0.9, 1.1), u = (−1, −1): (1.9, −0.1)² → mean 1.81, weight 0.5.
    let flow = energy_matching_flow_loss(&potential, &paths, None, 0.8);
    let expected = (9.125 + 0.5 * 1.81) / 2.0;
    assert!((flow.into_scalar() as f64 - expected).abs() < 1e-5);
    // Energies: data ½·(1, 4) → mean 1.25; negatives ½·(0, 1, 4, 9): trimming a quarter
    // drops 4.5, leaving mean 0.8333.
    let data = Tensor::<B, 2>::from_data([[1.0, 0.0], [0.0, 2.0]], &device);
    let negatives = Tensor::<TestInner, 2>::from_data(
        [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]],
        &device,
    );
    let (loss, difference) = energy_matching_contrastive_loss(
        &potential,
        data.clone(),
        negatives.clone(),
        2.0,
        0.25,
        None,
    );
    assert!((difference.into_scalar() as f64 - (1.25 - 5.0 / 6.0)).abs() < 1e-6);
    assert!((loss.into_scalar() as f64 - 2.0 * (1.25 - 5.0 / 6.0)).abs() < 1e-5);
    // Without trimming the difference is 1.25 − 1.75 = −0.5; the floor holds 2·(−0.5) at −0.02.
    let (loss, difference) =
        energy_matching_contrastive_loss(&potential, data, negatives, 2.0, 0.0, Some(0.02));
    assert!((difference.into_scalar() as f64 + 0.5).abs() < 1e-6);
    assert!((loss.into_scalar() as f64 + 0.02).abs() < 1e-7);
}
