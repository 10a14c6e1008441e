"""Fused pointwise gate kernels of the Elman RNN, the LSTM and the GRU, one time step each.

The matrix products of a recurrent layer (the input projection of all time
steps at once, and the recurrent product of each step) are GEMMs run by the
caller (fastnn._recurrent). What is left per step is pointwise: the gate
nonlinearities, the cell update and, backwards, their derivatives. Each kernel
below does all of it in one pass over the step's (N, k*H) gate block, so the
gate values are read from memory once per direction instead of once per
elementwise op.

Gate layouts follow torch: an LSTM gate block (N, 4H) holds the columns of
the input, forget, cell and output gates (i, f, g, o) in that order; a GRU
block (N, 3H) holds the reset, update and new gates (r, z, n).

Equations (torch.nn.LSTM / torch.nn.GRU / torch.nn.RNN), a = pre-activation:

* LSTM: i = s(a_i), f = s(a_f), g = tanh(a_g), o = s(a_o);
  c' = f * c + i * g; h' = o * tanh(c').
* GRU: r = s(ai_r + ah_r), z = s(ai_z + ah_z),
  n = tanh(ai_n + r * ah_n), h' = (1 - z) * n + z * h, where ai = W_ih x + b_ih
  and ah = W_hh h + b_hh (so b_hn sits inside r * (W_hn h + b_hn)).
* RNN: h' = tanh(a) or relu(a).

All arrays are 2-D C-contiguous of one dtype (float32 or float64); the
sigmoid and tanh are the vectorisable ones of kernels/mathfun.py. The kernels
run on the calling thread: a step's gate block (N * 4H elements: 32K for
N=64, H=128) is too small to pay for a parallel region per step.
"""
from numba import njit

from ._config import CACHE, FASTMATH, MATHFUN_FASTMATH
from .mathfun import sigmoid, tanh

_JIT = dict(cache=CACHE, fastmath=MATHFUN_FASTMATH, error_model="numpy")


# --------------------------------------------------------------------------- LSTM

@njit(**_JIT)
def lstm_forward_step(gates, c_prev, c, h):
    """One LSTM step from its pre-activations.

    gates : (N, 4H) pre-activations W_ih x + b_ih + W_hh h + b_hh; overwritten
        with the activated gates (i, f, g, o), which the backward step reads.
    c_prev : (N, H) previous cell state. c, h : (N, H) outputs c', h'.

    Each gate block is taken as a slice view and indexed from 0 by the loop
    counter: an index like ``hid + j`` may be negative as far as Numba knows,
    and its wraparound check turns the vector loads into gathers (DESIGN.md),
    which made this kernel ~5x slower.
    """
    n_rows, four_h = gates.shape
    hid = four_h // 4
    for n in range(n_rows):
        gr = gates[n]
        gi = gr[:hid]
        gf = gr[hid:2 * hid]
        gg = gr[2 * hid:3 * hid]
        go = gr[3 * hid:]
        cp = c_prev[n]
        cr = c[n]
        hr = h[n]
        for j in range(hid):
            i = sigmoid(gi[j])
            f = sigmoid(gf[j])
            g = tanh(gg[j])
            o = sigmoid(go[j])
            cn = f * cp[j] + i * g
            gi[j] = i
            gf[j] = f
            gg[j] = g
            go[j] = o
            cr[j] = cn
            hr[j] = o * tanh(cn)


