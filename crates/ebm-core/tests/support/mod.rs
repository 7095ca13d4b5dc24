pub mod mlp_reference;
