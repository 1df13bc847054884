//! Optimizers (SGD with momentum, Adam, AdamW) and learning-rate schedules.
//!
//! Updates follow PyTorch's definitions. Weight decay applies to synaptic weights
//! only (not to biases, neuron or normalisation parameters): added to the gradient
//! for SGD and Adam (L2), decoupled for AdamW. Parameters with bounds (β, θ) are
//! clamped after each update. The optimizer state is plain vectors in parameter order,
//! saved in checkpoints so that a resumed run continues exactly.

use crate::nn::layers::{Param, ParamKind};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};

fn momentum() -> f32 {
    0.9
}
fn beta1() -> f32 {
    0.9
}
fn beta2() -> f32 {
    0.999
}
fn adam_eps() -> f32 {
    1e-8
}
fn adamw_decay() -> f32 {
    0.01
}

/// Which optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with (Nesterov) momentum.
    Sgd {
        /// Momentum.
        #[serde(default = "momentum")]
        momentum: f32,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 weight decay.
        #[serde(default)]
        weight_decay: f32,
    },
    /// Adam (Kingma & Ba 2015), L2 weight decay.
    Adam {
        /// First-moment decay.
        #[serde(default = "beta1")]
        beta1: f32,
        /// Second-moment decay.
        #[serde(default = "beta2")]
        beta2: f32,
        /// Denominator epsilon.
        #[serde(default = "adam_eps")]
        eps: f32,
        /// L2 weight decay.
        #[serde(default)]
        weight_decay: f32,
    },
    /// AdamW (Loshchilov & Hutter 2019), decoupled weight decay.
    AdamW {
        /// First-moment decay.
        #[serde(default = "beta1")]
        beta1: f32,
        /// Second-moment decay.
        #[serde(default = "beta2")]
        beta2: f32,
        /// Denominator epsilon.
        #[serde(default = "adam_eps")]
        eps: f32,
        /// Decoupled weight decay.
        #[serde(default = "adamw_decay")]
        weight_decay: f32,
    },
}

impl OptimizerSpec {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "sgd, adam, adamw";

    /// Parses a name with default hyper-parameters and the given weight decay.
    pub fn parse(s: &str, weight_decay: Option<f32>) -> Result<Self> {
        Ok(match s {
            "sgd" => OptimizerSpec::Sgd {
                momentum: 0.9,
                nesterov: false,
                weight_decay: weight_decay.unwrap_or(0.0),
            },
            "adam" => OptimizerSpec::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: weight_decay.unwrap_or(0.0),
            },
            "adamw" => OptimizerSpec::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: weight_decay.unwrap_or(0.01),
            },
            _ => {
                return Err(Error::field(
                    "optimizer",
                    format!("unknown optimizer `{s}`; known: {}", Self::NAMES),
                ))
            }
        })
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let (a, b, wd) = match *self {
            OptimizerSpec::Sgd {
                momentum,
                weight_decay,
                ..
            } => (momentum, 0.0, weight_decay),
            OptimizerSpec::Adam {
                beta1,
                beta2,
                weight_decay,
                ..
            }
            | OptimizerSpec::AdamW {
                beta1,
                beta2,
                weight_decay,
                ..
            } => (beta1, beta2, weight_decay),
        };
        for (name, v) in [("momentum/beta1", a), ("beta2", b)] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::field(
                    format!("optimizer.{name}"),
                    format!("must be in [0, 1) (got {v})"),
                ));
            }
        }
        if !(wd.is_finite() && wd >= 0.0) {
            return Err(Error::field(
                "optimizer.weight_decay",
                format!("must be >= 0 (got {wd})"),
            ));
        }
        Ok(())
    }

    /// Number of state vectors per parameter.
    fn slots(&self) -> usize {
        match self {
            OptimizerSpec::Sgd { .. } => 1,
            _ => 2,
        }
    }
}

/// An optimizer with its state.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    /// Hyper-parameters.
    pub spec: OptimizerSpec,
    /// Updates done.
    pub step: u64,
    /// State vectors: `state[slot][param]` (momentum; or first and second moments).
    pub state: Vec<Vec<Vec<f32>>>,
}

