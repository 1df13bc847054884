"""Networks described in Python with the vocabulary of Spikelab's model files.

A :class:`Network` collects populations, projections, currents and monitors as
dicts shaped like the TOML model file (``[[population]]``, ``[[projection]]``,
...). The first :meth:`Network.run` builds it in the Rust engine; from then on
results, state, weights and inputs are numpy arrays. The same description and
seed give the same spikes as ``spikelab run`` on the equivalent model file, for
any thread count.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

Selection = Union[str, Sequence[int], Dict[str, Any], None]


def _plain(value: Any) -> Any:
    """numpy arrays and scalars as lists and numbers (TOML has no arrays of floats32)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def current_receptor(name: str, tau_ms: float, **extra: Any) -> Dict[str, Any]:
    """A current-based receptor with exponential decay (``type = "current"``)."""
    return {"name": name, "type": "current", "tau_ms": float(tau_ms), **extra}


def conductance_receptor(name: str, tau_ms: float, e_rev_mv: float, **extra: Any) -> Dict[str, Any]:
    """A conductance-based receptor (``type = "conductance"``) with reversal potential."""
    return {"name": name, "type": "conductance", "tau_ms": float(tau_ms),
            "e_rev_mv": float(e_rev_mv), **extra}


def delta_receptor(name: str, **extra: Any) -> Dict[str, Any]:
    """A receptor whose spikes jump the membrane (``type = "delta"``)."""
    return {"name": name, "type": "delta", **extra}


def variable_receptor(name: str, variable: str) -> Dict[str, Any]:
    """A receptor that adds each arriving weight to state variable ``variable`` of
    the target (``type = "delta"``, ``variable = ...``; Brian2's ``on_pre = "g_e +=
    w"``): how synapses reach a ``model="equations"`` population."""
    return {"name": name, "type": "delta", "variable": variable}


