"""The network of Izhikevich (2003), Fig. 3: the paper's MATLAB program transcribed
line by line to numpy, printing the mean rates and the spectrum of the population
activity. Quoted in examples/izhikevich_2003.toml.

    python izhikevich_2003_numpy.py SEED
"""
import numpy as np, sys
rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
Ne, Ni = 800, 200
re, ri = rng.random(Ne), rng.random(Ni)
a = np.r_[0.02*np.ones(Ne), 0.02+0.08*ri]
b = np.r_[0.2*np.ones(Ne), 0.25-0.05*ri]
c = np.r_[-65+15*re**2, -65*np.ones(Ni)]
d = np.r_[8-6*re**2, 2*np.ones(Ni)]
S = np.c_[0.5*rng.random((Ne+Ni, Ne)), -rng.random((Ne+Ni, Ni))]
v = -65*np.ones(Ne+Ni); u = b*v
firings = []
for t in range(1000):
    I = np.r_[5*rng.standard_normal(Ne), 2*rng.standard_normal(Ni)]
    fired = np.where(v >= 30)[0]
    firings += [(t, f) for f in fired]
    v[fired] = c[fired]; u[fired] += d[fired]
    I += S[:, fired].sum(axis=1)
    v += 0.5*(0.04*v**2+5*v+140-u+I)
    v += 0.5*(0.04*v**2+5*v+140-u+I)
    u += a*(b*v-u)
f = np.array(firings)
ne = np.sum(f[:,1] < Ne); ni = np.sum(f[:,1] >= Ne)
print(f"exc {ne/Ne:.2f} Hz  inh {ni/Ni:.2f} Hz")
cnt = np.bincount(f[:,0], minlength=1000).astype(float)
spec = np.abs(np.fft.rfft(cnt - cnt.mean()))**2
freqs = np.fft.rfftfreq(1000, 1e-3)
for lo, hi in [(5, 15), (15, 30), (30, 50), (50, 100)]:
    m = (freqs >= lo) & (freqs < hi)
    print(f"power {lo}-{hi} Hz: {spec[m].sum()/spec[1:].sum():.3f}")
print("peak freq", freqs[1:][np.argmax(spec[1:])])
print("CV of 1-ms population counts", cnt.std()/cnt.mean())
