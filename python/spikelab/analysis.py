"""Spike-train statistics (computed in Rust, O(spikes + neurons)): firing rates,
ISI coefficient of variation, Fano factor and PSTH, on ``(times_ms, neurons)``
arrays as :meth:`spikelab.Network.spikes` returns them.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _native

__all__ = ["firing_rates", "isi_cv", "fano_factor", "psth"]


def _spikes(times_ms, neurons):
    return (np.ascontiguousarray(times_ms, dtype=np.float64),
            np.ascontiguousarray(neurons, dtype=np.uint32))


def _window(times_ms, t_start_ms, t_stop_ms) -> Tuple[float, float]:
    start = 0.0 if t_start_ms is None else float(t_start_ms)
    if t_stop_ms is None:
        t_stop_ms = (float(np.max(times_ms)) if len(times_ms) else start) + 1e-9
    return start, float(t_stop_ms)


def firing_rates(times_ms, neurons, n_neurons: int, t_start_ms: float = 0.0,
                 t_stop_ms: Optional[float] = None) -> np.ndarray:
    """Mean rate (Hz) of each of ``n_neurons`` over ``[t_start_ms, t_stop_ms)``."""
    t, n = _spikes(times_ms, neurons)
    start, stop = _window(t, t_start_ms, t_stop_ms)
    return _native.firing_rates_hz(t, n, int(n_neurons), start, stop)


def isi_cv(times_ms, neurons, n_neurons: int) -> np.ndarray:
    """Coefficient of variation of each neuron's inter-spike intervals (1 for a
    Poisson process, 0 for a clock); NaN for neurons with fewer than 2 intervals."""
    t, n = _spikes(times_ms, neurons)
    return _native.isi_cv(t, n, int(n_neurons))


def fano_factor(times_ms, neurons, n_neurons: int, bin_ms: float = 100.0,
                t_start_ms: float = 0.0, t_stop_ms: Optional[float] = None) -> np.ndarray:
    """Variance / mean of each neuron's spike counts in bins of ``bin_ms`` (1 for a
    Poisson process); NaN for silent neurons."""
    t, n = _spikes(times_ms, neurons)
    start, stop = _window(t, t_start_ms, t_stop_ms)
    return _native.fano_factor(t, n, int(n_neurons), start, stop, float(bin_ms))


def psth(times_ms, n_neurons: int, bin_ms: float = 5.0, t_start_ms: float = 0.0,
         t_stop_ms: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Population rate (Hz per neuron) in bins: ``(bin_start_ms, rate_hz)``."""
    t = np.ascontiguousarray(times_ms, dtype=np.float64)
    start, stop = _window(t, t_start_ms, t_stop_ms)
    return _native.psth(t, int(n_neurons), start, stop, float(bin_ms))
