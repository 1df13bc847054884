//! One step of an equation model, written once over an [`Emitter`]: the JIT
//! (`jit.rs`) emits Cranelift instructions for four neurons at a time (and one for
//! the remainder), the interpreter (`interp.rs`) computes on `f32` directly. Values
//! known when the model is compiled (parameters, units, `dt`, their arithmetic) are
//! folded in `f64` and rounded to `f32` once, where they meet neuron state; both
//! back ends therefore compute the same operations in the same order and give
//! bit-identical results.
//!
//! The step: integrate with the model's method from the state at the start of the
//! step (variables flagged `(unless refractory)` keep their value while the neuron is
//! refractory), test the threshold on the new state (never while refractory), run the
//! reset statements in order for the neurons that fired, and restart their refractory
//! count — the order of the engine's built-in integrate-and-fire models.

use super::model::{linear_system, Program, Symbol};
use super::parse::{AssignOp, BinOp, Expr, ExprKind, UnOp};
use super::Method;

/// Arithmetic on two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// a + b
    Add,
    /// a − b
    Sub,
    /// a · b
    Mul,
    /// a / b
    Div,
    /// min(a, b)
    Min,
    /// max(a, b)
    Max,
}

/// Functions of one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// −x
    Neg,
    /// |x|
    Abs,
    /// √x
    Sqrt,
    /// eˣ (the engine's `exp_f32`, inline)
    Exp,
    /// ln x
    Log,
    /// sin x
    Sin,
    /// cos x
    Cos,
    /// tan x
    Tan,
    /// atan x
    Atan,
    /// ⌊x⌋
    Floor,
    /// ⌈x⌉
    Ceil,
}

/// Comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// <
    Lt,
    /// ≤
    Le,
    /// >
    Gt,
    /// ≥
    Ge,
    /// =
    Eq,
    /// ≠
    Ne,
}

/// What a code generator provides: `f32` numbers and truth values of some lane
/// width.
pub trait Emitter {
    /// A number (one per lane).
    type V: Copy;
    /// A truth value (one per lane).
    type B: Copy;
    /// A constant in every lane.
    fn constant(&mut self, x: f32) -> Self::V;
    /// Two-operand arithmetic.
    fn arith(&mut self, op: Arith, a: Self::V, b: Self::V) -> Self::V;
    /// A function of one number.
    fn func(&mut self, f: Func, a: Self::V) -> Self::V;
    /// `a` to the power `b`.
    fn powf(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// A comparison.
    fn compare(&mut self, op: Cmp, a: Self::V, b: Self::V) -> Self::B;
    /// `a and b` (`or` when `or`).
    fn logic(&mut self, or: bool, a: Self::B, b: Self::B) -> Self::B;
    /// `not a`.
    fn not(&mut self, a: Self::B) -> Self::B;
    /// `c ? a : b` per lane.
    fn select(&mut self, c: Self::B, a: Self::V, b: Self::V) -> Self::V;
    /// A constant truth value.
    fn truth(&mut self, b: bool) -> Self::B;
}

/// A number: folded at compile time, or computed per neuron.
#[derive(Clone, Copy, Debug)]
pub enum Val<V> {
    /// Known when the model is compiled (f64).
    Const(f64),
    /// Computed per neuron.
    Dyn(V),
}

/// A truth value: folded, or per neuron.
#[derive(Clone, Copy, Debug)]
pub enum Truth<B> {
    /// Known when the model is compiled.
    Const(bool),
    /// Computed per neuron.
    Dyn(B),
}

/// Values of the neuron being computed.
#[derive(Clone, Debug)]
pub struct Env<V> {
    /// State variables.
    pub vars: Vec<Val<V>>,
    /// Per-neuron constants.
    pub constants: Vec<Val<V>>,
    /// Noise: standard normal draws divided by √dt (so `σ·xi·dt = σ·√dt·N`).
    pub noise: Vec<Val<V>>,
    /// Time at the start of the step (ms).
    pub t: Val<V>,
}

/// Inputs of one step: the stored arrays and the step's draws.
pub struct StepIn<V> {
    /// Variables, then constants (as [`Program::storage_names`]).
    pub state: Vec<V>,
    /// Refractory count, if the model has a refractory period.
    pub refractory: Option<V>,
    /// One standard normal draw per noise source.
    pub normals: Vec<V>,
    /// Time at the start of the step (ms).
    pub t: V,
}

/// Outputs of one step.
pub struct StepOut<V, B> {
    /// New values of the variables (constants are not written).
    pub vars: Vec<V>,
    /// New refractory count.
    pub refractory: Option<V>,
    /// Whether the neuron fired.
    pub fired: Option<B>,
}

/// Propagators `P`, `Q` and the non-state terms `b` of `x_new = P x + Q b`.
type Exact = (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<Expr>);

/// Generates one step of `prog` with emitter `em`.
pub struct Lowering<'p, E: Emitter> {
    prog: &'p Program,
    /// The emitter.
    pub em: E,
    /// Exact propagators: `x_new = P x + Q b` (method `exact`).
    exact: Option<Exact>,
}

