//! The interpreter: the step of `lower.rs` evaluated on `f32` directly, one neuron
//! at a time. It is the fallback where the JIT cannot run (a host Cranelift does not
//! support) and the reference the JIT is tested against: the same operations in the
//! same order, so the results are bit-identical.

use super::lower::{Arith, Cmp, Emitter, Func, Lowering, StepIn};
use super::model::Program;
use crate::math::exp_f32;

/// Immediate `f32` arithmetic.
pub struct Immediate;

impl Emitter for Immediate {
    type V = f32;
    type B = bool;

    fn constant(&mut self, x: f32) -> f32 {
        x
    }

    fn arith(&mut self, op: Arith, a: f32, b: f32) -> f32 {
        match op {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div => a / b,
            Arith::Min => min_f32(a, b),
            Arith::Max => max_f32(a, b),
        }
    }

    fn func(&mut self, f: Func, a: f32) -> f32 {
        match f {
            Func::Neg => -a,
            Func::Abs => a.abs(),
            Func::Sqrt => a.sqrt(),
            Func::Exp => exp_f32(a),
            Func::Log => a.ln(),
            Func::Sin => a.sin(),
            Func::Cos => a.cos(),
            Func::Tan => a.tan(),
            Func::Atan => a.atan(),
            Func::Floor => a.floor(),
            Func::Ceil => a.ceil(),
        }
    }

    fn powf(&mut self, a: f32, b: f32) -> f32 {
        a.powf(b)
    }

    fn compare(&mut self, op: Cmp, a: f32, b: f32) -> bool {
        match op {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }

    fn logic(&mut self, or: bool, a: bool, b: bool) -> bool {
        if or {
            a | b
        } else {
            a & b
        }
    }

    fn not(&mut self, a: bool) -> bool {
        !a
    }

    fn select(&mut self, c: bool, a: f32, b: f32) -> f32 {
        if c {
            a
        } else {
            b
        }
    }

    fn truth(&mut self, b: bool) -> bool {
        b
    }
}

/// `min` as the JIT computes it (`fmin`: NaN if either is NaN).
pub fn min_f32(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.min(b)
    }
}

/// `max` as the JIT computes it.
pub fn max_f32(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// Advances `n` neurons by one step: `arrays` as [`Program::storage_names`],
/// `normals[k·n + i]` the draws of noise source k, `fired[i]` set to 0 or 1.
pub fn step(
    prog: &Program,
    arrays: &mut [Vec<f32>],
    normals: &[f32],
    t_ms: f32,
    fired: &mut [u32],
) {
    let nv = prog.vars.len();
    let nc = prog.constants.len();
    let has_ref = prog.refractory_steps > 0;
    let n = fired.len();
    let mut low = Lowering::new(prog, Immediate);
    for i in 0..n {
        let input = StepIn {
            state: arrays[..nv + nc].iter().map(|a| a[i]).collect(),
            refractory: has_ref.then(|| arrays[nv + nc][i]),
            normals: (0..prog.noise.len()).map(|k| normals[k * n + i]).collect(),
            t: t_ms,
        };
        let out = low.step(input);
        for (k, v) in out.vars.into_iter().enumerate() {
            arrays[k][i] = v;
        }
        if let Some(r) = out.refractory {
            arrays[nv + nc][i] = r;
        }
        fired[i] = out.fired.unwrap_or(false) as u32;
    }
}
