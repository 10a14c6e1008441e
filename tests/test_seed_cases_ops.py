"""Seed cases 11 (batch normalisation, training mode) and 12 (inverted dropout) from
../shared/SEED_CASES.md, through the public API, on both backends. The same cases run as
examples/seed_11_batchnorm.py and examples/seed_12_dropout.py."""
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import BatchNorm1d, Dropout
from helpers import BACKENDS, DTYPES


@pytest.fixture(params=BACKENDS)
def ops(request):
    with fastnn.backend(request.param):
        yield BACKENDS[request.param]  # functional ops of the backend the layers now use


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("eps,decimals,want", [
    (0.0, 4, [-1.8284, -0.4142, 1.0, 2.4142, 3.8284]),
    (1e-5, 6, [-1.828425, -0.414213, 1.0, 2.414213, 3.828425]),
], ids=["eps0", "eps1e-5"])
def test_case_11_batch_norm_training(ops, dtype, eps, decimals, want):
    x = np.array([[2.0], [4.0], [6.0], [8.0], [10.0]], dtype=dtype)  # 5 values of 1 feature
    gamma, beta = np.array([2.0], dtype), np.array([1.0], dtype)
    rm, rv = np.zeros(1, dtype), np.ones(1, dtype)
    out = ops.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=1.0, eps=eps)
    np.testing.assert_array_equal(np.round(out[:, 0].astype(np.float64), decimals), want)
    # momentum 1: the running statistics are the batch's: mean 6 and the UNBIASED
    # variance 10 = 8 * 5 / 4, i.e. a biased (population) variance of 8
    np.testing.assert_allclose(rm, [6.0], rtol=1e-7)
    np.testing.assert_allclose(rv, [10.0], rtol=1e-7)
    # the same through the layer
    layer = BatchNorm1d(1, eps=eps, momentum=1.0, dtype=dtype)
    layer.params["weight"][:] = 2.0
    layer.params["bias"][:] = 1.0
    out = layer.forward(x, training=True)
    np.testing.assert_array_equal(np.round(out[:, 0].astype(np.float64), decimals), want)
    np.testing.assert_allclose(layer.running_mean, [6.0], rtol=1e-7)
    np.testing.assert_allclose(layer.running_var * 4 / 5, [8.0], rtol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_case_12_inverted_dropout(ops, dtype):
    keep = 0.8  # drop rate 0.2
    h = (np.random.default_rng(0).random(10**6) + 1.0).astype(dtype)  # mean ~1.5
    layer = Dropout(keep_prob=keep, seed=2026)
    assert layer.p == pytest.approx(0.2)
    h_drop = layer.forward(h, training=True)
    kept = h_drop != 0
    assert abs(kept.mean() - keep) < 0.005
    assert abs(h_drop.mean() / h.mean() - 1) < 0.01
    np.testing.assert_allclose(h_drop[kept], h[kept] / dtype(keep), rtol=1e-6)
    # backward multiplies the upstream gradient by the same mask / keep
    g = np.full_like(h, 3.0)
    grad = layer.backward(g)
    np.testing.assert_array_equal(grad != 0, kept)
    np.testing.assert_allclose(grad[kept], 3.0 / keep, rtol=1e-6)
    # the same seed gives the same mask (functional API: p is the DROP probability)
    again, mask = ops.dropout(h, p=0.2, generator=2026, return_mask=True)
    np.testing.assert_array_equal(mask, kept)
    np.testing.assert_array_equal(again, h_drop)
    # evaluation: identity
    np.testing.assert_array_equal(layer.forward(h, training=False), h)


@pytest.mark.parametrize("script,expected", [
    ("seed_11_batchnorm.py", ["[-1.8284 -0.4142  1.      2.4142  3.8284]",
                              "[-1.828425 -0.414213  1.        2.414213  3.828425]"]),
    ("seed_12_dropout.py", ["same seed, same mask on both backends: True",
                            "evaluation is the identity: True"]),
])
def test_seed_examples_run(script, expected):
    root = pathlib.Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "examples" / script)], capture_output=True,
                          text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr
    for line in expected:
        assert line in proc.stdout, proc.stdout


def test_readme_training_ops_snippet_runs():
    root = pathlib.Path(__file__).resolve().parents[1]
    section = (root / "README.md").read_text().split("### Training ops", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("(8, 3, 6, 6)") and lines[0].endswith(" 0.8")
    assert [line.split()[0] for line in lines[1:4]] == ["0", "1", "2"]
    assert lines[-1] == "(8, 1)"
