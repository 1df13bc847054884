"""Raster, rate and trace plots with matplotlib (an optional dependency:
``pip install matplotlib``). Each function draws into ``ax`` (a new figure when
None) and returns the axes, so a notebook shows a raster in one line:
``sl.plot.raster(net.spikes("exc"))``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["raster", "rate", "traces", "accuracy_curve"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - exercised without matplotlib
        raise ImportError("spikelab.plot needs matplotlib: pip install matplotlib") from e
    _, ax = plt.subplots(figsize=(8, 4))
    return ax


Spikes = Tuple[np.ndarray, np.ndarray]


def raster(spikes: Union[Spikes, Dict[str, Spikes]], ax: Any = None, marker_size: float = 2.0,
           title: Optional[str] = None) -> Any:
    """Spike raster of ``(times_ms, neurons)`` or of ``{population: (times_ms,
    neurons)}`` stacked one population above the other (the y-axis spans the
    recorded neurons only)."""
    ax = _axes(ax)
    groups = spikes if isinstance(spikes, dict) else {"": spikes}
    offset = 0
    for name, (t, n) in groups.items():
        n = np.asarray(n)
        span = int(n.max()) + 1 if len(n) else 0
        ax.scatter(np.asarray(t), n + offset, s=marker_size, marker="|" if len(t) < 2e4 else ".",
                   label=name or None, linewidths=0.8)
        offset += span
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_ylim(-0.5, max(offset, 1) - 0.5)
    if len(groups) > 1:
        ax.legend(loc="upper right", markerscale=4)
    if title:
        ax.set_title(title)
    return ax


def rate(bin_start_ms: np.ndarray, rate_hz: np.ndarray, ax: Any = None, label: Optional[str] = None) -> Any:
    """Population rate over time (as :meth:`spikelab.Network.rates` or
    :func:`spikelab.analysis.psth` return it)."""
    ax = _axes(ax)
    ax.step(bin_start_ms, rate_hz, where="post", label=label)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    if label:
        ax.legend()
    return ax


def traces(states: Dict[str, np.ndarray], variable: str = "v", ax: Any = None,
           unit: str = "mV") -> Any:
    """Recorded traces of ``variable`` (from :meth:`spikelab.Network.states`), one
    line per recorded neuron."""
    ax = _axes(ax)
    values = states[variable]
    for k, neuron in enumerate(states["neurons"]):
        ax.plot(states["times_ms"], values[:, k], label=f"neuron {neuron}", lw=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{variable} ({unit})")
    ax.legend(loc="upper right")
    return ax


def accuracy_curve(steps: Sequence[int], accuracy: Sequence[float], ax: Any = None,
                   ann_accuracy: Optional[float] = None) -> Any:
    """Accuracy of a converted network against the number of time steps T."""
    ax = _axes(ax)
    ax.plot(steps, accuracy, marker="o", label="converted SNN")
    if ann_accuracy is not None:
        ax.axhline(ann_accuracy, color="k", ls="--", label="ANN")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time steps T")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    return ax
