"""Writes examples/potjans_2014.toml: the Potjans & Diesmann (2014) cortical
microcircuit with the parameters of NEST's reference implementation
(pynest/examples/Potjans_2014: network_params.py, stimulus_params.py).

    python3 examples/reference/potjans_2014_params.py > examples/potjans_2014.toml

Potjans TC, Diesmann M (2014) The cell-type specific cortical microcircuit: relating
structure and activity in a full-scale spiking network model. Cereb Cortex 24:785.

Every number the model file holds comes from here, so it can be checked against the
paper (Table 5: connection probabilities) and NEST's files. Pure Python, no numpy.
"""

import math

POPS = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
N_FULL = [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
# conn_probs[target][source] (Potjans & Diesmann 2014, Table 5).
CONN_PROBS = [
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
]
K_EXT = [1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100]
BG_RATE_HZ = 8.0
PSP_EXC_MV = 0.15
WEIGHT_REL_STD = 0.1
G = -4.0
DELAY_EXC_MS, DELAY_INH_MS, DELAY_REL_STD = 1.5, 0.75, 0.5
# iaf_psc_exp parameters.
C_M_PF, TAU_M_MS, TAU_SYN_MS = 250.0, 10.0, 0.5
E_L, V_TH, V_RESET, T_REF = -65.0, -50.0, -65.0, 2.0
# NEST's "optimized" initial membrane potentials (close to the stationary state,
# so the start-up transient is short).
V0_MEAN = [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43]
V0_STD = [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48]
DT_MS = 0.1


def psc_over_psp():
    """Peak PSC (pA) per mV of peak PSP for an exponential current into the LIF."""
    sub = 1.0 / (TAU_SYN_MS - TAU_M_MS)
    pre = TAU_M_MS * TAU_SYN_MS / C_M_PF * sub
    frac = (TAU_M_MS / TAU_SYN_MS) ** sub
    return 1.0 / (pre * (frac**TAU_M_MS - frac**TAU_SYN_MS))


def total_synapses(p, n_pre, n_post):
    """NEST's fixed_total_number count: K = ln(1 − p) / ln(1 − 1/(N_pre·N_post))."""
    if p == 0.0:
        return 0
    return round(math.log(1.0 - p) / math.log(1.0 - 1.0 / (n_pre * n_post)))


def main():
    w_exc = PSP_EXC_MV * psc_over_psp()
    out = []
    say = out.append
    say("# Potjans & Diesmann (2014) cortical microcircuit, full scale, with the parameters")
    say("# of NEST's reference implementation (PyNEST example Potjans_2014). Written by")
    say("# examples/reference/potjans_2014_params.py; change that and run it again.")
    say("#")
    say("# 77,169 iaf_psc_exp LIF neurons in 8 populations (layers 2/3, 4, 5, 6; E and I),")
    say("# fixed_total_number connectivity with multapses (K = ln(1-p)/ln(1-1/(Npre*Npost))),")
    say(f"# weights {w_exc:.2f} pA (PSP 0.15 mV) with relative sd 0.1, g = -4, L4E->L23E doubled,")
    say("# delays 1.5 ms (E) / 0.75 ms (I) with relative sd 0.5 (redrawn below dt and above")
    say("# mean + 6 sd), Poisson background K_ext x 8 Hz. About 299 million synapses.")
    say("#")
    say("# Full scale needs about 2.7 GB; [scale] makes smaller versions: `neurons`")
    say("# scales population sizes, `in_degree` the inputs per neuron (keep it 1 to keep")
    say("# the published rates: L23E 0.9, L23I 3.0, L4E 4.4, L4I 5.9, L5E 7.6, L5I 8.6,")
    say("# L6E 1.1, L6I 7.8 Hz). `spikelab run` takes --scale-neurons and --scale-in-degree.")
    say("")
    say("[simulation]")
    say(f"dt_ms = {DT_MS}")
    say("duration_ms = 10000.0")
    say("transient_ms = 500.0")
    say("seed = 55")
    say("")
    say("[scale]")
    say("neurons = 1.0")
    say("in_degree = 1.0")
    for i, name in enumerate(POPS):
        say("")
        say("[[population]]")
        say(f'name = "{name}"')
        say(f"size = {N_FULL[i]}")
        say("[population.neuron]")
        say('model = "lif"')
        say(f"c_m_pf = {C_M_PF}")
        say(f"tau_m_ms = {TAU_M_MS}")
        say(f"v_rest_mv = {E_L}")
        say(f"v_reset_mv = {V_RESET}")
        say(f"v_thresh_mv = {V_TH}")
        say(f"t_ref_ms = {T_REF}")
        say("[[population.receptor]]")
        say('name = "syn"')
        say('type = "current"')
        say(f"tau_ms = {TAU_SYN_MS}")
        say("[population.initial]")
        say(f"v = {{ normal = {{ mean = {V0_MEAN[i]}, std = {V0_STD[i]} }} }}")
    total = 0
    for t, target in enumerate(POPS):
        for s, source in enumerate(POPS):
            k = total_synapses(CONN_PROBS[t][s], N_FULL[s], N_FULL[t])
            if k == 0:
                continue
            total += k
            exc = s % 2 == 0
            w = w_exc if exc else G * w_exc
            if source == "L4E" and target == "L23E":
                w *= 2.0
            sd = abs(w) * WEIGHT_REL_STD
            bound = "low = 0.0" if exc else "high = 0.0"
            d = DELAY_EXC_MS if exc else DELAY_INH_MS
            d_sd = d * DELAY_REL_STD
            say("")
            say("[[projection]]")
            say(f'source = "{source}"')
            say(f'target = "{target}"')
            say('receptor = "syn"')
            say(f'connectivity = {{ rule = "fixed_total_number", n = {k} }}')
            say(f"weight = {{ normal = {{ mean = {w:.6f}, std = {sd:.6f}, {bound} }} }}")
            say(
                f"delay_ms = {{ normal = {{ mean = {d}, std = {d_sd}, low = {DT_MS}, high = {d + 6 * d_sd} }} }}"
            )
    for i, name in enumerate(POPS):
        say("")
        say("[[poisson_input]]")
        say(f'target = "{name}"')
        say('receptor = "syn"')
        say(f"sources = {K_EXT[i]}")
        say(f"rate_hz = {BG_RATE_HZ}")
        say(f"weight = {w_exc:.6f}")
    for name in POPS:
        say("")
        say("[[monitor]]")
        say('kind = "spikes"')
        say(f'population = "{name}"')
    say("")
    say(f"# {total} synapses in all.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
