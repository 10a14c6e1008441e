"""Plain-NumPy twins of fastnn._recurrent (the test oracle), re-exported by fastnn.reference.

Same signatures, checks and results as the compiled ops, written step by step
from the equations of torch.nn.RNN / LSTM / GRU with nothing fused. The
``cache`` these forwards return with ``return_cache=True`` is a plain dict of
the saved steps; the backward ops accept it or None (then recompute).
"""
import numpy as np

from . import _args_recurrent as _rc
from . import _checks

__all__ = ["rnn_tanh", "rnn_tanh_backward", "rnn_relu", "rnn_relu_backward",
           "lstm", "lstm_backward", "gru", "gru_backward",
           "rnn_tanh_cell", "rnn_tanh_cell_backward", "rnn_relu_cell", "rnn_relu_cell_backward",
           "lstm_cell", "lstm_cell_backward", "gru_cell", "gru_cell_backward"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _steps(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """Forward over x (T, N, D); returns a list of per-step dicts (in processing order)."""
    t_len, n, _ = x.shape
    hid = w_hh.shape[1]
    dt = x.dtype
    h = np.zeros((n, hid), dt) if h0 is None else h0.copy()
    c = np.zeros((n, hid), dt) if c0 is None else c0.copy()
    bi = np.zeros(w_hh.shape[0], dt) if b_ih is None else b_ih
    bh = np.zeros(w_hh.shape[0], dt) if b_hh is None else b_hh
    order = range(t_len - 1, -1, -1) if reverse else range(t_len)
    steps = []
    for t in order:
        s = dict(t=t, x=x[t], h_prev=h, c_prev=c)
        ai = x[t] @ w_ih.T + bi
        ah = h @ w_hh.T + bh
        if mode == "lstm":
            a = ai + ah
            i, f, g, o = np.split(a, 4, axis=1)
            i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            c = f * c + i * g
            h = o * np.tanh(c)
            s.update(i=i, f=f, g=g, o=o, c=c)
        elif mode == "gru":
            ir, iz, in_ = np.split(ai, 3, axis=1)
            hr, hz, hn = np.split(ah, 3, axis=1)
            r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
            nn = np.tanh(in_ + r * hn)
            h = (1 - z) * nn + z * h
            s.update(r=r, z=z, n=nn, hn=hn)
        else:
            a = ai + ah
            h = np.tanh(a) if mode == "rnn_tanh" else np.maximum(a, 0)
            s.update(a=a)
        s["h"] = h
        steps.append(s)
    return steps


def _step_back(mode, s, dh, dc):
    """Gradients of one step: returns (da_ih, da_hh, dh_prev_direct, dc_prev)."""
    if mode == "lstm":
        i, f, g, o, c = s["i"], s["f"], s["g"], s["o"], s["c"]
        tc = np.tanh(c)
        do = dh * tc
        dc = dc + dh * o * (1 - tc ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * s["c_prev"] * f * (1 - f),
                             dc * i * (1 - g ** 2), do * o * (1 - o)], axis=1)
        return da, da, 0, dc * f
    if mode == "gru":
        r, z, nn, hn = s["r"], s["z"], s["n"], s["hn"]
        dan = dh * (1 - z) * (1 - nn ** 2)
        dar = dan * hn * r * (1 - r)
        daz = dh * (s["h_prev"] - nn) * z * (1 - z)
        return (np.concatenate([dar, daz, dan], axis=1),
                np.concatenate([dar, daz, dan * r], axis=1), dh * z, None)
    if mode == "rnn_tanh":
        da = dh * (1 - s["h"] ** 2)
    else:
        da = dh * (s["a"] > 0)
    return da, da, 0, None


def _back(mode, steps, x, w_ih, w_hh, has_ih, has_hh, go, gh_n, gc_n):
    t_len, n, _ = x.shape
    hid = w_hh.shape[1]
    dt = x.dtype
    dh = np.zeros((n, hid), dt) if gh_n is None else gh_n.copy()
    dc = np.zeros((n, hid), dt) if gc_n is None else gc_n.copy()
    gx = np.zeros_like(x)
    gw_ih, gw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    gb_ih = np.zeros(w_hh.shape[0], dt)
    gb_hh = np.zeros(w_hh.shape[0], dt)
    for s in reversed(steps):
        t = s["t"]
        if go is not None:
            dh = dh + go[t]
        da_ih, da_hh, direct, dc = _step_back(mode, s, dh, dc)
        gx[t] = da_ih @ w_ih
        gw_ih += da_ih.T @ s["x"]
        gw_hh += da_hh.T @ s["h_prev"]
        gb_ih += da_ih.sum(axis=0)
        gb_hh += da_hh.sum(axis=0)
        dh = da_hh @ w_hh + direct
    return gx, dh, (dc if mode == "lstm" else None), gw_ih, gw_hh, \
        (gb_ih if has_ih else None), (gb_hh if has_hh else None)



def _make(name, mode):
    def fwd(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, batch_first=False,
            reverse=False, return_cache=False):
        reverse = _checks.flag(name, "reverse", reverse)
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = _rc.recurrent_args(
            name, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first)
        steps = _steps(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        out = np.stack([s["h"] for s in sorted(steps, key=lambda s: s["t"])])
        if batch_first:
            out = out.transpose(1, 0, 2)
        out = np.ascontiguousarray(out)
        last = steps[-1]
        states = (last["h"].copy(), last["c"].copy()) if mode == "lstm" else last["h"].copy()
        return (out, states, {"mode": mode, "steps": steps}) if return_cache else (out, states)

    def bwd(grad_output, input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
            batch_first=False, reverse=False, grad_hx=None, cache=None):
        op = name + "_backward"
        reverse = _checks.flag(op, "reverse", reverse)
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = _rc.recurrent_args(
            op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first)
        t_len, n, _ = x.shape
        hid = w_hh.shape[1]
        go = _rc.grad_sequence(op, grad_output, batch_first, t_len, n, hid, x.dtype)
        gh_n, gc_n = _rc.grad_states(op, mode, grad_hx, n, hid, x.dtype)
        steps = _steps(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        gx, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh = _back(mode, steps, x, w_ih, w_hh,
                                                       b_ih is not None, b_hh is not None,
                                                       go, gh_n, gc_n)
        if batch_first:
            gx = gx.transpose(1, 0, 2)
        return (np.ascontiguousarray(gx), (dh, dc) if mode == "lstm" else dh,
                gw_ih, gw_hh, gb_ih, gb_hh)

    fwd.__name__ = fwd.__qualname__ = name
    bwd.__name__ = bwd.__qualname__ = name + "_backward"
    fwd.__doc__ = f"NumPy twin of fastnn.functional.{name} (same signature and results)."
    bwd.__doc__ = f"NumPy twin of fastnn.functional.{name}_backward."
    return fwd, bwd


def _make_cell(name, mode):
    def prepare(op, input, hx, weight_ih, weight_hh, bias_ih, bias_hh):
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = _rc.recurrent_args(
            op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, False, cell=True)
        return x[None], h0, c0, w_ih, w_hh, b_ih, b_hh

    def fwd(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = prepare(name, input, hx, weight_ih, weight_hh,
                                                    bias_ih, bias_hh)
        s = _steps(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, False)[0]
        return (s["h"], s["c"]) if mode == "lstm" else s["h"]

    def bwd(grad_output, input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        op = name + "_backward"
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = prepare(op, input, hx, weight_ih, weight_hh,
                                                    bias_ih, bias_hh)
        n, hid = x.shape[1], w_hh.shape[1]
        gh, gc = _rc.grad_states(op, mode, grad_output, n, hid, x.dtype, "grad_output")
        steps = _steps(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, False)
        gx, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh = _back(mode, steps, x, w_ih, w_hh,
                                                       b_ih is not None, b_hh is not None,
                                                       None, gh, gc)
        return gx[0], ((dh, dc) if mode == "lstm" else dh), gw_ih, gw_hh, gb_ih, gb_hh

    fwd.__name__ = fwd.__qualname__ = name
    bwd.__name__ = bwd.__qualname__ = name + "_backward"
    fwd.__doc__ = f"NumPy twin of fastnn.functional.{name}."
    bwd.__doc__ = f"NumPy twin of fastnn.functional.{name}_backward."
    return fwd, bwd


rnn_tanh, rnn_tanh_backward = _make("rnn_tanh", "rnn_tanh")
rnn_relu, rnn_relu_backward = _make("rnn_relu", "rnn_relu")
lstm, lstm_backward = _make("lstm", "lstm")
gru, gru_backward = _make("gru", "gru")
rnn_tanh_cell, rnn_tanh_cell_backward = _make_cell("rnn_tanh_cell", "rnn_tanh")
rnn_relu_cell, rnn_relu_cell_backward = _make_cell("rnn_relu_cell", "rnn_relu")
lstm_cell, lstm_cell_backward = _make_cell("lstm_cell", "lstm")
gru_cell, gru_cell_backward = _make_cell("gru_cell", "gru")