impl Optimizer {
    /// An optimizer for parameters of the given sizes.
    pub fn new(spec: OptimizerSpec, sizes: &[usize]) -> Self {
        Optimizer {
            spec,
            step: 0,
            state: (0..spec.slots())
                .map(|_| sizes.iter().map(|&n| vec![0.0; n]).collect())
                .collect(),
        }
    }

    /// Names of the state slots (for checkpoints).
    pub fn slot_names(&self) -> &'static [&'static str] {
        match self.spec {
            OptimizerSpec::Sgd { .. } => &["momentum"],
            _ => &["m", "v"],
        }
    }

    /// One update of every trainable parameter with learning rate `lr`.
    pub fn update(&mut self, params: &mut [&mut Param], lr: f32) {
        self.step += 1;
        let t = self.step as i32;
        for (pi, p) in params.iter_mut().enumerate() {
            if !p.trainable {
                continue;
            }
            let decay = p.kind == ParamKind::Weight;
            let (value, grad) = (&mut p.value, &p.grad);
            match self.spec {
                OptimizerSpec::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                } => {
                    let wd = if decay { weight_decay } else { 0.0 };
                    let buf = &mut self.state[0][pi];
                    let first = self.step == 1;
                    value
                        .par_iter_mut()
                        .zip(grad.par_iter())
                        .zip(buf.par_iter_mut())
                        .with_min_len(4096)
                        .for_each(|((w, &g), b)| {
                            let g = g + wd * *w;
                            *b = if first { g } else { momentum * *b + g };
                            let d = if nesterov { g + momentum * *b } else { *b };
                            *w -= lr * d;
                        });
                }
                OptimizerSpec::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                }
                | OptimizerSpec::AdamW {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                } => {
                    let decoupled = matches!(self.spec, OptimizerSpec::AdamW { .. });
                    let wd = if decay { weight_decay } else { 0.0 };
                    let bc1 = 1.0 - beta1.powi(t);
                    let bc2 = 1.0 - beta2.powi(t);
                    let step = lr / bc1;
                    let bc2_sqrt = bc2.sqrt();
                    let (ms, vs) = self.state.split_at_mut(1);
                    let (m, v) = (&mut ms[0][pi], &mut vs[0][pi]);
                    value
                        .par_iter_mut()
                        .zip(grad.par_iter())
                        .zip(m.par_iter_mut().zip(v.par_iter_mut()))
                        .with_min_len(4096)
                        .for_each(|((w, &g), (m, v))| {
                            let g = if decoupled { g } else { g + wd * *w };
                            if decoupled {
                                *w -= lr * wd * *w;
                            }
                            *m = beta1 * *m + (1.0 - beta1) * g;
                            *v = beta2 * *v + (1.0 - beta2) * g * g;
                            *w -= step * *m / (v.sqrt() / bc2_sqrt + eps);
                        });
                }
            }
            p.project();
        }
    }
}

/// Learning rate over training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every_epochs` epochs.
    Step {
        /// Period in epochs.
        every_epochs: usize,
        /// Factor.
        gamma: f32,
    },
    /// Cosine annealing from the base rate to `min_lr` over all epochs, per batch.
    Cosine {
        /// Final rate.
        #[serde(default)]
        min_lr: f32,
    },
    /// Multiplied by `gamma` after every epoch.
    Exponential {
        /// Factor per epoch.
        gamma: f32,
    },
}

impl Schedule {
    /// Names accepted on the command line.
    pub const NAMES: &'static str = "constant, step, cosine, exponential";

