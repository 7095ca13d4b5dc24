//! Schedules for step sizes, noise scales, learning rates and σ: a value per step.
//!
//! A [`Schedule`] is a pure description (serde-serialisable, so runs can be written in JSON) that
//! maps a step index `k` to a value with [`Schedule::value_at`]. [`Scheduled`] pairs it with a
//! step counter for code that advances one step at a time.
//!
//! Semantics shared by samplers and learners: the value used by step `k` (counting from 0) is
//! `value_at(k)`, so the first step uses the start value, and the counter advances after the
//! step's update.

use serde::{Deserialize, Serialize};

use crate::error::ParamValue;

/// A value as a function of the step index `k` (from 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// `v = value`.
    Constant {
        /// The value.
        value: f64,
    },
    /// `v = max(min, start·rateᵏ)`.
    ExponentialDecay {
        /// Value at `k = 0`.
        start: f64,
        /// Decay per step, in `(0, 1]`.
        rate: f64,
        /// Floor.
        min: f64,
    },
    /// `v = start + (end − start)·k/n` for `k < n`, then `end`.
    Linear {
        /// Value at `k = 0`.
        start: f64,
        /// Value from `k = n` on.
        end: f64,
        /// Length `n > 0` of the ramp.
        n_steps: usize,
    },
    /// `v = end + (start − end)·½(1 + cos(πk/n))` for `k < n`, then `end`.
    Cosine {
        /// Value at `k = 0`.
        start: f64,
        /// Value from `k = n` on.
        end: f64,
        /// Length `n > 0` of the half cosine.
        n_steps: usize,
    },
    /// `v = start·γ^(number of milestones ≤ k)`.
    MultiStep {
        /// Value before the first milestone.
        start: f64,
        /// Strictly increasing positive steps at which the value is multiplied by `gamma`.
        milestones: Vec<usize>,
        /// Factor applied at each milestone.
        gamma: f64,
    },
    /// Linear warm-up from `init_factor·inner(0)` to `inner(0)` over `warmup_steps`, then the
    /// inner schedule, started afresh: `v = inner(k − warmup_steps)` for `k ≥ warmup_steps`.
    Warmup {
        /// The schedule that follows the warm-up.
        inner: Box<Schedule>,
        /// Length of the warm-up (> 0).
        warmup_steps: usize,
        /// Starting fraction of `inner(0)`, in `[0, 1]`.
        init_factor: f64,
    },
    /// Energy Matching's noise scale `√ε(t)` with the virtual time
    /// `t = t_start + (t_end − t_start)·min(k, n)/n`: `ε = 0` before `tau_star` (transport),
    /// a linear ramp to `epsilon_max` at `t = 1`, then `epsilon_max` (TorchEBM's
    /// `TemperatureScheduler`, `sqrt=True`). Zero over the transport phase, so only noise
    /// scales take it.
    Temperature {
        /// The plateau temperature `ε_max` (≥ 0).
        epsilon_max: f64,
        /// The switch time `τ*`, in `[0, 1)`.
        tau_star: f64,
        /// Steps from `t_start` to `t_end` (> 0).
        n_steps: usize,
        /// Virtual time at step 0.
        t_start: f64,
        /// Virtual time from step `n_steps` on (≥ `t_start`; beyond 1 equilibrates at `ε_max`).
        t_end: f64,
    },
}

impl Schedule {
    /// A constant schedule.
    pub fn constant(value: f64) -> Self {
        Schedule::Constant { value }
    }

    /// `max(min, start·rateᵏ)`.
    pub fn exponential_decay(start: f64, rate: f64, min: f64) -> Self {
        Schedule::ExponentialDecay { start, rate, min }
    }

    /// A straight ramp from `start` to `end` over `n_steps`, then `end`.
    pub fn linear(start: f64, end: f64, n_steps: usize) -> Self {
        Schedule::Linear {
            start,
            end,
            n_steps,
        }
    }

    /// Half a cosine from `start` to `end` over `n_steps`, then `end` (TorchEBM's
    /// `CosineScheduler(initial_value, final_value, total_steps)`).
    pub fn cosine(start: f64, end: f64, n_steps: usize) -> Self {
        Schedule::Cosine {
            start,
            end,
            n_steps,
        }
    }

