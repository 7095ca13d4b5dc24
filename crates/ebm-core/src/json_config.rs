//! Configs read from JSON strictly: an unknown key is an error (a typo such as `learning_rte`
//! never passes silently), an omitted field takes its default, and an omitted required field is
//! an error that names it.
//!
//! Burn's `#[derive(Config)]` deserialises without defaults and ignores unknown keys, so every
//! config of the workspace also implements [`JsonConfig`] through [`json_config!`](macro@crate::json_config),
//! next to its definition:
//!
//! ```
//! use ebm_core::json_config::JsonConfig;
//! use ebm_core::neural::MlpConfig;
//!
//! let config = MlpConfig::from_json(r#"{"input_dim": 2, "hidden": [64, 64]}"#).unwrap();
//! assert_eq!(config.seed, MlpConfig::new(2, vec![64, 64]).seed);
//! assert!(MlpConfig::from_json(r#"{"input_dim": 2, "hidden": [64], "sed": 1}"#).is_err());
//! ```

use serde_json::{Map, Value};
use thiserror::Error;

/// Why a JSON config was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// The text is not JSON, or a value has the wrong type.
    #[error("{config}: {reason}")]
    Invalid {
        /// The config type.
        config: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A key the config does not have.
    #[error("{config}: unknown key `{path}`")]
    UnknownKey {
        /// The config type.
        config: &'static str,
        /// Its dotted path, e.g. `ladder.sigma_mn`.
        path: String,
    },
    /// A field without a default was left out.
    #[error("{config}: missing required field `{field}`")]
    Missing {
        /// The config type.
        config: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// A config that reads from JSON strictly. Implemented by [`json_config!`](macro@crate::json_config).
pub trait JsonConfig: burn::config::Config {
    /// The config's name, for errors.
    const NAME: &'static str;
    /// The fields that have no default.
    const REQUIRED: &'static [&'static str];

    /// The config with every default, the required fields at placeholder values.
    fn template() -> Self;

    /// Parses `text`: every key must be known, the required fields present, and omitted fields
    /// take their defaults.
    fn from_json(text: &str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Invalid {
            config: Self::NAME,
            reason: e.to_string(),
        })?;
        Self::from_json_value(value)
    }

    /// [`JsonConfig::from_json`] on a parsed value.
    fn from_json_value(value: Value) -> Result<Self, ConfigError> {
        let Value::Object(given) = &value else {
            return Err(ConfigError::Invalid {
                config: Self::NAME,
                reason: format!("expected a JSON object, got {value}"),
            });
        };
        if let Some(field) = Self::REQUIRED.iter().find(|f| !given.contains_key(**f)) {
            return Err(ConfigError::Missing {
                config: Self::NAME,
                field,
            });
        }
        let template = serde_json::to_value(Self::template()).expect("configs serialise");
        let merged = merge(template, value.clone());
        let config: Self = serde_json::from_value(merged).map_err(|e| ConfigError::Invalid {
            config: Self::NAME,
            reason: e.to_string(),
        })?;
        // Every key given must survive a round trip: serde drops the ones it does not know.
        let back = serde_json::to_value(&config).expect("configs serialise");
        if let Some(path) = first_unknown(&value, &back, "") {
            return Err(ConfigError::UnknownKey {
                config: Self::NAME,
                path,
            });
        }
        Ok(config)
    }

    /// The config as pretty JSON, every field written out.
    fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("configs serialise")
    }
}

/// `given` over `defaults`: objects (a config, a nested config) are merged key by key, so that
/// omitted fields keep their defaults and unknown ones reach the round-trip check; an enum value
/// that switches variant (another `kind` tag, or another single key) replaces the default.
fn merge(defaults: Value, given: Value) -> Value {
    match (defaults, given) {
        (Value::Object(mut d), Value::Object(g)) if !switches_variant(&d, &g) => {
            for (k, v) in g {
                let old = d.remove(&k).unwrap_or(Value::Null);
                d.insert(k, merge(old, v));
            }
            Value::Object(d)
        }
        (_, given) => given,
    }
}

fn switches_variant(defaults: &Map<String, Value>, given: &Map<String, Value>) -> bool {
    let tagged = matches!((defaults.get("kind"), given.get("kind")), (Some(a), Some(b)) if a != b);
    let single_key =
        defaults.len() == 1 && given.len() == 1 && defaults.keys().next() != given.keys().next();
    tagged || single_key
}

/// The first key path of `given` that `parsed` (its round trip) lacks.
fn first_unknown(given: &Value, parsed: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(g), Value::Object(p)) = (given, parsed) else {
        return None;
    };
    let empty = Map::new();
    g.iter().find_map(|(k, v)| {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match p.get(k) {
            None => Some(path),
            Some(back) => first_unknown(v, back, &path).or_else(|| {
                // A nested object the round trip turned into a non-object lost its keys.
                (v.is_object() && !back.is_object() && v.as_object() != Some(&empty))
                    .then(|| path.clone())
            }),
        }
    })
}

