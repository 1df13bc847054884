"""NEST's side of the Potjans & Diesmann (2014) benchmark: the same model as
examples/potjans_2014.toml (parameters from examples/reference/potjans_2014_params.py,
NEST's reference implementation), built and simulated with NEST 3.x, timed the way
`spikelab run` times itself. Prints one JSON object.

    python nest_potjans_2014.py --scale-neurons 0.1 --threads 2 --duration-ms 1000

NEST installs from PyPI (`pip install nest-simulator`). At full scale NEST needs at
least 4 virtual processes ("at most 134217726 connections supported per virtual
process"): use --threads 4 on 2 cores.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "reference"))
import potjans_2014_params as P  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale-neurons", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--transient-ms", type=float, default=500.0)
    ap.add_argument("--seed", type=int, default=55)
    a = ap.parse_args()

    import nest

    nest.set_verbosity("M_WARNING")
    nest.ResetKernel()
    nest.set(
        resolution=P.DT_MS,
        local_num_threads=a.threads,
        rng_seed=a.seed,
        print_time=False,
    )
    t0 = time.time()
    # Rounded half away from zero, as Spikelab's [scale] (Python's round() would give
    # L5I 106 instead of 107 at a tenth).
    sizes = [max(1, math.floor(n * a.scale_neurons + 0.5)) for n in P.N_FULL]
    w_exc = P.PSP_EXC_MV * P.psc_over_psp()
    params = {
        "C_m": P.C_M_PF,
        "tau_m": P.TAU_M_MS,
        "tau_syn_ex": P.TAU_SYN_MS,
        "tau_syn_in": P.TAU_SYN_MS,
        "t_ref": P.T_REF,
        "E_L": P.E_L,
        "V_th": P.V_TH,
        "V_reset": P.V_RESET,
        "I_e": 0.0,
    }
    pops, recorders = [], []
    for i, n in enumerate(sizes):
        pop = nest.Create("iaf_psc_exp", n, params=params)
        pop.V_m = nest.random.normal(mean=P.V0_MEAN[i], std=P.V0_STD[i])
        pops.append(pop)
        rec = nest.Create("spike_recorder", params={"start": a.transient_ms})
        nest.Connect(pop, rec)
        recorders.append(rec)
        gen = nest.Create("poisson_generator", params={"rate": P.K_EXT[i] * P.BG_RATE_HZ})
        nest.Connect(gen, pop, "all_to_all", {"weight": w_exc, "delay": P.DT_MS})
    synapses = 0
    for t in range(8):
        for s in range(8):
            k_full = P.total_synapses(P.CONN_PROBS[t][s], P.N_FULL[s], P.N_FULL[t])
            k = math.floor(k_full * (sizes[t] / P.N_FULL[t]) + 0.5)
            if k == 0:
                continue
            synapses += k
            exc = s % 2 == 0
            w = w_exc if exc else P.G * w_exc
            if P.POPS[s] == "L4E" and P.POPS[t] == "L23E":
                w *= 2.0
            d = P.DELAY_EXC_MS if exc else P.DELAY_INH_MS
            d_sd = d * P.DELAY_REL_STD
            weight = nest.math.redraw(
                nest.random.normal(mean=w, std=abs(w) * P.WEIGHT_REL_STD),
                min=0.0 if exc else -math.inf,
                max=math.inf if exc else 0.0,
            )
            delay = nest.math.redraw(
                nest.random.normal(mean=d, std=d_sd), min=P.DT_MS, max=d + 6 * d_sd
            )
            nest.Connect(
                pops[s],
                pops[t],
                {"rule": "fixed_total_number", "N": k},
                {"synapse_model": "static_synapse", "weight": weight, "delay": delay},
            )
    nest.Prepare()
    nest.Cleanup()
    build_s = time.time() - t0
    t1 = time.time()
    nest.Simulate(a.transient_ms + a.duration_ms)
    wall_s = time.time() - t1
    pops_out = []
    for i, rec in enumerate(recorders):
        ev = rec.get("events")
        times, senders = list(ev["times"]), list(ev["senders"])
        first = pops[i].tolist()[0]
        by = {}
        for tt, sn in zip(times, senders):
            by.setdefault(sn - first, []).append(tt)
        cvs = []
        for ts in by.values():
            if len(ts) >= 3:
                ts.sort()
                isi = [b - a_ for a_, b in zip(ts, ts[1:])]
                m = sum(isi) / len(isi)
                if m > 0:
                    var = sum((x - m) ** 2 for x in isi) / len(isi)
                    cvs.append(math.sqrt(var) / m)
        pops_out.append(
            {
                "name": P.POPS[i],
                "neurons": sizes[i],
                "rate_hz": len(times) / sizes[i] / (a.duration_ms * 1e-3),
                "isi_cv_mean": sum(cvs) / len(cvs) if cvs else None,
            }
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        json.dumps(
            {
                "simulator": f"NEST {nest.__version__}",
                "threads": a.threads,
                "scale_neurons": a.scale_neurons,
                "synapses": synapses,
                "build_s": build_s,
                "wall_s": wall_s,
                "real_time_factor": wall_s / ((a.transient_ms + a.duration_ms) * 1e-3),
                "peak_rss_mib": peak_mib,
                "bytes_per_synapse": peak_mib * 1048576.0 / max(synapses, 1),
                "populations": pops_out,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
