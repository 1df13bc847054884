//! The JIT: an equation model's step (`lower.rs`) compiled with Cranelift into one
//! native function over the structure-of-arrays state. The loop body is emitted
//! twice — for four neurons at a time in `f32x4` vector registers, and for one
//! neuron for the remainder — from the same lowering, so every neuron gets the same
//! operations whichever path it takes. `exp` is the engine's polynomial `exp_f32`
//! emitted inline (so it vectorises and matches the interpreter bit for bit); `log`,
//! trigonometric functions, `floor`, `ceil` and non-integer powers call the Rust
//! standard library per lane.
//!
//! Kernel ABI: `fn(arrays: *const *mut f32, n: i64, t_ms: f32, fired: *mut u32,
//! normals: *const f32)`, with `arrays` as `Program::storage_names` and
//! `normals[k·n + i]` the standard normal draw of noise source k for neuron i.

use super::lower::{Arith, Cmp, Emitter, Func, Lowering, StepIn};
use super::model::Program;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, I32, I32X4, I64, I8};
use cranelift_codegen::ir::{AbiParam, Endianness, FuncRef, InstBuilder, MemFlags, Type, Value};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use std::time::Instant;

/// The compiled step function.
pub type KernelFn = unsafe extern "C" fn(*const *mut f32, i64, f32, *mut u32, *const f32);

/// A compiled kernel and the code memory it lives in.
pub struct Kernel {
    module: Option<JITModule>,
    /// Entry point.
    pub func: KernelFn,
    /// Time spent compiling (s).
    pub compile_seconds: f64,
}

// SAFETY: the module is only touched again when the kernel is dropped; the code it
// holds is immutable after `finalize_definitions`, and the function reads only the
// memory it is given.
unsafe impl Send for Kernel {}
// SAFETY: as above; calling the function concurrently on disjoint arrays is safe.
unsafe impl Sync for Kernel {}

impl Drop for Kernel {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: no pointer into the code outlives the kernel that owns it.
            unsafe { m.free_memory() };
        }
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Kernel(compiled in {:.2} ms)",
            self.compile_seconds * 1e3
        )
    }
}

extern "C" fn lib_log(x: f32) -> f32 {
    x.ln()
}
extern "C" fn lib_sin(x: f32) -> f32 {
    x.sin()
}
extern "C" fn lib_cos(x: f32) -> f32 {
    x.cos()
}
extern "C" fn lib_tan(x: f32) -> f32 {
    x.tan()
}
extern "C" fn lib_atan(x: f32) -> f32 {
    x.atan()
}
extern "C" fn lib_floor(x: f32) -> f32 {
    x.floor()
}
extern "C" fn lib_ceil(x: f32) -> f32 {
    x.ceil()
}
extern "C" fn lib_pow(x: f32, y: f32) -> f32 {
    x.powf(y)
}

const UNARY_LIBS: [(Func, &str, extern "C" fn(f32) -> f32); 7] = [
    (Func::Log, "spikelab_log", lib_log),
    (Func::Sin, "spikelab_sin", lib_sin),
    (Func::Cos, "spikelab_cos", lib_cos),
    (Func::Tan, "spikelab_tan", lib_tan),
    (Func::Atan, "spikelab_atan", lib_atan),
    (Func::Floor, "spikelab_floor", lib_floor),
    (Func::Ceil, "spikelab_ceil", lib_ceil),
];

/// Cranelift instructions for `lanes` neurons (1 or 4).
struct Jit<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    vector: bool,
    unary: Vec<(Func, FuncRef)>,
    pow: FuncRef,
}

impl Jit<'_, '_> {
    fn ty(&self) -> Type {
        if self.vector {
            F32X4
        } else {
            F32
        }
    }

    fn splat_f(&mut self, x: f32) -> Value {
        let c = self.b.ins().f32const(x);
        if self.vector {
            self.b.ins().splat(F32X4, c)
        } else {
            c
        }
    }

    fn splat_i(&mut self, x: i32) -> Value {
        let c = self.b.ins().iconst(I32, x as i64);
        if self.vector {
            self.b.ins().splat(I32X4, c)
        } else {
            c
        }
    }