    /// `start`, multiplied by `gamma` at each of the `milestones`.
    pub fn multi_step(start: f64, milestones: Vec<usize>, gamma: f64) -> Self {
        Schedule::MultiStep {
            start,
            milestones,
            gamma,
        }
    }

    /// This schedule after a linear warm-up from `init_factor` times its first value over
    /// `warmup_steps`.
    pub fn with_warmup(self, warmup_steps: usize, init_factor: f64) -> Self {
        Schedule::Warmup {
            inner: Box::new(self),
            warmup_steps,
            init_factor,
        }
    }

    /// Energy Matching's temperature sweep from `t = 0` to `t = 1` over `n_steps`, as a noise
    /// scale ([`Schedule::Temperature`]).
    pub fn temperature(epsilon_max: f64, tau_star: f64, n_steps: usize) -> Self {
        Schedule::Temperature {
            epsilon_max,
            tau_star,
            n_steps,
            t_start: 0.0,
            t_end: 1.0,
        }
    }

    /// The value used by step `k`.
    pub fn value_at(&self, k: usize) -> f64 {
        match self {
            Schedule::Temperature {
                epsilon_max,
                tau_star,
                n_steps,
                t_start,
                t_end,
            } => {
                let t = t_start + (t_end - t_start) * k.min(*n_steps) as f64 / *n_steps as f64;
                let epsilon = if t < *tau_star {
                    0.0
                } else if t < 1.0 {
                    epsilon_max * (t - tau_star) / (1.0 - tau_star)
                } else {
                    *epsilon_max
                };
                epsilon.sqrt()
            }
            Schedule::Constant { value } => *value,
            Schedule::ExponentialDecay { start, rate, min } => {
                (start * rate.powf(k as f64)).max(*min)
            }
            Schedule::Linear {
                start,
                end,
                n_steps,
            } => {
                if k >= *n_steps {
                    *end
                } else {
                    start + (end - start) * k as f64 / *n_steps as f64
                }
            }
            Schedule::Cosine {
                start,
                end,
                n_steps,
            } => {
                if k >= *n_steps {
                    *end
                } else {
                    let phase = std::f64::consts::PI * k as f64 / *n_steps as f64;
                    end + (start - end) * 0.5 * (1.0 + phase.cos())
                }
            }
            Schedule::MultiStep {
                start,
                milestones,
                gamma,
            } => {
                let passed = milestones.iter().filter(|&&m| m <= k).count();
                start * gamma.powi(passed as i32)
            }
            Schedule::Warmup {
                inner,
                warmup_steps,
                init_factor,
            } => {
                if k >= *warmup_steps {
                    inner.value_at(k - warmup_steps)
                } else {
                    let target = inner.value_at(0);
                    let from = target * init_factor;
                    from + (target - from) * k as f64 / *warmup_steps as f64
                }
            }
        }
    }

    /// Checks a schedule of positive values (step sizes, noise scales, learning rates, σ),
    /// naming the config `field` that holds it.
    pub fn check_positive(&self, field: &'static str) -> Result<(), InvalidSchedule> {
        self.validate(true)
            .map_err(|source| InvalidSchedule { field, source })
    }

    /// Checks a schedule of values that may be zero but not negative (a noise scale: zero noise
    /// is gradient descent), naming the config `field` that holds it.
    pub fn check_non_negative(&self, field: &'static str) -> Result<(), InvalidSchedule> {
        let lowest = self.lowest();
        self.validate(false)
            .and_then(|()| match lowest >= 0.0 {
                true => Ok(()),
                false => Err(ScheduleError {
                    part: "lowest value",
                    value: lowest.into(),
                    requirement: "must be >= 0",
                }),
            })
            .map_err(|source| InvalidSchedule { field, source })
    }