@njit(**_JIT)
def lstm_backward_step(grad_h_out, grad_h, grad_c, gates, c_prev, c, grad_gates):
    """Backward of one LSTM step through its pointwise part.

    grad_h_out : (N, H) gradient of the loss w.r.t. the step's output h'
        coming from outside the recurrence (the output sequence).
    grad_h : (N, H) gradient w.r.t. h' coming through the recurrence (from
        step t+1, or w.r.t. h_n at the last step).
    grad_c : (N, H) gradient w.r.t. c' from step t+1; overwritten in place with
        the gradient w.r.t. c_prev.
    gates : (N, 4H) activated gates saved by the forward step.
    c_prev, c : (N, H) cell states before and after the step.
    grad_gates : (N, 4H) output: gradient w.r.t. the pre-activations.

    Notes: dh = grad_h_out + grad_h; tc = tanh(c'); do = dh tc;
    dc = grad_c + dh o (1 - tc^2); di = dc g; df = dc c_prev; dg = dc i;
    dc_prev = dc f; pre-activations: da_i = di i (1 - i), da_f = df f (1 - f),
    da_g = dg (1 - g^2), da_o = do o (1 - o).
    """
    n_rows, four_h = gates.shape
    hid = four_h // 4
    one = gates.dtype.type(1)
    for n in range(n_rows):
        gr = gates[n]
        gi = gr[:hid]
        gf = gr[hid:2 * hid]
        gg = gr[2 * hid:3 * hid]
        go = gr[3 * hid:]
        dr = grad_gates[n]
        di = dr[:hid]
        df = dr[hid:2 * hid]
        dg = dr[2 * hid:3 * hid]
        do = dr[3 * hid:]
        gho = grad_h_out[n]
        gh = grad_h[n]
        gc = grad_c[n]
        cp = c_prev[n]
        cr = c[n]
        for j in range(hid):
            i = gi[j]
            f = gf[j]
            g = gg[j]
            o = go[j]
            tc = tanh(cr[j])
            dh = gho[j] + gh[j]
            dc = gc[j] + dh * o * (one - tc * tc)
            di[j] = dc * g * i * (one - i)
            df[j] = dc * cp[j] * f * (one - f)
            dg[j] = dc * i * (one - g * g)
            do[j] = dh * tc * o * (one - o)
            gc[j] = dc * f


# --------------------------------------------------------------------------- GRU

@njit(**_JIT)
def gru_forward_step(gi, gh, bias_hh, h_prev, h):
    """One GRU step.

    gi : (N, 3H) input pre-activations W_ih x + b_ih; overwritten with the
        activated gates (r, z, n).
    gh : (N, 3H) hidden products W_hh h_prev (no bias); b_hh is added in place,
        so afterwards gh[:, 2H:] = W_hn h_prev + b_hn, which the backward reads.
    bias_hh : (3H,) (zeros when the layer has no bias).
    h_prev : (N, H); h : (N, H) output.
    """
    n_rows, three_h = gi.shape
    hid = three_h // 3
    one = gi.dtype.type(1)
    br = bias_hh[:hid]
    bz = bias_hh[hid:2 * hid]
    bn = bias_hh[2 * hid:]
    for n in range(n_rows):
        ir = gi[n]
        i_r = ir[:hid]
        i_z = ir[hid:2 * hid]
        i_n = ir[2 * hid:]
        hr = gh[n]
        h_r = hr[:hid]
        h_z = hr[hid:2 * hid]
        h_n = hr[2 * hid:]
        hp = h_prev[n]
        ho = h[n]
        for j in range(hid):
            hr_r = h_r[j] + br[j]
            hr_z = h_z[j] + bz[j]
            hr_n = h_n[j] + bn[j]
            r = sigmoid(i_r[j] + hr_r)
            z = sigmoid(i_z[j] + hr_z)
            nn = tanh(i_n[j] + r * hr_n)
            h_r[j] = hr_r
            h_z[j] = hr_z
            h_n[j] = hr_n
            i_r[j] = r
            i_z[j] = z
            i_n[j] = nn
            ho[j] = (one - z) * nn + z * hp[j]