    fn lanes(&self) -> u8 {
        if self.vector {
            4
        } else {
            1
        }
    }

    /// Calls a scalar function lane by lane.
    fn per_lane(&mut self, f: FuncRef, args: &[Value]) -> Value {
        if !self.vector {
            let call = self.b.ins().call(f, args);
            return self.b.inst_results(call)[0];
        }
        let mut out = self.splat_f(0.0);
        for lane in 0..self.lanes() {
            let scalars: Vec<Value> = args
                .iter()
                .map(|&a| self.b.ins().extractlane(a, lane))
                .collect();
            let call = self.b.ins().call(f, &scalars);
            let r = self.b.inst_results(call)[0];
            out = self.b.ins().insertlane(out, r, lane);
        }
        out
    }

    fn int_bits(&mut self, x: Value) -> Value {
        let t = if self.vector { I32X4 } else { I32 };
        self.b.ins().bitcast(t, little(), x)
    }

    fn float_bits(&mut self, x: Value) -> Value {
        let t = self.ty();
        self.b.ins().bitcast(t, little(), x)
    }

    /// `exp_f32` of `math.rs`, instruction for instruction.
    fn exp(&mut self, x: Value) -> Value {
        let lo = self.splat_f(-87.3);
        let hi = self.splat_f(88.0);
        let x = self.b.ins().fmax(x, lo);
        let x = self.b.ins().fmin(x, hi);
        let round = self.splat_f(12_582_912.0);
        let log2e = self.splat_f(std::f32::consts::LOG2_E);
        let t = self.b.ins().fmul(x, log2e);
        let shifted = self.b.ins().fadd(t, round);
        let n = self.b.ins().fsub(shifted, round);
        let si = self.int_bits(shifted);
        let rb = self.splat_i(12_582_912f32.to_bits() as i32);
        let n_int = self.b.ins().isub(si, rb);
        let c1 = self.splat_f(0.693_145_75);
        let c2 = self.splat_f(1.428_606_8e-6);
        let a = self.b.ins().fmul(n, c1);
        let r = self.b.ins().fsub(x, a);
        let bb = self.b.ins().fmul(n, c2);
        let r = self.b.ins().fsub(r, bb);
        let mut p = self.splat_f(0.001_388_889);
        for c in [0.008_333_334f32, 0.041_666_668, 0.166_666_67, 0.5, 1.0] {
            let m = self.b.ins().fmul(r, p);
            let cc = self.splat_f(c);
            p = self.b.ins().fadd(cc, m);
        }
        let m = self.b.ins().fmul(r, p);
        let one = self.splat_f(1.0);
        let p = self.b.ins().fadd(one, m);
        let bias = self.splat_i(127);
        let e = self.b.ins().iadd(n_int, bias);
        let e = self.b.ins().ishl_imm(e, 23);
        let scale = self.float_bits(e);
        self.b.ins().fmul(p, scale)
    }
}

fn little() -> MemFlags {
    MemFlags::new().with_endianness(Endianness::Little)
}

impl Emitter for Jit<'_, '_> {
    type V = Value;
    type B = Value;

    fn constant(&mut self, x: f32) -> Value {
        self.splat_f(x)
    }

    fn arith(&mut self, op: Arith, a: Value, b: Value) -> Value {
        let ins = self.b.ins();
        match op {
            Arith::Add => ins.fadd(a, b),
            Arith::Sub => ins.fsub(a, b),
            Arith::Mul => ins.fmul(a, b),
            Arith::Div => ins.fdiv(a, b),
            Arith::Min => ins.fmin(a, b),
            Arith::Max => ins.fmax(a, b),
        }
    }

    fn func(&mut self, f: Func, a: Value) -> Value {
        match f {
            Func::Neg => self.b.ins().fneg(a),
            Func::Abs => self.b.ins().fabs(a),
            Func::Sqrt => self.b.ins().sqrt(a),
            Func::Exp => self.exp(a),
            other => {
                let r = self
                    .unary
                    .iter()
                    .find(|(g, _)| *g == other)
                    .expect("library function")
                    .1;
                self.per_lane(r, &[a])
            }
        }
    }

