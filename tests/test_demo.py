"""The main job: `python -m fastnn demo` trains a CNN on real digits to >= 95% test accuracy."""
import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the demo needs the examples extra (scikit-learn)")
pytest.importorskip("tqdm", reason="the demo needs the examples extra (tqdm)")

from fastnn import demo  # noqa: E402
from fastnn.data import load_digits, minibatches  # noqa: E402


def test_digits_split_is_stratified_and_scaled():
    x_train, x_test, y_train, y_test = load_digits(seed=0)
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # stratified: each class is 10% +- 1 image of the test set
    counts = np.bincount(y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_minibatches_cover_the_data_once(rng):
    x = np.arange(10)[:, None]
    y = np.arange(10)
    batches = list(minibatches(x, y, 4, rng))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10)) and list(seen) != list(range(10))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_demo_defaults_reach_95_percent_on_both_backends():
    lines = []
    results = demo.run(progress=False, log=lines.append)
    for name in ("numba", "numpy"):
        r = results[name]
        assert len(r["epoch_s"]) == demo.DEFAULTS["epochs"]
        assert r["test_acc"][-1] >= 0.95, (name, r["test_acc"])
        assert r["loss"][-1] < r["loss"][0]
    # same weights, same batches: the two backends train the same network
    np.testing.assert_allclose(results["numba"]["loss"], results["numpy"]["loss"], rtol=1e-3)
    text = "\n".join(lines)
    assert "numpy/numba" in text and "final test accuracy" in text and "warm-up" in text
