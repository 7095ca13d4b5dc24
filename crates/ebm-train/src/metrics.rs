//! Named scalar metrics: what an objective reports besides its loss, kept on the device until
//! the trainer reads them at a logged step.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The names of the metrics the built-in objectives report.
pub mod names {
    /// Mean energy of the data batch.
    pub const POS_ENERGY: &str = "pos_energy";
    /// Mean energy of the negatives (contrastive objectives).
    pub const NEG_ENERGY: &str = "neg_energy";
    /// Acceptance rate of the sampler that drew the negatives (Metropolis samplers).
    pub const ACCEPTANCE_RATE: &str = "acceptance_rate";
}

/// Named scalar metrics `[1]`, on the device. An objective adds what it wants watched; nothing
/// is read to the host until a logged step.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use ebm_train::Metrics;
///
/// let device = Default::default();
/// let metrics = Metrics::<NdArray>::new()
///     .with("pos_energy", Tensor::from_floats([0.5], &device))
///     .with("my_penalty", Tensor::from_floats([2.0], &device));
/// assert_eq!(metrics.read(), [("pos_energy", 0.5), ("my_penalty", 2.0)]);
/// ```
#[derive(Debug, Clone)]
pub struct Metrics<Bk: Backend> {
    entries: Vec<(&'static str, Tensor<Bk, 1>)>,
}

impl<Bk: Backend> Default for Metrics<Bk> {
    fn default() -> Self {
        Self { entries: vec![] }
    }
}

impl<Bk: Backend> Metrics<Bk> {
    /// No metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the metric `name`, a `[1]` tensor (a mean, a rate).
    pub fn with(mut self, name: &'static str, value: Tensor<Bk, 1>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds `name` if `value` is `Some`.
    pub fn with_some(self, name: &'static str, value: Option<Tensor<Bk, 1>>) -> Self {
        match value {
            Some(v) => self.with(name, v),
            None => self,
        }
    }

    /// Adds (or replaces) the metric `name`.
    pub fn insert(&mut self, name: &'static str, value: Tensor<Bk, 1>) {
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// Adds every metric of `other`, replacing those of the same name.
    pub fn extend(&mut self, other: Metrics<Bk>) {
        for (name, value) in other.entries {
            self.insert(name, value);
        }
    }

    /// The metric `name`, if reported.
    pub fn get(&self, name: &str) -> Option<&Tensor<Bk, 1>> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
    }

    /// Whether no metric is reported.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads every metric to the host (one read each), in the order they were added.
    pub fn read(&self) -> Vec<(&'static str, f64)> {
        self.entries
            .iter()
            .map(|(name, t)| {
                let v: f64 = burn::tensor::ElementConversion::elem(t.clone().into_scalar());
                (*name, v)
            })
            .collect()
    }
}
