//! Butcher tableaus of the explicit Runge–Kutta methods: one table per method, one stage loop
//! for all of them.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::VectorField;

/// An explicit Runge–Kutta method: `kᵢ = f(x + h·Σⱼ aᵢⱼkⱼ, t + cᵢh)`, `x' = x + h·Σᵢ bᵢkᵢ`, and
/// for an embedded pair the lower-order weights `b̂` whose difference estimates the local error.
#[derive(Debug)]
pub(crate) struct Tableau {
    /// Rows of the strictly lower-triangular `a`, row `i` of length `i`.
    pub(crate) a: &'static [&'static [f64]],
    pub(crate) b: &'static [f64],
    pub(crate) c: &'static [f64],
    /// `b − b̂`, for an embedded pair.
    pub(crate) error: Option<&'static [f64]>,
    /// The order of the solution weights `b`.
    pub(crate) order: u32,
    /// "First same as last": the last stage is `f` at the new state, so an accepted step hands
    /// it to the next as its first stage.
    pub(crate) fsal: bool,
}

pub(crate) const EULER: Tableau = Tableau {
    a: &[&[]],
    b: &[1.0],
    c: &[0.0],
    error: None,
    order: 1,
    fsal: false,
};

pub(crate) const HEUN: Tableau = Tableau {
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    c: &[0.0, 1.0],
    error: None,
    order: 2,
    fsal: false,
};

pub(crate) const MIDPOINT: Tableau = Tableau {
    a: &[&[], &[0.5]],
    b: &[0.0, 1.0],
    c: &[0.0, 0.5],
    error: None,
    order: 2,
    fsal: false,
};

pub(crate) const RK4: Tableau = Tableau {
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    c: &[0.0, 0.5, 0.5, 1.0],
    error: None,
    order: 4,
    fsal: false,
};

pub(crate) const RK38: Tableau = Tableau {
    a: &[&[], &[1.0 / 3.0], &[-1.0 / 3.0, 1.0], &[1.0, -1.0, 1.0]],
    b: &[1.0 / 8.0, 3.0 / 8.0, 3.0 / 8.0, 1.0 / 8.0],
    c: &[0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0],
    error: None,
    order: 4,
    fsal: false,
};

/// Heun–Euler 2(1): Heun's weights, Euler's as the embedded estimate.
pub(crate) const ADAPTIVE_HEUN: Tableau = Tableau {
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    c: &[0.0, 1.0],
    error: Some(&[0.5 - 1.0, 0.5]),
    order: 2,
    fsal: false,
};

/// Bogacki–Shampine 3(2), first same as last.
pub(crate) const BOSH3: Tableau = Tableau {
    a: &[
        &[],
        &[0.5],
        &[0.0, 0.75],
        &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0],
    ],
    b: &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0],
    c: &[0.0, 0.5, 0.75, 1.0],
    error: Some(&[
        2.0 / 9.0 - 7.0 / 24.0,
        1.0 / 3.0 - 1.0 / 4.0,
        4.0 / 9.0 - 1.0 / 3.0,
        -1.0 / 8.0,
    ]),
    order: 3,
    fsal: true,
};

/// Dormand–Prince 5(4), first same as last.
pub(crate) const DOPRI5: Tableau = Tableau {
    a: &[
        &[],
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
        ],
        &[
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
        ],
        &[
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ],
    b: &[
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
        0.0,
    ],
    c: &[0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0],
    error: Some(&[
        35.0 / 384.0 - 5179.0 / 57600.0,
        0.0,
        500.0 / 1113.0 - 7571.0 / 16695.0,
        125.0 / 192.0 - 393.0 / 640.0,
        -2187.0 / 6784.0 + 92097.0 / 339200.0,
        11.0 / 84.0 - 187.0 / 2100.0,
        -1.0 / 40.0,
    ]),
    order: 5,
    fsal: true,
};

