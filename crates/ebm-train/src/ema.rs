//! Exponential moving average of a module's parameters.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Collects every float parameter, flattened, by id.
struct Collect<B: Backend> {
    params: HashMap<ParamId, Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Collect<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        self.params.insert(param.id, value.reshape([n]));
    }
}

/// Blends every float parameter with the collected one of the same id.
struct Blend<B: Backend> {
    current: HashMap<ParamId, Tensor<B, 1>>,
    decay: f64,
}

impl<B: Backend> ModuleMapper<B> for Blend<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let blended = match self.current.remove(&id) {
            Some(now) => {
                tensor.clone().mul_scalar(self.decay)
                    + now.reshape(tensor.shape()).mul_scalar(1.0 - self.decay)
            }
            None => tensor,
        };
        Param::from_mapped_value(id, blended.detach(), mapper)
    }
}

/// `ema ← d·ema + (1 − d)·θ` for every parameter, matched by parameter id (the EMA copy starts
/// as a clone of the model, so the ids agree).
pub(crate) fn update_ema<B: Backend, M: Module<B>>(ema: M, model: &M, decay: f64) -> M {
    let mut collect = Collect {
        params: HashMap::new(),
    };
    model.visit(&mut collect);
    ema.map(&mut Blend {
        current: collect.params,
        decay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::neural::MlpConfig;
    use ebm_testing::TestInner;

    #[test]
    fn moves_a_fraction_towards_the_model() {
        let device = Default::default();
        let model = MlpConfig::new(2, vec![3])
            .init::<TestInner>(&device)
            .unwrap();
        let zeros = model.clone().map(&mut Blend {
            current: HashMap::new(),
            decay: 0.0,
        });
        // A mapper with nothing to blend leaves values unchanged.
        let w = |m: &ebm_core::neural::Mlp<TestInner>| {
            m.hidden[0]
                .weight
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(w(&zeros), w(&model));
        let ema = update_ema(model.clone().map(&mut Zero), &model, 0.75);
        for (e, m) in w(&ema).iter().zip(w(&model)) {
            assert!((e - 0.25 * m).abs() < 1e-6);
        }
    }

    struct Zero;
    impl<B: Backend> ModuleMapper<B> for Zero {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.zeros_like(), mapper)
        }
    }
}
