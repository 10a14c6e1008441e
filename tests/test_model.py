"""Residual and Concat blocks, state_dict, and saving/loading models (.npz)."""
import json
import os

import numpy as np
import pytest

import fastnn
from fastnn import (AvgPool2d, BatchNorm1d, BatchNorm2d, Concat, Conv2d, Dropout, Flatten,
                    GlobalAvgPool2d, Layer, Linear, MaxPool2d, ReLU, Residual, Sequential, Sigmoid,
                    Tanh)
from helpers import BACKENDS, DTYPES, assert_close


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fastnn.backend(request.param):
        yield request.param


def lin(i, o, seed, dtype=np.float64):
    layer = Linear(i, o, rng=seed, dtype=dtype)
    layer.params["bias"][:] = np.random.default_rng(seed + 100).standard_normal(o)
    return layer


# --------------------------------------------------------------------------- Residual

@pytest.mark.parametrize("dtype", DTYPES)
def test_residual_forward_is_body_plus_input(backend, rng, dtype):
    body = Sequential(lin(3, 5, 1, dtype), Tanh(), lin(5, 3, 2, dtype))
    block = Residual(lin(3, 5, 1, dtype), Tanh(), lin(5, 3, 2, dtype))
    x = rng.standard_normal((4, 3)).astype(dtype)
    y = block(x)
    assert y.dtype == dtype
    assert_close(y, body(x) + x)
    g = rng.standard_normal((4, 3)).astype(dtype)
    assert_close(block.backward(g), body.backward(g) + g)


def test_residual_gradients_match_finite_differences(backend, rng):
    block = Residual(lin(4, 6, 1), Sigmoid(), lin(6, 4, 2))
    errors = fastnn.check_layer(block, rng.standard_normal((3, 4)))
    assert set(errors) == {"input", "0.weight", "0.bias", "2.weight", "2.bias"}
    # element-wise rel_error: measured <= 2.3e-7 here; a backward off by 1% gives ~5e-3
    assert max(errors.values()) < 1e-5


def test_residual_conv_same_padding_in_sequential(backend, rng):
    model = Sequential(Residual(Conv2d(2, 2, 3, padding="same", rng=0, dtype=np.float64), ReLU(),
                                Conv2d(2, 2, 1, rng=1, dtype=np.float64)),
                       Flatten(), lin(2 * 3 * 3, 2, 3))
    assert len(model.parameters()) == 6
    assert max(fastnn.check_layer(model, rng.standard_normal((1, 2, 3, 3))).values()) < 1e-5


def test_residual_shape_mismatch_raises(backend):
    block = Residual(Linear(3, 4))
    with pytest.raises(ValueError, match=r"Residual.*\(2, 3\) to \(2, 4\)"):
        block(np.zeros((2, 3), dtype=np.float32))


def test_residual_rejects_non_layers():
    with pytest.raises(TypeError, match="argument 1 must be a fastnn Layer"):
        Residual(Linear(2, 2), np.tanh)


# --------------------------------------------------------------------------- Concat

@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_channels(backend, rng, dtype):
    a = Conv2d(3, 4, 3, padding=1, rng=0, dtype=dtype)
    b = Sequential(Conv2d(3, 2, 1, rng=1, dtype=dtype), ReLU())
    block = Concat(a, b)
    x = rng.standard_normal((2, 3, 5, 5)).astype(dtype)
    y = block(x)
    assert y.shape == (2, 6, 5, 5) and y.dtype == dtype
    assert_close(y[:, :4], a(x))
    assert_close(y[:, 4:], b(x))
    g = rng.standard_normal(y.shape).astype(dtype)
    block(x)
    gx = block.backward(g)
    a(x), b(x)
    assert_close(gx, a.backward(np.ascontiguousarray(g[:, :4]))
                 + b.backward(np.ascontiguousarray(g[:, 4:])))
    assert [name for _, name in block.parameters()] == ["weight", "bias", "weight", "bias"]


def test_concat_gradients_match_finite_differences(backend, rng):
    block = Sequential(Concat(lin(3, 2, 1), Sequential(lin(3, 4, 2), Tanh()), dim=-1),
                       lin(6, 2, 3))
    errors = fastnn.check_layer(block, rng.standard_normal((5, 3)))
    assert len(errors) == 7 and max(errors.values()) < 1e-5


