"""The validators every fastnn module uses: arrays, dtypes, ints, pairs, choices, reals, flags.

The per-op argument bundles built from them are in fastnn._args; this module
also holds the up-front memory check (check_allocation).

Both backends validate through these functions, so they accept and reject
exactly the same inputs with exactly the same messages. Every error names the
op, the argument, what it got and what it expected, and is raised before any
kernel runs. Functions here return C-contiguous arrays (a copy only when the
input was not already contiguous) and plain-int geometry, ready for a kernel.
"""
import math
import operator

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


REDUCTIONS = ("mean", "sum", "none")


CONV_ALGORITHMS = ("auto", "direct", "im2col", "1x1", "winograd")


def float_array(op, name, x, ndim=None, layout=None, min_ndim=None, keep_layout=False):
    """Check that ``x`` is a float32/float64 ndarray of the given rank; return it C-contiguous.

    With ``keep_layout`` the array is returned as it is (the caller handles its strides).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}(): {name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}(): {name} must have dtype float32 or float64, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        where = f" {layout}" if layout else ""
        raise ValueError(
            f"{op}(): {name} must be {ndim}-D{where}, got a {x.ndim}-D array of shape {x.shape}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(
            f"{op}(): {name} must have at least {min_ndim} dimension(s), got shape {x.shape}")
    # not np.ascontiguousarray: it turns a 0-d array into a 1-d one
    return x if x.flags.c_contiguous or keep_layout else x.copy(order="C")


def same_dtype(op, ref_name, ref, **others):
    """Raise TypeError unless every array in ``others`` has the dtype of ``ref``."""
    for name, arr in others.items():
        if arr is not None and arr.dtype != ref.dtype:
            raise TypeError(
                f"{op}(): {name} has dtype {arr.dtype} but {ref_name} has dtype {ref.dtype}; "
                "mixing float32 and float64 is not supported, cast one with .astype()")


def same_shape(op, name, arr, expected_name, expected_shape):
    if arr.shape != tuple(expected_shape):
        raise ValueError(
            f"{op}(): {name} must have the shape of {expected_name} {tuple(expected_shape)}, "
            f"got {arr.shape}")


def _int(op, name, value, expected="an int or a pair of ints"):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}(): {name} must be {expected}, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}(): {name} must be {expected}, got {value!r}") from None


MAX_GEOMETRY = 2**31 - 1  # bound on stride/padding/dilation/kernel_size entries


def pair(op, name, value, minimum):
    """Parse an int or a pair of ints (height, width), each >= ``minimum``."""
    # Fast path for what layers pass on every call (a plain int or a tuple of two): the
    # checks below cost ~1.5 us, and a LeNet-5 training step makes ~24 of these calls.
    if type(value) is int and minimum <= value <= MAX_GEOMETRY:
        return (value, value)
    if (type(value) is tuple and len(value) == 2 and type(value[0]) is int
            and type(value[1]) is int and minimum <= value[0] <= MAX_GEOMETRY
            and minimum <= value[1] <= MAX_GEOMETRY):
        return value
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"{op}(): {name} must be an int or a pair of ints (height, width), got {value!r}")
        result = (_int(op, name, value[0]), _int(op, name, value[1]))
    else:
        v = _int(op, name, value)
        result = (v, v)
    if min(result) < minimum:
        raise ValueError(f"{op}(): {name} must be >= {minimum}, got {value!r}")
    # Kernels index with int64; anything near 2**63 would wrap around silently.
    if max(result) > MAX_GEOMETRY:
        raise ValueError(f"{op}(): {name} must be <= {MAX_GEOMETRY}, got {value!r}")
    return result


def dim_index(op, dim, ndim):
    """Normalise a possibly negative axis ``dim`` for an array of rank ``ndim``."""
    d = _int(op, "dim", dim, "an int")
    if not -ndim <= d < ndim:
        raise ValueError(f"{op}(): dim must be in [{-ndim}, {ndim - 1}] for a {ndim}-D input, "
                         f"got {dim}")
    return d % ndim


def choice(op, name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{op}(): {name} must be one of {options}, got {value!r}")
    return value


def out_array(op, out, like, reads=()):
    """Validate an ``out=`` array for a result of ``like``'s shape and dtype; return it.

    ``out`` must be an ndarray of exactly that shape and dtype, C-contiguous
    and writable. It may be one of the arrays the op reads (``reads``: (name,
    array) pairs, the C-contiguous arrays the kernel will read) -- elementwise
    ops read each element before writing it -- but must not partially overlap
    one (a shifted view would read already-overwritten values).
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}(): out must be a numpy.ndarray or None, got {type(out).__name__}")
    if out.dtype != like.dtype:
        raise TypeError(f"{op}(): out must have dtype {like.dtype} (the result's), "
                        f"got {out.dtype}")
    if out.shape != like.shape:
        raise ValueError(f"{op}(): out must have shape {like.shape} (the result's), "
                         f"got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}(): out must be C-contiguous, got strides {out.strides}")
    if not out.flags.writeable:
        raise ValueError(f"{op}(): out is read-only")
    for name, arr in reads:
        if arr is out or not np.may_share_memory(out, arr):  # cheap checks first (~0.5 us)
            continue
        # (arr.ctypes.data would cost ~6 us per call: 3x a small relu)
        same = (arr.__array_interface__["data"][0] == out.__array_interface__["data"][0]
                and arr.shape == out.shape and arr.dtype == out.dtype)
        if not same:
            raise ValueError(f"{op}(): out partially overlaps {name}; pass the same array "
                             f"(in place) or a separate one")
    return out