@njit(**_JIT)
def gru_backward_step(grad_h_out, grad_h, gi, gh, h_prev, grad_gi, grad_gh):
    """Backward of one GRU step through its pointwise part.

    grad_h_out, grad_h : (N, H) gradients w.r.t. h' from the output sequence
        and through the recurrence; grad_h is overwritten in place with the
        direct part of the gradient w.r.t. h_prev, dh * z (the caller adds
        grad_gh @ W_hh).
    gi : (N, 3H) activated gates (r, z, n); gh : (N, 3H) W_hh h_prev + b_hh.
    grad_gi : (N, 3H) output, gradient w.r.t. W_ih x + b_ih.
    grad_gh : (N, 3H) output, gradient w.r.t. W_hh h_prev + b_hh.

    Notes: dn = dh (1 - z); dz = dh (h_prev - n); da_n = dn (1 - n^2);
    dr = da_n (W_hn h + b_hn); da_r = dr r (1 - r); da_z = dz z (1 - z);
    grad_gi = (da_r, da_z, da_n); grad_gh = (da_r, da_z, da_n r).
    """
    n_rows, three_h = gi.shape
    hid = three_h // 3
    one = gi.dtype.type(1)
    for n in range(n_rows):
        ir = gi[n]
        i_r = ir[:hid]
        i_z = ir[hid:2 * hid]
        i_n = ir[2 * hid:]
        h_n = gh[n][2 * hid:]
        hp = h_prev[n]
        gho = grad_h_out[n]
        ghr = grad_h[n]
        dgi = grad_gi[n]
        di_r = dgi[:hid]
        di_z = dgi[hid:2 * hid]
        di_n = dgi[2 * hid:]
        dgh = grad_gh[n]
        dh_r = dgh[:hid]
        dh_z = dgh[hid:2 * hid]
        dh_n = dgh[2 * hid:]
        for j in range(hid):
            r = i_r[j]
            z = i_z[j]
            nn = i_n[j]
            dh = gho[j] + ghr[j]
            dan = dh * (one - z) * (one - nn * nn)
            dar = dan * h_n[j] * r * (one - r)
            daz = dh * (hp[j] - nn) * z * (one - z)
            di_r[j] = dar
            di_z[j] = daz
            di_n[j] = dan
            dh_r[j] = dar
            dh_z[j] = daz
            dh_n[j] = dan * r
            ghr[j] = dh * z


# --------------------------------------------------------------------------- Elman RNN

@njit(**_JIT)
def rnn_forward_step(pre, h, relu):
    """h = tanh(pre) (relu False) or max(pre, 0) (relu True); pre, h : (N, H).

    NaN propagates through relu as in torch (``v > 0`` is false for NaN, so the
    NaN itself is written).
    """
    n_rows, hid = pre.shape
    zero = pre.dtype.type(0)
    for n in range(n_rows):
        pr = pre[n]
        hr = h[n]
        if relu:
            for j in range(hid):
                v = pr[j]
                hr[j] = zero if v <= zero else v
        else:
            for j in range(hid):
                hr[j] = tanh(pr[j])


@njit(**_JIT)
def rnn_backward_step(grad_h_out, grad_h, h, grad_pre, relu):
    """grad_pre = (grad_h_out + grad_h) * act'(pre), with act' read from the output h.

    tanh: 1 - h^2; relu: 1 where h > 0, else 0. All arrays (N, H).
    """
    n_rows, hid = h.shape
    one = h.dtype.type(1)
    zero = h.dtype.type(0)
    for n in range(n_rows):
        gho = grad_h_out[n]
        ghr = grad_h[n]
        hr = h[n]
        gp = grad_pre[n]
        if relu:
            for j in range(hid):
                gp[j] = (gho[j] + ghr[j]) if hr[j] > zero else zero
        else:
            for j in range(hid):
                v = hr[j]
                gp[j] = (gho[j] + ghr[j]) * (one - v * v)


# --------------------------------------------------------------------------- bias helpers

@njit(cache=CACHE, fastmath=FASTMATH)
def add_row_vector(a, b):
    """a[m, :] += b for every row m; a : (M, K), b : (K,). (The input projection's bias.)"""
    for m in range(a.shape[0]):
        row = a[m]
        for k in range(row.size):
            row[k] += b[k]


@njit(cache=CACHE, fastmath=FASTMATH)
def column_sum(a, out):
    """out[k] = sum over rows m of a[m, k]; a : (M, K). Rows are added whole (vectorised,
    unit stride), in row order. (The bias gradients of all time steps.)"""
    out[:] = 0
    for m in range(a.shape[0]):
        row = a[m]
        for k in range(row.size):
            out[k] += row[k]
