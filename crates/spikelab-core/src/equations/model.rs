//! From text to a checked program: the equation lines, threshold, reset, refractory
//! period and parameters of an equation model are parsed, every name is resolved
//! (state variables, per-neuron constants, subexpressions, parameters, `t`, `dt`,
//! noise `xi`, units), every expression is checked dimensionally, and the
//! integration method is chosen and validated. The result, [`Program`], is what the
//! code generators (`lower.rs`) compile.

use super::parse::{self, AssignOp, BinOp, Expr, ExprKind, Line, Statement, UnOp};
use super::units::{self, Dim, Quantity};
use super::{EquationModelSpec, Method, ParamValue};
use std::collections::BTreeMap;

/// An integrated state variable.
#[derive(Clone, Debug)]
pub struct StateVar {
    /// Its name.
    pub name: String,
    /// Its dimension.
    pub dim: Dim,
    /// Frozen while the neuron is refractory (`(unless refractory)`).
    pub unless_refractory: bool,
    /// Deterministic part of `dx/dt`, subexpressions inlined.
    pub drift: Expr,
    /// Stochastic part: `(noise index, coefficient of xi)`.
    pub diffusion: Vec<(usize, Expr)>,
    /// `dx/dt = a·x + b` with `a`, `b` free of `x` (conditionally linear), if so.
    pub linear: Option<(Expr, Expr)>,
}

/// What a name in an expression is.
#[derive(Clone, Debug, PartialEq)]
pub enum Symbol {
    /// State variable k.
    State(usize),
    /// Per-neuron constant k.
    Constant(usize),
    /// A value known when the model is compiled (parameter, unit, `dt`), in working
    /// units.
    Scalar(f64),
    /// The time at the start of the step (ms).
    Time,
    /// Noise source k (a standard normal draw per neuron and step, divided by √dt).
    Noise(usize),
}

/// A checked equation model, ready to compile.
#[derive(Clone, Debug)]
pub struct Program {
    /// Integrated variables (storage order: `v` first if there is one).
    pub vars: Vec<StateVar>,
    /// Per-neuron constants (`name : unit (constant)`), stored after the variables.
    pub constants: Vec<(String, Dim)>,
    /// Names of the noise sources (`xi`, `xi_1`, ...).
    pub noise: Vec<String>,
    /// Scalars by name (parameters), working units.
    pub scalars: BTreeMap<String, f64>,
    /// Subexpressions (name → definition with other subexpressions inlined).
    pub subexpressions: BTreeMap<String, (Expr, Dim)>,
    /// Spike condition.
    pub threshold: Option<Expr>,
    /// Reset statements, in order.
    pub reset: Vec<Statement>,
    /// Refractory period in steps (0: none).
    pub refractory_steps: u32,
    /// Integration method (never `Auto`).
    pub method: Method,
    /// Euler substeps per variable (`sequential_euler`).
    pub substeps: Vec<u32>,
    /// Time step (ms).
    pub dt_ms: f64,
    /// Dimension of each parameter.
    pub scalar_dims: BTreeMap<String, Dim>,
}

impl Program {
    /// What `name` refers to.
    pub fn lookup(&self, name: &str) -> Option<Symbol> {
        if let Some(k) = self.vars.iter().position(|v| v.name == name) {
            return Some(Symbol::State(k));
        }
        if let Some(k) = self.constants.iter().position(|c| c.0 == name) {
            return Some(Symbol::Constant(k));
        }
        if let Some(&x) = self.scalars.get(name) {
            return Some(Symbol::Scalar(x));
        }
        match name {
            "t" => return Some(Symbol::Time),
            "dt" => return Some(Symbol::Scalar(self.dt_ms)),
            _ => {}
        }
        if let Some(k) = self.noise.iter().position(|n| n == name) {
            return Some(Symbol::Noise(k));
        }
        units::unit(name).map(|q| Symbol::Scalar(q.working()))
    }

