//! Annealed importance sampling's `log Z` (ebm-sample) against quadrature on a grid, for 2-D
//! energies: a double well, a two-mode mixture and an MLP held in a harmonic bowl (the shape a
//! learned energy has). Three standard errors: over six seeds the delta method's error bar
//! was about two thirds of the estimates' scatter (1024 chains, ESS 720–960).

use ebm_core::Energy;
use ebm_core::analytic::{DoubleWell, Gaussian, Harmonic};
use ebm_core::combinators::{BoxedEnergy, Composite, Mixture, Operation};
use ebm_core::neural::MlpConfig;

use ebm_eval::log_partition_2d;
use ebm_sample::{AnnealedImportanceConfig, MalaConfig};
use ebm_testing::TestBackend as B;

fn check<E: Energy<B>>(name: &str, energy: &E) {
    let device = Default::default();
    let quadrature = log_partition_2d(energy, (-7.0, 7.0), (-7.0, 7.0), 400, &device).unwrap();
    let mala = MalaConfig::new().step_size(0.05).init().unwrap();
    let ais = AnnealedImportanceConfig::new()
        .with_stages(1000)
        .with_base_std(2.0)
        .init(mala)
        .unwrap();
    let out = ais
        .log_partition::<B, _>(energy, 1024, 2, &device, 5)
        .unwrap();
    let err = (out.log_z - quadrature).abs();
    assert!(
        err < 3.0 * out.standard_error,
        "{name}: AIS {} ± {} vs quadrature {quadrature}",
        out.log_z,
        out.standard_error
    );
}

#[test]
fn annealed_importance_agrees_with_quadrature_in_two_dimensions() {
    check("double well", &DoubleWell::default());
    let mode = |x: f64| Gaussian::new(vec![x, 0.5], vec![vec![0.3, 0.1], vec![0.1, 0.2]]).unwrap();
    let mixture: Mixture<B, Vec<Gaussian>> =
        Mixture::new(vec![mode(-2.0), mode(2.0)], vec![0.7, 0.3]).unwrap();
    check("mixture", &mixture);
    let mlp = MlpConfig::new(2, vec![16, 16])
        .with_seed(3)
        .init::<B>(&Default::default())
        .unwrap();
    let parts: Vec<BoxedEnergy<B>> = vec![Box::new(mlp), Box::new(Harmonic::new(0.5).unwrap())];
    let held = Composite::new(parts, vec![3.0, 1.0], Operation::Sum).unwrap();
    check("mlp in a bowl", &held);
}