impl<'p, E: Emitter> Lowering<'p, E> {
    /// Prepares the lowering (propagator matrices for `exact`).
    pub fn new(prog: &'p Program, em: E) -> Self {
        let exact = (prog.method == Method::Exact).then(|| {
            let (a, b) = linear_system(prog).expect("checked when the method was chosen");
            let (p, q) = propagators(&a, prog.dt_ms);
            (p, q, b)
        });
        Lowering { prog, em, exact }
    }

    /// Materialises a value.
    pub fn dynamic(&mut self, v: Val<E::V>) -> E::V {
        match v {
            Val::Const(x) => self.em.constant(x as f32),
            Val::Dyn(v) => v,
        }
    }

    fn arith(&mut self, op: Arith, a: Val<E::V>, b: Val<E::V>) -> Val<E::V> {
        if let (Val::Const(x), Val::Const(y)) = (a, b) {
            return Val::Const(match op {
                Arith::Add => x + y,
                Arith::Sub => x - y,
                Arith::Mul => x * y,
                Arith::Div => x / y,
                Arith::Min => x.min(y),
                Arith::Max => x.max(y),
            });
        }
        // Exact identities only (x + 0, x·1, x/1, 0 + x, 1·x), so folding never
        // changes a result.
        match (op, a, b) {
            (Arith::Add, x, Val::Const(c)) | (Arith::Add, Val::Const(c), x) if c == 0.0 => {
                return x
            }
            (Arith::Sub, x, Val::Const(0.0)) => return x,
            (Arith::Mul, x, Val::Const(c)) | (Arith::Mul, Val::Const(c), x) if c == 1.0 => {
                return x
            }
            (Arith::Div, x, Val::Const(1.0)) => return x,
            _ => {}
        }
        let (x, y) = (self.dynamic(a), self.dynamic(b));
        Val::Dyn(self.em.arith(op, x, y))
    }

    fn func(&mut self, f: Func, a: Val<E::V>) -> Val<E::V> {
        if let Val::Const(x) = a {
            return Val::Const(match f {
                Func::Neg => -x,
                Func::Abs => x.abs(),
                Func::Sqrt => x.sqrt(),
                Func::Exp => x.exp(),
                Func::Log => x.ln(),
                Func::Sin => x.sin(),
                Func::Cos => x.cos(),
                Func::Tan => x.tan(),
                Func::Atan => x.atan(),
                Func::Floor => x.floor(),
                Func::Ceil => x.ceil(),
            });
        }
        let x = self.dynamic(a);
        Val::Dyn(self.em.func(f, x))
    }