def test_concat_errors():
    with pytest.raises(ValueError, match="at least one branch"):
        Concat()
    shared = ReLU()
    with pytest.raises(ValueError, match="same layer object"):
        Concat(shared, shared)
    with pytest.raises(ValueError, match="differ outside dim 1"):
        Concat(Conv2d(1, 1, 3), Conv2d(1, 1, 1))(np.zeros((1, 1, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="dim=3 is out of range"):
        Concat(ReLU(), dim=3)(np.zeros((2, 2)))


# --------------------------------------------------------------------------- state

class Scaler(Layer):
    """A layer with a parameter and a buffer (stands in for batch norm's running statistics)."""

    def __init__(self, n, momentum=0.5):
        super().__init__()
        self.n, self.momentum = n, momentum
        self.params["scale"] = np.ones(n)
        self.buffers = {"running_mean": np.zeros(n)}

    def forward(self, x, training=True):
        if training:
            rm = self.buffers["running_mean"]
            rm += self.momentum * (x.mean(axis=0) - rm)
        return x * self.params["scale"].astype(x.dtype)

    def config(self):
        return {"n": self.n, "momentum": self.momentum}


def test_state_dict_names_params_and_buffers():
    model = Sequential(Linear(2, 3), Residual(Scaler(3), ReLU()), Concat(Linear(3, 1), Flatten()))
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.0.scale", "1.0.running_mean",
                           "2.0.weight", "2.0.bias"]
    assert state["0.weight"] is model[0].params["weight"]  # live arrays


def make_model(seed=0):
    return Sequential(Conv2d(1, 2, 3, padding=1, rng=seed), ReLU(), MaxPool2d(2),
                      Residual(Conv2d(2, 2, 3, padding="same", rng=seed + 1)),
                      Concat(Conv2d(2, 1, 1, rng=seed + 2), Sequential(Conv2d(2, 3, 1), Tanh())),
                      Flatten(), Linear(16, 3, rng=seed + 3), Scaler(3))


def test_save_load_round_trip(backend, tmp_path, rng):
    model = make_model()
    x = rng.standard_normal((2, 1, 4, 4)).astype(np.float32)
    model(x)  # moves the buffer
    model[-1].params["scale"][:] = [1.0, 2.0, 3.0]
    path = tmp_path / "model.npz"
    model.save(path)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    loaded = fastnn.load(path)
    assert [repr(a) for a in loaded[:-1]] == [repr(a) for a in model[:-1]]
    assert type(loaded[-1]) is Scaler and loaded[-1].momentum == 0.5
    for (k1, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))
    other = make_model(seed=7)
    other.load_state(path)
    np.testing.assert_array_equal(other(x, training=False), model(x, training=False))


