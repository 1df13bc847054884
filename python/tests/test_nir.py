"""NIR interoperability with the reference `nir` package (PyPI): every node type NIR
defines, written by `nir.write`, is read by Spikelab with the same shapes and values;
what Spikelab writes, `nir.read` reads back the same; trained networks round-trip
Spikelab → NIR → Spikelab with identical weights and predictions; a graph written
the way snnTorch writes it imports with its β and time step."""

import numpy as np
import pytest

import spikelab as sl

nir = pytest.importorskip("nir", reason="the reference nir package (test.sh installs it)")


def _f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def every_node_type():
    """One node of every NIR type (a subgraph too), as the nir package builds them."""
    n = 4
    sub = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n])),
            "lif": nir.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n),
                           v_threshold=np.ones(n), v_reset=np.zeros(n)),
            "w_rec": nir.Linear(weight=_f32(n, n, seed=5)),
            "output": nir.Output(output_type=np.array([n])),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
        metadata={"note": "recurrent"},
    )
    nodes = {
        "input": nir.Input(input_type=np.array([2, 6, 6])),
        "conv2d": nir.Conv2d(input_shape=(6, 6), weight=_f32(3, 2, 3, 3), stride=1, padding=1,
                             dilation=1, groups=1, bias=_f32(3, seed=1)),
        "conv1d": nir.Conv1d(input_shape=6, weight=_f32(3, 2, 3), stride=1, padding=1,
                             dilation=1, groups=1, bias=_f32(3, seed=2)),
        "sumpool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                 padding=np.array([0, 0])),
        "avgpool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                 padding=np.array([0, 0])),
        "flatten": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
        "affine": nir.Affine(weight=_f32(n, 27, seed=3), bias=_f32(n, seed=4)),
        "linear": nir.Linear(weight=_f32(n, n, seed=6)),
        "scale": nir.Scale(scale=_f32(n, seed=7)),
        "delay": nir.Delay(delay=np.array([0.001, 0.002, 0.001, 0.003])),
        "lif": nir.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n),
                       v_threshold=np.ones(n), v_reset=np.zeros(n)),
        "cubalif": nir.CubaLIF(tau_syn=np.full(n, 0.005), tau_mem=np.full(n, 0.02), r=np.ones(n),
                               v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                               w_in=np.ones(n)),
        "cubali": nir.CubaLI(tau_syn=np.full(n, 0.005), tau_mem=np.full(n, 0.02), r=np.ones(n),
                             v_leak=np.zeros(n), w_in=np.ones(n)),
        "if": nir.IF(r=np.ones(n), v_threshold=np.ones(n), v_reset=np.zeros(n)),
        "li": nir.LI(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n)),
        "i": nir.I(r=np.ones(n)),
        "threshold": nir.Threshold(threshold=np.full(n, 0.5)),
        "rnn": sub,
        "output": nir.Output(output_type=np.array([n])),
    }
    edges = [("input", "conv2d"), ("conv2d", "sumpool"), ("sumpool", "flatten"),
             ("flatten", "affine"), ("affine", "rnn"), ("rnn", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False, metadata={"dt": 0.001})


def _params(node):
    """A NIR node's parameters as {name: numpy array} (what the files hold)."""
    skip = {"input_type", "output_type", "metadata", "nodes", "edges"}
    out = {}
    for k, v in node.to_dict().items():
        if k in skip or k == "type" or v is None:
            continue
        out[k] = v
    if isinstance(node, (nir.Input, nir.Output)):
        out = {"shape": (node.input_type if isinstance(node, nir.Input) else node.output_type)
               [next(iter(node.input_type if isinstance(node, nir.Input) else node.output_type))]}
    if isinstance(node, nir.Flatten):
        out["input_type"] = node.input_type["input"]
    return out


def _same(spikelab_node, nir_node, where):
    assert spikelab_node["type"] == type(nir_node).__name__, where
    if isinstance(nir_node, nir.NIRGraph):
        assert set(spikelab_node["nodes"]) == set(nir_node.nodes), where
        assert sorted(spikelab_node["edges"]) == sorted(nir_node.edges), where
        for k, sub in nir_node.nodes.items():
            _same(spikelab_node["nodes"][k], sub, f"{where}.{k}")
        return
    for k, v in _params(nir_node).items():
        got = spikelab_node[k]
        want = np.asarray(v)
        if isinstance(got, str):
            assert got == v, f"{where}.{k}"
            continue
        got = np.asarray(got)
        assert got.shape == want.shape or (got.size == want.size == 1), f"{where}.{k}: {got.shape} vs {want.shape}"
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=f"{where}.{k}")


