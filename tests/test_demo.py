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


def test_demo_plots_writes_five_pictures(tmp_path, capsys):
    """`python -m fastnn demo --plots DIR`, headless, one short epoch: five PNGs that decode."""
    image = pytest.importorskip("matplotlib.image")
    from fastnn.__main__ import main

    assert main(["demo", "--epochs", "1", "--backend", "numpy", "--no-progress",
                 "--plots", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    sizes = {"filters": None, "feature_maps": (360, 1000), "max_patches": (330, 1200),
             "saliency": None, "history": (350, 900)}
    for name, size in sizes.items():
        path = tmp_path / "out" / f"{name}.png"
        assert 1000 < path.stat().st_size < 200_000, name
        img = image.imread(path)
        assert img.ndim == 3 and img.shape[2] == 4 and img[..., :3].std() > 0.05, name
        if size is not None:
            assert img.shape[:2] == size, (name, img.shape)


def test_digits_cnn_example_uses_the_helpers(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import importlib.util
    import pathlib

    import matplotlib.pyplot as plt

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "digits_cnn.py"
    spec = importlib.util.spec_from_file_location("example_digits_cnn", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    history, test_acc = example.main("numpy", epochs=2, plots=str(tmp_path), progress=False)
    plt.close("all")
    assert len(history["loss"]) == 2 and history["loss"][1] < history["loss"][0]
    assert test_acc == history["val_accuracy"][-1] and test_acc > 0.8
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "filters.png", "history.png", "maps.png", "patches.png", "saliency.png"]
    assert "receptive field" in capsys.readouterr().out