    fn select(&mut self, c: Truth<E::B>, a: Val<E::V>, b: Val<E::V>) -> Val<E::V> {
        match c {
            Truth::Const(true) => a,
            Truth::Const(false) => b,
            Truth::Dyn(c) => {
                let (x, y) = (self.dynamic(a), self.dynamic(b));
                Val::Dyn(self.em.select(c, x, y))
            }
        }
    }

    fn truth_dyn(&mut self, t: Truth<E::B>) -> E::B {
        match t {
            Truth::Const(b) => self.em.truth(b),
            Truth::Dyn(b) => b,
        }
    }

    /// Evaluates a number expression.
    pub fn num(&mut self, e: &Expr, env: &Env<E::V>) -> Val<E::V> {
        match &e.kind {
            ExprKind::Number(x) => Val::Const(*x),
            ExprKind::Name(n) => match self.prog.lookup(n) {
                Some(Symbol::State(k)) => env.vars[k],
                Some(Symbol::Constant(k)) => env.constants[k],
                Some(Symbol::Scalar(x)) => Val::Const(x),
                Some(Symbol::Time) => env.t,
                Some(Symbol::Noise(k)) => env.noise[k],
                None => match self.prog.subexpressions.get(n) {
                    Some((d, _)) => {
                        let d = d.clone();
                        self.num(&d, env)
                    }
                    None => unreachable!("names are resolved when the model is checked"),
                },
            },
            ExprKind::Unary(UnOp::Neg, a) => {
                let x = self.num(a, env);
                self.func(Func::Neg, x)
            }
            ExprKind::Unary(UnOp::Not, _) => unreachable!("checked: `not` gives a truth value"),
            ExprKind::Binary(op, a, b) => {
                let op = match op {
                    BinOp::Add => Arith::Add,
                    BinOp::Sub => Arith::Sub,
                    BinOp::Mul => Arith::Mul,
                    BinOp::Div => Arith::Div,
                    BinOp::Pow => return self.pow(a, b, env),
                    _ => unreachable!("checked: comparisons give truth values"),
                };
                let (x, y) = (self.num(a, env), self.num(b, env));
                self.arith(op, x, y)
            }
            ExprKind::Call(f, args) => self.call(f, args, env),
        }
    }

    fn pow(&mut self, a: &Expr, b: &Expr, env: &Env<E::V>) -> Val<E::V> {
        let base = self.num(a, env);
        let exp = self.num(b, env);
        match (base, exp) {
            (Val::Const(x), Val::Const(y)) => Val::Const(x.powf(y)),
            (_, Val::Const(y)) if y.fract() == 0.0 && y.abs() <= 16.0 => {
                // Integer powers by repeated multiplication (Brian2's `v**2`).
                let mut acc = base;
                for _ in 1..(y.abs() as i32) {
                    acc = self.arith(Arith::Mul, acc, base);
                }
                if y == 0.0 {
                    Val::Const(1.0)
                } else if y < 0.0 {
                    self.arith(Arith::Div, Val::Const(1.0), acc)
                } else {
                    acc
                }
            }
            (_, Val::Const(0.5)) => self.func(Func::Sqrt, base),
            _ => {
                let (x, y) = (self.dynamic(base), self.dynamic(exp));
                Val::Dyn(self.em.powf(x, y))
            }
        }
    }

