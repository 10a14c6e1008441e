"""Time batch norm, dropout, average pooling and two losses: fastnn vs torch vs the NumPy reference.

float32, in one process, timed by the bench's shared helper (fastnn._bench_common.time_interleaved:
warm-up call excluded, rotating order, each sample once the other thread pools are idle); prints
the median of ``--repeat`` samples and the bytes moved per second. torch is optional.

    python examples/bench_training_ops.py --threads 1
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn._bench_common import import_torch, time_interleaved

torch = import_torch()  # only a point of comparison
TF = torch.nn.functional if torch is not None else None


def row(name, nbytes, fns, repeat):
    """One line: each implementation's median ms and GB/s ("reference" is fastnn.reference)."""
    cells = [name]
    for impl, t in time_interleaved(fns, repeat).items():
        if t is not None:
            cells.append(f"{impl} {t * 1e3:8.3f} ms ({nbytes / t / 1e9:5.2f} GB/s)")
    print(" | ".join(cells), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=fastnn.get_num_threads())
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    fastnn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rep = args.repeat

    for shape in [(32, 64, 16, 16), (128, 16, 8, 8), (256, 512), (4096, 256)]:
        x = rng.standard_normal(shape, dtype=np.float32)
        g = rng.standard_normal(shape, dtype=np.float32)
        c = shape[1]
        w, b = np.ones(c, np.float32), np.zeros(c, np.float32)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        fwd = {"fastnn": lambda: F.batch_norm(x, rm, rv, w, b, True),
               "reference": lambda: R.batch_norm(x, rm, rv, w, b, True), "torch": None}
        both = {"fastnn": lambda: (F.batch_norm(x, rm, rv, w, b, True),
                                   F.batch_norm_backward(g, x, rm, rv, w, True)),
                "reference": lambda: (R.batch_norm(x, rm, rv, w, b, True),
                                  R.batch_norm_backward(g, x, rm, rv, w, True)), "torch": None}
        if torch is not None:
            tx = torch.tensor(x, requires_grad=True)
            tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
            trm, trv, tg = torch.tensor(rm), torch.tensor(rv), torch.tensor(g)

            def torch_fwd():
                with torch.no_grad():
                    TF.batch_norm(tx, trm, trv, tw, tb, True)
            fwd["torch"] = torch_fwd
            both["torch"] = lambda: TF.batch_norm(tx, trm, trv, tw, tb, True).backward(tg)
        # bytes: read x + write out (forward); + read g, x, write grad (backward)
        row(f"batch_norm train fwd {shape}", 2 * x.nbytes, fwd, rep)
        row(f"batch_norm train fwd+bwd {shape}", 5 * x.nbytes, both, rep)

    x = rng.standard_normal(10**6, dtype=np.float32)
    gen = np.random.default_rng(1)
    _, mask = F.dropout(x, 0.2, generator=gen, return_mask=True)
    tx = torch.tensor(x) if torch is not None else None
    tmask = torch.tensor(mask) if torch is not None else None
    row("dropout fwd 10^6 (NumPy mask draw included)", 2 * x.nbytes,
        {"fastnn": lambda: F.dropout(x, 0.2, generator=gen),
         "reference": lambda: R.dropout(x, 0.2, generator=gen),
         "torch": (lambda: TF.dropout(tx, 0.2, True)) if torch is not None else None}, rep)
    row("dropout mask draw alone 10^6", x.nbytes,
        {"numpy": lambda: gen.random(x.shape) >= 0.2}, rep)
    row("dropout_backward 10^6", 2 * x.nbytes + mask.nbytes,
        {"fastnn": lambda: F.dropout_backward(x, mask, 0.2),
         "reference": lambda: R.dropout_backward(x, mask, 0.2),
         "torch": (lambda: tx * tmask / 0.8) if torch is not None else None}, rep)

    x = rng.standard_normal((32, 64, 16, 16), dtype=np.float32)
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)]:
        y = F.avg_pool2d(x, **kw)
        g = np.ones_like(y)
        fns = {"fastnn": lambda: (F.avg_pool2d(x, **kw), F.avg_pool2d_backward(g, x, **kw)),
               "reference": lambda: (R.avg_pool2d(x, **kw), R.avg_pool2d_backward(g, x, **kw)),
               "torch": None}
        if torch is not None:
            tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(g)
            fns["torch"] = lambda: TF.avg_pool2d(tx, **kw).backward(tg)
        row(f"avg_pool2d fwd+bwd {kw}", 2 * x.nbytes + 2 * y.nbytes, fns, rep)
    g1 = np.ones((32, 64, 1, 1), np.float32)
    fns = {"fastnn": lambda: (F.adaptive_avg_pool2d(x, 1),
                              F.adaptive_avg_pool2d_backward(g1, x, 1)),
           "reference": lambda: (R.adaptive_avg_pool2d(x, 1),
                             R.adaptive_avg_pool2d_backward(g1, x, 1)), "torch": None}
    if torch is not None:
        tx, tg1 = torch.tensor(x, requires_grad=True), torch.tensor(g1)
        fns["torch"] = lambda: TF.adaptive_avg_pool2d(tx, 1).backward(tg1)
    row("adaptive_avg_pool2d(1) fwd+bwd (32, 64, 16, 16)", 2 * x.nbytes, fns, rep)

    x = rng.standard_normal((256, 1000), dtype=np.float32)
    t = (rng.random((256, 1000)) > 0.5).astype(np.float32)
    for name in ["mse_loss", "binary_cross_entropy_with_logits"]:
        fwd_f, bwd_f = getattr(F, name), getattr(F, name + "_backward")
        fwd_r, bwd_r = getattr(R, name), getattr(R, name + "_backward")
        fns = {"fastnn": lambda: (fwd_f(x, t), bwd_f(1.0, x, t)),
               "reference": lambda: (fwd_r(x, t), bwd_r(1.0, x, t)), "torch": None}
        if torch is not None:
            tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t)
            fns["torch"] = lambda: getattr(TF, name)(tx, tt).backward()
        row(f"{name} fwd+bwd (256, 1000)", 4 * x.nbytes, fns, rep)


if __name__ == "__main__":
    main()
