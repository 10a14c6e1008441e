"""fastnn.gradcheck: numerical Jacobians/gradients, gradcheck, check_layer."""
import numpy as np
import pytest

import fastnn
from fastnn import Layer, Linear, Sigmoid, check_layer, gradcheck, numerical_jacobian
from fastnn.gradcheck import GradcheckError, max_norm_rel_error, numerical_gradient, rel_error


def test_jacobian_of_elementwise_and_linear_maps(rng):
    x = rng.standard_normal(5)
    np.testing.assert_allclose(numerical_jacobian(np.tanh, x), np.diag(1 - np.tanh(x) ** 2),
                               rtol=1e-8, atol=1e-10)
    a = rng.standard_normal((3, 5))
    j = numerical_jacobian(lambda v: a @ v, x)
    assert j.shape == (3, 5)  # m x n for f: R^n -> R^m
    np.testing.assert_allclose(j, a, rtol=1e-8)


def test_jacobian_shape_is_output_shape_plus_input_shape(rng):
    x = rng.standard_normal((2, 3))
    assert numerical_jacobian(lambda v: v.sum(), x).shape == (2, 3)
    assert numerical_jacobian(lambda v: np.outer(v.ravel(), [1.0, 2.0]), x).shape == (6, 2, 2, 3)
    assert numerical_jacobian(lambda v: v ** 2, np.array(3.0)).shape == ()


def test_inputs_restored_and_float32_refused(rng):
    x = rng.standard_normal((3, 2))
    before = x.copy()
    numerical_jacobian(np.sin, x)
    np.testing.assert_array_equal(x, before)

    def boom(v):
        if v[0, 0] != before[0, 0]:
            raise RuntimeError("boom")
        return v
    with pytest.raises(RuntimeError):
        numerical_jacobian(boom, x)
    np.testing.assert_array_equal(x, before)  # restored even when fn raises
    with pytest.raises(TypeError, match="float32.*float64"):
        numerical_jacobian(np.sin, x.astype(np.float32))
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda v: v.sum(), [x.astype(np.float32)], [np.ones((3, 2))])
    with pytest.raises(TypeError, match="float64"):
        check_layer(Linear(2, 2), x)  # float32 parameters
    with pytest.raises(TypeError, match="ndarray"):
        numerical_jacobian(np.sin, [1.0, 2.0])


def test_gradcheck_accepts_right_and_rejects_wrong_gradients(rng):
    x, y = rng.random(4) + 0.5, rng.standard_normal(4)

    def f(x, y):
        return float(np.sum(np.log(x) * y))
    errors = gradcheck(f, [x, y], [y / x, np.log(x)])
    assert max(errors) < 1e-8
    assert gradcheck(f, [x, y], lambda x, y: [None, np.log(x)])[0] is None
    with pytest.raises(GradcheckError, match=r"inputs\[0\]"):
        gradcheck(f, [x, y], [y / x + 1e-3, np.log(x)])
    errs = gradcheck(f, [x, y], [-y / x, np.log(x)], raise_on_failure=False)
    assert errs[0] > 0.5 and errs[1] < 1e-8
    with pytest.raises(ValueError, match="shape"):
        gradcheck(f, [x, y], [y[:2], np.log(x)])
    with pytest.raises(ValueError, match="scalar"):
        numerical_gradient(lambda v: v, x)


def test_rel_error_is_elementwise():
    # CS231n: max over elements of |a - b| / max(1e-8, |a| + |b|)
    assert rel_error([1e-3, 1.0], [2e-3, 1.0]) == pytest.approx(1 / 3)
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0, 2.0], [1.0, 3.0]) == pytest.approx(1 / 5)
    assert rel_error([-1.0, 4.0], [1.0, 4.0]) == pytest.approx(1.0)  # opposite signs
    assert rel_error([0.0], [0.0]) == 0.0
    assert rel_error([1e-12], [0.0]) == pytest.approx(1e-4)  # both ~0: the 1e-8 floor
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert rel_error(2.0, 2.0 + 2e-9) == pytest.approx(5e-10)
    with pytest.raises(ValueError, match="shape"):
        rel_error([1.0, 2.0], [1.0])


def test_max_norm_rel_error():
    # max|a - b| / max(1e-8, max|a| + max|b|): one scale for the whole array
    assert max_norm_rel_error([1e-3, 1.0], [2e-3, 1.0]) == pytest.approx(5e-4)
    assert max_norm_rel_error([1.0, 2.0], [1.0, 3.0]) == pytest.approx(1 / 5)
    assert max_norm_rel_error([0.0], [0.0]) == 0.0
    assert max_norm_rel_error([1e-12], [0.0]) == pytest.approx(1e-4)
    assert fastnn.max_norm_rel_error is max_norm_rel_error and fastnn.rel_error is rel_error


class BrokenSigmoid(Sigmoid):
    """A deliberately wrong backward (off by a factor 1.01): check_layer must notice."""

    def backward(self, grad_output):
        return 1.01 * super().backward(grad_output)


@pytest.mark.parametrize("name", ["numba", "numpy"])
def test_check_layer_finds_a_wrong_backward(name, rng):
    with fastnn.backend(name):
        good = fastnn.Sequential(Linear(3, 4, dtype=np.float64, rng=0), Sigmoid())
        assert max(check_layer(good, rng.standard_normal((2, 3))).values()) < 1e-8
        bad = fastnn.Sequential(Linear(3, 4, dtype=np.float64, rng=0), BrokenSigmoid())
        with pytest.raises(GradcheckError, match="0.weight"):
            check_layer(bad, rng.standard_normal((2, 3)))


def test_check_layer_on_a_parameterless_custom_layer(rng):
    class Square(Layer):
        def forward(self, x, training=True):
            self._cache = x
            return x * x

        def backward(self, grad_output):
            return 2 * self._saved() * grad_output

    errors = check_layer(Square(), rng.standard_normal((2, 3)))
    assert errors == {"input": pytest.approx(0, abs=1e-8)}
