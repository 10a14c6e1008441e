"""fastnn: Numba-compiled neural-network kernels behind a torch.nn.functional-style API.

Quick tour::

    import numpy as np
    import fastnn
    import fastnn.functional as F

    x = np.random.default_rng(0).standard_normal((8, 3, 16, 16), dtype=np.float32)
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3), dtype=np.float32)
    y = F.conv2d(x, w, padding=1)                  # (8, 4, 16, 16)

    model = fastnn.Sequential(fastnn.Conv2d(3, 4, 3, padding=1), fastnn.ReLU(),
                              fastnn.Flatten(), fastnn.Linear(4 * 16 * 16, 10))

Modules: functional (compiled ops and their *_backward), reference (the same
ops in plain NumPy), layers, containers, serialization (save/load), losses, optim,
init, data (digits data set), training (DataLoader, fit, evaluate), vis (filters,
feature maps, max-activating patches, saliency, receptive fields). ``fastnn.model``
re-exports containers and serialization.

``import fastnn`` does not import Numba: fastnn.functional (and with it Numba,
its threading layer and the kernel modules) is imported on first use, when a
layer first runs on the 'numba' backend or the program touches
``fastnn.functional``, ``fastnn.warmup`` or ``fastnn.set_conv_autotune`` /
``get_conv_autotune``. The reference backend never needs it.
"""
# Before any kernel runs (Numba loads its OpenMP runtime at the first parallel
# call): idle OpenMP threads spin ~0.1 ms, then sleep, unless the user chose.
from ._openmp import use_bounded_spin as _use_bounded_spin
_use_bounded_spin()

from . import containers, init, layers, losses, model, optim, reference, serialization
from ._backend import backend, get_backend, get_num_threads, set_backend, set_num_threads
from .layers import Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU, Sigmoid, Step, Tanh
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Dropout,
                     GlobalAvgPool2d)
from .layers import LeakyReLU
from .losses import CrossEntropyLoss
from .losses import BCELoss, BCEWithLogitsLoss, MSELoss
from .containers import Sequential
from .optim import SGD
from .gradcheck import check_layer, gradcheck, numerical_gradient, numerical_jacobian, rel_error
from .gradcheck import max_norm_rel_error
from .containers import Concat, Residual
from .serialization import load, load_state, save
from .optim import Adam
from .summary import summary

__version__ = "0.1.0"

__all__ = [
    "functional", "reference", "init", "layers", "containers", "serialization", "model", "losses",
    "optim",
    "backend", "get_backend", "set_backend", "get_num_threads", "set_num_threads",
    "Layer", "Linear", "Conv2d", "ReLU", "Sigmoid", "Tanh", "Step", "MaxPool2d", "Flatten",
    "Sequential", "CrossEntropyLoss", "SGD", "__version__",
    "Residual", "Concat", "save", "load", "load_state", "summary", "Adam",
    "gradcheck", "numerical_jacobian", "numerical_gradient", "check_layer", "rel_error",
    "max_norm_rel_error",
    "BatchNorm1d", "BatchNorm2d", "Dropout", "AvgPool2d", "AdaptiveAvgPool2d", "GlobalAvgPool2d",
    "MSELoss", "BCEWithLogitsLoss", "BCELoss",
    "LeakyReLU",
]
__all__ += ["warmup", "set_conv_autotune", "get_conv_autotune"]

from . import recurrent  # noqa: E402
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: E402

__all__ += ["recurrent", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]

from .layers_extra import Embedding, GroupNorm, LayerNorm  # noqa: E402
from .optim import RMSprop  # noqa: E402
from .clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: E402

__all__ += ["Embedding", "LayerNorm", "GroupNorm", "RMSprop", "clip_grad_norm_",
            "clip_grad_value_"]

from . import training, vis  # noqa: E402  (vis imports matplotlib only when it plots)
from .training import DataLoader, accuracy, evaluate, fit  # noqa: E402

__all__ += ["training", "vis", "DataLoader", "fit", "evaluate", "accuracy"]


def __getattr__(name):
    # PEP 562: the names whose import loads Numba, resolved on first use.
    # (import_module, not "from . import": that would call this hook again)
    import importlib
    if name == "functional":
        return importlib.import_module(".functional", __name__)
    if name == "warmup":
        return importlib.import_module("._warmup", __name__).warmup
    if name in ("set_conv_autotune", "get_conv_autotune"):
        return getattr(importlib.import_module("._autotune", __name__), name)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