    /// Names of the stored arrays, in order: variables, constants and
    /// `refractory_steps` when there is a refractory period.
    pub fn storage_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.vars.iter().map(|v| v.name.clone()).collect();
        names.extend(self.constants.iter().map(|c| c.0.clone()));
        if self.refractory_steps > 0 {
            names.push("refractory_steps".into());
        }
        names
    }

    /// Working unit of each stored array (for docs and monitors).
    pub fn storage_units(&self) -> Vec<String> {
        let mut u: Vec<String> = self
            .vars
            .iter()
            .map(|v| v.dim.working_unit_name())
            .collect();
        u.extend(self.constants.iter().map(|c| c.1.working_unit_name()));
        if self.refractory_steps > 0 {
            u.push("steps".into());
        }
        u
    }
}

/// The type of an expression: a number of some dimension, or a truth value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    Num(Dim),
    Bool,
}

/// Functions of one dimensionless argument.
const DIMENSIONLESS_FUNCTIONS: &[&str] = &[
    "exp", "log", "log10", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan", "expm1", "log1p",
    "exprel",
];
/// Every function name, for messages.
pub const FUNCTIONS: &str = "exp, exprel, log, log10, expm1, log1p, sin, cos, tan, sinh, cosh, tanh, arctan, sqrt, abs, sign, floor, ceil, clip(x, low, high), minimum(a, b), maximum(a, b), where(condition, a, b), int(condition)";

struct Checker<'a> {
    prog: &'a Program,
    /// Dimension of each subexpression name (before they are in `prog`).
    subs: &'a BTreeMap<String, (Expr, Dim)>,
}

