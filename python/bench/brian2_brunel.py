"""Brian2's side of the Brunel (2000) benchmark: the asynchronous-irregular network of
examples/brunel_2000.toml (g = 5, η = ν_ext/ν_thr = 2, 12,500 LIF neurons with delta
synapses, C_E = 1000 / C_I = 250 fixed in-degree, J = 0.1 mV, D = 1.5 ms, refractory
2 ms, dt 0.1 ms) with its external drive as Brian2's ``PoissonInput`` (C_E sources at
20 Hz on every neuron), in cpp_standalone (C++ compiled for the run) or runtime mode.

Run it in the peers' venv (``bash ../shared/peers/setup.sh``) and Spikelab beside it::

    ~/.cache/spikelab-peers/venv/bin/python python/bench/brian2_brunel.py --mode standalone
    target/release/spikelab run examples/brunel_2000.toml --threads 1 --out /tmp/brunel

Prints one JSON line: ``t_sim`` is the simulation loop only (Brian2's own
``device._last_run_time``; the compile step, ~10 s, is in ``t_build`` and not counted),
``rate_exc_hz``/``rate_inh_hz`` the mean rates to compare with Spikelab's.
"""

import argparse
import json
import os
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--mode", choices=["runtime", "standalone"], default="standalone")
ap.add_argument("--threads", type=int, default=0, help="OpenMP threads (standalone; 0 = none)")
ap.add_argument("--duration", type=float, default=1.0, help="biological seconds")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--workdir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "spikelab-brian2-brunel"))
args = ap.parse_args()

import numpy as np
import brian2 as b2
from brian2 import Hz, ms, mV, second

T0 = time.perf_counter()
os.makedirs(args.workdir, exist_ok=True)
if args.mode == "standalone":
    outdir = os.path.join(args.workdir, f"standalone_t{args.threads}")
    b2.set_device("cpp_standalone", build_on_run=False, directory=outdir)
    b2.prefs.devices.cpp_standalone.openmp_threads = args.threads
else:
    b2.prefs.codegen.target = "cython"
b2.seed(args.seed)
b2.defaultclock.dt = 0.1 * ms

NE, NI = 10000, 2500
N = NE + NI
CE, CI = 1000, 250
J, g, D = 0.1 * mV, 5.0, 1.5 * ms
theta, Vr, tau, tau_rp = 20 * mV, 10 * mV, 20 * ms, 2 * ms
nu_thr = theta / (J * CE * tau)
nu_ext = 2.0 * nu_thr  # 20 Hz
ns = dict(tau=tau, theta=theta, Vr=Vr, J=J, gJ=g * J)

G = b2.NeuronGroup(N, "dv/dt = -v/tau : volt (unless refractory)", threshold="v > theta",
                   reset="v = Vr", refractory=tau_rp, method="exact", namespace=ns)
G.v = "rand() * theta"
rng = np.random.default_rng(args.seed)


def fixed_indegree(n_pre, k, pre_offset, self_ok):
    """k distinct sources per target, no self-connections (as the model file)."""
    pre = np.empty((N, k), dtype=np.int64)
    for j in range(N):
        choices = rng.choice(n_pre - (0 if self_ok(j) else 1), size=k, replace=False)
        if not self_ok(j):
            own = j - pre_offset
            choices[choices >= own] += 1
        pre[j] = choices
    return pre.ravel(), np.repeat(np.arange(N), k)


i_e, j_e = fixed_indegree(NE, CE, 0, lambda j: j >= NE)
i_i, j_i = fixed_indegree(NI, CI, NE, lambda j: j < NE)
Ce = b2.Synapses(G[:NE], G, on_pre="v_post += J", delay=D, namespace=ns)
Ci = b2.Synapses(G[NE:], G, on_pre="v_post -= gJ", delay=D, namespace=ns)
Ce.connect(i=i_e, j=j_e)
Ci.connect(i=i_i, j=j_i)
P = b2.PoissonInput(G, "v", CE, nu_ext, weight=J)
mon = b2.SpikeMonitor(G)
net = b2.Network(G, Ce, Ci, P, mon)
t_setup = time.perf_counter() - T0

res = dict(tool="brian2", version=b2.__version__, mode=args.mode, threads=args.threads,
           n=N, duration_s=args.duration, seed=args.seed, nu_ext_hz=float(nu_ext / Hz),
           t_setup=t_setup)
t1 = time.perf_counter()
net.run(args.duration * second)
res["t_run_call"] = time.perf_counter() - t1
if args.mode == "standalone":
    t2 = time.perf_counter()
    b2.device.build(directory=outdir, compile=True, run=True, clean=True)
    res["t_build"] = time.perf_counter() - t2
res["t_sim"] = float(b2.device._last_run_time)
counts = np.asarray(mon.count[:])
res["n_synapses"] = int(len(Ce) + len(Ci))
res["rate_exc_hz"] = float(counts[:NE].sum() / NE / args.duration)
res["rate_inh_hz"] = float(counts[NE:].sum() / NI / args.duration)
res["t_sim_per_bio_s"] = res["t_sim"] / args.duration
print(json.dumps(res))
