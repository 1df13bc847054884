"""snnTorch-style MNIST training in a few lines: a 784-1000-10 LIF network, rate
coding, 25 steps, surrogate gradients; then the trained network runs on the
event-driven engine with the same predictions. ``--quick`` trains on 2,000
images (CI). MNIST is read from ../shared/data/mnist or $SPIKELAB_MNIST."""

import os
import sys

import spikelab as sl

quick = "--quick" in sys.argv
root = os.environ.get("SPIKELAB_MNIST", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                     "shared", "data", "mnist"))
x, y = sl.datasets.mnist(root, "train", limit=2000 if quick else None)
xt, yt = sl.datasets.mnist(root, "test", limit=500 if quick else None)

clf = sl.SpikingClassifier("784-1000-10", steps=25, encoding="rate", lr=1e-3, batch_size=128)
for epoch in clf.fit(x, y, epochs=1, validation=(xt, yt), progress=True):
    print(f"epoch {epoch['epoch']}: test accuracy {epoch['test_accuracy']:.2f} %, "
          f"{epoch['samples_per_s']:.0f} samples/s")
engine = clf.evaluate_on_engine(xt, yt, limit=100)
print(f"on the engine: {engine['accuracy']:.1f} % ({engine['agreement']:.0f} % agreement), "
      f"{engine['synops_per_inference']:.0f} synaptic operations per inference")
