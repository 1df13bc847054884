"""A liquid state machine (Maass et al. 2002) on JapaneseVowels: a fixed spiking
liquid of 500 LIF neurons on the engine, a ridge readout of its filtered spikes.

    python examples/python/liquid_state_machine.py [--quick]

The data come from ../shared/data/ucr (or $SPIKELAB_UCR). --quick uses a smaller
liquid and fewer series (the smoke test of test.sh).
"""

import os
import pathlib
import sys

import spikelab as sl

quick = "--quick" in sys.argv
root = os.environ.get("SPIKELAB_UCR",
                      pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ucr")
x, y, names, lengths = sl.datasets.load_timeseries(str(root), "JapaneseVowels", "train",
                                                   return_lengths=True)
xt, yt, _, lt = sl.datasets.load_timeseries(str(root), "JapaneseVowels", "test",
                                            return_lengths=True)
if quick:
    x, y, lengths, xt, yt, lt = x[:90], y[:90], lengths[:90], xt[:60], yt[:60], lt[:60]

lsm = sl.LiquidStateMachine(neurons=100 if quick else 400, topology="distance", seed=0)
lsm.fit(x, y, lengths=lengths, class_names=names)
r = lsm.report_
print(f"liquid: {lsm.neurons} neurons, mean rate {r['mean_rate_hz']:.1f} Hz, "
      f"separation {r['separation']:.3f}")
print(f"readout: alpha {r['readout']['alpha']:g}, leave-one-out {r['readout']['loo_accuracy']:.2f} %")
print(f"test accuracy: {lsm.score(xt, yt, lengths=lt):.2f} %")