def real_scalar(op, name, value):
    """Check that ``value`` is a real number (int or float, not bool); return it as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): {name} must be a real number, got {value!r}")
    return float(value)


def flag(op, name, value):
    """A bool argument (True/False); anything else raises TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}(): {name} must be True or False, got {value!r}")
    return bool(value)


def real_number(op, name, value, lo, hi, hi_open=False):
    """A real (non-bool) number in [lo, hi] (or [lo, hi) with hi_open); returns a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{op}(): {name} must be a real number, got {value!r}")
    v = float(value)
    inside = lo <= v < hi if hi_open else lo <= v <= hi
    if not inside:  # also catches NaN
        interval = f"[{lo}, {hi})" if hi_open else f"[{lo}, {hi}]"
        raise ValueError(f"{op}(): {name} must be in {interval}, got {value!r}")
    return v


def finite_number(op, name, value, low, low_ok=True, high=None):
    """A finite real number in [low, high) (or (low, high) with low_ok=False); returns a float.

    Python and NumPy ints/floats are accepted; TypeError for anything else
    (bools included), ValueError for inf, NaN or a value out of range.
    """
    real_scalar(op, name, value)
    v = float(value)
    ok = math.isfinite(v) and (v >= low if low_ok else v > low) and (high is None or v < high)
    if not ok:
        bound = f"{'>=' if low_ok else '>'} {low}" + ("" if high is None else f" and < {high}")
        raise ValueError(f"{op}(): {name} must be a finite number {bound}, got {value!r}")
    return v


def positive_int(op, name, value):
    """An int >= 1 (Python or NumPy, not bool): TypeError for other types, ValueError if < 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}(): {name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{op}(): {name} must be a positive int, got {value!r}")
    return int(value)


def float_dtype(op, dtype):
    """np.dtype float32 or float64 from anything np.dtype accepts; TypeError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}(): dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{op}(): dtype must be float32 or float64, got {dt}")
    return dt


def dropout_probability(op, p):
    """The drop probability p, a real number in [0, 1)."""
    return real_number(op, "p", p, 0.0, 1.0, hi_open=True)


def generator(op, name, value):
    """None (fresh OS entropy), an int seed or a numpy.random.Generator -> a Generator."""
    if isinstance(value, np.random.Generator):
        return value
    if value is None:
        return np.random.default_rng()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}(): {name} must be None, an int seed or a numpy.random.Generator, "
                        f"got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{op}(): {name} must be a non-negative int seed, got {value}")
    return np.random.default_rng(int(value))


def probabilities(op, name, p):
    """Raise ValueError unless every entry of p lies in [0, 1] (NaN passes through)."""
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"{op}(): {name} must hold probabilities in [0, 1], got values in "
                         f"[{p.min()}, {p.max()}]")


# --------------------------------------------------------------------------- memory

# Requests whose result alone would need more than this many bytes are
# compared with the memory actually available before anything is allocated.
_BIG_ALLOCATION_BYTES = 256 * 2**20


def _available_memory_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_allocation(op, what, shape, dtype):
    """Raise MemoryError (with the shape and byte count) if ``shape`` cannot fit in memory.

    Linux overcommits: np.empty of an absurd size may succeed and the process is
    then killed when the pages are touched, so the check is made up front.
    """
    nbytes = np.dtype(dtype).itemsize
    for s in shape:
        nbytes *= int(s)
    if nbytes > _BIG_ALLOCATION_BYTES:
        avail = _available_memory_bytes()
        if nbytes > avail:
            raise MemoryError(
                f"{op}(): the {what} of shape {tuple(int(s) for s in shape)} "
                f"({np.dtype(dtype).name}) needs {nbytes:,} bytes "
                f"({nbytes / 2**30:.1f} GiB) but only {avail:,} bytes "
                f"({avail / 2**30:.1f} GiB) of memory are available")
