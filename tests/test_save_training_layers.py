"""save()/load() round trip for the training layers (batch norm buffers, pooling, dropout)."""
import numpy as np

import fastnn
from fastnn import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                    GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential)


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
