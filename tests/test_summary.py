"""fastnn.summary and Layer.macs beyond the seed cases (those are in test_seed_cases.py)."""
import numpy as np
import pytest

import fastnn
from fastnn import (Concat, Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU, Residual, Sequential,
                    summary)


class Doubler(Layer):
    """A layer written without any summary support: it must count 0 MACs."""

    def forward(self, x, training=True):
        return 2 * x


def test_macs_formulas_and_default():
    assert Linear(5, 3).macs((7, 2, 5), (7, 2, 3)) == 7 * 2 * 5 * 3
    conv = Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=2)
    assert conv.macs((2, 4, 9, 9), (2, 6, 4, 5)) == 2 * 6 * 4 * 5 * 4 * 3 * 2
    assert Doubler().macs((3, 4), (3, 4)) == 0 and ReLU().macs((3,), (3,)) == 0


def test_summary_rows_of_a_nested_model(capsys):
    model = Sequential(Conv2d(3, 8, 3, padding=1), ReLU(), MaxPool2d(2),
                       Residual(Conv2d(8, 8, 3, padding="same"), Doubler()),
                       Concat(Conv2d(8, 2, 1), Conv2d(8, 3, 1, bias=False)),
                       Flatten(), Linear(5 * 4 * 4, 10))
    s = summary(model, (2, 3, 8, 8))
    names = [(r.name, r.layer, r.depth) for r in s.rows]
    assert names == [("0", "Conv2d", 1), ("1", "ReLU", 1), ("2", "MaxPool2d", 1),
                     ("3", "Residual", 1), ("3.0", "Conv2d", 2), ("3.1", "Doubler", 2),
                     ("4", "Concat", 1), ("4.0", "Conv2d", 2), ("4.1", "Conv2d", 2),
                     ("5", "Flatten", 1), ("6", "Linear", 1)]
    by_name = {r.name: r for r in s.rows}
    assert by_name["2"].output_shape == (2, 8, 4, 4)
    assert by_name["4"].output_shape == (2, 5, 4, 4)
    assert by_name["3"].macs == by_name["3.0"].macs == 2 * 8 * 16 * 8 * 9
    assert by_name["4"].params == 8 * 2 + 2 + 8 * 3
    assert s.total_macs == sum(r.macs for r in s.rows if r.depth == 1)
    assert s.total_params == sum(a.size for a in model.state_dict().values())
    assert s.output_shape == (2, 10)
    out = capsys.readouterr().out
    assert "  3.0 Conv2d" in out and f"total MACs:   {s.total_macs:,}" in out
    assert str(s) in out


def test_summary_of_a_single_layer_and_dtype():
    s = summary(Linear(4, 2, dtype=np.float64), (3, 4), verbose=False)
    assert [(r.name, r.layer, r.macs, r.params) for r in s.rows] == [("0", "Linear", 24, 10)]
    assert summary(Sequential(ReLU()), (2, 2), verbose=False).total_params == 0


def test_summary_batch_dimension_scales_macs():
    model = Sequential(Conv2d(1, 4, 3), Flatten(), Linear(4 * 6 * 6, 2))
    one = summary(model, (1, 1, 8, 8), verbose=False).total_macs
    assert summary(model, (5, 1, 8, 8), verbose=False).total_macs == 5 * one


def test_summary_bad_arguments():
    with pytest.raises(TypeError, match="must be a fastnn Layer"):
        summary([Linear(2, 2)], (1, 2))
    with pytest.raises(ValueError, match="input_shape.*batch dimension"):
        summary(Linear(2, 2), 2)
    with pytest.raises(ValueError, match="input_shape"):
        summary(Linear(2, 2), (1, 2.5))
    with pytest.raises(ValueError):  # the model's own error for a wrong input shape
        summary(Linear(2, 2), (1, 3))
    assert fastnn.summary is summary