    /// The least value over all steps (for a valid schedule).
    fn lowest(&self) -> f64 {
        match self {
            Schedule::Constant { value } => *value,
            // Never below `min`, and down to it when the decay reaches it.
            Schedule::ExponentialDecay { min, .. } => *min,
            Schedule::Linear { start, end, .. } | Schedule::Cosine { start, end, .. } => {
                start.min(*end)
            }
            Schedule::MultiStep {
                start,
                milestones,
                gamma,
            } => (0..=milestones.len() as i32)
                .map(|m| start * gamma.powi(m))
                .fold(f64::INFINITY, f64::min),
            Schedule::Warmup {
                inner, init_factor, ..
            } => inner.lowest().min(inner.value_at(0) * init_factor),
            Schedule::Temperature { .. } => 0.0,
        }
    }

    /// Checks the parameters; `positive` additionally requires every value to be `> 0` (step
    /// sizes, noise scales, σ), which holds for all `k` when it holds at the ends.
    pub fn validate(&self, positive: bool) -> Result<(), ScheduleError> {
        let bad = |part: &'static str, value: ParamValue, requirement: &'static str| {
            Err(ScheduleError {
                part,
                value,
                requirement,
            })
        };
        let check = |part: &'static str, v: f64| {
            if positive && !(v.is_finite() && v > 0.0) {
                bad(part, v.into(), "must be finite and > 0")
            } else if !v.is_finite() {
                bad(part, v.into(), "must be finite")
            } else {
                Ok(())
            }
        };
        match self {
            Schedule::Temperature {
                epsilon_max,
                tau_star,
                n_steps,
                t_start,
                t_end,
            } => {
                if positive {
                    return bad(
                        "epsilon_max",
                        (*epsilon_max).into(),
                        "a temperature sweep is zero before tau_star: only noise scales take it",
                    );
                }
                if !(epsilon_max.is_finite() && *epsilon_max >= 0.0) {
                    return bad(
                        "epsilon_max",
                        (*epsilon_max).into(),
                        "must be finite and >= 0",
                    );
                }
                if !(0.0..1.0).contains(tau_star) {
                    return bad("tau_star", (*tau_star).into(), "must be in [0, 1)");
                }
                if *n_steps == 0 {
                    return bad("n_steps", 0usize.into(), "must be > 0");
                }
                if !(t_start.is_finite() && t_end.is_finite() && t_end >= t_start) {
                    return bad("t_end", (*t_end).into(), "must be finite and >= t_start");
                }
                Ok(())
            }
            Schedule::Constant { value } => check("value", *value),
            Schedule::ExponentialDecay { start, rate, min } => {
                check("start", *start)?;
                if !(rate.is_finite() && *rate > 0.0 && *rate <= 1.0) {
                    return bad("rate", (*rate).into(), "must be in (0, 1]");
                }
                check("min", *min)
            }
            Schedule::Linear {
                start,
                end,
                n_steps,
            }
            | Schedule::Cosine {
                start,
                end,
                n_steps,
            } => {
                check("start", *start)?;
                check("end", *end)?;
                if *n_steps == 0 {
                    return bad("n_steps", 0usize.into(), "must be > 0");
                }
                Ok(())
            }
            Schedule::MultiStep {
                start,
                milestones,
                gamma,
            } => {
                check("start", *start)?;
                check("gamma", *gamma)?;
                if let Some(i) = (0..milestones.len())
                    .find(|&i| milestones[i] == 0 || (i > 0 && milestones[i - 1] >= milestones[i]))
                {
                    return bad(
                        "milestones",
                        milestones[i].into(),
                        "must be strictly increasing and > 0",
                    );
                }
                Ok(())
            }
            Schedule::Warmup {
                inner,
                warmup_steps,
                init_factor,
            } => {
                inner.validate(positive)?;
                if *warmup_steps == 0 {
                    return bad("warmup_steps", 0usize.into(), "must be > 0");
                }
                let lowest = if positive { f64::MIN_POSITIVE } else { 0.0 };
                if !(init_factor.is_finite() && *init_factor >= lowest && *init_factor <= 1.0) {
                    return bad(
                        "init_factor",
                        (*init_factor).into(),
                        "must be in [0, 1] (and > 0 for a positive schedule)",
                    );
                }
                Ok(())
            }
        }
    }
}

