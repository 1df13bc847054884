"""The simulator from Python: building, running, numpy results, state and weights
in and out, determinism (threads, the CLI), the GIL, Ctrl-C and errors."""

import subprocess
import signal
import threading
import time
import _thread

import numpy as np
import pytest

import spikelab as sl


def small_net(seed=1, threads=1):
    net = sl.Network(dt_ms=0.1, seed=seed, threads=threads)
    net.population("in", 200, "poisson", rate_hz=20.0)
    net.population("exc", 100, "lif", tau_m_ms=20.0, v_rest_mv=-65.0, v_reset_mv=-65.0,
                   v_thresh_mv=-50.0, t_ref_ms=2.0,
                   receptors=[sl.current_receptor("e", tau_ms=5.0)],
                   initial={"v": {"uniform": {"low": -65.0, "high": -55.0}}})
    net.projection("in", "exc", "e", "fixed_probability", p=0.2,
                   weight={"normal": {"mean": 5.0, "std": 0.5}}, delay_ms=1.0)
    net.monitor_spikes("exc")
    net.monitor_state("exc", ["v"], neurons=[0, 1, 2], every_ms=1.0)
    net.monitor_rate("exc", bin_ms=10.0)
    return net


def test_results_come_out_as_numpy_arrays():
    net = small_net()
    net.run(200.0)
    t, n = net.spikes("exc")
    assert t.dtype == np.float64 and n.dtype == np.uint32 and len(t) == len(n) > 0
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 200.0 and n.max() < 100
    st = net.states("exc")
    assert st["v"].shape == (200, 3) and st["v"].dtype == np.float32
    assert st["times_ms"].shape == (200,) and list(st["neurons"]) == [0, 1, 2]
    starts, rate = net.rates("exc")
    assert starts.shape == rate.shape == (20,)
    assert np.isclose(rate.mean(), len(t) / 100 / 0.2, rtol=1e-9)
    assert net.time_ms == pytest.approx(200.0)


def test_same_seed_same_spikes_for_any_thread_count():
    a, b, c = small_net(threads=1), small_net(threads=2), small_net(seed=2)
    for net in (a, b, c):
        net.run(100.0)
    ta, na = a.spikes("exc")
    tb, nb = b.spikes("exc")
    assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert not np.array_equal(na, c.spikes("exc")[1])


