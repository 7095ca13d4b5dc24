//! The replay buffer of persistent contrastive divergence.

use burn::tensor::IndexingUpdateOp;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::TrainError;
use crate::error::invalid;

/// A fixed-size store of chain states `[capacity, D]`, kept on the device.
///
/// This is the replay buffer of Du & Mordatch (2019): each batch's chains start from randomly
/// chosen slots (without repetition within a batch), a fraction of them restarted from noise,
/// and after the sampler's steps every chain is written back to the slot it came from. (TorchEBM
/// instead keeps a FIFO ring that never writes back into the sampled slots and jitters instead
/// of restarting.)
#[derive(Debug, Clone)]
pub struct ReplayBuffer<Bk: Backend> {
    states: Tensor<Bk, 2>,
}

impl<Bk: Backend> ReplayBuffer<Bk> {
    /// `capacity` states of dimension `dim`, drawn from `N(0, scale²·I)` with `seed`.
    pub fn new(
        capacity: usize,
        dim: usize,
        scale: f64,
        seed: u64,
        device: &Bk::Device,
    ) -> Result<Self, TrainError> {
        if capacity == 0 {
            return Err(invalid("buffer_size", 0usize, "must be > 0"));
        }
        let like = Tensor::<Bk, 2>::zeros([1, 1], device);
        let states = ebm_sample::noise::Noise::new(seed)
            .normal([capacity, dim], &like)
            .mul_scalar(scale);
        Ok(Self { states })
    }

    /// A buffer holding exactly `states` (e.g. restored from a checkpoint).
    pub fn from_states(states: Tensor<Bk, 2>) -> Self {
        Self { states }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.states.dims()[0]
    }

    /// All stored states `[capacity, D]`, for inspection or plotting.
    pub fn states(&self) -> &Tensor<Bk, 2> {
        &self.states
    }

    /// `batch` distinct random slots, seeded.
    pub fn draw_slots(&self, batch: usize, seed: u64) -> Result<Vec<usize>, TrainError> {
        if batch > self.capacity() {
            return Err(invalid(
                "batch size",
                batch,
                "must not exceed the replay buffer size",
            ));
        }
        let mut rng = ebm_core::random_stream::seeded_rng(seed);
        Ok(rand::seq::index::sample(&mut rng, self.capacity(), batch).into_vec())
    }

    /// The slots as a device index tensor, uploaded once and used by both
    /// [`ReplayBuffer::gather`] and [`ReplayBuffer::write`].
    pub fn slot_index(&self, slots: &[usize]) -> Tensor<Bk, 1, Int> {
        let idx: Vec<i64> = slots.iter().map(|&s| s as i64).collect();
        Tensor::from_data(TensorData::new(idx, [slots.len()]), &self.states.device())
    }

    /// The states in the slots of `index` (from [`ReplayBuffer::slot_index`]),
    /// `[index.len(), D]`.
    pub fn gather(&self, index: &Tensor<Bk, 1, Int>) -> Tensor<Bk, 2> {
        self.states.clone().select(0, index.clone())
    }

    /// Overwrites the slots of `index` (distinct) with `values` `[index.len(), D]`. Only those
    /// rows are written; when the buffer's storage is not shared, in place.
    pub fn write(&mut self, index: &Tensor<Bk, 1, Int>, values: Tensor<Bk, 2>) {
        let n = index.dims()[0];
        self.states = self.states.clone().scatter_nd(
            index.clone().reshape([n, 1]),
            values,
            IndexingUpdateOp::Assign,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_testing::TestInner;

    /// Value stability: the slots and the initial states a seed gives.
    #[test]
    fn the_slots_and_states_of_a_seed_are_pinned() {
        let buffer = ReplayBuffer::<TestInner>::new(10, 2, 1.0, 3, &Default::default()).unwrap();
        let slots = buffer.draw_slots(4, 7).unwrap();
        let states = buffer
            .states()
            .clone()
            .narrow(0, 0, 2)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(slots, [4, 0, 9, 3]);
        let pinned = [-0.143_940_57, -0.882_141_7, 0.220_026_88, 0.757_377_27];
        for (got, pinned) in states.iter().zip(pinned) {
            assert!((got - pinned).abs() < 1e-6, "{states:?}");
        }
    }

    #[test]
    fn writes_back_into_the_drawn_slots() {
        let device = Default::default();
        let mut buffer = ReplayBuffer::<TestInner>::new(10, 2, 1.0, 3, &device).unwrap();
        let before = buffer.states().clone().into_data().to_vec::<f32>().unwrap();
        let slots = buffer.draw_slots(4, 7).unwrap();
        let mut sorted = slots.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "slots repeat: {slots:?}");
        let index = buffer.slot_index(&slots);
        buffer.write(&index, Tensor::full([4, 2], 9.0, &device));
        let after = buffer.states().clone().into_data().to_vec::<f32>().unwrap();
        for i in 0..10 {
            let row = &after[2 * i..2 * i + 2];
            if slots.contains(&i) {
                assert_eq!(row, &[9.0, 9.0]);
            } else {
                assert_eq!(row, &before[2 * i..2 * i + 2]);
            }
        }
        assert_eq!(
            buffer.gather(&index).into_data().to_vec::<f32>().unwrap(),
            vec![9.0; 8]
        );
    }

    #[test]
    fn a_buffer_smaller_than_the_batch_is_an_error() {
        let buffer = ReplayBuffer::<TestInner>::new(8, 2, 1.0, 0, &Default::default()).unwrap();
        assert!(matches!(
            buffer.draw_slots(9, 0),
            Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
                name: "batch size",
                ..
            }))
        ));
        assert!(matches!(
            ReplayBuffer::<TestInner>::new(0, 2, 1.0, 0, &Default::default()),
            Err(TrainError::InvalidParameter(ebm_core::InvalidParameter {
                name: "buffer_size",
                ..
            }))
        ));
    }
}