/// A schedule that a config field holds and that cannot be used: the field, and what is wrong.
/// `SampleError::Schedule` and `TrainError::Schedule` wrap it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{field}`: {source}")]
pub struct InvalidSchedule {
    /// The config field that holds the schedule (`step_size`, `learning_rate`, `sigma`).
    pub field: &'static str,
    /// What is wrong with it.
    pub source: ScheduleError,
}

/// A schedule that cannot be used: which of its parameters is wrong, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("schedule `{part}` = {value}: {requirement}")]
pub struct ScheduleError {
    /// The schedule's parameter (`start`, `end`, `rate`, `n_steps`, …).
    pub part: &'static str,
    /// The rejected value.
    pub value: ParamValue,
    /// The rule it broke.
    pub requirement: &'static str,
}

impl From<f64> for Schedule {
    fn from(value: f64) -> Self {
        Schedule::constant(value)
    }
}

/// Adds to a config, for each listed [`Schedule`] field, a setter named like the field that
/// takes a constant or a schedule: `LangevinConfig::new().step_size(0.01)`, or
/// `.noise_scale(Schedule::cosine(0.2, 0.01, 50))`. (Burn's derived `with_<field>` setter takes
/// the `Schedule` itself.)
#[macro_export]
macro_rules! schedule_setters {
    ($config:ty { $($field:ident),+ $(,)? }) => {
        impl $config {
            $(
                #[doc = concat!(
                    "Sets `", stringify!($field), "` to a constant (an `f64`) or a `Schedule`."
                )]
                pub fn $field(mut self, value: impl Into<$crate::schedule::Schedule>) -> Self {
                    self.$field = value.into();
                    self
                }
            )+
        }
    };
}

/// A [`Schedule`] with a step counter: `value()` is the value for the current step, `advance()`
/// moves to the next step, `reset()` returns to step 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    /// The schedule.
    pub schedule: Schedule,
    /// Steps taken so far.
    pub step: usize,
}

impl Scheduled {
    /// Starts `schedule` at step 0.
    pub fn new(schedule: Schedule) -> Self {
        Self { schedule, step: 0 }
    }

    /// The value for the current step.
    pub fn value(&self) -> f64 {
        self.schedule.value_at(self.step)
    }

    /// Moves to the next step.
    pub fn advance(&mut self) {
        self.step += 1;
    }

