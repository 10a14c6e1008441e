"""The SGD update (torch.optim.SGD's formula) of one parameter, in one pass over memory.

fastnn/optim.py's SGD calls ``sgd_update`` once per parameter on the Numba
backend. The NumPy form of the same update is three to five ufunc calls per
parameter (v *= momentum; v += g; p -= lr * v), each with a ~1 us Python
overhead and its own pass over the arrays: LeNet-5's ten parameters took 57 us
a step that way, 39 us through this kernel (SGD.step's loop included; 1,000
steps, three interleaved rounds).

No fast-math flags, on purpose: every product and sum is rounded on its own,
in the order the NumPy form evaluates them (no FMA contraction), so both
backends update a model to the same bits. Serial: even ResNet-18's 11.7M
parameters are one pass over ~140 MB, memory-bound on one core.
"""
from numba import njit

from ._config import CACHE


@njit(cache=CACHE)
def sgd_update(p, g, v, lr, momentum, dampening, weight_decay, nesterov):
    """p -= lr * step, in place, and v (the momentum buffer) updated when momentum != 0.

    p, g, v : 1-D C-contiguous arrays of one float dtype and one length (the
        parameter, its gradient and its momentum buffer, which must already
        hold the first step's gradient: torch sets v = g on the first step,
        the caller does that). v is not touched when momentum is 0.
    lr, momentum, weight_decay : scalars of p's dtype.
    dampening : 1 - dampening (torch's dampening), a scalar of p's dtype.
    nesterov : bool.

    Per element, as torch.optim.SGD (and fastnn/optim.py's NumPy form)::

        g' = g + weight_decay * p         (weight_decay != 0)
        v  = momentum * v + dampening * g' (momentum != 0; the factor is skipped when 1)
        s  = g' + momentum * v if nesterov else v      (s = g' when momentum == 0)
        p  = p - lr * s
    """
    zero = p.dtype.type(0)
    one = p.dtype.type(1)
    if weight_decay == zero and momentum != zero and dampening == one and not nesterov:
        # The common case (SGD with momentum) as a loop of its own: no branches inside,
        # so LLVM vectorises it.
        for i in range(p.size):
            vi = v[i] * momentum + g[i]
            v[i] = vi
            p[i] = p[i] - lr * vi
        return
    for i in range(p.size):
        gi = g[i]
        if weight_decay != zero:
            gi = gi + weight_decay * p[i]
        if momentum != zero:
            vi = v[i] * momentum
            vi = vi + gi if dampening == one else vi + dampening * gi
            v[i] = vi
            gi = gi + momentum * vi if nesterov else vi
        p[i] = p[i] - lr * gi