    fn powf(&mut self, a: Value, b: Value) -> Value {
        let p = self.pow;
        self.per_lane(p, &[a, b])
    }

    fn compare(&mut self, op: Cmp, a: Value, b: Value) -> Value {
        let cc = match op {
            Cmp::Lt => FloatCC::LessThan,
            Cmp::Le => FloatCC::LessThanOrEqual,
            Cmp::Gt => FloatCC::GreaterThan,
            Cmp::Ge => FloatCC::GreaterThanOrEqual,
            Cmp::Eq => FloatCC::Equal,
            Cmp::Ne => FloatCC::NotEqual,
        };
        self.b.ins().fcmp(cc, a, b)
    }

    fn logic(&mut self, or: bool, a: Value, b: Value) -> Value {
        if or {
            self.b.ins().bor(a, b)
        } else {
            self.b.ins().band(a, b)
        }
    }

    fn not(&mut self, a: Value) -> Value {
        if self.vector {
            self.b.ins().bnot(a)
        } else {
            self.b.ins().bxor_imm(a, 1)
        }
    }

    fn select(&mut self, c: Value, a: Value, b: Value) -> Value {
        if self.vector {
            let m = self.b.ins().bitcast(F32X4, little(), c);
            self.b.ins().bitselect(m, a, b)
        } else {
            self.b.ins().select(c, a, b)
        }
    }

    fn truth(&mut self, t: bool) -> Value {
        if self.vector {
            self.splat_i(if t { -1 } else { 0 })
        } else {
            self.b.ins().iconst(I8, t as i64)
        }
    }
}