    /// Back to step 0.
    pub fn reset(&mut self) {
        self.step = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temperature_sweep_is_zero_then_ramps_then_holds() {
        let s = Schedule::temperature(0.16, 0.8, 10);
        let values: Vec<f64> = (0..12).map(|k| s.value_at(k)).collect();
        // t = k/10: zero below 0.8, √(0.16·(t − 0.8)/0.2) on the ramp, √0.16 from t = 1 on.
        assert!(values[..8].iter().all(|&v| v == 0.0), "{values:?}");
        assert!((values[9] - (0.16f64 * 0.5).sqrt()).abs() < 1e-12);
        assert!(values[10..].iter().all(|&v| (v - 0.4).abs() < 1e-12));
        assert!(s.check_non_negative("noise_scale").is_ok());
        assert!(s.check_positive("step_size").is_err());
        let bad = Schedule::Temperature {
            epsilon_max: 0.1,
            tau_star: 1.0,
            n_steps: 5,
            t_start: 0.0,
            t_end: 1.0,
        };
        assert!(bad.check_non_negative("noise_scale").is_err());
        assert!(
            Schedule::linear(0.5, -0.1, 4)
                .check_non_negative("noise")
                .is_err()
        );
        assert!(Schedule::constant(0.0).check_non_negative("noise").is_ok());
    }

    fn values(s: &Schedule, n: usize) -> Vec<f64> {
        (0..n).map(|k| s.value_at(k)).collect()
    }

    fn assert_values(s: &Schedule, expected: &[f64]) {
        for (k, (v, e)) in values(s, expected.len()).iter().zip(expected).enumerate() {
            assert!((v - e).abs() < 1e-12, "{s:?} at step {k}: {v} vs {e}");
        }
    }

    #[test]
    fn exact_per_step_values() {
        assert_values(&Schedule::constant(0.3), &[0.3, 0.3, 0.3]);
        assert_values(
            &Schedule::ExponentialDecay {
                start: 1.0,
                rate: 0.5,
                min: 0.2,
            },
            &[1.0, 0.5, 0.25, 0.2, 0.2],
        );
        assert_values(
            &Schedule::Linear {
                start: 1.0,
                end: 0.0,
                n_steps: 4,
            },
            &[1.0, 0.75, 0.5, 0.25, 0.0, 0.0],
        );
        // The seeds' noise scale: cosine from 0.2 to 0.01 over 50 steps.
        let cos = Schedule::Cosine {
            start: 0.2,
            end: 0.01,
            n_steps: 50,
        };
        assert_values(&cos, &[0.2]);
        assert!((cos.value_at(25) - 0.105).abs() < 1e-12);
        assert_eq!(cos.value_at(50), 0.01);
        assert_eq!(cos.value_at(1000), 0.01);
        assert_values(
            &Schedule::MultiStep {
                start: 1.0,
                milestones: vec![2, 4],
                gamma: 0.1,
            },
            &[1.0, 1.0, 0.1, 0.1, 0.01, 0.01],
        );
        let warm = Schedule::Warmup {
            inner: Box::new(Schedule::Linear {
                start: 1.0,
                end: 0.5,
                n_steps: 2,
            }),
            warmup_steps: 4,
            init_factor: 0.2,
        };
        assert_values(&warm, &[0.2, 0.4, 0.6, 0.8, 1.0, 0.75, 0.5, 0.5]);
    }

    #[test]
    fn scheduled_advances_and_resets() {
        let mut s = Scheduled::new(Schedule::Linear {
            start: 2.0,
            end: 0.0,
            n_steps: 2,
        });
        assert_eq!(s.value(), 2.0);
        s.advance();
        assert_eq!(s.value(), 1.0);
        s.advance();
        s.advance();
        assert_eq!(s.value(), 0.0);
        s.reset();
        assert_eq!(s.value(), 2.0);
    }

    #[test]
    fn serde_round_trip() {
        let s = Schedule::Warmup {
            inner: Box::new(Schedule::MultiStep {
                start: 1e-3,
                milestones: vec![10, 20],
                gamma: 0.5,
            }),
            warmup_steps: 5,
            init_factor: 0.01,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"kind\":\"warmup\""), "{json}");
        let back: Schedule = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let running = Scheduled {
            schedule: s,
            step: 7,
        };
        let back: Scheduled =
            serde_json::from_str(&serde_json::to_string(&running).unwrap()).unwrap();
        assert_eq!(back, running);
    }

    #[test]
    fn invalid_schedules_are_typed_errors() {
        let bad = [
            Schedule::constant(0.0),
            Schedule::ExponentialDecay {
                start: 1.0,
                rate: 1.5,
                min: 0.1,
            },
            Schedule::Linear {
                start: 1.0,
                end: 0.1,
                n_steps: 0,
            },
            Schedule::Cosine {
                start: 1.0,
                end: -0.1,
                n_steps: 10,
            },
            Schedule::MultiStep {
                start: 1.0,
                milestones: vec![5, 5],
                gamma: 0.1,
            },
            Schedule::Warmup {
                inner: Box::new(Schedule::constant(1.0)),
                warmup_steps: 0,
                init_factor: 0.1,
            },
        ];
        // The part each one names, and its value: counts as counts.
        let expected = [
            ("value", ParamValue::Real(0.0)),
            ("rate", ParamValue::Real(1.5)),
            ("n_steps", ParamValue::Count(0)),
            ("end", ParamValue::Real(-0.1)),
            ("milestones", ParamValue::Count(5)),
            ("warmup_steps", ParamValue::Count(0)),
        ];
        assert_eq!(bad.len(), expected.len());
        for (s, (part, value)) in bad.iter().zip(expected) {
            let e = s.validate(true).unwrap_err();
            assert_eq!((e.part, e.value), (part, value), "{s:?}");
        }
        assert_eq!(
            Schedule::constant(0.0)
                .validate(true)
                .unwrap_err()
                .to_string(),
            "schedule `value` = 0: must be finite and > 0"
        );
        assert!(
            Schedule::Linear {
                start: 1.0,
                end: -1.0,
                n_steps: 3
            }
            .validate(false)
            .is_ok()
        );
    }
}