    fn call(&mut self, f: &str, args: &[Expr], env: &Env<E::V>) -> Val<E::V> {
        let one = |s: &mut Self, func| {
            let x = s.num(&args[0], env);
            s.func(func, x)
        };
        match f {
            "exp" => one(self, Func::Exp),
            "log" => one(self, Func::Log),
            "log10" => {
                let l = one(self, Func::Log);
                self.arith(Arith::Mul, l, Val::Const(std::f64::consts::LOG10_E))
            }
            "expm1" => {
                let e = one(self, Func::Exp);
                self.arith(Arith::Sub, e, Val::Const(1.0))
            }
            "exprel" => {
                // (e^x − 1)/x, with its series near 0 (Brian2's `exprel`; the
                // Traub–Miles rates).
                let x = self.num(&args[0], env);
                let e = self.func(Func::Exp, x);
                let em1 = self.arith(Arith::Sub, e, Val::Const(1.0));
                let direct = self.arith(Arith::Div, em1, x);
                let x6 = self.arith(Arith::Mul, x, Val::Const(1.0 / 6.0));
                let inner = self.arith(Arith::Add, x6, Val::Const(0.5));
                let xi = self.arith(Arith::Mul, x, inner);
                let series = self.arith(Arith::Add, xi, Val::Const(1.0));
                let ax = self.func(Func::Abs, x);
                let small = self.cmp_vals(Cmp::Lt, ax, Val::Const(1e-2));
                self.select(small, series, direct)
            }
            "log1p" => {
                let x = self.num(&args[0], env);
                let y = self.arith(Arith::Add, x, Val::Const(1.0));
                self.func(Func::Log, y)
            }
            "sin" => one(self, Func::Sin),
            "cos" => one(self, Func::Cos),
            "tan" => one(self, Func::Tan),
            "arctan" => one(self, Func::Atan),
            "sqrt" => one(self, Func::Sqrt),
            "abs" => one(self, Func::Abs),
            "floor" => one(self, Func::Floor),
            "ceil" => one(self, Func::Ceil),
            "tanh" | "sinh" | "cosh" => {
                // From one exponential: e^{2x} for tanh, e^{±x} otherwise.
                let x = self.num(&args[0], env);
                if f == "tanh" {
                    let two_x = self.arith(Arith::Mul, x, Val::Const(2.0));
                    let e = self.func(Func::Exp, two_x);
                    let num = self.arith(Arith::Sub, e, Val::Const(1.0));
                    let den = self.arith(Arith::Add, e, Val::Const(1.0));
                    self.arith(Arith::Div, num, den)
                } else {
                    let e = self.func(Func::Exp, x);
                    let inv = self.arith(Arith::Div, Val::Const(1.0), e);
                    let s = if f == "sinh" {
                        self.arith(Arith::Sub, e, inv)
                    } else {
                        self.arith(Arith::Add, e, inv)
                    };
                    self.arith(Arith::Mul, s, Val::Const(0.5))
                }
            }
            "sign" => {
                let x = self.num(&args[0], env);
                let pos = self.cmp_vals(Cmp::Gt, x, Val::Const(0.0));
                let neg = self.cmp_vals(Cmp::Lt, x, Val::Const(0.0));
                let inner = self.select(neg, Val::Const(-1.0), Val::Const(0.0));
                self.select(pos, Val::Const(1.0), inner)
            }
            "int" => {
                let c = self.truth(&args[0], env);
                self.select(c, Val::Const(1.0), Val::Const(0.0))
            }
            "clip" => {
                let x = self.num(&args[0], env);
                let lo = self.num(&args[1], env);
                let hi = self.num(&args[2], env);
                let y = self.arith(Arith::Max, x, lo);
                self.arith(Arith::Min, y, hi)
            }
            "minimum" | "maximum" => {
                let a = self.num(&args[0], env);
                let b = self.num(&args[1], env);
                let op = if f == "minimum" {
                    Arith::Min
                } else {
                    Arith::Max
                };
                self.arith(op, a, b)
            }
            "where" => {
                let c = self.truth(&args[0], env);
                let a = self.num(&args[1], env);
                let b = self.num(&args[2], env);
                self.select(c, a, b)
            }
            _ => unreachable!("functions are checked when the model is built"),
        }
    }

