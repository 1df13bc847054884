"""ANN→SNN conversion: train a ReLU network, convert it to a spiking one by weight
normalisation, and read the accuracy-vs-T curve as arrays (the workflow of
``spikelab train ann`` + ``spikelab convert``).

>>> ann = sl.convert.train_ann(x, y, "784-128-10", epochs=2)
>>> report = sl.convert.convert(ann, train=(x, y), test=(xt, yt), max_steps=64)
>>> sl.plot.accuracy_curve(report["steps"], report["accuracy"], ann_accuracy=report["ann_accuracy"])
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Optional, Tuple

from . import _native
from .classifier import SpikingClassifier, _labels, as_samples

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


def convert(model: Any, data: Optional[str] = None, out: Optional[str] = None,
            input: str = "analog", steps: int = 64, max_steps: int = 256,
            limit: Optional[int] = None, batch: int = 32, seed: int = 0,
            train: Optional[Tuple[Any, Any]] = None, test: Optional[Tuple[Any, Any]] = None,
            **options: Any) -> Dict[str, Any]:
    """Converts an ANN — a model file, or a :class:`SpikingClassifier` trained by
    :func:`train_ann` — to a spiking network. The data come from the arrays
    ``train = (x, y)`` (calibration) and ``test = (x, y)`` (evaluation), or from
    the data set folder ``data``. The spiking model is written into ``out``
    (default ``<model dir>/snn``, or a temporary folder for an in-memory ANN).

    Returns a dict: ``ann_accuracy``, the curve arrays ``steps``, ``accuracy``,
    ``synops_per_inference``, ``spikes_per_inference``, and ``model`` (the spiking
    model file, which :meth:`SpikingClassifier.load` and :func:`hybrid` read).
    ``options`` are conversion options (``calibration_samples``, ``batch_size``,
    ``balance_steps``, ...)."""
    if isinstance(model, SpikingClassifier):
        work = tempfile.mkdtemp(prefix="spikelab-ann-")
        path = os.path.join(work, "model.safetensors")
        model.save(path)
        model = path
        if out is None:
            out = os.path.join(work, "snn")
    cfg: Dict[str, Any] = {"model": str(model), "input": input, "steps": int(steps),
                           "max_steps": int(max_steps), "batch": int(batch), "seed": int(seed)}
    if data is not None:
        cfg["data"] = str(data)
    elif train is None or test is None:
        raise ValueError("give the data set folder `data`, or both `train=(x, y)` and `test=(x, y)`")
    if out is not None:
        cfg["out"] = str(out)
    if limit is not None:
        cfg["limit"] = int(limit)
    if options:
        cfg["options"] = options
    arrays = ()
    if train is not None and test is not None:
        x, y = as_samples(train[0]), train[1]
        xt, yt = as_samples(test[0]), test[1]
        arrays = (x, _labels(y, len(x)), xt, _labels(yt, len(xt)))
    report = _native.convert_ann(json.dumps(cfg), *arrays)
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
