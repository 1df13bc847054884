"""The COBA benchmark network (Vogels & Abbott 2005, Brette et al. 2007) built in
Python, Brian2-style: 4000 LIF neurons with conductance synapses, run for 1 s,
firing statistics and a raster. ``--quick`` runs 200 ms (CI)."""

import os
import sys

import numpy as np

import spikelab as sl

quick = "--quick" in sys.argv
out_dir = os.path.join("out", "python")  # figures go here
os.makedirs(out_dir, exist_ok=True)
net = sl.Network(dt_ms=0.1, seed=1, threads=1)
lif = dict(tau_m_ms=20.0, v_rest_mv=-60.0, v_reset_mv=-60.0, v_thresh_mv=-50.0, t_ref_ms=5.0,
           i_bias_mv=20.0, integration="euler")
receptors = [sl.conductance_receptor("e", tau_ms=5.0, e_rev_mv=0.0),
             sl.conductance_receptor("i", tau_ms=10.0, e_rev_mv=-80.0)]
initial = {"v": {"normal": {"mean": -55.0, "std": 5.0}}}
net.population("exc", 3200, "lif", receptors=receptors, initial=initial, **lif)
net.population("inh", 800, "lif", receptors=receptors, initial=initial, **lif)
for source, receptor, weight in (("exc", "e", 0.6), ("inh", "i", 6.7)):
    for target in ("exc", "inh"):
        net.projection(source, target, receptor, "fixed_probability", p=0.02, weight=weight)
net.monitor_spikes("exc")
net.monitor_spikes("inh")

duration_ms = 200.0 if quick else 1000.0
net.run(duration_ms)
t, n = net.spikes("exc")
rates = sl.analysis.firing_rates(t, n, 3200, 0.0, duration_ms)
cv = sl.analysis.isi_cv(t, n, 3200)
print(f"{len(t)} excitatory spikes in {duration_ms:.0f} ms: {rates.mean():.1f} Hz, "
      f"ISI CV {np.nanmean(cv):.2f}, "
      f"{net.simulator.wall_s:.2f} s wall")
try:
    import matplotlib
    matplotlib.use("Agg")
    ax = net.plot_raster(title="COBA network")
    ax.figure.savefig(os.path.join(out_dir, "coba_raster.png"), dpi=120)
    print("raster:", os.path.join(out_dir, "coba_raster.png"))
except ImportError:
    print("(pip install matplotlib for the raster)")
