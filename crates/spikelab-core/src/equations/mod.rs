//! Neuron models written as equations (`model = "equations"` in a model file), in
//! Brian2's syntax, checked for physical units and compiled at run time to native
//! vector code with Cranelift — no C/C++ compiler, milliseconds per model.
//!
//! ```toml
//! [population.neuron]
//! model = "equations"
//! equations = """
//! dv/dt = (v_rest - v + g_e*(e_e - v) + g_i*(e_i - v) + i_bias) / tau_m : mV (unless refractory)
//! dg_e/dt = -g_e / tau_e : 1
//! dg_i/dt = -g_i / tau_i : 1
//! """
//! threshold = "v > v_th"
//! reset = "v = v_reset"
//! refractory = "5 ms"
//! parameters = { tau_m = "20 ms", v_rest = "-60 mV", ... }
//! ```
//!
//! Synapses reach the model through its variables: a receptor `type = "delta"` with
//! `variable = "g_e"` adds each arriving weight to `g_e` (Brian2's `on_pre = "g_e += w"`).
//!
//! The parts: [`units`] (dimensions, unit names, working units), [`parse`] (the pest
//! grammar and expression trees), [`model`] (name resolution, unit checks, choice
//! of integration method), [`lower`] (one step over an abstract emitter), [`jit`]
//! (Cranelift) and [`interp`] (the fallback interpreter and test reference);
//! [`restate`] writes built-in models as equations.
//!
//! State is stored in the *working unit* of each variable's dimension (mV, ms, nS,
//! pF, pA, ...; see [`units`]); `initial` values in the model file are in those units,
//! `init` values may carry their own (`init = { v = "-65 mV" }`).

pub mod interp;
pub mod jit;
pub mod lower;
pub mod model;
pub mod parse;
pub mod restate;
pub mod units;

use crate::error::{Error, Result};
use crate::neuron::{push_fired, Drive, NeuronModel, UpdateContext, SPIKE_BLOCK};
use crate::rng::Stream;
use model::Program;
use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

/// A parameter: a number (dimensionless) or a quantity with its unit (`"20 ms"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A dimensionless number.
    Number(f64),
    /// A number and a unit, `"-60 mV"`, `"0.5 * nS / cm**2"`.
    Text(String),
}

/// Integration methods of equation models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Exact if the system is linear with constant coefficients, else exponential
    /// Euler if every equation is linear in its own variable, else RK4; Euler for
    /// stochastic equations.
    #[default]
    Auto,
    /// Exact propagation of a linear system with constant coefficients (propagator
    /// matrices computed at build time; non-state terms held over the step).
    Exact,
    /// Exponential Euler for conditionally linear equations.
    ExponentialEuler,
    /// Forward Euler (Euler–Maruyama with noise).
    Euler,
    /// Midpoint Runge–Kutta.
    Rk2,
    /// Classical fourth-order Runge–Kutta.
    Rk4,
    /// Stochastic Heun (Stratonovich).
    Heun,
    /// Forward Euler over the variables in the order written, each seeing the others'
    /// newest values, with `substeps` per variable (Izhikevich 2003's scheme: `v` in
    /// two half steps, then `u`).
    SequentialEuler,
}

impl Method {
    /// Names accepted in model files.
    pub const NAMES: &'static str =
        "auto, exact, exponential_euler, euler, rk2, rk4, heun, sequential_euler";

    /// Its model-file name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Exact => "exact",
            Method::ExponentialEuler => "exponential_euler",
            Method::Euler => "euler",
            Method::Rk2 => "rk2",
            Method::Rk4 => "rk4",
            Method::Heun => "heun",
            Method::SequentialEuler => "sequential_euler",
        }
    }
}

/// How an equation model is executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Execution {
    /// The JIT where Cranelift supports the host, else the interpreter (with a
    /// warning on standard error).
    #[default]
    Auto,
    /// The JIT, or an error.
    Jit,
    /// The interpreter (slow; for checking the JIT).
    Interpreter,
}

/// A neuron model written as equations (`model = "equations"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquationModelSpec {
    /// Equation lines: `dx/dt = expr : unit (flags)`, subexpressions `x = expr :
    /// unit`, per-neuron constants `x : unit (constant)`; `#` starts a comment.
    pub equations: String,
    /// Spike condition (`"v > v_th"`); none: the model never fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// Statements run when a neuron fires, separated by `;` or new lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<String>,
    /// Refractory period (`"2 ms"`): no threshold test, and variables flagged
    /// `(unless refractory)` frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refractory: Option<ParamValue>,
    /// Scalar parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamValue>,
    /// Initial values with units (`{ v = "-65 mV" }`), default 0; the population's
    /// `initial` table (working units, distributions allowed) overrides them.
    #[serde(default)]
    pub init: BTreeMap<String, ParamValue>,
    /// Integration method.
    #[serde(default)]
    pub method: Method,
    /// Euler substeps per variable (`sequential_euler`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substeps: BTreeMap<String, u32>,
    /// JIT or interpreter.
    #[serde(default)]
    pub execution: Execution,
}

