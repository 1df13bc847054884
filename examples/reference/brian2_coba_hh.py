"""Reference run of the Brian2 example COBAHH.py (Brette et al. 2007, benchmark 3),
unchanged except for the seed, the duration and the printed statistics. The rates it
prints are quoted in examples/coba_hh.toml. Run with Brian2 2.9 (numpy < 2):

    python brian2_coba_hh.py SEED [numpy|cython] [DURATION_MS]
"""
import sys, time
from brian2 import *
prefs.codegen.target = sys.argv[2] if len(sys.argv) > 2 else 'numpy'
seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
duration = float(sys.argv[3]) * ms if len(sys.argv) > 3 else 1000 * ms
area = 20000*umetre**2
Cm = (1*ufarad*cm**-2) * area
gl = (5e-5*siemens*cm**-2) * area
El = -60*mV; EK = -90*mV; ENa = 50*mV
g_na = (100*msiemens*cm**-2) * area
g_kd = (30*msiemens*cm**-2) * area
VT = -63*mV
taue = 5*ms; taui = 10*ms
Ee = 0*mV; Ei = -80*mV
we = 6*nS; wi = 67*nS
eqs = Equations('''
dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-
         g_na*(m*m*m)*h*(v-ENa)-
         g_kd*(n*n*n*n)*(v-EK))/Cm : volt
dm/dt = alpha_m*(1-m)-beta_m*m : 1
dn/dt = alpha_n*(1-n)-beta_n*n : 1
dh/dt = alpha_h*(1-h)-beta_h*h : 1
dge/dt = -ge*(1./taue) : siemens
dgi/dt = -gi*(1./taui) : siemens
alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz
''')
P = NeuronGroup(4000, model=eqs, threshold='v>-20*mV', refractory=3*ms, method='exponential_euler')
Pe = P[:3200]; Pi = P[3200:]
Ce = Synapses(Pe, P, on_pre='ge+=we'); Ci = Synapses(Pi, P, on_pre='gi+=wi')
Ce.connect(p=0.02); Ci.connect(p=0.02)
P.v = 'El + (randn() * 5 - 5)*mV'
P.ge = '(randn() * 1.5 + 4) * 10.*nS'
P.gi = '(randn() * 12 + 20) * 10.*nS'
sm = SpikeMonitor(P)
t0 = time.time()
run(duration)
wall = time.time() - t0
i = np.array(sm.i); t = np.array(sm.t / ms)
T = duration / second
print(f"seed {sys.argv[1] if len(sys.argv)>1 else 1} wall {wall:.1f}s spikes {len(i)}")
print(f"exc rate {np.sum(i<3200)/3200/T:.2f} Hz, inh rate {np.sum(i>=3200)/800/T:.2f} Hz, all {len(i)/4000/T:.2f} Hz")
h, _ = np.histogram(t, bins=np.arange(0, duration/ms + 1e-9, 50))
print("spikes per 50 ms bin:", list(h))
act = np.unique(i)
print(f"active neurons {len(act)}")
