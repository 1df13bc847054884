"""A recurrent spiking network on a real temporal data set: JapaneseVowels (UCR/UEA;
12 LPC coefficients per frame, 9 speakers, 270 training and 370 test utterances of
7-29 frames). Each utterance is presented frame by frame as input currents
(`encoding="sequence"`), padded to 29 frames with its last one. ``--quick`` trains 3
epochs (CI). The data are read from ../shared/data/ucr or $SPIKELAB_UCR."""

import os
import sys

import numpy as np

import spikelab as sl

quick = "--quick" in sys.argv
root = os.environ.get("SPIKELAB_UCR", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                   "shared", "data", "ucr"))
x, y, names = sl.datasets.load_timeseries(root, "JapaneseVowels", "train")
xt, yt, _ = sl.datasets.load_timeseries(root, "JapaneseVowels", "test")
# Both splits padded to the longest utterance with their last frame.
steps = max(x.shape[1], xt.shape[1])
pad = lambda v: np.concatenate([v, np.repeat(v[:, -1:], steps - v.shape[1], axis=1)], axis=1)
x, xt = pad(x), pad(xt)
# Each coefficient scaled to [0, 1] by the training set's range.
lo, hi = x.min(axis=(0, 1)), x.max(axis=(0, 1))
scale = lambda v: np.clip((v - lo) / (hi - lo), 0.0, 1.0)
dims = x.shape[2]

clf = sl.SpikingClassifier(f"{dims}-128-128R-{len(names)}", encoding="sequence", steps=steps,
                           loss="ce-membrane", batch_size=16, lr=2e-3, schedule="cosine", seed=1)
history = clf.fit(scale(x), y.astype(np.uint8), epochs=3 if quick else 80,
                  validation=(scale(xt), yt.astype(np.uint8)))
best = max(h["test_accuracy"] for h in history)
print(f"JapaneseVowels, {steps} steps × {dims} inputs, {len(names)} classes: "
      f"test accuracy {history[-1]['test_accuracy']:.2f} % after {len(history)} epochs "
      f"(best {best:.2f} %), {history[-1]['samples_per_s']:.0f} samples/s")