    fn cmp_vals(&mut self, op: Cmp, a: Val<E::V>, b: Val<E::V>) -> Truth<E::B> {
        if let (Val::Const(x), Val::Const(y)) = (a, b) {
            return Truth::Const(match op {
                Cmp::Lt => x < y,
                Cmp::Le => x <= y,
                Cmp::Gt => x > y,
                Cmp::Ge => x >= y,
                Cmp::Eq => x == y,
                Cmp::Ne => x != y,
            });
        }
        let (x, y) = (self.dynamic(a), self.dynamic(b));
        Truth::Dyn(self.em.compare(op, x, y))
    }

    /// Evaluates a condition.
    pub fn truth(&mut self, e: &Expr, env: &Env<E::V>) -> Truth<E::B> {
        match &e.kind {
            ExprKind::Unary(UnOp::Not, a) => match self.truth(a, env) {
                Truth::Const(b) => Truth::Const(!b),
                Truth::Dyn(b) => Truth::Dyn(self.em.not(b)),
            },
            ExprKind::Binary(op @ (BinOp::And | BinOp::Or), a, b) => {
                let or = *op == BinOp::Or;
                let (x, y) = (self.truth(a, env), self.truth(b, env));
                match (x, y) {
                    (Truth::Const(p), Truth::Const(q)) => {
                        Truth::Const(if or { p || q } else { p && q })
                    }
                    (Truth::Const(p), other) | (other, Truth::Const(p)) => {
                        if p == or {
                            Truth::Const(p)
                        } else {
                            other
                        }
                    }
                    (Truth::Dyn(p), Truth::Dyn(q)) => Truth::Dyn(self.em.logic(or, p, q)),
                }
            }
            ExprKind::Binary(op, a, b) => {
                let cmp = match op {
                    BinOp::Lt => Cmp::Lt,
                    BinOp::Le => Cmp::Le,
                    BinOp::Gt => Cmp::Gt,
                    BinOp::Ge => Cmp::Ge,
                    BinOp::Eq => Cmp::Eq,
                    _ => Cmp::Ne,
                };
                let (x, y) = (self.num(a, env), self.num(b, env));
                self.cmp_vals(cmp, x, y)
            }
            ExprKind::Name(n) => match self.prog.subexpressions.get(n) {
                Some((d, _)) => {
                    let d = d.clone();
                    self.truth(&d, env)
                }
                None => unreachable!("checked: a truth value"),
            },
            _ => unreachable!("checked: a truth value"),
        }
    }

    /// Drift of every variable at `env`.
    fn drift(&mut self, env: &Env<E::V>) -> Vec<Val<E::V>> {
        let prog = self.prog;
        prog.vars.iter().map(|v| self.num(&v.drift, env)).collect()
    }

    /// Diffusion term `Σ g·N·√dt` of variable `k` at `env`, with `normals` the draws.
    fn diffusion(&mut self, k: usize, env: &Env<E::V>, normals: &[Val<E::V>]) -> Val<E::V> {
        let prog = self.prog;
        let sqrt_dt = prog.dt_ms.sqrt();
        let mut acc = Val::Const(0.0);
        for (ni, g) in &prog.vars[k].diffusion {
            let gv = self.num(g, env);
            let scaled = self.arith(Arith::Mul, gv, Val::Const(sqrt_dt));
            let term = self.arith(Arith::Mul, scaled, normals[*ni]);
            acc = self.arith(Arith::Add, acc, term);
        }
        acc
    }

    /// `x + h·k` for every variable.
    fn axpy(&mut self, x: &[Val<E::V>], h: f64, k: &[Val<E::V>]) -> Vec<Val<E::V>> {
        x.iter()
            .zip(k)
            .map(|(&xi, &ki)| {
                let hk = self.arith(Arith::Mul, ki, Val::Const(h));
                self.arith(Arith::Add, xi, hk)
            })
            .collect()
    }

