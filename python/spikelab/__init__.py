"""Spikelab from Python: simulate, train, convert and analyse spiking networks.

One Rust engine does both jobs — a fast, deterministic event-driven simulator (the
job of Brian2 and NEST) and a surrogate-gradient trainer (the job of snnTorch) —
with one definition of every neuron model, synapse, plasticity rule and encoder.
Arrays go in and out as numpy arrays.

* :class:`Network` — describe a network (the model-file vocabulary as keyword
  arguments) or load a model file, run it, read spikes/states/rates as arrays.
* :mod:`spikelab.encode` — every encoder on numpy arrays.
* :mod:`spikelab.datasets` — MNIST / Fashion-MNIST, event files, time series.
* :class:`SpikingClassifier` — surrogate-gradient training (``fit``, ``evaluate``,
  ``predict``, checkpoints, export to the simulator with ``to_network``).
* :mod:`spikelab.convert` — ANN training and ANN→SNN conversion, hybrid tuning.
* :mod:`spikelab.stdp` — Diehl & Cook (2015) unsupervised STDP learning.
* :mod:`spikelab.nir` — NIR files (snnTorch, Norse, Sinabs, Lava, SpiNNaker2) in and out.
* :class:`LiquidStateMachine` — a spiking liquid on the engine with a trained linear
  readout, for time series (``fit``, ``predict``, ``states``, ``save``).
* :mod:`spikelab.analysis` — firing rates, ISI CV, Fano factor, PSTH.
* :mod:`spikelab.plot` — raster, rate and trace plots (needs matplotlib).
"""

from . import _native
from . import analysis, convert, datasets, encode, nir, plot, stdp
from .classifier import SpikingClassifier, set_threads
from .lsm import LiquidStateMachine
from .network import (Network, conductance_receptor, current_receptor, delta_receptor,
                      variable_receptor)

__version__ = _native.version()

__all__ = [
    "Network",
    "SpikingClassifier",
    "LiquidStateMachine",
    "set_threads",
    "analysis",
    "convert",
    "datasets",
    "encode",
    "nir",
    "plot",
    "stdp",
    "conductance_receptor",
    "current_receptor",
    "variable_receptor",
    "delta_receptor",
    "__version__",
]
