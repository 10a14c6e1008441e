"""Recurrent layers: RNN, LSTM, GRU (stacked, bidirectional) and RNNCell, LSTMCell, GRUCell.

Parameter names and shapes are torch's state_dict keys, so torch weights load by
name (``layer.load_state_dict({k: v.numpy() for k, v in torch_lstm.state_dict().items()})``):
``weight_ih_l{k}`` (G*H, D_k), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}``,
``bias_hh_l{k}`` (G*H,), with ``_reverse`` appended for the backward
direction; G = 1 (RNN), 4 (LSTM, gate rows i, f, g, o), 3 (GRU, rows r, z, n);
D_0 = input_size, D_k = H * (2 if bidirectional else 1). Cells use
``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.

Initialisation as torch: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)).

Usage::

    lstm = fastnn.LSTM(28, 128, num_layers=2, batch_first=True)
    out = lstm.forward(x)                   # (N, T, 128): h_t of the top layer
    h_n, c_n = lstm.final_state             # each (num_layers * dirs, N, 128)
    grad_x = lstm.backward(grad_out)        # fills lstm.grads; lstm.grad_hx = dL/d(hx)

``forward(x, training=True, hx=None)``: hx as torch, (num_layers * dirs, N, H)
(a pair (h0, c0) for the LSTM), None for zeros. ``backward(grad_output,
grad_state=None)``: grad_state is dL/d(final_state) (same structure, parts may
be None) when the loss also reads the final states; after it ``grad_hx`` holds
dL/d(hx) in hx's structure (also when hx was None).
"""
import math

import numpy as np

from . import _backend, _checks
from .layers import Layer

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _init_params(params, shapes, hidden_size, rng, dtype):
    gen = np.random.default_rng(rng)
    k = 1.0 / math.sqrt(hidden_size)
    for name, shape in shapes:
        params[name] = gen.uniform(-k, k, size=shape).astype(dtype)


def _nonlinearity(owner, value):
    if value not in ("tanh", "relu"):
        raise ValueError(f"{owner}(): nonlinearity must be 'tanh' or 'relu', got {value!r}")
    return "rnn_" + value