    fn integrate(&mut self, env: &Env<E::V>, normals: &[Val<E::V>]) -> Vec<Val<E::V>> {
        let prog = self.prog;
        let dt = prog.dt_ms;
        let x0 = env.vars.clone();
        let at = |vars: Vec<Val<E::V>>| Env {
            vars,
            constants: env.constants.clone(),
            noise: env.noise.clone(),
            t: env.t,
        };
        match prog.method {
            Method::Euler => {
                let f = self.drift(env);
                let mut x = self.axpy(&x0, dt, &f);
                for (k, xk) in x.iter_mut().enumerate() {
                    let d = self.diffusion(k, env, normals);
                    *xk = self.arith(Arith::Add, *xk, d);
                }
                x
            }
            Method::Heun => {
                // Stochastic Heun (Stratonovich): predictor, then the mean of both
                // slopes with the same draws.
                let f0 = self.drift(env);
                let g0: Vec<_> = (0..x0.len())
                    .map(|k| self.diffusion(k, env, normals))
                    .collect();
                let mut pred = self.axpy(&x0, dt, &f0);
                for (p, g) in pred.iter_mut().zip(&g0) {
                    *p = self.arith(Arith::Add, *p, *g);
                }
                let env1 = at(pred);
                let f1 = self.drift(&env1);
                let g1: Vec<_> = (0..x0.len())
                    .map(|k| self.diffusion(k, &env1, normals))
                    .collect();
                (0..x0.len())
                    .map(|k| {
                        let fs = self.arith(Arith::Add, f0[k], f1[k]);
                        let fdt = self.arith(Arith::Mul, fs, Val::Const(0.5 * dt));
                        let gs = self.arith(Arith::Add, g0[k], g1[k]);
                        let gh = self.arith(Arith::Mul, gs, Val::Const(0.5));
                        let y = self.arith(Arith::Add, x0[k], fdt);
                        self.arith(Arith::Add, y, gh)
                    })
                    .collect()
            }
            Method::Rk2 => {
                let k1 = self.drift(env);
                let mid = self.axpy(&x0, 0.5 * dt, &k1);
                let k2 = self.drift(&at(mid));
                self.axpy(&x0, dt, &k2)
            }
            Method::Rk4 => {
                let k1 = self.drift(env);
                let e2 = self.axpy(&x0, 0.5 * dt, &k1);
                let k2 = self.drift(&at(e2));
                let e3 = self.axpy(&x0, 0.5 * dt, &k2);
                let k3 = self.drift(&at(e3));
                let e4 = self.axpy(&x0, dt, &k3);
                let k4 = self.drift(&at(e4));
                (0..x0.len())
                    .map(|i| {
                        let a = self.arith(Arith::Add, k2[i], k3[i]);
                        let a2 = self.arith(Arith::Mul, a, Val::Const(2.0));
                        let s = self.arith(Arith::Add, k1[i], a2);
                        let s = self.arith(Arith::Add, s, k4[i]);
                        let h = self.arith(Arith::Mul, s, Val::Const(dt / 6.0));
                        self.arith(Arith::Add, x0[i], h)
                    })
                    .collect()
            }
            Method::ExponentialEuler => {
                // Brian2's form: x ← −B/A + (x + B/A)·e^{A·dt} for dx/dt = A·x + B,
                // A and B taken at the start of the step; x + B·dt where A is 0.
                (0..x0.len())
                    .map(|i| {
                        let (a_e, b_e) = prog.vars[i].linear.clone().expect("checked linear");
                        let a = self.num(&a_e, env);
                        let b = self.num(&b_e, env);
                        if matches!(a, Val::Const(z) if z == 0.0) {
                            let bdt = self.arith(Arith::Mul, b, Val::Const(dt));
                            return self.arith(Arith::Add, x0[i], bdt);
                        }
                        let b_over_a = self.arith(Arith::Div, b, a);
                        let adt = self.arith(Arith::Mul, a, Val::Const(dt));
                        let e = self.func(Func::Exp, adt);
                        let s = self.arith(Arith::Add, x0[i], b_over_a);
                        let p = self.arith(Arith::Mul, s, e);
                        self.arith(Arith::Sub, p, b_over_a)
                    })
                    .collect()
            }
            Method::Exact => {
                let (p, q, b) = self.exact.clone().expect("propagators of exact");
                let bv: Vec<_> = b.iter().map(|e| self.num(e, env)).collect();
                (0..x0.len())
                    .map(|i| {
                        let mut acc = Val::Const(0.0);
                        for j in 0..x0.len() {
                            if p[i][j] != 0.0 {
                                let t = self.arith(Arith::Mul, x0[j], Val::Const(p[i][j]));
                                acc = self.arith(Arith::Add, acc, t);
                            }
                        }
                        for j in 0..x0.len() {
                            if q[i][j] != 0.0 && !matches!(bv[j], Val::Const(z) if z == 0.0) {
                                let t = self.arith(Arith::Mul, bv[j], Val::Const(q[i][j]));
                                acc = self.arith(Arith::Add, acc, t);
                            }
                        }
                        acc
                    })
                    .collect()
            }
            Method::SequentialEuler => {
                // Variables in the order written, each with its substeps, each seeing
                // the others' newest values (Izhikevich 2003's own scheme).
                let mut cur = at(x0.clone());
                for i in 0..x0.len() {
                    let n = prog.substeps[i];
                    let h = dt / n as f64;
                    for _ in 0..n {
                        let f = self.num(&prog.vars[i].drift, &cur);
                        let hf = self.arith(Arith::Mul, f, Val::Const(h));
                        cur.vars[i] = self.arith(Arith::Add, cur.vars[i], hf);
                    }
                }
                cur.vars
            }
            Method::Auto => unreachable!("resolved when the model is checked"),
        }
    }

