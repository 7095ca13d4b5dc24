//! A combinator is a Burn module when its parts are: its record is the parts' record, and its
//! weights and rule are fixed at construction, like a layer's shape.

/// Implements `Module`, `AutodiffModule` and `ModuleDisplay` for a combinator `$ty<B, P>` whose
/// parts are the field `$field`; the type provides `map_parts`, which rebuilds it around new
/// parts (of another backend, for `valid` and `from_inner`).
macro_rules! module_of_parts {
    ($ty:ident, $field:ident) => {
        impl<B, P> burn::module::Module<B> for $ty<B, P>
        where
            B: burn::tensor::backend::Backend,
            P: burn::module::Module<B>,
        {
            type Record = P::Record;

            fn collect_devices(
                &self,
                devices: burn::module::Devices<B>,
            ) -> burn::module::Devices<B> {
                self.$field.collect_devices(devices)
            }

            fn fork(self, device: &B::Device) -> Self {
                self.map_parts(|p| p.fork(device))
            }

            fn to_device(self, device: &B::Device) -> Self {
                self.map_parts(|p| p.to_device(device))
            }

            fn visit<V: burn::module::ModuleVisitor<B>>(&self, visitor: &mut V) {
                let container = concat!("Struct:", stringify!($ty));
                visitor.enter_module(stringify!($field), container);
                self.$field.visit(visitor);
                visitor.exit_module(stringify!($field), container);
            }

            fn map<M: burn::module::ModuleMapper<B>>(self, mapper: &mut M) -> Self {
                let container = concat!("Struct:", stringify!($ty));
                self.map_parts(|p| {
                    mapper.enter_module(stringify!($field), container);
                    let p = p.map(mapper);
                    mapper.exit_module(stringify!($field), container);
                    p
                })
            }

            fn load_record(self, record: Self::Record) -> Self {
                self.map_parts(|p| p.load_record(record))
            }

            fn into_record(self) -> Self::Record {
                self.$field.into_record()
            }
        }

        impl<B, P> burn::module::AutodiffModule<B> for $ty<B, P>
        where
            B: burn::tensor::backend::AutodiffBackend,
            P: burn::module::AutodiffModule<B>,
        {
            type InnerModule = $ty<B::InnerBackend, P::InnerModule>;

            fn valid(&self) -> Self::InnerModule {
                self.clone().map_parts(|p| p.valid())
            }

            fn from_inner(module: Self::InnerModule) -> Self {
                module.map_parts(P::from_inner)
            }
        }

        impl<B, P: burn::module::ModuleDisplay> burn::module::ModuleDisplayDefault for $ty<B, P> {
            fn content(&self, content: burn::module::Content) -> Option<burn::module::Content> {
                content
                    .add(stringify!($field), &self.$field)
                    .set_top_level_type(stringify!($ty))
                    .optional()
            }
        }

        impl<B, P: burn::module::ModuleDisplay> burn::module::ModuleDisplay for $ty<B, P> {}
    };
}

pub(super) use module_of_parts;