class _RNNBase(Layer):
    _mode = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, seed=None, rng=None, dtype=np.float32):
        super().__init__()
        owner = type(self).__name__
        self.input_size = _checks.positive_int(owner, "input_size", input_size)
        self.hidden_size = _checks.positive_int(owner, "hidden_size", hidden_size)
        self.num_layers = _checks.positive_int(owner, "num_layers", num_layers)
        self.bias = _checks.flag(owner, "bias", bias)
        self.batch_first = _checks.flag(owner, "batch_first", batch_first)
        self.bidirectional = _checks.flag(owner, "bidirectional", bidirectional)
        self.dropout = _checks.dropout_probability(owner, dropout)
        self.generator = _checks.generator(owner, "seed", seed)
        dt = _checks.float_dtype(owner, dtype)
        g, h = _GATES[self._mode], self.hidden_size
        dirs = 2 if self.bidirectional else 1
        shapes = []
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else h * dirs
            for sfx in self._suffixes(layer):
                shapes += [("weight_ih" + sfx, (g * h, d_in)), ("weight_hh" + sfx, (g * h, h))]
                if self.bias:
                    shapes += [("bias_ih" + sfx, (g * h,)), ("bias_hh" + sfx, (g * h,))]
        _init_params(self.params, shapes, h, rng, dt)
        self.final_state = None
        self.grad_hx = None

    def _suffixes(self, layer):
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    @property
    def h_n(self):
        """Final hidden states of the last forward, (num_layers * dirs, N, H)."""
        s = self.final_state
        return s[0] if isinstance(s, tuple) else s

    def _weights(self, sfx):
        p = self.params
        return (p["weight_ih" + sfx], p["weight_hh" + sfx], p.get("bias_ih" + sfx),
                p.get("bias_hh" + sfx))

    def _split_hx(self, owner, hx, n, dtype, name="hx"):
        """hx -> list over (layer, direction) of per-op states (None = zeros)."""
        lstm = self._mode == "lstm"
        count = self.num_layers * (2 if self.bidirectional else 1)
        shape = (count, n, self.hidden_size)
        if hx is None:
            return [None] * count
        parts = hx if lstm else (hx,)
        if lstm and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"{owner}(): {name} must be a pair (h, c) of arrays of shape "
                            f"{shape} or None, got {type(hx).__name__}")
        arrays = []
        for i, a in enumerate(parts):
            label = f"{name}[{i}]" if lstm else name
            if a is None:
                arrays.append(None)
                continue
            a = _checks.float_array(owner, label, a, 3, "(num_layers * num_directions, N, H)")
            if a.shape != shape:
                raise ValueError(f"{owner}(): {label} must have shape (num_layers * "
                                 f"num_directions, N, hidden_size) = {shape}, got {a.shape}")
            if a.dtype != dtype:
                raise TypeError(f"{owner}(): {label} has dtype {a.dtype} but the layer's "
                                f"parameters are {dtype}")
            arrays.append(a)
        if not lstm:
            return [None if arrays[0] is None else arrays[0][k] for k in range(count)]
        return [tuple(None if a is None else a[k] for a in arrays) for k in range(count)]

    def forward(self, x, training=True, hx=None):
        """Output sequence of the top layer; the final states go to ``final_state``.

        x : (T, N, input_size), or (N, T, input_size) when batch_first, of the
        parameters' dtype. Returns (T, N, H * dirs) (or (N, T, H * dirs)).
        """
        owner = type(self).__name__
        F = _backend.ops()
        dt = self.params["weight_hh_l0"].dtype
        x = _checks.float_array(owner, "input", x, 3,
                                "(N, T, input_size)" if self.batch_first else "(T, N, input_size)",
                                keep_layout=True)
        if x.dtype != dt:
            raise TypeError(f"{owner}(): input has dtype {x.dtype} but the layer's parameters "
                            f"are {dt}")
        if x.shape[2] != self.input_size:
            raise ValueError(f"{owner}(): input must have {self.input_size} features (last "
                             f"axis), got shape {x.shape}")
        seq = x.transpose(1, 0, 2) if self.batch_first else x
        n = seq.shape[1]
        states = self._split_hx(owner, hx, n, dt)
        op = getattr(F, self._mode)
        dirs = 2 if self.bidirectional else 1
        saved, finals = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, sfx in enumerate(self._suffixes(layer)):
                w = self._weights(sfx)
                st = states[layer * dirs + d]
                out, fin, cache = op(seq, st, *w, reverse=d == 1, return_cache=True)
                outs.append(out)
                finals.append(fin)
                saved.append((seq, st, cache))
            seq = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)
            mask = None
            if layer < self.num_layers - 1 and self.dropout > 0 and training:
                seq, mask = F.dropout(seq, self.dropout, True, self.generator, return_mask=True)
            saved.append(mask)
        if self._mode == "lstm":
            self.final_state = (np.stack([f[0] for f in finals]), np.stack([f[1] for f in finals]))
        else:
            self.final_state = np.stack(finals)
        self._cache = (F, saved, hx is not None)
        return np.ascontiguousarray(seq.transpose(1, 0, 2)) if self.batch_first else seq

    def __call__(self, x, training=None, hx=None):  # None: the layer's mode (train/eval)
        return self.forward(x, training, hx)

    def backward(self, grad_output, grad_state=None):
        """dL/dx of the last forward; fills ``grads`` and ``grad_hx``.

        grad_output : shaped like the forward's output (None: zeros).
        grad_state : dL/d(final_state), same structure (parts may be None), or None.
        """
        owner = type(self).__name__ + ".backward"
        F, saved, _ = self._saved()
        bwd = getattr(F, self._mode + "_backward")
        dirs = 2 if self.bidirectional else 1
        seq0 = saved[0][0]
        n, h = seq0.shape[1], self.hidden_size
        g = grad_output
        if g is not None:
            g = _checks.float_array(owner, "grad_output", g, 3, keep_layout=True)
            if self.batch_first:
                g = g.transpose(1, 0, 2)
            expected = (seq0.shape[0], n, h * dirs)
            if g.shape != expected:
                raise ValueError(f"{owner}(): grad_output must have the output's shape, got "
                                 f"{grad_output.shape}")
        gstates = self._split_hx(owner, grad_state, n, seq0.dtype, "grad_state")
        self.grads = {}
        ghx = [None] * (self.num_layers * dirs)
        per_layer = dirs + 1
        for layer in range(self.num_layers - 1, -1, -1):
            block = saved[layer * per_layer:(layer + 1) * per_layer]
            mask = block[-1]
            if mask is not None and g is not None:
                g = F.dropout_backward(g, mask, self.dropout, True)
            gx = None
            for d, sfx in enumerate(self._suffixes(layer)):
                seq, st, cache = block[d]
                gd = None if g is None else g[:, :, d * h:(d + 1) * h]
                k = layer * dirs + d
                res = bwd(gd, seq, st, *self._weights(sfx), reverse=d == 1,
                          grad_hx=gstates[k], cache=cache)
                gx = res[0] if gx is None else gx + res[0]
                ghx[k] = res[1]
                for name, grad in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                      res[2:]):
                    if grad is not None:
                        self.grads[name + sfx] = grad
            g = gx
        if self._mode == "lstm":
            self.grad_hx = (np.stack([s[0] for s in ghx]), np.stack([s[1] for s in ghx]))
        else:
            self.grad_hx = np.stack(ghx)
        return np.ascontiguousarray(g.transpose(1, 0, 2)) if self.batch_first else g

    def macs(self, input_shape, output_shape):
        """T * N * G*H * (D_k + H) per layer and direction (input and recurrent products)."""
        t, n = input_shape[0], input_shape[1]
        g, h = _GATES[self._mode], self.hidden_size
        dirs = 2 if self.bidirectional else 1
        total = 0
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else h * dirs
            total += dirs * t * n * g * h * (d_in + h)
        return total

    def config(self):
        cfg = dict(input_size=self.input_size, hidden_size=self.hidden_size,
                   num_layers=self.num_layers, bias=self.bias, batch_first=self.batch_first,
                   dropout=self.dropout, bidirectional=self.bidirectional,
                   dtype=self.params["weight_hh_l0"].dtype.name)
        return cfg

    def __repr__(self):
        extra = "".join(f", {k}={v}" for k, v in (("num_layers", self.num_layers),
                                                   ("batch_first", self.batch_first),
                                                   ("dropout", self.dropout),
                                                   ("bidirectional", self.bidirectional))
                        if v not in (1, False, 0.0))
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"