    /// One step (see the module docs).
    pub fn step(&mut self, input: StepIn<E::V>) -> StepOut<E::V, E::B> {
        let prog = self.prog;
        let nv = prog.vars.len();
        let vars: Vec<Val<E::V>> = input.state[..nv].iter().map(|&v| Val::Dyn(v)).collect();
        let constants: Vec<Val<E::V>> = input.state[nv..].iter().map(|&v| Val::Dyn(v)).collect();
        let normals: Vec<Val<E::V>> = input.normals.iter().map(|&v| Val::Dyn(v)).collect();
        // xi as a value: N/√dt (only for expressions outside the noise terms).
        let inv_sqrt_dt = 1.0 / prog.dt_ms.sqrt();
        let noise: Vec<Val<E::V>> = normals
            .iter()
            .map(|&n| self.arith(Arith::Mul, n, Val::Const(inv_sqrt_dt)))
            .collect();
        let env = Env {
            vars,
            constants: constants.clone(),
            noise,
            t: Val::Dyn(input.t),
        };
        let mut new = self.integrate(&env, &normals);
        let active = input.refractory.map(|r| {
            let zero = self.em.constant(0.0);
            self.em.compare(Cmp::Le, r, zero)
        });
        if let Some(active) = active {
            for (k, v) in prog.vars.iter().enumerate() {
                if v.unless_refractory {
                    new[k] = self.select(Truth::Dyn(active), new[k], env.vars[k]);
                }
            }
        }
        let mut after = Env {
            vars: new,
            constants,
            noise: env.noise.clone(),
            t: env.t,
        };
        let fired = prog.threshold.as_ref().map(|th| {
            let c = self.truth(th, &after);
            let c = match (active, c) {
                (Some(a), Truth::Dyn(c)) => Truth::Dyn(self.em.logic(false, a, c)),
                (Some(a), Truth::Const(true)) => Truth::Dyn(a),
                (_, c) => c,
            };
            self.truth_dyn(c)
        });
        if let Some(f) = fired {
            for st in &prog.reset {
                let k = prog
                    .vars
                    .iter()
                    .position(|v| v.name == st.var)
                    .expect("checked");
                let value = self.num(&st.value, &after);
                let old = after.vars[k];
                let y = match st.op {
                    AssignOp::Set => value,
                    AssignOp::Add => self.arith(Arith::Add, old, value),
                    AssignOp::Sub => self.arith(Arith::Sub, old, value),
                    AssignOp::Mul => self.arith(Arith::Mul, old, value),
                    AssignOp::Div => self.arith(Arith::Div, old, value),
                };
                after.vars[k] = self.select(Truth::Dyn(f), y, old);
            }
        }
        let refractory = input.refractory.map(|r| {
            let one = self.em.constant(1.0);
            let r1 = self.em.arith(Arith::Sub, r, one);
            let zero = self.em.constant(0.0);
            let r1 = self.em.arith(Arith::Max, r1, zero);
            match fired {
                Some(f) => {
                    let n = self.em.constant(prog.refractory_steps as f32);
                    self.em.select(f, n, r1)
                }
                None => r1,
            }
        });
        let vars = after.vars.iter().map(|&v| self.dynamic(v)).collect();
        StepOut {
            vars,
            refractory,
            fired,
        }
    }
}