impl EquationModelSpec {
    /// A model from its equations, with no threshold and default settings.
    pub fn new(equations: &str) -> Self {
        EquationModelSpec {
            equations: equations.into(),
            threshold: None,
            reset: None,
            refractory: None,
            parameters: BTreeMap::new(),
            init: BTreeMap::new(),
            method: Method::Auto,
            substeps: BTreeMap::new(),
            execution: Execution::Auto,
        }
    }
}

/// Interned names: an equation model's `state_names` live as long as the process,
/// and each distinct list is stored once however many models use it.
fn intern(names: &[String]) -> &'static [&'static str] {
    static TABLE: OnceLock<Mutex<HashSet<&'static [&'static str]>>> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let want: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some(found) = table.iter().find(|t| **t == want.as_slice()) {
        return found;
    }
    static STRINGS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut strings = STRINGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let list: Vec<&'static str> = names
        .iter()
        .map(|n| match strings.get(n.as_str()) {
            Some(s) => *s,
            None => {
                let s: &'static str = Box::leak(n.clone().into_boxed_str());
                strings.insert(s);
                s
            }
        })
        .collect();
    let list: &'static [&'static str] = Box::leak(list.into_boxed_slice());
    table.insert(list);
    list
}

/// The working unit of stored array `var` of an equation model ("" if unknown), for
/// axis labels and files.
pub fn state_unit(spec: &EquationModelSpec, var: &str) -> &'static str {
    let Ok(prog) = model::build(spec, 0.1) else {
        return "";
    };
    let names = prog.storage_names();
    let Some(k) = names.iter().position(|n| n == var) else {
        return "";
    };
    let unit = &prog.storage_units()[k];
    let unit = if unit == "1" { "" } else { unit.as_str() };
    intern(&[unit.to_string()])[0]
}

/// Most arrays (variables + constants + refractory count) a model may have.
const MAX_ARRAYS: usize = 64;
/// Most noise sources.
const MAX_NOISE: usize = 4;

#[derive(Debug)]
struct Compiled {
    prog: Program,
    kernel: Option<jit::Kernel>,
}

/// A prepared equation model.
#[derive(Clone, Debug)]
pub struct EquationModel {
    spec: EquationModelSpec,
    names: &'static [&'static str],
    /// Error found when the model was created (reported by `prepare`).
    early_error: Option<(String, String)>,
    compiled: Option<Arc<Compiled>>,
}

impl EquationModel {
    /// The model of `spec` (checked and compiled by [`NeuronModel::prepare`]).
    pub fn new(spec: EquationModelSpec) -> Self {
        let (names, early_error) = match model::build(&spec, 0.1) {
            Ok(p) => (intern(&p.storage_names()), None),
            Err(e) => (intern(&[]), Some(e)),
        };
        EquationModel {
            spec,
            names,
            early_error,
            compiled: None,
        }
    }

    /// The checked program (after `prepare`).
    pub fn program(&self) -> Option<&Program> {
        self.compiled.as_ref().map(|c| &c.prog)
    }

    /// Seconds the JIT took to compile the model (None: interpreted or not prepared).
    pub fn compile_seconds(&self) -> Option<f64> {
        self.compiled
            .as_ref()?
            .kernel
            .as_ref()
            .map(|k| k.compile_seconds)
    }

    /// Whether the model runs compiled code.
    pub fn is_compiled(&self) -> bool {
        self.compiled.as_ref().is_some_and(|c| c.kernel.is_some())
    }

    /// Runs one step on whole arrays without the engine (for tests and benchmarks):
    /// `normals[k·n + i]` are the draws of noise source k.
    pub fn step_arrays(
        &self,
        arrays: &mut [Vec<f32>],
        normals: &[f32],
        t_ms: f32,
        fired: &mut [u32],
    ) {
        let c = self.compiled.as_ref().expect("prepare the model first");
        let n = fired.len();
        match &c.kernel {
            Some(k) => {
                let ptrs: Vec<*mut f32> = arrays.iter_mut().map(|a| a.as_mut_ptr()).collect();
                assert!(
                    arrays.iter().all(|a| a.len() >= n) && normals.len() >= c.prog.noise.len() * n
                );
                // SAFETY: every array holds at least n values, `normals` n per source,
                // `fired` n; the kernel touches nothing else.
                unsafe {
                    (k.func)(
                        ptrs.as_ptr(),
                        n as i64,
                        t_ms,
                        fired.as_mut_ptr(),
                        normals.as_ptr(),
                    )
                };
            }
            None => interp::step(&c.prog, arrays, normals, t_ms, fired),
        }
    }
}

