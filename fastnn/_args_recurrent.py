"""Argument checking of the recurrent ops, shared by fastnn._recurrent and fastnn._reference_recurrent.

Both backends validate through these functions, so they accept and reject the
same inputs with the same messages (TypeError for a wrong type or dtype,
ValueError for a wrong shape or value, naming the op and the argument).
"""
import numpy as np

from ._checks import flag, float_array, same_dtype

# Gate blocks per mode: the first dimension of weight_ih / weight_hh is GATES * hidden_size.
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _state(op, name, value, n, hid, dtype):
    """An (N, H) state array of ``dtype`` or None (zeros), returned C-contiguous."""
    if value is None:
        return None
    a = float_array(op, name, value)
    if a.shape != (n, hid):
        raise ValueError(f"{op}(): {name} must have shape (N, hidden_size) = ({n}, {hid}), "
                         f"got {a.shape}")
    same_dtype(op, "input", np.empty(0, dtype), **{name: a})
    return a


def state_pair(op, name, value):
    """Split an LSTM state (h, c) into its two parts (either may be None); None -> (None, None)."""
    if value is None:
        return None, None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{op}(): {name} must be a pair (h, c) of (N, hidden_size) arrays or "
                        f"None, got {type(value).__name__}")
    return value[0], value[1]


def recurrent_args(op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first,
                   cell=False):
    """Validate a recurrent op's arguments.

    Returns (x, h0, c0, w_ih, w_hh, b_ih, b_hh): x time-major (T, N, D) (or (N, D)
    for a cell) and C-contiguous; h0, c0 (N, H) arrays or None (c0 is None
    except for the LSTM); weights and biases C-contiguous (biases may be None).
    """
    if cell:
        x = float_array(op, "input", input, 2, "(N, input_size)")
    else:
        layout = "(N, T, input_size) (batch_first=True)" if batch_first else \
            "(T, N, input_size)"
        flag(op, "batch_first", batch_first)
        x = float_array(op, "input", input, 3, layout, keep_layout=True)
        if batch_first:
            x = x.transpose(1, 0, 2)
        x = np.ascontiguousarray(x)
        if x.shape[0] == 0:
            raise ValueError(f"{op}(): input must have at least one time step, got shape "
                             f"{input.shape}")
    if x.shape[-2] == 0:
        raise ValueError(f"{op}(): input must have a batch of at least one sequence, got "
                         f"shape {input.shape}")
    gates = GATES[mode]
    d = x.shape[-1]
    w_ih = float_array(op, "weight_ih", weight_ih, 2, f"({gates} * hidden_size, input_size)")
    w_hh = float_array(op, "weight_hh", weight_hh, 2, f"({gates} * hidden_size, hidden_size)")
    same_dtype(op, "input", x, weight_ih=w_ih, weight_hh=w_hh)
    rows = w_hh.shape[0]
    if rows == 0 or rows % gates or w_hh.shape[1] * gates != rows:
        raise ValueError(f"{op}(): weight_hh must have shape ({gates} * hidden_size, "
                         f"hidden_size), got {w_hh.shape}")
    hid = rows // gates
    if w_ih.shape != (rows, d):
        raise ValueError(f"{op}(): weight_ih must have shape ({gates} * hidden_size, "
                         f"input_size) = ({rows}, {d}) to match weight_hh {w_hh.shape} and "
                         f"input of {d} features, got {w_ih.shape}")
    biases = []
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            b = float_array(op, name, b, 1, f"({gates} * hidden_size,)")
            same_dtype(op, "input", x, **{name: b})
            if b.shape != (rows,):
                raise ValueError(f"{op}(): {name} must have shape ({rows},), got {b.shape}")
        biases.append(b)
    n = x.shape[-2]
    if mode == "lstm":
        h0, c0 = state_pair(op, "hx", hx)
        h0 = _state(op, "hx[0] (h0)", h0, n, hid, x.dtype)
        c0 = _state(op, "hx[1] (c0)", c0, n, hid, x.dtype)
    else:
        h0, c0 = _state(op, "hx", hx, n, hid, x.dtype), None
    return x, h0, c0, w_ih, w_hh, biases[0], biases[1]


def grad_sequence(op, grad_output, batch_first, t, n, hid, dtype):
    """grad_output (T, N, H) (or (N, T, H)) as a time-major C-contiguous array, None -> None."""
    if grad_output is None:
        return None
    shape = (n, t, hid) if batch_first else (t, n, hid)
    g = float_array(op, "grad_output", grad_output, 3, keep_layout=True)
    if g.shape != shape:
        raise ValueError(f"{op}(): grad_output must have the output's shape {shape}, got "
                         f"{g.shape}")
    same_dtype(op, "input", np.empty(0, dtype), grad_output=g)
    if batch_first:
        g = g.transpose(1, 0, 2)
    return np.ascontiguousarray(g)


def grad_states(op, mode, grad_hx, n, hid, dtype, name="grad_hx"):
    """(grad_h, grad_c) as (N, H) arrays or None: the upstream gradient of the final states
    (``grad_hx``) or of a cell's output (``name='grad_output'``); grad_c is None unless LSTM."""
    if mode == "lstm":
        gh, gc = state_pair(op, name, grad_hx)
        return (_state(op, f"{name}[0]", gh, n, hid, dtype),
                _state(op, f"{name}[1]", gc, n, hid, dtype))
    return _state(op, name, grad_hx, n, hid, dtype), None
