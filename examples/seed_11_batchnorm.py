"""Seed case 11: batch normalisation in training mode, by hand and by fastnn.

x = [2, 4, 6, 8, 10] is a batch of 5 values of one feature, gamma = 2, beta = 1:
mean 6, biased (population) variance 8, and with eps = 0 the output is
[-1.8284, -0.4142, 1.0, 2.4142, 3.8284]. Runs on both backends.

    python examples/seed_11_batchnorm.py
"""
import numpy as np

import fastnn
import fastnn.functional
import fastnn.reference


def main(backend="numba"):
    """Both backends run the functional ops; ``backend`` picks the one the layer uses."""
    x = np.array([[2.0], [4.0], [6.0], [8.0], [10.0]])  # (N=5, C=1)
    gamma, beta = np.array([2.0]), np.array([1.0])
    mean, var = x.mean(), x.var()  # NumPy's var is the biased (population) variance
    by_hand = (x[:, 0] - mean) / np.sqrt(var) * gamma + beta
    print(f"by hand: mean {mean:g}, biased variance {var:g}, "
          f"(x - mean) / sqrt(var) * gamma + beta = {np.round(by_hand, 4)}")
    for ops in (fastnn.functional, fastnn.reference):
        for eps, decimals in ((0.0, 4), (1e-5, 6)):
            running_mean, running_var = np.zeros(1), np.ones(1)
            out = ops.batch_norm(x, running_mean, running_var, gamma, beta, training=True,
                                 momentum=1.0, eps=eps)
            print(f"{ops.__name__:18s} eps={eps:<6g} output {np.round(out[:, 0], decimals)}")
        # with momentum 1 the running statistics become the batch's (variance unbiased)
        print(f"{'':18s} running_mean {running_mean[0]:g}, running_var {running_var[0]:g} "
              f"(unbiased: 8 * 5/4)")
    with fastnn.backend(backend):
        layer = fastnn.BatchNorm1d(1, eps=0.0, dtype=np.float64)
        layer.params["weight"][:], layer.params["bias"][:] = 2.0, 1.0
        print(f"BatchNorm1d layer   eps=0      output {np.round(layer.forward(x)[:, 0], 4)}")


if __name__ == "__main__":
    main()