class Network:
    """A spiking network: describe it, run it, read its results as numpy arrays.

    >>> import spikelab as sl
    >>> net = sl.Network(dt_ms=0.1, seed=1)
    >>> net.population("in", 100, "poisson", rate_hz=20.0)
    'in'
    >>> net.population("out", 10, "lif", receptors=[sl.current_receptor("exc", tau_ms=5.0)])
    'out'
    >>> net.projection("in", "out", "exc", "all_to_all", weight=2.0)
    'in->out'
    >>> net.monitor_spikes("out")
    >>> net.run(100.0)
    >>> times_ms, neurons = net.spikes("out")

    Every keyword takes what the model file takes (see the README's model-file
    reference): numbers, strings, lists, dicts such as
    ``{"normal": {"mean": -55.0, "std": 5.0}}`` for distributions, numpy arrays.

    Parameters
    ----------
    dt_ms: time step (ms).
    seed: seed of every random stream (connectivity, initial values, Poisson
        sources, noise).
    threads: worker threads (0 = one per core); results do not depend on it.
    duration_ms: the duration ``spikelab run`` uses for the saved model file.
    """

    def __init__(self, dt_ms: float = 0.1, seed: int = 0, threads: int = 1,
                 duration_ms: float = 1000.0) -> None:
        self._spec: Dict[str, Any] = {
            "simulation": {"dt_ms": float(dt_ms), "duration_ms": float(duration_ms),
                           "seed": int(seed), "threads": int(threads)},
            "population": [], "projection": [], "current": [], "poisson_input": [], "monitor": [],
        }
        self._sim: Optional[_native.Simulator] = None

    # ------------------------------------------------------------- creation
    @classmethod
    def from_dict(cls, spec: Dict[str, Any]) -> "Network":
        """A network from a dict shaped like a model file (``simulation``,
        ``population``, ``projection``, ``current``, ``monitor``)."""
        net = cls()
        unknown = set(spec) - set(net._spec)
        if unknown:
            raise ValueError(f"unknown section(s) {sorted(unknown)}; allowed: "
                             "simulation, population, projection, current, poisson_input, monitor")
        for key in net._spec:
            if key in spec:
                net._spec[key] = copy.deepcopy(_plain(spec[key]))
        if "simulation" in spec:
            sim = {"dt_ms": 0.1, "duration_ms": 1000.0, "seed": 0, "threads": 0}
            sim.update(net._spec["simulation"])
            net._spec["simulation"] = sim
        net.validate()
        return net

    @classmethod
    def from_toml(cls, text: str, source: str = "<toml text>", *,
                  scale_neurons: float = 1.0, scale_in_degree: float = 1.0) -> "Network":
        """A network from model-file text (validated; errors name the field).

        ``scale_neurons`` multiplies every population's size and ``scale_in_degree``
        every neuron's number of inputs, on top of the file's ``[scale]`` table (as
        ``spikelab run --scale-neurons``); weights are not compensated."""
        return cls.from_dict(json.loads(_native.model_to_json(
            text, source, float(scale_neurons), float(scale_in_degree))))

    @classmethod
    def load(cls, path: str, threads: Optional[int] = None, *,
             scale_neurons: float = 1.0, scale_in_degree: float = 1.0) -> "Network":
        """A network from a TOML model file; ``threads`` overrides the file's, the
        scale factors are those of :meth:`from_toml`."""
        with open(path, "r", encoding="utf-8") as f:
            net = cls.from_toml(f.read(), source=str(path), scale_neurons=scale_neurons,
                                scale_in_degree=scale_in_degree)
        if threads is not None:
            net._spec["simulation"]["threads"] = int(threads)
        return net

    # ---------------------------------------------------------- description
    def _editable(self) -> None:
        if self._sim is not None:
            raise RuntimeError("the network is built (it has run); describe a new Network "
                               "to change its structure, or use set_weights/set_state/"
                               "set_poisson_rates/set_spike_times")

    def population(self, name: str, size: int, model: str = "lif", *,
                   receptors: Optional[List[Dict[str, Any]]] = None,
                   initial: Optional[Dict[str, Any]] = None, **params: Any) -> str:
        """Adds a population of ``size`` neurons of ``model`` (lif, if, adex,
        izhikevich, hh, escape_lif, poisson, spike_generator, or ``equations``: a model
        written in Brian2's equation syntax, ``equations="dv/dt = ... : mV"``,
        ``threshold=``, ``reset=``, ``refractory="2 ms"``, ``parameters={"tau":
        "10 ms"}``, compiled when the network is built) with its parameters as
        keywords (``tau_m_ms=20.0``, ``rate_hz=5.0``, ``times_ms=[...]``...),
        ``receptors`` (see :func:`current_receptor`, :func:`conductance_receptor`)
        and ``initial`` values of state variables. Returns the name."""
        self._editable()
        pop: Dict[str, Any] = {"name": name, "size": int(size),
                               "neuron": {"model": model, **_plain(params)}}
        if receptors:
            pop["receptor"] = _plain(list(receptors))
        if initial:
            pop["initial"] = _plain(initial)
        self._spec["population"].append(pop)
        return name

    def projection(self, source: str, target: str, receptor: str,
                   connectivity: Union[str, Dict[str, Any]] = "all_to_all", *,
                   weight: Any = 1.0, delay_ms: Any = None, name: Optional[str] = None,
                   plasticity: Optional[Dict[str, Any]] = None,
                   normalization: Optional[Dict[str, Any]] = None,
                   stp: Optional[Dict[str, Any]] = None, **rule_params: Any) -> str:
        """Adds synapses from ``source`` onto ``receptor`` of ``target``.

        ``connectivity`` is a rule name (all_to_all, one_to_one, fixed_probability,
        fixed_in_degree, fixed_out_degree, fixed_total, gaussian, from_list, ...)
        with its parameters as extra keywords (``p=0.02``, ``k=100``), or a dict
        ``{"rule": ..., ...}``. ``weight`` and ``delay_ms`` are numbers or
        distributions; ``plasticity`` a rule dict (``{"rule": "stdp", ...}``).
        Returns the projection's name (``name`` or ``source->target``)."""
        self._editable()
        rule = {"rule": connectivity} if isinstance(connectivity, str) else dict(connectivity)
        rule.update(rule_params)
        proj: Dict[str, Any] = {"source": source, "target": target, "receptor": receptor,
                                "connectivity": _plain(rule), "weight": _plain(weight)}
        for key, value in (("name", name), ("delay_ms", delay_ms), ("plasticity", plasticity),
                           ("normalization", normalization), ("stp", stp)):
            if value is not None:
                proj[key] = _plain(value)
        self._spec["projection"].append(proj)
        return name or f"{source}->{target}"

    def current(self, target: str, kind: str = "dc", *, neurons: Selection = None,
                **params: Any) -> None:
        """Injects a current into ``target`` (``kind``: dc, step, sine, noise, ...,
        with its parameters: ``amplitude=...``, ``start_ms=...``)."""
        self._editable()
        cur = {"target": target, "kind": kind, **_plain(params)}
        if neurons is not None:
            cur["neurons"] = _plain(neurons)
        self._spec["current"].append(cur)

    def poisson_input(self, target: str, receptor: str, sources: int, rate_hz: float,
                      weight: float, *, neurons: Selection = None,
                      process: str = "poisson") -> None:
        """Drives every neuron of ``target`` (or a selection) with ``sources``
        independent Poisson spike trains at ``rate_hz`` through ``receptor``, each spike
        of ``weight`` — as Brian2's ``PoissonInput``: each step draws the summed count
        per neuron, with no source neurons or synapses (``process="bernoulli"`` for
        Brian2's binomial per-step sources)."""
        self._editable()
        pin: Dict[str, Any] = {"target": target, "receptor": receptor, "sources": int(sources),
                               "rate_hz": float(rate_hz), "weight": float(weight),
                               "process": str(process)}
        if neurons is not None:
            pin["neurons"] = _plain(neurons)
        self._spec["poisson_input"].append(pin)

    def monitor_spikes(self, population: str, neurons: Selection = None) -> None:
        """Records the spikes of ``population`` (all neurons, or a selection)."""
        self._editable()
        mon: Dict[str, Any] = {"kind": "spikes", "population": population}
        if neurons is not None:
            mon["neurons"] = _plain(neurons)
        self._spec["monitor"].append(mon)

    def monitor_state(self, population: str, variables: Sequence[str],
                      neurons: Selection = "all", every_ms: Optional[float] = None) -> None:
        """Records state ``variables`` (e.g. ``["v"]``) of some neurons of
        ``population`` every ``every_ms`` (default every step)."""
        self._editable()
        mon: Dict[str, Any] = {"kind": "state", "population": population,
                               "variables": list(variables), "neurons": _plain(neurons)}
        if every_ms is not None:
            mon["every_ms"] = float(every_ms)
        self._spec["monitor"].append(mon)

    def monitor_rate(self, population: str, bin_ms: float = 1.0) -> None:
        """Records the population rate of ``population`` in bins of ``bin_ms``."""
        self._editable()
        self._spec["monitor"].append({"kind": "rate", "population": population,
                                      "bin_ms": float(bin_ms)})

    # ---------------------------------------------------------- model files
    def to_dict(self) -> Dict[str, Any]:
        """The description as a dict shaped like the model file."""
        return copy.deepcopy({k: v for k, v in self._spec.items() if v})

    def to_toml(self) -> str:
        """The model file text of the network."""
        return _native.dict_to_toml(self.to_dict())

    def save(self, path: str) -> None:
        """Writes the model file (``spikelab run path`` runs it)."""
        text = self.to_toml()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def validate(self) -> None:
        """Checks every field; raises ValueError naming the first wrong one."""
        _native.validate_model(self.to_toml())

    # ------------------------------------------------------------- running
    @property
    def simulator(self) -> _native.Simulator:
        """The built engine (built on first use)."""
        if self._sim is None:
            self._sim = _native.Simulator(self.to_toml())
        return self._sim

    def build(self) -> "Network":
        """Builds the network now (otherwise the first run does). Returns self."""
        self.simulator
        return self

    def run(self, duration_ms: float, progress: bool = False) -> None:
        """Simulates ``duration_ms`` more milliseconds, with the GIL released (other
        Python threads run meanwhile). Ctrl-C raises KeyboardInterrupt between
        chunks of steps; the network can run on afterwards. ``progress`` prints a
        progress line to stderr."""
        sim = self.simulator
        if not progress:
            sim.run(float(duration_ms))
            return
        parts = 50
        steps = int(round(duration_ms / sim.dt_ms))
        done = 0
        for i in range(parts):
            n = (steps * (i + 1)) // parts - done
            sim.run_steps(n)
            done += n
            bar = "#" * (i + 1) + "." * (parts - i - 1)
            sys.stderr.write(f"\r[{bar}] {sim.time_ms:.1f} ms simulated, {sim.wall_s:.1f} s")
            sys.stderr.flush()
        sys.stderr.write("\n")

    def reset(self) -> None:
        """Neurons, receptors and clock back to their initial state (weights and
        recordings are kept)."""
        self.simulator.reset()

    @property
    def time_ms(self) -> float:
        """Simulated time so far (ms)."""
        return 0.0 if self._sim is None else self._sim.time_ms

    @property
    def dt_ms(self) -> float:
        """Time step (ms)."""
        return float(self._spec["simulation"]["dt_ms"])

    # ------------------------------------------------------------- results
    def spikes(self, population: str) -> Tuple[np.ndarray, np.ndarray]:
        """Recorded spikes: ``(times_ms float64[n], neurons uint32[n])``."""
        return self.simulator.spikes(population)

    def states(self, population: str) -> Dict[str, np.ndarray]:
        """Recorded state: ``{"times_ms": [samples], "neurons": [k], var: [samples, k]}``."""
        return self.simulator.states(population)

    def rates(self, population: str) -> Tuple[np.ndarray, np.ndarray]:
        """Recorded population rate: ``(bin_start_ms, rate_hz)``."""
        return self.simulator.rates(population)

    def population_size(self, population: str) -> int:
        """Number of neurons of ``population``."""
        for p in self._spec["population"]:
            if p["name"] == population:
                return int(p["size"])
        raise ValueError(f"unknown population `{population}`; known: "
                         + ", ".join(p["name"] for p in self._spec["population"]))

    # -------------------------------------------------------- state, inputs
    def state(self, population: str, variable: str) -> np.ndarray:
        """Current values of ``variable`` for every neuron (float32[size])."""
        return self.simulator.state(population, variable)

    def set_state(self, population: str, variable: str, values: Any) -> None:
        """Sets ``variable`` of every neuron (a number or an array of ``size``)."""
        n = self.population_size(population)
        arr = np.broadcast_to(np.asarray(values, dtype=np.float32), (n,))
        self.simulator.set_state(population, variable, np.ascontiguousarray(arr))

    def set_poisson_rates(self, population: str, rates_hz: Any) -> None:
        """Sets the rates (Hz) of a Poisson population from now on."""
        n = self.population_size(population)
        arr = np.broadcast_to(np.asarray(rates_hz, dtype=np.float64), (n,))
        self.simulator.set_poisson_rates(population, np.ascontiguousarray(arr))

    def set_spike_times(self, population: str, times_ms: Any, neurons: Any) -> None:
        """Replaces a spike generator's spikes (times from now, neuron indices)."""
        self.simulator.set_spike_times(
            population, np.ascontiguousarray(times_ms, dtype=np.float64),
            np.ascontiguousarray(neurons, dtype=np.uint32))

    def synapses(self, projection: str) -> Dict[str, np.ndarray]:
        """The synapses: ``sources``, ``targets``, ``weights``, ``delays_ms`` arrays."""
        return self.simulator.synapses(projection)

    def weights(self, projection: str) -> np.ndarray:
        """Weights (float32[synapses], source-major, targets ascending)."""
        return self.simulator.weights(projection)

    def set_weights(self, projection: str, weights: Any) -> None:
        """Sets the weights (float32[synapses] in :meth:`weights` order)."""
        self.simulator.set_weights(projection, np.ascontiguousarray(weights, dtype=np.float32))

    def set_plasticity(self, projection: str, enabled: bool) -> None:
        """Switches the plasticity of ``projection`` on or off."""
        self.simulator.set_plasticity(projection, bool(enabled))

    def save_recordings(self, directory: str, format: str = "npy") -> List[str]:
        """Writes the recordings as ``spikelab run`` does (csv or npy spike files)."""
        return [str(p) for p in self.simulator.save_recordings(directory, format)]

    # ---------------------------------------------------------------- plots
    def plot_raster(self, population: Optional[str] = None, ax: Any = None, **kwargs: Any) -> Any:
        """Raster of the recorded spikes (matplotlib); all spike-monitored populations
        stacked when ``population`` is None. Returns the axes."""
        from .plot import raster
        names = [population] if population else [
            m["population"] for m in self._spec["monitor"] if m["kind"] == "spikes"]
        return raster({n: self.spikes(n) for n in names}, ax=ax, **kwargs)

    def __repr__(self) -> str:
        pops = ", ".join(f"{p['name']}({p['size']})" for p in self._spec["population"])
        state = "built" if self._sim is not None else "not built"
        return (f"Network(populations=[{pops}], projections={len(self._spec['projection'])}, "
                f"dt_ms={self.dt_ms}, time_ms={self.time_ms}, {state})")