/// `x + h·Σᵢ wᵢkᵢ` over the non-zero weights.
pub(crate) fn combine<Bk: Backend>(
    x: &Tensor<Bk, 2>,
    h: f64,
    weights: &[f64],
    stages: &[Tensor<Bk, 2>],
) -> Tensor<Bk, 2> {
    weights
        .iter()
        .zip(stages)
        .filter(|(w, _)| **w != 0.0)
        .fold(x.clone(), |acc, (w, k)| acc + k.clone().mul_scalar(h * w))
}

impl Tableau {
    /// The stages at `(x, t)` with step `h`; `first`, if given, is `f(x, t)` already known (FSAL).
    pub(crate) fn stages<Bk: Backend, F: VectorField<Bk> + ?Sized>(
        &self,
        field: &F,
        x: &Tensor<Bk, 2>,
        t: f64,
        h: f64,
        first: Option<Tensor<Bk, 2>>,
    ) -> Vec<Tensor<Bk, 2>> {
        let mut stages: Vec<Tensor<Bk, 2>> = Vec::with_capacity(self.b.len());
        stages.push(first.unwrap_or_else(|| field.velocity(x.clone(), t)));
        for (row, c) in self.a.iter().zip(self.c).skip(1) {
            let xi = combine(x, h, row, &stages);
            stages.push(field.velocity(xi, t + c * h));
        }
        stages
    }

    /// One step: the new state and the stages it used.
    pub(crate) fn step<Bk: Backend, F: VectorField<Bk> + ?Sized>(
        &self,
        field: &F,
        x: &Tensor<Bk, 2>,
        t: f64,
        h: f64,
        first: Option<Tensor<Bk, 2>>,
    ) -> (Tensor<Bk, 2>, Vec<Tensor<Bk, 2>>) {
        let stages = self.stages(field, x, t, h, first);
        (combine(x, h, self.b, &stages), stages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order conditions every tableau must meet: rows of `a` sum to `c`, `Σb = 1`, and up
    /// to order 3 `Σbc = ½`, `Σbc² = ⅓`, `Σb·a·c = ⅙` (order 4 checked through the measured
    /// convergence in `fixed_step.rs`); an embedded pair's error weights sum to 0.
    #[test]
    fn tableaus_meet_the_order_conditions() {
        for (name, t) in [
            ("euler", &EULER),
            ("heun", &HEUN),
            ("midpoint", &MIDPOINT),
            ("rk4", &RK4),
            ("rk38", &RK38),
            ("adaptive heun", &ADAPTIVE_HEUN),
            ("bosh3", &BOSH3),
            ("dopri5", &DOPRI5),
        ] {
            let s = t.b.len();
            assert_eq!(t.a.len(), s, "{name}");
            assert_eq!(t.c.len(), s, "{name}");
            for (i, row) in t.a.iter().enumerate() {
                assert_eq!(row.len(), i, "{name}: row {i}");
                let sum: f64 = row.iter().sum();
                assert!(
                    (sum - t.c[i]).abs() < 1e-12,
                    "{name}: row {i} sums to {sum}"
                );
            }
            let dot = |f: &dyn Fn(usize) -> f64| (0..s).map(|i| t.b[i] * f(i)).sum::<f64>();
            assert!((dot(&|_| 1.0) - 1.0).abs() < 1e-12, "{name}: Σb");
            if t.order >= 2 {
                assert!((dot(&|i| t.c[i]) - 0.5).abs() < 1e-12, "{name}: Σbc");
            }
            if t.order >= 3 {
                assert!(
                    (dot(&|i| t.c[i] * t.c[i]) - 1.0 / 3.0).abs() < 1e-12,
                    "{name}: Σbc²"
                );
                let ac = |i: usize| (0..i).map(|j| t.a[i][j] * t.c[j]).sum::<f64>();
                assert!((dot(&ac) - 1.0 / 6.0).abs() < 1e-12, "{name}: Σb·a·c");
            }
            if let Some(e) = t.error {
                assert_eq!(e.len(), s, "{name}");
                assert!(e.iter().sum::<f64>().abs() < 1e-12, "{name}: Σ(b − b̂)");
            }
            if t.fsal {
                assert_eq!(t.a[s - 1], t.b[..s - 1].to_vec(), "{name}: last row is b");
                assert_eq!(t.c[s - 1], 1.0, "{name}");
            }
        }
    }
}