def test_save_is_atomic_and_pickle_free(tmp_path):
    path = tmp_path / "m.npz"
    Linear(2, 2).save(path)
    with np.load(path, allow_pickle=False) as npz:  # every entry loads without pickle
        assert int(npz["__fastnn_format__"]) == fastnn.serialization.FORMAT_VERSION
        arch = json.loads(str(npz["__fastnn_architecture__"]))
    assert arch["class"] == "Linear" and arch["config"]["out_features"] == 2

    bad = Linear(2, 2)
    bad.buffers = {"names": np.array([{"a": 1}], dtype=object)}  # would need pickle
    with pytest.raises(TypeError, match="'names' must be a numeric ndarray"):
        bad.save(path)
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_interrupted_save_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    Linear(2, 2).save(path)
    before = path.read_bytes()

    def half_write(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(fastnn.serialization.np, "savez", half_write)
    with pytest.raises(KeyboardInterrupt):
        Linear(3, 3).save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m.npz"] and path.read_bytes() == before
    assert fastnn.load(path).params["weight"].shape == (2, 2)


def test_load_state_into_model_without_architecture(tmp_path):
    class Custom(Layer):  # no config(): the architecture is not recorded
        def __init__(self, k):
            super().__init__()
            self.params["w"] = np.full(k, float(k))

    path = tmp_path / "c.npz"
    Sequential(Custom(3), ReLU()).save(path)
    with pytest.raises(ValueError, match="no architecture.*load_state"):
        fastnn.load(path)
    target = Sequential(Custom(3), ReLU())
    target[0].params["w"][:] = 0
    fastnn.load_state(target, path)
    np.testing.assert_array_equal(target[0].params["w"], [3.0, 3.0, 3.0])


def test_load_errors(tmp_path):
    good = tmp_path / "good.npz"
    Sequential(Linear(2, 3), ReLU()).save(good)
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt.npz.*not a readable .npz"):
        fastnn.load(corrupt)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable"):
        fastnn.load(text)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weight=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz.*not a fastnn model file"):
        fastnn.load(foreign)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __fastnn_format__=np.array(1), obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled.npz"):
        fastnn.load(pickled)
    future = tmp_path / "future.npz"
    with np.load(good) as npz:
        arrays = dict(npz)
    np.savez(future, **dict(arrays, __fastnn_format__=np.array(99)))
    with pytest.raises(ValueError, match="future.npz.*version 99.*reads version 1"):
        fastnn.load(future)
    with pytest.raises(ValueError, match=r"good.npz.*'0.weight' has shape \(3, 2\).*\(4, 2\)"):
        Sequential(Linear(2, 4), ReLU()).load_state(good)
    with pytest.raises(ValueError, match=r"good.npz.*missing \['1.bias', '1.weight'\]"):
        Sequential(Linear(2, 3), Linear(3, 3)).load_state(good)
    untouched = Sequential(Linear(2, 3), Linear(3, 3))
    before = untouched[0].params["weight"].copy()
    with pytest.raises(ValueError):
        untouched.load_state(good)
    np.testing.assert_array_equal(untouched[0].params["weight"], before)


def test_save_rejects_non_layer(tmp_path):
    with pytest.raises(TypeError, match="must be a fastnn Layer"):
        fastnn.save({"w": np.zeros(2)}, tmp_path / "x.npz")


def test_readme_model_section_runs_as_written(tmp_path):
    import pathlib
    import re
    import subprocess
    import sys
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Models: blocks, summary", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "6122 67072" in proc.stdout.splitlines()
    assert os.listdir(tmp_path) == ["model.npz"]


def test_load_file_naming_the_old_modules(tmp_path):
    # Files saved before fastnn.model was split (containers) and BatchNorm/Dropout moved to
    # fastnn.layers_norm name the old modules; they must still load.
    import json
    model = fastnn.Sequential(fastnn.Linear(3, 2), fastnn.BatchNorm1d(2), fastnn.ReLU())
    path = tmp_path / "old.npz"
    model.save(path)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arch = json.loads(str(arrays["__fastnn_architecture__"]))
    assert arch["module"] == "fastnn.containers"
    assert arch["children"][1]["module"] == "fastnn.layers_norm"
    arch["module"] = "fastnn.model"
    arch["children"][1]["module"] = "fastnn.layers"
    arrays["__fastnn_architecture__"] = np.array(json.dumps(arch))
    np.savez(path, **arrays)
    loaded = fastnn.load(path)
    assert isinstance(loaded, fastnn.Sequential) and isinstance(loaded[1], fastnn.BatchNorm1d)
    np.testing.assert_array_equal(loaded[0].params["weight"], model[0].params["weight"])


def test_round_trip_keeps_running_statistics_and_layer_arguments(tmp_path, rng):
    model = Sequential(
        Conv2d(1, 4, 3, padding=1, rng=0), BatchNorm2d(4, eps=1e-3, momentum=0.3), ReLU(),
        MaxPool2d(2, ceil_mode=True), AvgPool2d(2, count_include_pad=False), GlobalAvgPool2d(),
        Flatten(), Dropout(0.2), BatchNorm1d(4, dtype=np.float32), Linear(4, 3, rng=1))
    x = rng.standard_normal((5, 1, 9, 9)).astype(np.float32)
    model.forward(x)                       # training mode: running statistics move
    assert not np.allclose(model[1].running_var, 1.0)

    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastnn.load(path)

    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded[1].running_mean, model[1].running_mean)
    np.testing.assert_array_equal(loaded[1].running_var, model[1].running_var)
    np.testing.assert_array_equal(loaded[8].running_var, model[8].running_var)
    assert loaded[1].eps == 1e-3 and loaded[1].momentum == 0.3
    assert loaded[3].ceil_mode and not loaded[4].count_include_pad and loaded[7].p == 0.2
    np.testing.assert_array_equal(loaded.forward(x, training=False),
                                  model.forward(x, training=False))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("first", ["conv", "relu", "nested"])
def test_sequential_backward_without_input_grad(backend, first, rng):
    """input_grad=False returns None and leaves every parameter gradient as a full backward."""
    def net():
        r = np.random.default_rng(0)
        body = [Conv2d(2, 3, 3, padding=1, rng=r), ReLU(), Flatten(), Linear(3 * 5 * 5, 4, rng=r)]
        if first == "relu":
            return Sequential(ReLU(), *body)
        if first == "nested":
            return Sequential(Sequential(body[0], body[1]), *body[2:])
        return Sequential(*body)
    x = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)
    g = rng.standard_normal((3, 4)).astype(np.float32)
    with fastnn.backend(backend):
        a, b = net(), net()
        a.forward(x)
        gx = a.backward(g)
        b.forward(x)
        assert b.backward(g, input_grad=False) is None
    assert gx.shape == x.shape
    for (la, name), (lb, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(la.grads[name], lb.grads[name])
    with pytest.raises(TypeError, match="input_grad"):
        b.forward(x)
        b.backward(g, input_grad=None)