impl NeuronModel for EquationModel {
    fn name(&self) -> &'static str {
        "equations"
    }

    fn state_names(&self) -> &'static [&'static str] {
        self.names
    }

    fn default_initial_state(&self) -> Vec<f64> {
        self.names
            .iter()
            .map(|n| {
                let Some(v) = self.spec.init.get(*n) else {
                    return 0.0;
                };
                model::parse_param(n, v).map(|q| q.working()).unwrap_or(0.0)
            })
            .collect()
    }

    fn uses_rng(&self) -> bool {
        self.compiled
            .as_ref()
            .is_some_and(|c| !c.prog.noise.is_empty())
    }

    fn prepare(&mut self, field: &str, dt_ms: f64, has_conductance: bool) -> Result<()> {
        let err = |(sub, m): (String, String)| Error::field(format!("{field}.{sub}"), m);
        if let Some(e) = self.early_error.clone() {
            return Err(err(e));
        }
        if has_conductance {
            return Err(Error::field(
                format!("{field}.model"),
                "equation models take synaptic input through their own variables: declare the conductance in the equations (`dg_e/dt = -g_e/tau_e : nS`) and a receptor `type = \"delta\"`, `variable = \"g_e\"`",
            ));
        }
        let prog = model::build(&self.spec, dt_ms).map_err(err)?;
        for (name, v) in &self.spec.init {
            let k = prog
                .storage_names()
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| Error::UnknownName {
                    kind: "state variable",
                    name: name.clone(),
                    field: format!("{field}.init"),
                    known: prog.storage_names(),
                })?;
            let q = model::parse_param(name, v)
                .map_err(|m| Error::field(format!("{field}.init"), m))?;
            let want = if k < prog.vars.len() {
                prog.vars[k].dim
            } else if k < prog.vars.len() + prog.constants.len() {
                prog.constants[k - prog.vars.len()].1
            } else {
                units::Dim::ONE
            };
            if q.dim != want {
                return Err(Error::field(
                    format!("{field}.init.{name}"),
                    format!("`{name}` is {want}, but {} is {}", model::display(v), q.dim),
                ));
            }
        }
        if prog.storage_names().len() > MAX_ARRAYS || prog.noise.len() > MAX_NOISE {
            return Err(Error::field(
                format!("{field}.equations"),
                format!(
                    "at most {MAX_ARRAYS} variables and constants and {MAX_NOISE} noise sources"
                ),
            ));
        }
        let kernel = match self.spec.execution {
            Execution::Interpreter => None,
            Execution::Jit => Some(jit::compile(&prog).map_err(|m| {
                Error::field(format!("{field}.execution"), format!("the JIT failed: {m}"))
            })?),
            Execution::Auto => match jit::compile(&prog) {
                Ok(k) => Some(k),
                Err(m) => {
                    eprintln!("warning: {field}: the JIT is not available ({m}); the equations run in the interpreter, much slower");
                    None
                }
            },
        };
        self.names = intern(&prog.storage_names());
        self.compiled = Some(Arc::new(Compiled { prog, kernel }));
        Ok(())
    }

    fn update(
        &self,
        state: &mut [Vec<f32>],
        _drive: &Drive,
        ctx: &mut UpdateContext,
        spikes: &mut Vec<u32>,
    ) {
        let c = self.compiled.as_ref().expect("prepared by the build plan");
        let n = state.first().map_or(0, Vec::len);
        let n_noise = c.prog.noise.len();
        let t_ms = (ctx.step as f64 * ctx.dt_ms) as f32;
        let mut fired = [0u32; SPIKE_BLOCK];
        let mut normals = [0f32; SPIKE_BLOCK * MAX_NOISE];
        let mut ptrs = [std::ptr::null_mut::<f32>(); MAX_ARRAYS];
        let mut lo = 0;
        while lo < n {
            let hi = (lo + SPIKE_BLOCK).min(n);
            let m = hi - lo;
            for k in 0..n_noise {
                for (j, rng) in ctx.rng[lo..hi].iter_mut().enumerate() {
                    normals[k * m + j] = StandardNormal.sample(rng as &mut Stream);
                }
            }
            match &c.kernel {
                Some(kernel) => {
                    for (p, a) in ptrs.iter_mut().zip(state.iter_mut()) {
                        // SAFETY: lo < a.len() (every array holds n values).
                        *p = unsafe { a.as_mut_ptr().add(lo) };
                    }
                    // SAFETY: each pointer is valid for m values, `fired` and
                    // `normals` for m (per noise source); the kernel touches nothing else.
                    unsafe {
                        (kernel.func)(
                            ptrs.as_ptr(),
                            m as i64,
                            t_ms,
                            fired.as_mut_ptr(),
                            normals.as_ptr(),
                        )
                    };
                }
                None => {
                    let mut block: Vec<Vec<f32>> =
                        state.iter().map(|a| a[lo..hi].to_vec()).collect();
                    interp::step(
                        &c.prog,
                        &mut block,
                        &normals[..n_noise * m],
                        t_ms,
                        &mut fired[..m],
                    );
                    for (a, b) in state.iter_mut().zip(block) {
                        a[lo..hi].copy_from_slice(&b);
                    }
                }
            }
            push_fired(&fired[..m], lo as u32, spikes);
            lo = hi;
        }
    }

    fn clone_box(&self) -> Box<dyn NeuronModel> {
        Box::new(self.clone())
    }
}