impl Checker<'_> {
    fn dim_of_name(&self, name: &str) -> Result<Ty, String> {
        if let Some((_, d)) = self.subs.get(name) {
            return Ok(Ty::Num(*d));
        }
        Ok(Ty::Num(match self.prog.lookup(name) {
            Some(Symbol::State(k)) => self.prog.vars[k].dim,
            Some(Symbol::Constant(k)) => self.prog.constants[k].1,
            Some(Symbol::Time) => Dim::TIME,
            Some(Symbol::Noise(_)) => Dim::TIME.powf(-0.5).expect("half power"),
            Some(Symbol::Scalar(_)) => {
                if let Some(q) = self.scalar_quantity(name) {
                    q.dim
                } else {
                    Dim::ONE
                }
            }
            None => {
                return Err(format!(
                    "unknown name `{name}` (not a variable, parameter, subexpression or unit)"
                ))
            }
        }))
    }

    fn scalar_quantity(&self, name: &str) -> Option<Quantity> {
        if name == "dt" {
            return Some(Quantity {
                si: self.prog.dt_ms * 1e-3,
                dim: Dim::TIME,
            });
        }
        if let Some(d) = self.prog.scalar_dims.get(name) {
            return Some(Quantity { si: 0.0, dim: *d });
        }
        units::unit(name)
    }

    fn num(&self, e: &Expr) -> Result<Dim, String> {
        match self.ty(e)? {
            Ty::Num(d) => Ok(d),
            Ty::Bool => Err(format!(
                "`{}` is a truth value where a number is needed",
                e.text
            )),
        }
    }

    fn boolean(&self, e: &Expr) -> Result<(), String> {
        match self.ty(e)? {
            Ty::Bool => Ok(()),
            Ty::Num(d) => Err(format!(
                "`{}` is a number ({d}) where a condition is needed (compare it: `{} > ...`)",
                e.text, e.text
            )),
        }
    }

    fn same(&self, a: &Expr, b: &Expr) -> Result<Dim, String> {
        let (da, db) = (self.num(a)?, self.num(b)?);
        if da != db {
            return Err(format!("`{}` is {da} but `{}` is {db}", a.text, b.text));
        }
        Ok(da)
    }

    fn ty(&self, e: &Expr) -> Result<Ty, String> {
        Ok(match &e.kind {
            ExprKind::Number(_) => Ty::Num(Dim::ONE),
            ExprKind::Name(n) => self.dim_of_name(n)?,
            ExprKind::Unary(UnOp::Neg, a) => Ty::Num(self.num(a)?),
            ExprKind::Unary(UnOp::Not, a) => {
                self.boolean(a)?;
                Ty::Bool
            }
            ExprKind::Binary(op, a, b) => match op {
                BinOp::Add | BinOp::Sub => Ty::Num(self.same(a, b)?),
                BinOp::Mul => Ty::Num(self.num(a)?.times(self.num(b)?)),
                BinOp::Div => Ty::Num(self.num(a)?.over(self.num(b)?)),
                BinOp::Pow => {
                    let base = self.num(a)?;
                    let de = self.num(b)?;
                    if !de.is_one() {
                        return Err(format!(
                            "the exponent `{}` must be dimensionless, not {de}",
                            b.text
                        ));
                    }
                    if base.is_one() {
                        Ty::Num(Dim::ONE)
                    } else {
                        let p = const_value(self.prog, b).ok_or_else(|| {
                            format!("`{}`: a quantity with units ({base}) can only be raised to a constant power", e.text)
                        })?;
                        Ty::Num(base.powf(p).ok_or_else(|| {
                            format!("`{}`: {base} to the power {p} has no unit", e.text)
                        })?)
                    }
                }
                BinOp::And | BinOp::Or => {
                    self.boolean(a)?;
                    self.boolean(b)?;
                    Ty::Bool
                }
                _ => {
                    self.same(a, b)?;
                    Ty::Bool
                }
            },
            ExprKind::Call(f, args) => self.call(e, f, args)?,
        })
    }

    fn call(&self, e: &Expr, f: &str, args: &[Expr]) -> Result<Ty, String> {
        let arity = match f {
            "clip" | "where" => 3,
            "minimum" | "maximum" => 2,
            _ => 1,
        };
        let known = DIMENSIONLESS_FUNCTIONS.contains(&f)
            || matches!(
                f,
                "sqrt"
                    | "abs"
                    | "sign"
                    | "floor"
                    | "ceil"
                    | "clip"
                    | "minimum"
                    | "maximum"
                    | "where"
                    | "int"
            );
        if !known {
            return Err(format!(
                "unknown function `{f}` in `{}`; known: {FUNCTIONS}",
                e.text
            ));
        }
        if args.len() != arity {
            return Err(format!(
                "`{f}` takes {arity} argument(s), `{}` has {}",
                e.text,
                args.len()
            ));
        }
        Ok(match f {
            "sqrt" => {
                let d = self.num(&args[0])?;
                Ty::Num(
                    d.powf(0.5).ok_or_else(|| {
                        format!("`{}`: the square root of {d} has no unit", e.text)
                    })?,
                )
            }
            "abs" | "floor" | "ceil" => Ty::Num(self.num(&args[0])?),
            "sign" => {
                self.num(&args[0])?;
                Ty::Num(Dim::ONE)
            }
            "int" => {
                self.boolean(&args[0])?;
                Ty::Num(Dim::ONE)
            }
            "clip" => {
                let d = self.same(&args[0], &args[1])?;
                self.same(&args[0], &args[2])?;
                Ty::Num(d)
            }
            "minimum" | "maximum" => Ty::Num(self.same(&args[0], &args[1])?),
            "where" => {
                self.boolean(&args[0])?;
                Ty::Num(self.same(&args[1], &args[2])?)
            }
            _ => {
                let d = self.num(&args[0])?;
                if !d.is_one() {
                    return Err(format!(
                        "the argument of `{f}` must be dimensionless, but `{}` is {d}",
                        args[0].text
                    ));
                }
                Ty::Num(Dim::ONE)
            }
        })
    }
}