/// `P = e^{A·dt}` and `Q = ∫₀^dt e^{A·s} ds`, from the exponential of the block
/// matrix `[[A, I], [0, 0]]·dt` (scaling and squaring of a Taylor series, f64).
pub fn propagators(a: &[Vec<f64>], dt: f64) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let n = a.len();
    let m = 2 * n;
    let mut big = vec![vec![0.0; m]; m];
    for i in 0..n {
        for j in 0..n {
            big[i][j] = a[i][j] * dt;
        }
        big[i][n + i] = dt;
    }
    let e = expm(&big);
    let p = (0..n).map(|i| e[i][..n].to_vec()).collect();
    let q = (0..n).map(|i| e[i][n..].to_vec()).collect();
    (p, q)
}

fn matmul(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut c = vec![vec![0.0; n]; n];
    for i in 0..n {
        for k in 0..n {
            if a[i][k] != 0.0 {
                for j in 0..n {
                    c[i][j] += a[i][k] * b[k][j];
                }
            }
        }
    }
    c
}

/// Matrix exponential by scaling and squaring with a degree-20 Taylor series.
fn expm(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let norm = a
        .iter()
        .map(|r| r.iter().map(|x| x.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let squarings = if norm > 0.5 {
        (norm / 0.5).log2().ceil() as u32
    } else {
        0
    };
    let scale = 0.5f64.powi(squarings as i32);
    let s: Vec<Vec<f64>> = a
        .iter()
        .map(|r| r.iter().map(|x| x * scale).collect())
        .collect();
    let mut result: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| (i == j) as u8 as f64).collect())
        .collect();
    let mut term = result.clone();
    for k in 1..=20 {
        term = matmul(&term, &s);
        for row in term.iter_mut() {
            for x in row.iter_mut() {
                *x /= k as f64;
            }
        }
        for i in 0..n {
            for j in 0..n {
                result[i][j] += term[i][j];
            }
        }
    }
    for _ in 0..squarings {
        result = matmul(&result, &result);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagators_of_a_leaky_integrator_are_analytic() {
        let tau = 10.0;
        let (p, q) = propagators(&[vec![-1.0 / tau]], 0.1);
        assert!((p[0][0] - (-0.01f64).exp()).abs() < 1e-15);
        assert!((q[0][0] - tau * (1.0 - (-0.01f64).exp())).abs() < 1e-13);
        // Two coupled variables: v driven by an exponentially decaying current.
        let (tm, ts, dt) = (20.0, 5.0, 0.5);
        let (p, _) = propagators(&[vec![-1.0 / tm, 1.0 / tm], vec![0.0, -1.0 / ts]], dt);
        let want = ts / (ts - tm) * ((-dt / ts).exp() - (-dt / tm).exp());
        assert!((p[0][1] - want).abs() < 1e-14, "{} vs {want}", p[0][1]);
    }
}
