"""ANN→SNN conversion: train a ReLU network, convert it to a spiking one by weight
normalisation, and read the accuracy-vs-T curve as arrays (the workflow of
``spikelab train ann`` + ``spikelab convert``).

>>> ann = sl.convert.train_ann(x, y, "784-128-10", epochs=2)
>>> ann.save("runs/ann/model.safetensors")
>>> report = sl.convert.convert("runs/ann/model.safetensors", "../shared/data/mnist", max_steps=64)
>>> sl.plot.accuracy_curve(report["steps"], report["accuracy"], ann_accuracy=report["ann_accuracy"])
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from . import _native
from .classifier import SpikingClassifier

__all__ = ["train_ann", "convert", "hybrid"]


def train_ann(x: Any, y: Any, arch: str = "784-128-10", epochs: int = 10, batch_size: int = 64,
              lr: float = 1e-3, schedule: str = "cosine", seed: int = 0,
              validation=None, progress: bool = False) -> SpikingClassifier:
    """Trains a ReLU network (one time step, analog input, cross-entropy), ready to
    be saved and converted."""
    ann = SpikingClassifier(arch, neuron="relu", steps=1, encoding="direct",
                            batch_size=batch_size, lr=lr, schedule=schedule, seed=seed)
    ann.fit(x, y, epochs=epochs, validation=validation, progress=progress)
    return ann


def convert(model: str, data: str, out: Optional[str] = None, input: str = "analog",
            steps: int = 64, max_steps: int = 256, limit: Optional[int] = None,
            batch: int = 32, seed: int = 0, **options: Any) -> Dict[str, Any]:
    """Converts the ANN of model file ``model`` with the data set in ``data``
    (training samples calibrate, test samples evaluate) and writes the spiking
    model into ``out`` (default ``<model dir>/snn``). Returns a dict: ann_accuracy,
    the curve arrays ``steps``, ``accuracy``, ``synops_per_inference``,
    ``spikes_per_inference``, and ``model`` (the spiking model file, which
    :meth:`SpikingClassifier.load` reads). ``options`` are conversion options
    (``calibration_samples``, ``batch_size``, ``balance_steps``, ...)."""
    cfg: Dict[str, Any] = {"model": str(model), "data": str(data), "input": input,
                           "steps": int(steps), "max_steps": int(max_steps), "batch": int(batch),
                           "seed": int(seed)}
    if out is not None:
        cfg["out"] = str(out)
    if limit is not None:
        cfg["limit"] = int(limit)
    if options:
        cfg["options"] = options
    report = _native.convert_ann(json.dumps(cfg))
    report["out"] = str(report["out"])
    report["model"] = str(report["model"])
    return report


def hybrid(model: str, x: Any, y: Any, epochs: int = 2, validation=None,
           progress: bool = False, **config: Any) -> SpikingClassifier:
    """Hybrid training: fine-tunes a converted SNN by surrogate gradients for a few
    epochs at few time steps (``steps`` default 8, ``lr`` 1e-4)."""
    clf = SpikingClassifier.from_converted(model, epochs=epochs, **config)
    clf.fit(x, y, epochs=epochs, validation=validation, progress=progress)
    return clf