/// Implements [`JsonConfig`](crate::json_config::JsonConfig) for a config: its required fields
/// and a template built with placeholder values for them.
///
/// ```
/// use burn::config::Config;
/// use ebm_core::json_config::JsonConfig;
///
/// #[derive(Config, Debug)]
/// pub struct MyConfig {
///     pub width: usize,
///     #[config(default = 0.5)]
///     pub rate: f64,
/// }
/// ebm_core::json_config!(MyConfig, required = ["width"], template = MyConfig::new(0));
///
/// assert_eq!(MyConfig::from_json(r#"{"width": 8}"#).unwrap().rate, 0.5);
/// ```
#[macro_export]
macro_rules! json_config {
    ($ty:ident, required = [$($field:literal),* $(,)?], template = $template:expr) => {
        impl $crate::json_config::JsonConfig for $ty {
            const NAME: &'static str = stringify!($ty);
            const REQUIRED: &'static [&'static str] = &[$($field),*];

            fn template() -> Self {
                $template
            }
        }
    };
}

/// Checks that `config` survives `to_json` → `from_json` unchanged, and that dropping every
/// field but the required ones still parses: the round-trip test each crate runs on its configs.
#[doc(hidden)]
pub fn assert_round_trip<C: JsonConfig>(config: &C) {
    let json = config.to_json();
    let back = C::from_json(&json).unwrap_or_else(|e| panic!("{}: {e}\n{json}", C::NAME));
    assert_eq!(back.to_json(), json, "{} does not round-trip", C::NAME);
    let Value::Object(full) = serde_json::from_str::<Value>(&json).expect("valid JSON") else {
        panic!("{} is not an object", C::NAME);
    };
    let minimal: Map<String, Value> = full
        .into_iter()
        .filter(|(k, _)| C::REQUIRED.contains(&k.as_str()))
        .collect();
    if let Err(e) = C::from_json_value(Value::Object(minimal)) {
        panic!("{} with only its required fields: {e}", C::NAME);
    }
    let mut typo = serde_json::to_value(config).expect("configs serialise");
    typo.as_object_mut()
        .expect("an object")
        .insert("not_a_field".into(), Value::Bool(true));
    assert!(
        matches!(
            C::from_json_value(typo),
            Err(ConfigError::UnknownKey { .. })
        ),
        "{} accepts an unknown key",
        C::NAME
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_config_round_trips_through_json_and_refuses_unknown_keys() {
        use crate::neural::*;
        assert_round_trip(&MlpConfig::new(2, vec![16, 16]));
        assert_round_trip(&CnnConfig::new(1, 28, 28));
        assert_round_trip(&ConvLayerConfig::new(32, 2));
        assert_round_trip(&HybridConfig::new(MlpConfig::new(2, vec![8])));
        assert_round_trip(&layers::DenseConfig::new(2, 3));
        assert_round_trip(&layers::Conv3x3Config::new([1, 8, 8], 4));
        assert_round_trip(&QuadraticConfig::new(2));
        assert_round_trip(&TimeEmbeddingConfig::new(8));
        assert_round_trip(
            &ConditionedMlpConfig::new(2, vec![16])
                .with_classes(Some(3))
                .with_output_dim(Some(1)),
        );
        assert_round_trip(
            &MlpConfig::new(2, vec![4]).with_activation(Activation::LeakyRelu {
                negative_slope: 0.1,
            }),
        );
    }

    #[test]
    fn nested_objects_merge_and_enums_switch() {
        let defaults = json!({
            "a": 1,
            "nested": {"x": 1, "y": 2},
            "schedule": {"kind": "constant", "value": 0.1},
            "activation": {"LeakyRelu": {"negative_slope": 0.2}},
        });
        let given = json!({
            "typo": 0,
            "nested": {"y": 5},
            "schedule": {"kind": "cosine", "start": 1},
            "activation": {"Elu": {"alpha": 1}},
        });
        assert_eq!(
            merge(defaults, given),
            json!({
                "a": 1,
                "typo": 0,
                "nested": {"x": 1, "y": 5},
                "schedule": {"kind": "cosine", "start": 1},
                "activation": {"Elu": {"alpha": 1}},
            })
        );
    }

    #[test]
    fn unknown_keys_are_found_at_any_depth() {
        let given = json!({"a": 1, "nested": {"x": 1, "z": 3}});
        let parsed = json!({"a": 1, "nested": {"x": 1, "y": 2}});
        assert_eq!(
            first_unknown(&given, &parsed, ""),
            Some("nested.z".to_string())
        );
        assert_eq!(first_unknown(&parsed, &parsed, ""), None);
    }
}