def test_spikes_match_the_command_line(tmp_path, root, cli):
    model = root / "examples" / "vogels_abbott_cuba.toml"
    out = tmp_path / "cli"
    subprocess.run([str(cli), "run", str(model), "--duration-ms", "200", "--threads", "1",
                    "--format", "npy", "--no-plot", "--quiet", "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    net = sl.Network.load(str(model), threads=2)
    net.run(200.0)
    for pop in ("exc", "inh"):
        cli_spikes = np.load(out / f"spikes_{pop}.npy")
        t, n = net.spikes(pop)
        assert len(t) > 0
        assert np.allclose(cli_spikes[:, 0], t) and np.array_equal(cli_spikes[:, 1], n)


def test_a_scaled_microcircuit_matches_the_command_line(tmp_path, root, cli):
    model = root / "examples" / "potjans_2014.toml"
    out = tmp_path / "pd"
    subprocess.run([str(cli), "run", str(model), "--scale-neurons", "0.01", "--duration-ms", "100",
                    "--transient-ms", "0", "--format", "npy", "--no-plot", "--quiet", "--out",
                    str(out)], check=True, stdout=subprocess.DEVNULL)
    net = sl.Network.load(str(model), scale_neurons=0.01)
    assert [p["size"] for p in net.to_dict()["population"]][:2] == [207, 58]
    net.run(100.0)
    t, n = net.spikes("L4E")
    cli_spikes = np.load(out / "spikes_L4E.npy")
    assert len(t) > 0
    assert np.allclose(cli_spikes[:, 0], t) and np.array_equal(cli_spikes[:, 1], n)
    with pytest.raises(ValueError, match="scale.neurons"):
        sl.Network.load(str(model), scale_neurons=0.0)


def test_model_files_round_trip(tmp_path, root):
    net = sl.Network.load(str(root / "examples" / "vogels_abbott_coba.toml"))
    path = tmp_path / "coba.toml"
    net.save(str(path))
    again = sl.Network.load(str(path))
    assert again.to_dict() == net.to_dict()
    a, b = small_net(), sl.Network.from_toml(small_net().to_toml())
    a.run(50.0)
    b.run(50.0)
    assert np.array_equal(a.spikes("exc")[1], b.spikes("exc")[1])


def test_weights_and_state_in_and_out():
    net = small_net().build()
    syn = net.synapses("in->exc")
    w = net.weights("in->exc")
    assert w.dtype == np.float32 and len(w) == len(syn["targets"]) == len(syn["sources"])
    assert np.all(syn["delays_ms"] == pytest.approx(1.0))
    net.set_weights("in->exc", np.zeros_like(w))
    assert np.all(net.weights("in->exc") == 0)
    net.run(50.0)
    assert len(net.spikes("exc")[0]) == 0  # no input, no spikes
    net.set_state("exc", "v", -40.0)  # above threshold: every neuron fires once
    assert np.all(net.state("exc", "v") == np.float32(-40.0))
    net.run(1.0)
    assert len(np.unique(net.spikes("exc")[1])) == 100


def test_poisson_rates_and_spike_times_between_runs():
    net = sl.Network(dt_ms=1.0, seed=3)
    net.population("src", 50, "poisson", rate_hz=0.0)
    net.population("gen", 3, "spike_generator", neurons=[], times_ms=[])
    net.monitor_spikes("src")
    net.monitor_spikes("gen")
    net.run(100.0)
    assert len(net.spikes("src")[0]) == 0
    net.set_poisson_rates("src", 100.0)
    net.run(1000.0)
    assert len(net.spikes("src")[0]) / 50 == pytest.approx(100.0, rel=0.1)
    net.set_spike_times("gen", [5.0, 7.0, 9.0], [2, 0, 1])
    net.run(20.0)
    t, n = net.spikes("gen")
    assert list(n) == [2, 0, 1] and np.allclose(t, [1105.0, 1107.0, 1109.0])


def test_the_gil_is_released_during_a_run():
    net = small_net()
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.01)
    before = count[0]
    net.run(3000.0)
    during = count[0] - before
    stop.set()
    th.join()
    assert during > 1000, f"the Python thread advanced only {during} times during the run"


def test_ctrl_c_stops_a_run_between_chunks_and_it_can_go_on():
    # A shell that starts pytest in the background (`cmd &`, nohup, some CI runners)
    # hands it SIGINT ignored, and Python then has no KeyboardInterrupt handler for
    # interrupt_main to trigger: install Python's own for the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        net = small_net().build()
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            net.run(1e7)
        timer.cancel()
    finally:
        signal.signal(signal.SIGINT, previous)
    stopped_at = net.time_ms
    assert 0 < stopped_at < 1e7
    net.run(10.0)
    assert net.time_ms == pytest.approx(stopped_at + 10.0)


def test_bad_input_raises_python_exceptions_naming_the_field():
    with pytest.raises(ValueError, match="lifx"):
        sl.Network.from_dict({"population": [{"name": "a", "size": 5, "neuron": {"model": "lifx"}}]})
    net = sl.Network()
    net.population("a", 5, "lif", tau_m_ms=-1.0)
    with pytest.raises(ValueError, match="tau_m_ms"):
        net.build()
    net = small_net().build()
    with pytest.raises(ValueError, match="nope"):
        net.spikes("nope")
    with pytest.raises(ValueError, match="spikes monitor"):
        net.spikes("in")
    with pytest.raises(ValueError, match="weights"):
        net.set_weights("in->exc", np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="duration_ms"):
        net.run(-5.0)
    with pytest.raises(ValueError, match="state variable"):
        net.state("exc", "w")
    with pytest.raises(RuntimeError, match="built"):
        net.population("late", 3)
    with pytest.raises(OSError):
        sl.Network.load("/nonexistent/model.toml")
    with pytest.raises(TypeError):
        sl.Network.from_dict({"population": [{"name": "a", "size": object()}]})


def test_raster_plot(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    net = small_net()
    net.run(100.0)
    ax = net.plot_raster()
    ax.figure.savefig(tmp_path / "raster.png")
    assert (tmp_path / "raster.png").stat().st_size > 1000
    ax = sl.plot.traces(net.states("exc"))
    assert ax.get_ylabel() == "v (mV)"


def test_a_summed_poisson_drive_fires_like_its_source_neurons():
    def build(summed):
        net = sl.Network(dt_ms=0.1, seed=3)
        net.population("exc", 200, "lif", tau_m_ms=20.0, v_rest_mv=0.0, v_reset_mv=10.0,
                       v_thresh_mv=20.0, t_ref_ms=2.0, receptors=[sl.delta_receptor("syn")])
        if summed:
            net.poisson_input("exc", "syn", sources=1000, rate_hz=12.0, weight=0.1)
        else:
            net.population("ext", 200, "poisson", rate_hz=12000.0)
            net.projection("ext", "exc", "syn", "one_to_one", weight=0.1)
        net.monitor_spikes("exc")
        net.run(1000.0)
        return len(net.spikes("exc")[0]) / 200.0
    a, b = build(True), build(False)
    assert a > 5.0
    assert abs(a - b) / b < 0.05, (a, b)
    with pytest.raises(ValueError, match=r"poisson_input\[0\].receptor"):
        net = sl.Network()
        net.population("p", 3, "lif", receptors=[sl.delta_receptor("syn")])
        net.poisson_input("p", "nope", sources=10, rate_hz=5.0, weight=1.0)
        net.validate()


def test_a_model_written_as_equations_runs_from_python():
    """A stochastic LIF written as equations, driven through a variable receptor:
    spikes out as numpy arrays, the same for 1 and 2 threads; a unit mistake is a
    ValueError naming the equation and the terms."""
    def build(threads, rhs="(v_rest - v + g*(e_e - v))/tau + sigma*sqrt(2/tau)*xi"):
        net = sl.Network(dt_ms=0.1, seed=4, threads=threads)
        net.population("in", 100, "poisson", rate_hz=20.0)
        net.population("n", 50, "equations",
                       equations=f"dv/dt = {rhs} : mV (unless refractory)\n"
                                 "dg/dt = -g/tau_g : 1",
                       threshold="v > v_th", reset="v = v_rest", refractory="2 ms",
                       parameters={"v_rest": "-65 mV", "tau": "10 ms", "e_e": "0 mV",
                                   "sigma": "2 mV", "v_th": "-55 mV", "tau_g": "5 ms"},
                       init={"v": "-65 mV"},
                       receptors=[sl.variable_receptor("e", "g")])
        net.projection("in", "n", "e", "fixed_probability", p=0.1, weight=0.15)
        net.monitor_spikes("n")
        net.monitor_state("n", ["v", "g"], neurons=[0, 1], every_ms=1.0)
        return net
    a, b = build(1), build(2)
    a.run(300.0)
    b.run(300.0)
    t, n = a.spikes("n")
    assert len(t) > 50 and n.max() < 50
    t2, n2 = b.spikes("n")
    assert np.array_equal(t, t2) and np.array_equal(n, n2)
    st = a.states("n")
    assert st["v"].shape == (300, 2) and st["g"].max() > 0.0
    with pytest.raises(ValueError, match=r"dv/dt.*`v_rest - v` is volt but `g` is 1"):
        build(1, rhs="(v_rest - v + g)/tau").run(1.0)