class RNN(_RNNBase):
    """Elman RNN, as torch.nn.RNN: h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh).

    Parameters: input_size, hidden_size, num_layers=1, nonlinearity='tanh' | 'relu',
    bias=True, batch_first=False, dropout=0.0 (between layers, training only),
    bidirectional=False; keyword-only seed (dropout masks), rng (initialisation:
    None, int or Generator), dtype (float32 default or float64).
    See the module docstring for shapes, final states and gradients.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, seed=None, rng=None,
                 dtype=np.float32):
        self._mode = _nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, seed=seed, rng=rng, dtype=dtype)

    @property
    def nonlinearity(self):
        return self._mode[4:]

    def config(self):
        return dict(super().config(), nonlinearity=self.nonlinearity)


class LSTM(_RNNBase):
    """LSTM, as torch.nn.LSTM (gate rows i, f, g, o); final_state = (h_n, c_n).

    c_t = f * c_(t-1) + i * g, h_t = o * tanh(c_t) with i, f, o = sigmoid(.),
    g = tanh(.) of W_i* x_t + b_i* + W_h* h_(t-1) + b_h*. Same parameters as
    :class:`RNN` without nonlinearity; hx is a pair (h0, c0).
    """
    _mode = "lstm"


class GRU(_RNNBase):
    """GRU, as torch.nn.GRU (gate rows r, z, n; b_hn inside r * (W_hn h + b_hn)).

    Same parameters as :class:`RNN` without nonlinearity.
    """
    _mode = "gru"


class _CellBase(Layer):
    _mode = None

    def __init__(self, input_size, hidden_size, bias=True, *, rng=None, dtype=np.float32):
        super().__init__()
        owner = type(self).__name__
        self.input_size = _checks.positive_int(owner, "input_size", input_size)
        self.hidden_size = _checks.positive_int(owner, "hidden_size", hidden_size)
        self.bias = _checks.flag(owner, "bias", bias)
        dt = _checks.float_dtype(owner, dtype)
        g, h = _GATES[self._mode], self.hidden_size
        shapes = [("weight_ih", (g * h, self.input_size)), ("weight_hh", (g * h, h))]
        if self.bias:
            shapes += [("bias_ih", (g * h,)), ("bias_hh", (g * h,))]
        _init_params(self.params, shapes, h, rng, dt)
        self.grad_hx = None

    def _weights(self):
        p = self.params
        return p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh")

    def forward(self, x, training=True, hx=None):
        """Next state from x (N, input_size) and hx ((N, H), a pair for LSTMCell, None = zeros).

        Returns h' (N, H), or (h', c') for LSTMCell, as torch's cells.
        """
        F = _backend.ops()
        self._cache = (F, x, hx)
        return getattr(F, self._mode + "_cell")(x, hx, *self._weights())

    def __call__(self, x, training=None, hx=None):  # None: the layer's mode (train/eval)
        return self.forward(x, training, hx)

    def backward(self, grad_output):
        """dL/dx; fills ``grads`` and ``grad_hx`` (dL/d(hx), a pair for LSTMCell).

        grad_output: dL/dh' (N, H); for LSTMCell a pair (dL/dh', dL/dc') (either
        may be None) or dL/dh' alone.
        """
        F, x, hx = self._saved()
        if self._mode == "lstm" and not isinstance(grad_output, (tuple, list)):
            grad_output = (grad_output, None)
        res = getattr(F, self._mode + "_cell_backward")(grad_output, x, hx, *self._weights())
        self.grad_hx = res[1]
        self.grads = {name: g for name, g in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                                 res[2:]) if g is not None}
        return res[0]

    def macs(self, input_shape, output_shape):
        g, h = _GATES[self._mode], self.hidden_size
        return input_shape[0] * g * h * (self.input_size + h)

    def config(self):
        return dict(input_size=self.input_size, hidden_size=self.hidden_size, bias=self.bias,
                    dtype=self.params["weight_hh"].dtype.name)

    def __repr__(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"


class RNNCell(_CellBase):
    """One Elman RNN step, as torch.nn.RNNCell: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    Parameters: input_size, hidden_size, bias=True, nonlinearity='tanh' | 'relu';
    keyword-only rng, dtype. params: weight_ih (H, D), weight_hh (H, H), bias_ih, bias_hh (H,).
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, rng=None,
                 dtype=np.float32):
        self._mode = _nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, rng=rng, dtype=dtype)

    def config(self):
        return dict(super().config(), nonlinearity=self._mode[4:])


class LSTMCell(_CellBase):
    """One LSTM step, as torch.nn.LSTMCell: forward returns (h', c'); weights (4H, D), (4H, H)."""
    _mode = "lstm"


class GRUCell(_CellBase):
    """One GRU step, as torch.nn.GRUCell; weights (3H, D), (3H, H)."""
    _mode = "gru"
