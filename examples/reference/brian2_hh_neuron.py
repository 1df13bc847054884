"""Reference figures of the COBAHH Traub-Miles neuron (no synapses) from Brian2.

Used by crates/spikelab-core/tests/hodgkin_huxley.rs. Run with Brian2 2.9 (numpy < 2):

    python brian2_hh_neuron.py 0.01     # dt in ms
    python brian2_hh_neuron.py 0.1

Prints the largest v at I = 0, the mean period after 300 ms at I = 0, 100 and 500 pA,
and, for currents from -34 to -26 pA, the spike count and period (onset of
repetitive firing). Equations as in the Brian2 example COBAHH.py.
"""
import sys
import numpy as np
from brian2 import (NeuronGroup, SpikeMonitor, StateMonitor, Equations, run, prefs,
                    defaultclock, ms, mV, pA, umetre, ufarad, cm, siemens, msiemens,
                    exprel)

prefs.codegen.target = "numpy"
dt_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
defaultclock.dt = dt_ms * ms
area = 20000 * umetre**2
Cm = (1 * ufarad * cm**-2) * area
gl = (5e-5 * siemens * cm**-2) * area
El, EK, ENa, VT = -60 * mV, -90 * mV, 50 * mV, -63 * mV
g_na = (100 * msiemens * cm**-2) * area
g_kd = (30 * msiemens * cm**-2) * area
eqs = Equations("""
dv/dt = (gl*(El-v) - g_na*(m*m*m)*h*(v-ENa) - g_kd*(n*n*n*n)*(v-EK) + I)/Cm : volt
dm/dt = alpha_m*(1-m)-beta_m*m : 1
dn/dt = alpha_n*(1-n)-beta_n*n : 1
dh/dt = alpha_h*(1-h)-beta_h*h : 1
alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz
I : amp
""")
onset = np.linspace(-34, -26, 17)
currents = np.r_[[0.0, 100.0, 500.0], onset]
P = NeuronGroup(len(currents), eqs, threshold="v>-20*mV", refractory=3 * ms,
                method="exponential_euler")
P.I = currents * pA
P.v = El
# Gates at their steady state for v = El.
u = -60.0 + 63.0
xe = lambda x: x / np.expm1(x)
am, bm = 1.28 * xe((13 - u) / 4), 1.4 * xe((u - 40) / 5)
ah, bh = 0.128 * np.exp((17 - u) / 18), 4 / (1 + np.exp((40 - u) / 5))
an, bn = 0.16 * xe((15 - u) / 5), 0.5 * np.exp((10 - u) / 40)
P.m, P.h, P.n = am / (am + bm), ah / (ah + bh), an / (an + bn)
spikes = SpikeMonitor(P)
trace = StateMonitor(P, "v", record=[0])
run(1000 * ms)
trains = spikes.spike_trains()


def period(k):
    t = np.array(trains[k] / ms)
    late = t[t > 300]
    return np.mean(np.diff(late)) if len(late) > 2 else None


print(f"dt {dt_ms} ms: largest v at I = 0: {np.max(trace.v[0] / mV):.3f} mV")
for k in range(3):
    print(f"I = {currents[k]:.0f} pA: period {period(k):.3f} ms")
for k in range(3, len(currents)):
    p = period(k)
    print(f"I = {currents[k]:.1f} pA: {len(trains[k])} spikes, period "
          + ("-" if p is None else f"{p:.3f} ms"))
