//! Residual blocks: a main path and a shortcut, each a small [`Network`] of the
//! trainer's own layers, joined element-wise —
//!
//! ```text
//! add:   y = body(x) + shortcut(x)            (SEW-ResNet ADD; the spiking ResNet's sum
//!                                               before the next layer's neurons)
//! iand:  y = (1 − body(x)) · shortcut(x)       (SEW-ResNet IAND, Fang et al. 2021)
//! ```
//!
//! with the identity as the shortcut when it has no layers. Both paths see the same
//! time-batched input; the backward pass sends `∂L/∂y` (times the other path for
//! IAND) down each path and adds their input gradients. The output is dense (an ADD of
//! two spikes is 2). Parameters are named `body.<layer>.<name>` and
//! `shortcut.<layer>.<name>`.

use super::{sum_over_steps, Layer, Param, Pass};
use crate::nn::network::{LayerSpec, NetSpec, Network};
use crate::nn::tensor::{Activation, FeatShape, Tensor};
use serde::{Deserialize, Serialize};
use spikelab_core::error::Result;
use std::any::Any;

/// How a residual block joins its paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidualOp {
    /// `body + shortcut`.
    #[default]
    Add,
    /// `(1 − body) · shortcut`: SEW-ResNet's IAND (the AND of the shortcut's spikes
    /// with NOT the main path's).
    Iand,
}

/// See the module docs.
#[derive(Debug)]
pub struct Residual {
    shape_in: FeatShape,
    shape_out: FeatShape,
    /// The main path.
    pub body: Network,
    /// The shortcut (None: the identity).
    pub shortcut: Option<Network>,
    /// How the paths join.
    pub op: ResidualOp,
    /// The paths' outputs of the recorded forward pass (IAND), and whether the input
    /// was static.
    cache: Option<(Tensor, Tensor)>,
    was_static: bool,
}

fn sub_network(
    input: FeatShape,
    layers: &[LayerSpec],
    steps: usize,
    seed: u64,
    prefix: &str,
) -> Result<Network> {
    let spec = NetSpec {
        input,
        layers: layers.to_vec(),
    };
    let mut net = Network::build(&spec, steps, seed)?;
    let names: Vec<String> = net
        .named_params()
        .into_iter()
        .map(|(n, _)| format!("{prefix}.{n}"))
        .collect();
    for (p, n) in net.params_mut().into_iter().zip(names) {
        p.name = n;
    }
    Ok(net)
}

impl Residual {
    /// A block on inputs of `shape`; its paths' weights are drawn from streams keyed by
    /// `seed` and the block's index `index`.
    pub fn new(
        shape: FeatShape,
        body: &[LayerSpec],
        shortcut: &[LayerSpec],
        op: ResidualOp,
        steps: usize,
        seed: u64,
        index: usize,
    ) -> Result<Self> {
        let key = |path: u64| spikelab_core::rng::mix64(seed ^ ((index as u64) << 8 | path));
        let body = sub_network(shape, body, steps, key(1), "body")?;
        let shortcut = if shortcut.is_empty() {
            None
        } else {
            Some(sub_network(shape, shortcut, steps, key(2), "shortcut")?)
        };
        Ok(Residual {
            shape_in: shape,
            shape_out: body.output_shape(),
            body,
            shortcut,
            op,
            cache: None,
            was_static: false,
        })
    }
}