/// Compiles `prog` for the host CPU. Errors if Cranelift does not support the host
/// (the caller then falls back to the interpreter).
pub fn compile(prog: &Program) -> Result<Kernel, String> {
    let start = Instant::now();
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| f.set(k, v).map_err(|e| e.to_string());
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    let isa = cranelift_native::builder()
        .map_err(|e| format!("Cranelift does not support this host: {e}"))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| e.to_string())?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    for (_, name, f) in UNARY_LIBS {
        jb.symbol(name, f as *const u8);
    }
    jb.symbol("spikelab_pow", lib_pow as *const u8);
    let mut module = JITModule::new(jb);
    let ptr = module.target_config().pointer_type();
    let mut unary_sig = module.make_signature();
    unary_sig.params.push(AbiParam::new(F32));
    unary_sig.returns.push(AbiParam::new(F32));
    let mut binary_sig = unary_sig.clone();
    binary_sig.params.push(AbiParam::new(F32));
    let mut unary_ids = Vec::new();
    for (func, name, _) in UNARY_LIBS {
        let id = module
            .declare_function(name, Linkage::Import, &unary_sig)
            .map_err(|e| e.to_string())?;
        unary_ids.push((func, id));
    }
    let pow_id = module
        .declare_function("spikelab_pow", Linkage::Import, &binary_sig)
        .map_err(|e| e.to_string())?;

    let mut ctx = module.make_context();
    let sig = &mut ctx.func.signature;
    for t in [ptr, I64, F32, ptr, ptr] {
        sig.params.push(AbiParam::new(t));
    }
    let kernel_id = module
        .declare_function("equation_step", Linkage::Local, &ctx.func.signature)
        .map_err(|e| e.to_string())?;
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let unary: Vec<(Func, FuncRef)> = unary_ids
            .iter()
            .map(|&(f, id)| (f, module.declare_func_in_func(id, b.func)))
            .collect();
        let pow = module.declare_func_in_func(pow_id, b.func);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        let vhead = b.create_block();
        let vbody = b.create_block();
        let thead = b.create_block();
        let tbody = b.create_block();
        let exit = b.create_block();
        for blk in [vhead, vbody, thead, tbody] {
            b.append_block_param(blk, I64);
        }
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let (arrays, n, t_ms, fired, normals) =
            (params[0], params[1], params[2], params[3], params[4]);
        let flags = MemFlags::new();
        let n_arrays = prog.storage_names().len();
        let bases: Vec<Value> = (0..n_arrays)
            .map(|k| b.ins().load(ptr, flags, arrays, (k * 8) as i32))
            .collect();
        let n_bytes = b.ins().imul_imm(n, 4);
        let noise_bases: Vec<Value> = (0..prog.noise.len())
            .map(|k| {
                let off = b.ins().imul_imm(n_bytes, k as i64);
                b.ins().iadd(normals, off)
            })
            .collect();
        let zero = b.ins().iconst(I64, 0);
        b.ins().jump(vhead, &[zero.into()]);

        // Vector loop head: while i + 4 <= n.
        b.switch_to_block(vhead);
        let i = b.block_params(vhead)[0];
        let i4 = b.ins().iadd_imm(i, 4);
        let more = b.ins().icmp(IntCC::SignedLessThanOrEqual, i4, n);
        b.ins().brif(more, vbody, &[i.into()], thead, &[i.into()]);

        for vector in [true, false] {
            let (body, next_head, stride) = if vector {
                (vbody, vhead, 4)
            } else {
                (tbody, thead, 1)
            };
            b.switch_to_block(body);
            let i = b.block_params(body)[0];
            let off = b.ins().imul_imm(i, 4);
            let ty = if vector { F32X4 } else { F32 };
            let addrs: Vec<Value> = bases.iter().map(|&p| b.ins().iadd(p, off)).collect();
            let loaded: Vec<Value> = addrs
                .iter()
                .map(|&a| b.ins().load(ty, flags, a, 0))
                .collect();
            let normals_v: Vec<Value> = noise_bases
                .iter()
                .map(|&p| {
                    let a = b.ins().iadd(p, off);
                    b.ins().load(ty, flags, a, 0)
                })
                .collect();
            let t = if vector {
                b.ins().splat(F32X4, t_ms)
            } else {
                t_ms
            };
            let nv = prog.vars.len();
            let nc = prog.constants.len();
            let has_ref = prog.refractory_steps > 0;
            let em = Jit {
                b: &mut b,
                vector,
                unary: unary.clone(),
                pow,
            };
            let mut low = Lowering::new(prog, em);
            let out = low.step(StepIn {
                state: loaded[..nv + nc].to_vec(),
                refractory: has_ref.then(|| loaded[nv + nc]),
                normals: normals_v,
                t,
            });
            let em = low.em;
            let b2 = em.b;
            for (k, v) in out.vars.iter().enumerate() {
                b2.ins().store(flags, *v, addrs[k], 0);
            }
            if let Some(r) = out.refractory {
                b2.ins().store(flags, r, addrs[nv + nc], 0);
            }
            let fired_addr = b2.ins().iadd(fired, off);
            let flag = match out.fired {
                Some(f) if vector => {
                    let one = b2.ins().iconst(I32, 1);
                    let ones = b2.ins().splat(I32X4, one);
                    b2.ins().band(f, ones)
                }
                Some(f) => b2.ins().uextend(I32, f),
                None if vector => {
                    let z = b2.ins().iconst(I32, 0);
                    b2.ins().splat(I32X4, z)
                }
                None => b2.ins().iconst(I32, 0),
            };
            b2.ins().store(flags, flag, fired_addr, 0);
            let next = b2.ins().iadd_imm(i, stride);
            b2.ins().jump(next_head, &[next.into()]);
        }

        // Scalar loop head: while i < n.
        b.switch_to_block(thead);
        let i = b.block_params(thead)[0];
        let more = b.ins().icmp(IntCC::SignedLessThan, i, n);
        b.ins().brif(more, tbody, &[i.into()], exit, &[]);

        b.switch_to_block(exit);
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize();
    }
    module
        .define_function(kernel_id, &mut ctx)
        .map_err(|e| format!("{e:?}"))?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(|e| e.to_string())?;
    let code = module.get_finalized_function(kernel_id);
    // SAFETY: the function was declared with exactly this signature.
    let func = unsafe { std::mem::transmute::<*const u8, KernelFn>(code) };
    Ok(Kernel {
        module: Some(module),
        func,
        compile_seconds: start.elapsed().as_secs_f64(),
    })
}