def test_every_node_type_nir_writes_is_read_with_the_same_values(tmp_path):
    g = every_node_type()
    assert {type(n).__name__ for n in g.nodes.values()} == {
        "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d",
        "AvgPool2d", "Flatten", "Delay", "I", "IF", "LI", "LIF", "CubaLI", "CubaLIF",
        "Threshold", "NIRGraph"}
    path = tmp_path / "all.nir"
    nir.write(str(path), g)
    ours = sl.nir.read_graph(str(path))
    _same(ours, g, "graph")
    assert float(ours["metadata"]["dt"]) == 0.001
    assert ours["nodes"]["rnn"]["metadata"]["note"] == "recurrent"


def test_what_spikelab_writes_nir_reads_back_the_same(tmp_path):
    g = every_node_type()
    src = tmp_path / "src.nir"
    nir.write(str(src), g)
    ours = sl.nir.read_graph(str(src))
    out = tmp_path / "ours.nir"
    sl.nir.write_graph(ours, str(out))
    back = nir.read(str(out), type_check=False)
    _same(ours, back, "graph")
    # And the values are the originals.
    for name, node in g.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            for k, v in _params(node).items():
                np.testing.assert_array_equal(np.asarray(_params(back.nodes[name])[k]).reshape(np.shape(v)),
                                              np.asarray(v), err_msg=f"{name}.{k}")