impl Layer for Residual {
    fn kind(&self) -> &'static str {
        "residual"
    }
    fn in_shape(&self) -> FeatShape {
        self.shape_in
    }
    fn out_shape(&self) -> FeatShape {
        self.shape_out
    }

    fn forward(&mut self, x: Activation, pass: &Pass) -> Activation {
        // A static input is expanded to every step, so both paths see the same rows.
        self.was_static = x.is_static();
        let x = if self.was_static {
            Activation::Dense(x.to_dense(pass.steps))
        } else {
            x
        };
        let short = match &mut self.shortcut {
            Some(net) => net.forward(x.clone(), pass),
            None => x.clone(),
        };
        let a = self.body.forward(x, pass).to_dense(pass.steps);
        let b = short.to_dense(pass.steps);
        let mut out = Tensor::zeros(a.rows, self.shape_out);
        match self.op {
            ResidualOp::Add => {
                for ((o, p), q) in out.data.iter_mut().zip(&a.data).zip(&b.data) {
                    *o = p + q;
                }
            }
            ResidualOp::Iand => {
                for ((o, p), q) in out.data.iter_mut().zip(&a.data).zip(&b.data) {
                    *o = (1.0 - p) * q;
                }
            }
        }
        if pass.record && self.op == ResidualOp::Iand {
            self.cache = Some((a, b));
        }
        Activation::Dense(out)
    }

    fn backward(&mut self, grad: Tensor, pass: &Pass, need_input_grad: bool) -> Option<Tensor> {
        let (g_body, g_short) = match self.op {
            ResidualOp::Add => (grad.clone(), grad),
            ResidualOp::Iand => {
                let (a, b) = self
                    .cache
                    .take()
                    .expect("Residual::backward follows a recording forward pass");
                let mut ga = grad.clone();
                let mut gb = grad;
                for (((ga, gb), p), q) in ga
                    .data
                    .iter_mut()
                    .zip(gb.data.iter_mut())
                    .zip(&a.data)
                    .zip(&b.data)
                {
                    let g = *ga;
                    *ga = -q * g;
                    *gb = (1.0 - p) * g;
                }
                (ga, gb)
            }
        };
        let mut dx = self.body.backward_to_input(g_body, pass);
        let ds = match &mut self.shortcut {
            Some(net) => net.backward_to_input(g_short, pass),
            None => g_short,
        };
        if !need_input_grad {
            return None;
        }
        for (d, s) in dx.data.iter_mut().zip(&ds.data) {
            *d += s;
        }
        Some(if self.was_static {
            sum_over_steps(&dx, pass.steps)
        } else {
            dx
        })
    }

    fn params(&self) -> Vec<&Param> {
        let mut v: Vec<&Param> = self
            .body
            .named_params()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if let Some(s) = &self.shortcut {
            v.extend(s.named_params().into_iter().map(|(_, p)| p));
        }
        v
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = self.body.params_mut();
        if let Some(s) = &mut self.shortcut {
            v.extend(s.params_mut());
        }
        v
    }
    fn clear(&mut self) {
        self.body.clear();
        if let Some(s) = &mut self.shortcut {
            s.clear();
        }
        self.cache = None;
    }
    fn last_spike_count(&self) -> Option<u64> {
        let count = |n: &Network| -> u64 { n.spike_counts().iter().map(|c| c.2).sum() };
        Some(count(&self.body) + self.shortcut.as_ref().map_or(0, count))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::{check, random_dense, random_spikes};
    use super::*;
    use crate::nn::layers::spiking::SpikingSpec;
    use spikelab_core::neuron::surrogate::{Surrogate, SurrogateKind};

    fn lif() -> LayerSpec {
        LayerSpec::Lif(SpikingSpec {
            threshold: 0.3,
            surrogate: Surrogate::new(SurrogateKind::Sigmoid),
            ..SpikingSpec::default()
        })
    }

    fn conv(channels: usize, kernel: usize, stride: usize) -> LayerSpec {
        LayerSpec::Conv2d {
            channels,
            kernel,
            stride,
            padding: kernel / 2,
            bias: true,
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (steps, batch) = (4, 2);
        let shape = FeatShape::image(2, 5, 5);
        let mut pass = Pass::eval(steps, batch);
        pass.smooth = true;
        let body = [conv(2, 3, 1), lif(), conv(2, 3, 1), lif()];
        let down = [conv(3, 3, 2), lif(), conv(3, 3, 1), lif()];
        let cases: [(&[LayerSpec], Vec<LayerSpec>, ResidualOp); 3] = [
            (&body, vec![], ResidualOp::Add),
            (&body, vec![], ResidualOp::Iand),
            (&down, vec![conv(3, 1, 2), lif()], ResidualOp::Add),
        ];
        for (b, s, op) in cases {
            let mut r = Residual::new(shape, b, &s, op, steps, 3, 0).unwrap();
            let x = Activation::Dense(random_dense(steps * batch, shape, 1, 1.5));
            let checked = check(&mut r, &x, &pass, 1e-3, 3e-2);
            assert!(checked > 100, "{op:?}: {checked} values checked");
            // Spike input (no input gradient to check, the parameters' still are).
            let xs = Activation::Spikes(random_spikes(steps * batch, shape, 0.3, 2));
            check(&mut r, &xs, &pass, 1e-3, 3e-2);
        }
        // A static input gets a per-sample gradient.
        let mut r = Residual::new(shape, &body, &[], ResidualOp::Add, steps, 3, 0).unwrap();
        let xs = Activation::Static(random_dense(batch, shape, 4, 1.5));
        check(&mut r, &xs, &pass, 1e-3, 3e-2);
    }

    #[test]
    fn shapes_and_names_are_checked() {
        let shape = FeatShape::image(2, 5, 5);
        let spec = |shortcut: Vec<LayerSpec>| NetSpec {
            input: shape,
            layers: vec![LayerSpec::Residual {
                body: vec![conv(3, 3, 2), lif()],
                shortcut,
                op: ResidualOp::Add,
            }],
        };
        let e = spec(vec![]).shapes().unwrap_err().to_string();
        assert!(e.contains("layer[0]") && e.contains("shortcut"), "{e}");
        assert!(spec(vec![conv(3, 1, 2)]).shapes().is_ok());
        let net = Network::build(&spec(vec![conv(3, 1, 2)]), 3, 0).unwrap();
        let names: Vec<String> = net.named_params().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"0.body.0.weight".to_string()), "{names:?}");
        assert!(
            names.contains(&"0.shortcut.0.weight".to_string()),
            "{names:?}"
        );
        let counts = spec(vec![conv(3, 1, 2)]).param_values(3).unwrap();
        let allocated: usize = net.named_params().iter().map(|(_, p)| p.value.len()).sum();
        assert_eq!(counts[0], allocated);
        let empty = NetSpec {
            input: shape,
            layers: vec![LayerSpec::Residual {
                body: vec![],
                shortcut: vec![],
                op: ResidualOp::Iand,
            }],
        };
        assert!(empty
            .shapes()
            .unwrap_err()
            .to_string()
            .contains("layer[0].body"));
        // The JSON form round-trips.
        let s = spec(vec![conv(3, 1, 2)]);
        assert_eq!(NetSpec::from_json(&s.to_json(), "net").unwrap(), s);
    }
}
