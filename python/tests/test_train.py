"""Training from numpy: it learns, resumes exactly, saves and loads, exports to the
engine with the trainer's predictions; loaders and their errors."""

import numpy as np
import pytest

import spikelab as sl


@pytest.fixture(scope="module")
def data(mnist_dir):
    x, y = sl.datasets.mnist(str(mnist_dir), "train", limit=1500)
    xt, yt = sl.datasets.mnist(str(mnist_dir), "test", limit=300)
    return x, y, xt, yt


def test_loaders_return_arrays_and_refuse_bad_input(mnist_dir, tmp_path):
    x, y = sl.datasets.mnist(str(mnist_dir), "test", limit=10)
    assert x.shape == (10, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert list(y[:3]) == [7, 2, 1]
    x2, _ = sl.datasets.load_images(str(mnist_dir.parent), "mnist", "test", limit=10)
    assert np.array_equal(x, x2)
    with pytest.raises(OSError, match="not found"):
        sl.datasets.mnist(str(tmp_path), "test")
    with pytest.raises(ValueError, match="split"):
        sl.datasets.mnist(str(mnist_dir), "validation")
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03garbage")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    with pytest.raises(ValueError):
        sl.datasets.mnist(str(tmp_path), "test")


def test_a_small_network_learns(data):
    x, y, xt, yt = data
    clf = sl.SpikingClassifier("784-64-10", steps=8, batch_size=50, lr=5e-3, seed=1)
    history = clf.fit(x, y, epochs=2, validation=(xt, yt))
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["test_accuracy"] > 70.0
    r = clf.evaluate(xt, yt)
    assert r["accuracy"] == pytest.approx(history[-1]["test_accuracy"])
    pred = clf.predict(xt)
    assert pred.dtype == np.int64 and (pred == yt).mean() * 100 == pytest.approx(r["accuracy"])
    params = clf.parameters()
    assert any(p.ndim == 2 for p in params.values())


def test_float_input_and_shape_errors(data):
    x, y, _, _ = data
    clf = sl.SpikingClassifier("784-10", steps=4, batch_size=100)
    clf.fit(x[:200] / 255.0, y[:200], epochs=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf.predict(x[:2].astype(np.float32))
    with pytest.raises(ValueError, match="labels"):
        clf.evaluate(x[:10], y[:5])
    with pytest.raises(ValueError, match="1x28x28"):
        clf.evaluate(x[:10, :14, :14], y[:10])
    with pytest.raises(TypeError, match="unknown option"):
        sl.SpikingClassifier("784-10", stepz=3)
    with pytest.raises(ValueError, match="surrogate"):
        sl.SpikingClassifier("784-10", surrogate="magic").fit(x[:10], y[:10])


def test_checkpoint_resume_continues_exactly(data, tmp_path):
    x, y, _, _ = data
    x, y = x[:400], y[:400]
    opts = dict(steps=5, batch_size=100, lr=5e-3, seed=4)
    straight = sl.SpikingClassifier("784-32-10", **opts)
    straight.fit(x, y, epochs=2)
    first = sl.SpikingClassifier("784-32-10", **opts)
    ckpt = tmp_path / "checkpoint.safetensors"
    first.fit(x, y, epochs=1, checkpoint=str(ckpt))
    resumed = sl.SpikingClassifier.resume(str(ckpt))
    assert resumed.trainer.epochs_done == 1
    resumed.fit(x, y, epochs=2)
    for name, p in straight.parameters().items():
        assert np.array_equal(p, resumed.parameters()[name]), name
    model = tmp_path / "model.safetensors"
    resumed.save(str(model))
    loaded = sl.SpikingClassifier.load(str(model))
    assert np.array_equal(loaded.predict(x[:50]), resumed.predict(x[:50]))
    assert len(loaded.history) == 2
    # A loaded model fine-tunes from its weights (fresh optimizer and epoch count).
    assert len(loaded.fit(x, y, epochs=1)) == 1
    model.write_bytes(model.read_bytes()[:-10] + b"\x00" * 10)
    with pytest.raises(ValueError, match="checksum|safetensors"):
        sl.SpikingClassifier.load(str(model))


def test_export_to_the_engine_gives_the_trainers_predictions(data):
    x, y, xt, yt = data
    clf = sl.SpikingClassifier("784-32-10", steps=6, batch_size=100, lr=5e-3)
    clf.fit(x[:500], y[:500], epochs=1)
    r = clf.evaluate_on_engine(xt, yt, limit=40)
    assert r["samples"] == 40 and r["agreement"] == 100.0
    assert r["synops_per_inference"] > 0
    net = clf.to_network()
    sim = net.build().simulator
    assert [p["name"] for p in sim.populations()][0] == "input"


def test_event_files_and_frames(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("t_us,x,y,p\n0,1,2,1\n500,3,0,0\n999,1,2,1\n")
    ev = sl.datasets.load_events(str(path), size=(4, 3))
    assert list(ev["t_us"]) == [0, 500, 999] and list(ev["polarity"]) == [1, -1, 1]
    assert (ev["width"], ev["height"]) == (4, 3)
    frames, starts = sl.datasets.events_to_frames(ev, n_frames=2)
    assert frames.shape == (2, 2, 3, 4) and frames.sum() == 3
    assert frames[0, 1, 2, 1] == 1 and frames[1, 1, 2, 1] == 1 and frames[1, 0, 0, 3] == 1
    assert list(starts) == [0, 500]
    with pytest.raises(ValueError, match="exactly one"):
        sl.datasets.events_to_frames(ev, n_frames=2, bin_us=10)
    with pytest.raises(ValueError, match="outside"):
        sl.datasets.events_to_frames({**ev, "width": 2}, n_frames=1)
    path.write_text("t_us,x,y,p\n0,1,two,1\n")
    with pytest.raises(ValueError):
        sl.datasets.load_events(str(path))
    with pytest.raises(OSError):
        sl.datasets.load_events(str(tmp_path / "missing.csv"))


def test_timeseries_loader(root):
    ucr = root.parent / "shared" / "data"
    found = [p for p in ucr.rglob("GunPoint_TRAIN.ts")]
    assert found, f"GunPoint_TRAIN.ts not found under {ucr}"
    values, labels, names = sl.datasets.load_timeseries(str(found[0].parent), "GunPoint", "train")
    assert values.dtype == np.float32 and values.ndim == 3 and values.shape[2] == 1
    assert len(labels) == len(values) == 50 and len(names) == 2


def test_native_calls_refuse_wrong_dtypes():
    net = sl.Network()
    net.population("a", 3, "poisson", rate_hz=1.0)
    sim = net.build().simulator
    with pytest.raises(TypeError):
        sim.set_poisson_rates("a", np.zeros(3, dtype=np.float32))
    with pytest.raises(TypeError):
        sl._native.encode_batch(np.zeros((2, 3), dtype=np.float64), "rate", 5)
    with pytest.raises(ValueError, match="rates"):
        sim.set_poisson_rates("a", np.zeros(4))


def test_a_test_set_of_another_shape_is_refused_by_name(data):
    x, y, xt, yt = data
    clf = sl.SpikingClassifier("28-16R-10", encoding="sequence", steps=28, batch_size=100)
    with pytest.raises(ValueError, match="test data"):
        clf.fit(x[:100], y[:100], epochs=1, validation=(xt[:10, :14], yt[:10]))
    history = clf.fit(x[:300], y[:300], epochs=1, validation=(xt[:50], yt[:50]))
    assert history[0]["test_accuracy"] is not None


def test_eprop_trains_a_recurrent_network_online(data):
    x, y, xt, yt = data
    clf = sl.SpikingClassifier("28-64R-10", encoding="sequence", steps=28, loss="ce-membrane",
                               batch_size=50, lr=3e-3, learning="eprop")
    history = clf.fit(x, y, epochs=2, validation=(xt, yt))
    # Row-wise sequential MNIST on 1,500 images: about 60 % after two epochs.
    assert history[-1]["test_accuracy"] > 35.0, history
    with pytest.raises(ValueError, match="e-prop"):
        sl.SpikingClassifier("784-32-10", loss="ce-membrane", learning="eprop").fit(
            x[:50], y[:50], epochs=1)
    with pytest.raises(ValueError, match="learning"):
        sl.SpikingClassifier("28-16R-10", encoding="sequence", steps=28, loss="ce-membrane",
                             learning="hebb").fit(x[:50], y[:50], epochs=1)


def test_event_folders_load_as_frames_and_train(tmp_path):
    # A dot crossing an 8 × 8 sensor left to right (class 0) or right to left (1).
    for split, n in (("Train", 40), ("Test", 20)):
        for k in range(n):
            label = k % 2
            d = tmp_path / split / str(label)
            d.mkdir(parents=True, exist_ok=True)
            lines = ["t_us,x,y,p"]
            for step in range(8):
                x = step if label == 0 else 7 - step
                lines.append(f"{step * 1000 + (k % 3) * 50},{x},{(k * 5) % 8},1")
            (d / f"{k:05}.csv").write_text("\n".join(lines) + "\n")
    x, y = sl.datasets.load_event_folder(str(tmp_path), "train", frames=4, size=(8, 8))
    assert x.shape == (40, 4, 128) and x.dtype == np.uint8 and list(y) == [0] * 20 + [1] * 20
    # Each frame holds two of the dot's eight positions, one event each (64).
    assert x.max() == 64 and ((x > 0).sum(axis=2) == 2).all()
    xt, yt = sl.datasets.load_event_folder(str(tmp_path), "test", frames=4, size=(8, 8))
    clf = sl.SpikingClassifier("128-32R-2", encoding="sequence", steps=4, loss="ce-membrane",
                               batch_size=8, lr=0.01)
    history = clf.fit(x, y, epochs=8, validation=(xt, yt))
    assert history[-1]["test_accuracy"] >= 90.0, history[-1]
    with pytest.raises(OSError, match="Test"):
        sl.datasets.load_event_folder(str(tmp_path / "Train"), "test")