def _digits(n, seed):
    """A toy 4×4 two-class problem: bright top half vs bright bottom half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.uint8)
    x = rng.integers(0, 60, (n, 4, 4)).astype(np.uint8)
    for i, c in enumerate(y):
        if c == 0:
            x[i, :2, :] = 200
        else:
            x[i, 2:, :] = 200
    return x, y


@pytest.mark.parametrize("arch,options", [
    ("16-24-2", {}),
    ("2C3-MP2-2", {"loss": "ce-membrane"}),
    ("16-12R-2", {"loss": "ce-membrane"}),
])
def test_trained_networks_round_trip_with_identical_weights_and_predictions(tmp_path, arch, options):
    x, y = _digits(256, 1)
    clf = sl.SpikingClassifier(arch, steps=8, batch_size=32, lr=5e-3, seed=2, **options)
    clf.fit(x, y, epochs=2)
    path = tmp_path / "net.nir"
    notes = sl.nir.write(clf, str(path))
    assert any("subtraction" in n for n in notes)
    # The reference package reads it (with its own type checks).
    g = nir.read(str(path))
    assert "input" in g.nodes and "output" in g.nodes
    back = sl.nir.read(str(path))
    p0, p1 = clf.parameters(), back.parameters()
    assert p0.keys() == p1.keys()
    for k in p0:
        np.testing.assert_array_equal(p0[k], p1[k], err_msg=k)
    np.testing.assert_array_equal(clf.predict(x), back.predict(x))
    assert clf.evaluate(x, y)["accuracy"] == back.evaluate(x, y)["accuracy"]
    # The per-step outputs agree too.
    inputs = (np.random.default_rng(0).random((5, 8, 16)) < 0.3).astype(np.float32)
    np.testing.assert_array_equal(clf.run(inputs), back.run(inputs))
    # The imported network fine-tunes from its weights.
    before = back.evaluate(x, y)["accuracy"]
    back.fit(x, y, epochs=1)
    assert back.evaluate(x, y)["accuracy"] >= before - 10.0


def test_a_graph_written_like_snntorch_imports_with_its_beta_and_time_step(tmp_path):
    dt, beta = 1e-4, 0.9
    tau = np.full(3, dt / (1 - beta), dtype=np.float32)
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([5])),
            "0": nir.Affine(weight=_f32(3, 5), bias=np.zeros(3, np.float32)),
            "1": nir.LIF(tau=tau, r=(tau / np.float32(dt)).astype(np.float32), v_leak=np.zeros(3, np.float32),
                         v_threshold=np.ones(3, np.float32), v_reset=np.zeros(3, np.float32)),
            "output": nir.Output(output_type=np.array([3])),
        },
        edges=[("input", "0"), ("0", "1"), ("1", "output")],
    )
    path = tmp_path / "snn.nir"
    nir.write(str(path), g)
    clf = sl.nir.read(str(path), reset="zero", steps=10, encoding="direct")
    assert any("inferred" in n for n in clf.nir_notes), clf.nir_notes
    # Leaky(β) with reset to zero, stepped by hand.
    w = g.nodes["0"].weight.astype(np.float64)
    x = (np.random.default_rng(3).random((4, 10, 5)) < 0.5).astype(np.float32) * 2
    want = np.zeros((4, 10, 3), np.float32)
    for s in range(4):
        v = np.zeros(3)
        for t in range(10):
            v = beta * v + w @ x[s, t]
            spk = v > 1.0
            want[s, t] = spk
            v[spk] = 0.0
    got = clf.run(x)
    assert want.sum() > 5
    np.testing.assert_array_equal(got, want)


def test_bad_files_and_graphs_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        sl.nir.read_graph(str(bad))
    good = tmp_path / "good.nir"
    nir.write(str(good), every_node_type())
    data = good.read_bytes()
    cut = tmp_path / "cut.nir"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        sl.nir.read_graph(str(cut))
    # A graph the trainer cannot take names the node and its type.
    with pytest.raises(ValueError, match=r"node `.*` \(Conv1d\)|2 outputs|2 inputs|not on the path"):
        sl.nir.read(str(good), dt_ms=1.0)
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([3])),
               "d": nir.Delay(delay=np.full(3, 0.001)),
               "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "d"), ("d", "output")],
    )
    p = tmp_path / "delay.nir"
    nir.write(str(p), g)
    with pytest.raises(ValueError, match=r"node `d` \(Delay\)"):
        sl.nir.read(str(p), dt_ms=1.0)


def test_a_simulator_network_exports_with_its_delays(tmp_path):
    net = sl.Network(dt_ms=0.1, seed=4)
    net.population("src", 10, model="poisson", rate_hz=20.0)
    net.population("exc", 5, model="lif", tau_m_ms=20.0, v_rest_mv=-65.0, v_reset_mv=-65.0,
                   v_thresh_mv=-50.0, t_ref_ms=0.0, receptors=[sl.delta_receptor("d")])
    net.projection("src", "exc", "d", "all_to_all", weight=0.5, delay_ms=1.0)
    path = tmp_path / "sim.nir"
    sl.nir.write(net, str(path))
    g = nir.read(str(path), type_check=False)
    kinds = {type(n).__name__ for n in g.nodes.values()}
    assert {"Input", "LIF", "Linear", "Delay"} <= kinds, kinds
    delay = next(n for n in g.nodes.values() if isinstance(n, nir.Delay))
    np.testing.assert_allclose(delay.delay, np.full(5, 1e-3))
    lin = next(n for n in g.nodes.values() if isinstance(n, nir.Linear))
    np.testing.assert_array_equal(lin.weight, np.full((5, 10), 0.5, np.float32))