    /// Parses `constant`, `cosine`, `step:<epochs>:<gamma>` or `exponential:<gamma>`.
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize| -> Result<f32> {
            parts.get(i).and_then(|x| x.parse().ok()).ok_or_else(|| {
                Error::field(
                    "schedule",
                    format!("`{s}`: write step:<every_epochs>:<gamma>, exponential:<gamma> or cosine[:<min_lr>]"),
                )
            })
        };
        Ok(match parts[0] {
            "constant" => Schedule::Constant,
            "cosine" => Schedule::Cosine {
                min_lr: if parts.len() > 1 { num(1)? } else { 0.0 },
            },
            "step" => Schedule::Step {
                every_epochs: num(1)? as usize,
                gamma: num(2)?,
            },
            "exponential" => Schedule::Exponential { gamma: num(1)? },
            _ => {
                return Err(Error::field(
                    "schedule",
                    format!("unknown schedule `{s}`; known: {}", Self::NAMES),
                ))
            }
        })
    }

    /// The rate at `progress` epochs (fractional) into `total_epochs`.
    pub fn lr(&self, base: f32, progress: f64, total_epochs: usize) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step {
                every_epochs,
                gamma,
            } => base * gamma.powi((progress.floor() as usize / every_epochs.max(1)) as i32),
            Schedule::Cosine { min_lr } => {
                let x = (progress / total_epochs.max(1) as f64).min(1.0);
                min_lr + (base - min_lr) * (0.5 * (1.0 + (std::f64::consts::PI * x).cos())) as f32
            }
            Schedule::Exponential { gamma } => base * gamma.powi(progress.floor() as i32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimises `Σ (w − 3)²` and checks convergence.
    fn converges(spec: OptimizerSpec, lr: f32, iters: usize) -> f32 {
        let mut p = Param::new("w", vec![4], vec![0.0, 1.0, -2.0, 5.0], ParamKind::Bias);
        let mut opt = Optimizer::new(spec, &[4]);
        for _ in 0..iters {
            p.grad = p.value.iter().map(|w| 2.0 * (w - 3.0)).collect();
            opt.update(&mut [&mut p], lr);
        }
        p.value.iter().map(|w| (w - 3.0).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn optimizers_converge_on_a_quadratic() {
        assert!(converges(OptimizerSpec::parse("sgd", None).unwrap(), 0.05, 200) < 1e-3);
        assert!(converges(OptimizerSpec::parse("adam", None).unwrap(), 0.05, 2000) < 1e-2);
        assert!(converges(OptimizerSpec::parse("adamw", None).unwrap(), 0.05, 2000) < 1e-2);
    }

    #[test]
    fn first_adam_step_moves_each_weight_by_lr() {
        // With bias correction, the first Adam step is lr·sign(g).
        let mut p = Param::new("w", vec![2], vec![1.0, 1.0], ParamKind::Weight);
        p.grad = vec![0.3, -7.0];
        let mut opt = Optimizer::new(OptimizerSpec::parse("adam", None).unwrap(), &[2]);
        opt.update(&mut [&mut p], 0.01);
        assert!((p.value[0] - 0.99).abs() < 1e-6 && (p.value[1] - 1.01).abs() < 1e-6);
        // Bounds are enforced; untrained parameters stay.
        let mut b = Param::new("beta", vec![1], vec![0.999], ParamKind::Neuron).bounded(0.0, 1.0);
        b.grad = vec![-1.0];
        let mut frozen = Param::new("x", vec![1], vec![2.0], ParamKind::Neuron).trainable(false);
        frozen.grad = vec![1.0];
        let mut opt = Optimizer::new(OptimizerSpec::parse("sgd", None).unwrap(), &[1, 1]);
        opt.update(&mut [&mut b, &mut frozen], 1.0);
        assert_eq!(b.value[0], 1.0);
        assert_eq!(frozen.value[0], 2.0);
    }

    #[test]
    fn schedules() {
        let s = Schedule::parse("step:2:0.5").unwrap();
        assert_eq!(s.lr(1.0, 1.9, 10), 1.0);
        assert_eq!(s.lr(1.0, 4.0, 10), 0.25);
        let c = Schedule::parse("cosine").unwrap();
        assert!((c.lr(1.0, 5.0, 10) - 0.5).abs() < 1e-6);
        assert!(c.lr(1.0, 10.0, 10).abs() < 1e-6);
        assert!((Schedule::parse("exponential:0.9").unwrap().lr(1.0, 2.5, 5) - 0.81).abs() < 1e-6);
        assert!(Schedule::parse("linear")
            .unwrap_err()
            .to_string()
            .contains("cosine"));
        assert!(Schedule::parse("step:x")
            .unwrap_err()
            .to_string()
            .contains("step:<every_epochs>"));
    }
}