/// The value of an expression made of numbers, parameters, units and `dt` only.
pub fn const_value(prog: &Program, e: &Expr) -> Option<f64> {
    Some(match &e.kind {
        ExprKind::Number(x) => *x,
        ExprKind::Name(n) => match prog.lookup(n)? {
            Symbol::Scalar(x) => x,
            _ => return None,
        },
        ExprKind::Unary(UnOp::Neg, a) => -const_value(prog, a)?,
        ExprKind::Binary(op, a, b) => {
            let (x, y) = (const_value(prog, a)?, const_value(prog, b)?);
            match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
                BinOp::Pow => x.powf(y),
                _ => return None,
            }
        }
        ExprKind::Call(f, args) if args.len() == 1 => {
            let x = const_value(prog, &args[0])?;
            match f.as_str() {
                "exp" => x.exp(),
                "log" => x.ln(),
                "sqrt" => x.sqrt(),
                "abs" => x.abs(),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Replaces subexpression names by their (inlined) definitions.
fn inline(e: &Expr, subs: &BTreeMap<String, (Expr, Dim)>) -> Expr {
    let kind = match &e.kind {
        ExprKind::Name(n) => match subs.get(n) {
            Some((d, _)) => return paren(d.clone()),
            None => return e.clone(),
        },
        ExprKind::Number(_) => return e.clone(),
        ExprKind::Unary(op, a) => ExprKind::Unary(*op, Box::new(inline(a, subs))),
        ExprKind::Binary(op, a, b) => {
            ExprKind::Binary(*op, Box::new(inline(a, subs)), Box::new(inline(b, subs)))
        }
        ExprKind::Call(f, args) => {
            ExprKind::Call(f.clone(), args.iter().map(|a| inline(a, subs)).collect())
        }
    };
    Expr {
        kind,
        text: e.text.clone(),
    }
}

fn paren(e: Expr) -> Expr {
    let text = if e.text.starts_with('(') || !e.text.contains(' ') {
        e.text.clone()
    } else {
        format!("({})", e.text)
    };
    Expr { kind: e.kind, text }
}

fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let sym = match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        _ => "?",
    };
    let text = format!("{} {sym} {}", paren(a.clone()).text, paren(b.clone()).text);
    Expr::synth(ExprKind::Binary(op, Box::new(a), Box::new(b)), text)
}

fn is_zero(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Number(x) if x == 0.0)
}

fn add(a: Expr, b: Expr) -> Expr {
    match (is_zero(&a), is_zero(&b)) {
        (true, _) => b,
        (_, true) => a,
        _ => bin(BinOp::Add, a, b),
    }
}

fn sub(a: Expr, b: Expr) -> Expr {
    match (is_zero(&a), is_zero(&b)) {
        (_, true) => a,
        (true, _) => Expr::synth(
            ExprKind::Unary(UnOp::Neg, Box::new(b.clone())),
            format!("-{}", paren(b).text),
        ),
        _ => bin(BinOp::Sub, a, b),
    }
}

fn mul(a: Expr, b: Expr) -> Expr {
    if is_zero(&a) || is_zero(&b) {
        return Expr::number(0.0);
    }
    match (&a.kind, &b.kind) {
        (ExprKind::Number(x), _) if *x == 1.0 => b,
        (_, ExprKind::Number(y)) if *y == 1.0 => a,
        _ => bin(BinOp::Mul, a, b),
    }
}

/// Splits `e` into `a·x + b` with `a` and `b` free of `x`, if `e` is linear in `x`.
pub fn linear_split(e: &Expr, x: &str) -> Option<(Expr, Expr)> {
    if !e.mentions(x) {
        return Some((Expr::number(0.0), e.clone()));
    }
    match &e.kind {
        ExprKind::Name(n) if n == x => Some((Expr::number(1.0), Expr::number(0.0))),
        ExprKind::Unary(UnOp::Neg, a) => {
            let (ka, ba) = linear_split(a, x)?;
            Some((sub(Expr::number(0.0), ka), sub(Expr::number(0.0), ba)))
        }
        ExprKind::Binary(BinOp::Add, a, b) => {
            let ((ka, ba), (kb, bb)) = (linear_split(a, x)?, linear_split(b, x)?);
            Some((add(ka, kb), add(ba, bb)))
        }
        ExprKind::Binary(BinOp::Sub, a, b) => {
            let ((ka, ba), (kb, bb)) = (linear_split(a, x)?, linear_split(b, x)?);
            Some((sub(ka, kb), sub(ba, bb)))
        }
        ExprKind::Binary(BinOp::Mul, a, b) => {
            if !a.mentions(x) {
                let (kb, bb) = linear_split(b, x)?;
                Some((mul((**a).clone(), kb), mul((**a).clone(), bb)))
            } else if !b.mentions(x) {
                let (ka, ba) = linear_split(a, x)?;
                Some((mul(ka, (**b).clone()), mul(ba, (**b).clone())))
            } else {
                None
            }
        }
        ExprKind::Binary(BinOp::Div, a, b) if !b.mentions(x) => {
            let (ka, ba) = linear_split(a, x)?;
            let d = |k: Expr| {
                if is_zero(&k) {
                    k
                } else {
                    bin(BinOp::Div, k, (**b).clone())
                }
            };
            Some((d(ka), d(ba)))
        }
        _ => None,
    }
}

/// Whether the flags of a line are all allowed; returns `unless refractory`.
fn check_flags(label: &str, flags: &[String], allowed: &[&str]) -> Result<bool, String> {
    for f in flags {
        if !allowed.contains(&f.as_str()) {
            return Err(format!(
                "{label}: unknown flag `({f})`; allowed here: {}",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
    }
    Ok(flags.iter().any(|f| f == "unless refractory"))
}

fn unit_dim(label: &str, unit: &Expr) -> Result<Dim, String> {
    if matches!(unit.kind, ExprKind::Number(x) if x == 1.0) {
        return Ok(Dim::ONE);
    }
    // Any unit of the right dimension is accepted (`mV` or `volt`): the variable is
    // stored in the working unit of its dimension.
    Ok(unit_quantity(unit)
        .map_err(|m| format!("{label}: {m}"))?
        .dim)
}

/// The quantity a unit expression (`mV`, `nS/cm**2`, `1/ms`) stands for.
pub fn unit_quantity(e: &Expr) -> Result<Quantity, String> {
    Ok(match &e.kind {
        ExprKind::Number(x) => Quantity {
            si: *x,
            dim: Dim::ONE,
        },
        ExprKind::Name(n) => units::unit(n).ok_or_else(|| {
            format!("unknown unit `{n}` (e.g. mV, ms, nS, pF, pA, Mohm, Hz, cm, mM, 1)")
        })?,
        ExprKind::Binary(op @ (BinOp::Mul | BinOp::Div), a, b) => {
            let (qa, qb) = (unit_quantity(a)?, unit_quantity(b)?);
            if *op == BinOp::Mul {
                Quantity {
                    si: qa.si * qb.si,
                    dim: qa.dim.times(qb.dim),
                }
            } else {
                Quantity {
                    si: qa.si / qb.si,
                    dim: qa.dim.over(qb.dim),
                }
            }
        }
        ExprKind::Binary(BinOp::Pow, a, b) => {
            let qa = unit_quantity(a)?;
            let ExprKind::Number(p) = b.kind else {
                return Err(format!("`{}`: a unit's power must be a number", e.text));
            };
            Quantity {
                si: qa.si.powf(p),
                dim: qa
                    .dim
                    .powf(p)
                    .ok_or_else(|| format!("`{}` has no unit", e.text))?,
            }
        }
        _ => return Err(format!("`{}` is not a unit", e.text)),
    })
}

/// A parameter value (`"20 ms"` or a number) as a quantity.
pub fn parse_param(field: &str, v: &ParamValue) -> Result<Quantity, String> {
    match v {
        ParamValue::Number(x) => Ok(Quantity {
            si: *x,
            dim: Dim::ONE,
        }),
        ParamValue::Text(s) => {
            let (x, unit) = parse::parse_quantity(s).map_err(|m| format!("{field}: {m}"))?;
            let u = match unit {
                Some(u) => unit_quantity(&u).map_err(|m| format!("{field}: {m}"))?,
                None => Quantity {
                    si: 1.0,
                    dim: Dim::ONE,
                },
            };
            Ok(Quantity {
                si: x * u.si,
                dim: u.dim,
            })
        }
    }
}

/// Parses and checks an equation model for time step `dt_ms`. Errors are `(field
/// suffix, message)`.
pub fn build(spec: &EquationModelSpec, dt_ms: f64) -> Result<Program, (String, String)> {
    let fe = |m: String| ("equations".to_string(), m);
    let mut scalars = BTreeMap::new();
    let mut scalar_dims = BTreeMap::new();
    for (name, v) in &spec.parameters {
        let q = parse_param(name, v).map_err(|m| ("parameters".to_string(), m))?;
        if matches!(name.as_str(), "t" | "dt" | "xi") || name.starts_with("xi_") {
            return Err((
                "parameters".into(),
                format!("`{name}` is a reserved name (t, dt, xi, xi_*)"),
            ));
        }
        scalars.insert(name.clone(), q.working());
        scalar_dims.insert(name.clone(), q.dim);
    }
    let mut prog = Program {
        vars: Vec::new(),
        constants: Vec::new(),
        noise: Vec::new(),
        scalars,
        subexpressions: BTreeMap::new(),
        threshold: None,
        reset: Vec::new(),
        refractory_steps: 0,
        method: spec.method,
        substeps: Vec::new(),
        dt_ms,
        scalar_dims,
    };
    // Pass 1: parse every line and declare names with their dimensions.
    let mut diffs = Vec::new();
    let mut raw_subs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for text in spec
        .equations
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
    {
        if text.is_empty() {
            continue;
        }
        let line = parse::parse_line(text).map_err(fe)?;
        let (name, label) = match &line {
            Line::Differential { var, .. } => (var.clone(), format!("d{var}/dt")),
            Line::Subexpression { name, .. } | Line::Parameter { name, .. } => {
                (name.clone(), name.clone())
            }
        };
        if seen.contains(&name) {
            return Err(fe(format!("`{name}` is defined twice")));
        }
        if prog.scalars.contains_key(&name) {
            return Err(fe(format!(
                "`{name}` is both a parameter and defined in the equations"
            )));
        }
        if matches!(
            name.as_str(),
            "t" | "dt" | "refractory_steps" | "not_refractory"
        ) || name.starts_with("xi")
        {
            return Err(fe(format!("{label}: `{name}` is a reserved name")));
        }
        seen.push(name.clone());
        match line {
            Line::Differential {
                var,
                rhs,
                unit,
                flags,
            } => {
                let unless = check_flags(&label, &flags, &["unless refractory"]).map_err(fe)?;
                let dim = unit_dim(&label, &unit).map_err(fe)?;
                diffs.push((var, rhs, dim, unless, label));
            }
            Line::Subexpression {
                name,
                rhs,
                unit,
                flags,
            } => {
                check_flags(&label, &flags, &[]).map_err(fe)?;
                let dim = unit_dim(&label, &unit).map_err(fe)?;
                raw_subs.push((name, rhs, dim));
            }
            Line::Parameter { name, unit, flags } => {
                check_flags(&label, &flags, &["constant"]).map_err(fe)?;
                let dim = unit_dim(&label, &unit).map_err(fe)?;
                prog.constants.push((name, dim));
            }
        }
    }
    if diffs.is_empty() {
        return Err(fe("no differential equation (`dv/dt = ... : mV`)".into()));
    }
    // `v` first: the engine's convention for the membrane potential.
    if let Some(k) = diffs.iter().position(|d| d.0 == "v") {
        let d = diffs.remove(k);
        diffs.insert(0, d);
    }
    // Noise sources: every xi name mentioned anywhere in the right-hand sides.
    for (_, rhs, ..) in &diffs {
        let mut names = Vec::new();
        rhs.names(&mut names);
        for n in names {
            if (n == "xi" || n.starts_with("xi_")) && !prog.noise.iter().any(|x| x == n) {
                prog.noise.push(n.to_string());
            }
        }
    }
    for (var, _, dim, unless, _) in &diffs {
        prog.vars.push(StateVar {
            name: var.clone(),
            dim: *dim,
            unless_refractory: *unless,
            drift: Expr::number(0.0),
            diffusion: Vec::new(),
            linear: None,
        });
    }
    // Subexpressions: inline in dependency order, refusing cycles.
    let mut subs: BTreeMap<String, (Expr, Dim)> = BTreeMap::new();
    let mut pending = raw_subs;
    while !pending.is_empty() {
        let before = pending.len();
        let pending_names: Vec<String> = pending.iter().map(|p| p.0.clone()).collect();
        let mut rest = Vec::new();
        for (name, rhs, dim) in pending {
            let mut names = Vec::new();
            rhs.names(&mut names);
            let waits = names.iter().any(|n| {
                *n != name && pending_names.iter().any(|p| p == n) && !subs.contains_key(*n)
            });
            if waits {
                rest.push((name, rhs, dim));
                continue;
            }
            if rhs.mentions(&name) {
                return Err(fe(format!(
                    "{name}: a subexpression cannot refer to itself"
                )));
            }
            let checker = Checker {
                prog: &prog,
                subs: &subs,
            };
            let got = checker.num(&rhs).map_err(|m| fe(format!("{name}: {m}")))?;
            if got != dim {
                return Err(fe(format!(
                    "{name}: `{}` is {got} but the subexpression is declared {dim}",
                    rhs.text
                )));
            }
            let inlined = inline(&rhs, &subs);
            subs.insert(name, (inlined, dim));
        }
        if rest.len() == before {
            let names: Vec<&str> = rest.iter().map(|r| r.0.as_str()).collect();
            return Err(fe(format!(
                "subexpressions refer to each other in a cycle: {}",
                names.join(", ")
            )));
        }
        pending = rest;
    }
    // Differential equations: dimensions, drift and diffusion.
    for (k, (var, rhs, dim, _, label)) in diffs.iter().enumerate() {
        let checker = Checker {
            prog: &prog,
            subs: &subs,
        };
        let want = dim.over(Dim::TIME);
        let inlined = inline(rhs, &subs);
        let mut drift = inlined.clone();
        let mut diffusion = Vec::new();
        for (ni, noise) in prog.noise.iter().enumerate() {
            if !drift.mentions(noise) {
                continue;
            }
            let (coef, rest) = linear_split(&drift, noise).ok_or_else(|| {
                fe(format!(
                    "{label}: the noise `{noise}` must enter linearly (`... + sigma*{noise}`)"
                ))
            })?;
            diffusion.push((ni, coef));
            drift = rest;
        }
        let got = checker.num(rhs).map_err(|m| fe(format!("{label}: {m}")))?;
        if got != want {
            return Err(fe(format!(
                "{label}: the right-hand side `{}` is {got} but must be {want} ({var} is {dim}, per second)",
                rhs.text
            )));
        }
        let linear = linear_split(&drift, var);
        prog.vars[k].drift = drift;
        prog.vars[k].diffusion = diffusion;
        prog.vars[k].linear = linear;
    }
    prog.subexpressions = subs;
    // Threshold, reset, refractory period.
    if let Some(th) = &spec.threshold {
        let e = parse::parse_condition(th).map_err(|m| ("threshold".to_string(), m))?;
        let c = Checker {
            prog: &prog,
            subs: &prog.subexpressions,
        };
        c.boolean(&e).map_err(|m| ("threshold".to_string(), m))?;
        prog.threshold = Some(inline(&e, &prog.subexpressions));
    }
    if let Some(reset) = &spec.reset {
        if prog.threshold.is_none() {
            return Err(("reset".into(), "a reset needs a threshold".into()));
        }
        for text in reset
            .split([';', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let st = parse::parse_statement(text).map_err(|m| ("reset".to_string(), m))?;
            let target = prog.vars.iter().find(|v| v.name == st.var).ok_or_else(|| {
                (
                    "reset".to_string(),
                    format!(
                        "`{text}`: `{}` is not a state variable (known: {})",
                        st.var,
                        prog.vars
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let c = Checker {
                prog: &prog,
                subs: &prog.subexpressions,
            };
            let d = c
                .num(&st.value)
                .map_err(|m| ("reset".to_string(), format!("`{text}`: {m}")))?;
            let ok = match st.op {
                AssignOp::Set | AssignOp::Add | AssignOp::Sub => d == target.dim,
                AssignOp::Mul | AssignOp::Div => d.is_one(),
            };
            if !ok {
                let want = if matches!(st.op, AssignOp::Mul | AssignOp::Div) {
                    Dim::ONE
                } else {
                    target.dim
                };
                return Err((
                    "reset".into(),
                    format!("`{text}`: `{}` is {d} but must be {want}", st.value.text),
                ));
            }
            let mut st = st;
            st.value = inline(&st.value, &prog.subexpressions);
            prog.reset.push(st);
        }
    }
    if let Some(r) = &spec.refractory {
        let q = parse_param("refractory", r).map_err(|m| ("refractory".to_string(), m))?;
        if q.dim != Dim::TIME || q.working().is_nan() || q.working() < 0.0 {
            return Err((
                "refractory".into(),
                format!(
                    "must be a duration ≥ 0 such as \"5 ms\", not {} ({})",
                    display(r),
                    q.dim
                ),
            ));
        }
        if prog.threshold.is_none() {
            return Err((
                "refractory".into(),
                "a refractory period needs a threshold".into(),
            ));
        }
        prog.refractory_steps = crate::neuron::refractory_steps(q.working(), dt_ms);
    }
    if prog.refractory_steps == 0 && prog.vars.iter().any(|v| v.unless_refractory) {
        // `(unless refractory)` without a period: nothing is ever frozen (as Brian2).
    }
    choose_method(&mut prog, spec).map_err(|m| ("method".to_string(), m))?;
    Ok(prog)
}

/// A parameter as written in the model file (for messages).
pub fn display(v: &ParamValue) -> String {
    match v {
        ParamValue::Number(x) => x.to_string(),
        ParamValue::Text(s) => format!("\"{s}\""),
    }
}

/// The coefficient matrix `A` (and whether the system is linear with constant
/// coefficients): `dx_i/dt = Σ_j A_ij x_j + b_i(non-state terms)`.
pub fn linear_system(prog: &Program) -> Option<(Vec<Vec<f64>>, Vec<Expr>)> {
    let n = prog.vars.len();
    let mut a = vec![vec![0.0; n]; n];
    let mut b = Vec::with_capacity(n);
    for (i, v) in prog.vars.iter().enumerate() {
        if !v.diffusion.is_empty() {
            return None;
        }
        let mut rest = v.drift.clone();
        for (j, w) in prog.vars.iter().enumerate() {
            let (k, r) = linear_split(&rest, &w.name)?;
            a[i][j] = const_value(prog, &k)?;
            rest = r;
        }
        b.push(rest);
    }
    Some((a, b))
}

fn choose_method(prog: &mut Program, spec: &EquationModelSpec) -> Result<(), String> {
    let noisy = prog.vars.iter().any(|v| !v.diffusion.is_empty());
    let method = match spec.method {
        Method::Auto => {
            if linear_system(prog).is_some() {
                Method::Exact
            } else if noisy {
                Method::Euler
            } else if prog.vars.iter().all(|v| v.linear.is_some()) {
                Method::ExponentialEuler
            } else {
                Method::Rk4
            }
        }
        m => m,
    };
    match method {
        Method::Exact if linear_system(prog).is_none() => {
            return Err(if noisy {
                "exact integration does not apply to stochastic equations; use euler or heun".into()
            } else {
                "exact integration needs linear equations with constant coefficients (`dx/dt = a·x + b·y + c` with a, b parameters); use exponential_euler, rk4 or euler".into()
            })
        }
        Method::ExponentialEuler => {
            if noisy {
                return Err(
                    "exponential_euler does not apply to stochastic equations; use euler or heun"
                        .into(),
                );
            }
            if let Some(v) = prog.vars.iter().find(|v| v.linear.is_none()) {
                return Err(format!("exponential_euler needs each equation linear in its own variable, but d{}/dt = {} is not; use rk4 or euler", v.name, v.drift.text));
            }
        }
        Method::Rk2 | Method::Rk4 | Method::SequentialEuler if noisy => {
            return Err(format!(
                "{} does not apply to stochastic equations; use euler or heun",
                method.name()
            ));
        }
        _ => {}
    }
    prog.method = method;
    prog.substeps = prog
        .vars
        .iter()
        .map(|v| spec.substeps.get(&v.name).copied().unwrap_or(1))
        .collect();
    if let Some(name) = spec
        .substeps
        .keys()
        .find(|k| !prog.vars.iter().any(|v| &v.name == *k))
    {
        return Err(format!("substeps: `{name}` is not a state variable"));
    }
    if !spec.substeps.is_empty() && method != Method::SequentialEuler {
        return Err("substeps apply to method = \"sequential_euler\" only".into());
    }
    if prog.substeps.iter().any(|&s| s == 0 || s > 1000) {
        return Err("substeps must be between 1 and 1000".into());
    }
    Ok(())
}
