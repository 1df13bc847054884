"""ANN→SNN conversion with its curve, hybrid fine-tuning and Diehl & Cook STDP."""

import numpy as np
import pytest

import spikelab as sl


def test_ann_conversion_gives_a_curve_and_a_spiking_model(mnist_dir, tmp_path):
    x, y = sl.datasets.mnist(str(mnist_dir), "train", limit=1000)
    xt, yt = sl.datasets.mnist(str(mnist_dir), "test", limit=200)
    ann = sl.convert.train_ann(x, y, "784-64-10", epochs=3, batch_size=50, lr=3e-3)
    assert ann.evaluate(xt, yt)["accuracy"] > 70.0
    model = tmp_path / "ann" / "model.safetensors"
    model.parent.mkdir()
    ann.save(str(model))
    r = sl.convert.convert(str(model), str(mnist_dir), out=str(tmp_path / "snn"), steps=16,
                           max_steps=16, limit=100, calibration_samples=500)
    assert r["steps"].dtype == np.int64 and len(r["steps"]) == len(r["accuracy"]) > 1
    assert r["accuracy"][-1] > 60.0 and r["ann_accuracy"] > 70.0
    # The same conversion from arrays (the same first samples) gives the same curve.
    r2 = sl.convert.convert(ann, train=(x, y), test=(xt, yt), steps=16, max_steps=16, limit=100,
                            calibration_samples=500)
    assert np.array_equal(r2["accuracy"], r["accuracy"]) and r2["ann_accuracy"] == r["ann_accuracy"]
    with pytest.raises(ValueError, match="train"):
        sl.convert.convert(ann, train=(x, y))
    snn = sl.SpikingClassifier.load(r["model"])
    assert snn.evaluate(xt[:100], yt[:100])["accuracy"] > 50.0
    tuned = sl.convert.hybrid(r["model"], x[:300], y[:300], epochs=1, steps=4, batch_size=50)
    assert tuned.evaluate(xt[:100], yt[:100])["accuracy"] > 50.0
    with pytest.raises(OSError):
        sl.convert.convert(str(tmp_path / "missing.safetensors"), str(mnist_dir))


def test_diehl_cook_trains_labels_and_evaluates(mnist_dir, tmp_path):
    out = tmp_path / "stdp"
    r = sl.stdp.train(str(mnist_dir), str(out), neurons=10, examples=30, assign_examples=30,
                      test_examples=30)
    assert r["receptive_fields"].shape == (10, 784)
    assert r["labels"].shape == (10,) and r["test"]["confusion"].shape == (10, 10)
    assert r["test"]["confusion"].sum() == 30
    ev = sl.stdp.evaluate(r["checkpoint"], str(mnist_dir), str(out), examples=20)
    assert ev["confusion"].sum() == 20 and 0.0 <= ev["accuracy"] <= 1.0
    # The same run from arrays (the same first images) learns the same network.
    x, y = sl.datasets.mnist(str(mnist_dir), "train", limit=30)
    xt, yt = sl.datasets.mnist(str(mnist_dir), "test", limit=30)
    r2 = sl.stdp.train(out=str(tmp_path / "arrays"), neurons=10, examples=30, assign_examples=30,
                       test_examples=30, train=(x, y), test=(xt, yt))
    assert np.array_equal(r2["receptive_fields"], r["receptive_fields"])
    assert np.array_equal(r2["test"]["confusion"], r["test"]["confusion"])
    with pytest.raises(ValueError, match="28"):
        sl.stdp.train(out=str(tmp_path / "small"), train=(x[:, :14, :14], y))
