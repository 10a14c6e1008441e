"""Output sizes, padding splits and the geometry records of conv2d and pooling.

Pure integer arithmetic, shared by the validators (fastnn._checks / _args) and
the Numba-backend ops. fastnn.reference computes its own geometry with its own
code, so the two backends check each other.
"""
from collections import namedtuple


ConvGeometry = namedtuple(
    "ConvGeometry",
    "stride_h stride_w pad_h pad_w pad_bottom pad_right dil_h dil_w kh kw out_h out_w")
ConvGeometry.__doc__ = """Plain-int geometry of one conv2d call.

pad_h / pad_w are the top / left padding the kernels use; pad_bottom /
pad_right differ from them only for padding='same' with an even dilated kernel.
"""


def is_pointwise_conv(geom):
    """True for a 1x1 kernel, stride 1, no padding: a plain GEMM per image."""
    return (geom.kh == geom.kw == 1 and geom.stride_h == geom.stride_w == 1
            and geom.pad_h == geom.pad_w == geom.pad_bottom == geom.pad_right == 0)


PoolGeometry = namedtuple("PoolGeometry", "kh kw stride_h stride_w pad_h pad_w out_h out_w")


def pool_output_size(size, k, stride, pad, ceil_mode):
    """torch's pooling output size: floor (or ceil) of (size + 2 pad - k) / stride, plus 1.

    With ceil_mode the last window must still start inside the input or the
    left/top padding (torch drops it otherwise).
    """
    span = size + 2 * pad - k
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def same_padding(k, dilation):
    """(before, after) padding of padding='same' (stride 1) for one axis, as torch.

    The total is dilation * (k - 1); the extra pixel of an even kernel goes
    after (bottom / right).
    """
    total = dilation * (k - 1)
    return total // 2, total - total // 2


def conv_output_size(size, k, stride, pad_before, pad_after, dilation):
    """floor((size + pads - dilation * (k - 1) - 1) / stride) + 1 (torch.nn.Conv2d's formula)."""
    return (size + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def receptive_field(steps):
    """(size, jump, offset) along one axis after a chain of windowed layers.

    ``steps``: (kernel, stride, padding before, dilation) of each layer in order.
    From size 1, jump 1, offset 0 at the input, each layer does size +=
    dilation * (kernel - 1) * jump; offset -= padding * jump; jump *= stride
    (Araujo et al., Distill 2019). Output i then sees input positions
    offset + i * jump ... offset + i * jump + size - 1.
    """
    size, jump, offset = 1, 1, 0
    for k, s, p, d in steps:
        size += d * (k - 1) * jump
        offset -= p * jump
        jump *= s
    return size, jump, offset
