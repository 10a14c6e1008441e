"""conv2d ``algorithm='auto'`` by measurement, as ``torch.backends.cudnn.benchmark`` does.

The first 'auto' call for a new key -- (pass, input shape, weight shape, stride,
padding, dilation, groups, dtype, Numba thread count) -- whose work is at least
``_tuning.AUTOTUNE_MIN_MACS`` runs every applicable algorithm
(``fastnn._conv.applicable_algorithms``) once untimed (this compiles it, or loads it
from Numba's cache, so compile time never enters the timing), then times them in
interleaved rounds (``TIMED_ROUNDS`` runs each, ``time.perf_counter``, every
algorithm once per round, the order reversed every other round, so that a burst of
noise from another process slows every algorithm alike instead of one), and
remembers the fastest (least best time) for the process. When the runner-up is
within ``NEAR_TIE`` of the fastest, ``EXTRA_ROUNDS`` more rounds of the close
algorithms decide (one timing each on a shared, noisy machine once picked an
algorithm 1.4x slower than the best), and a remaining difference under ``KEEP_STATIC`` goes to
the static rule's pick, so that a tie never makes the choice flip between
processes. Later calls with the same key look the winner up (one dict lookup).

Thread safety: lookups read the table without a lock; measuring happens under one
process-wide lock, so two threads that meet the same new key measure it once (the
second finds the first's winner), and no two measurements overlap in time and
disturb each other's timings. Every caller then runs the winner on its own
arrays, so results never depend on who tuned.

Persistent cache (opt-in): with the environment variable ``FASTNN_TUNING_CACHE`` set
to a file path, the file is read at the first measurement (lazily) and rewritten
(temp file + ``os.replace``, atomic) whenever a new winner is found. It records a
machine key (format version, fastnn version, Numba's thread-pool size, the CPU
model); a file that is corrupt, unreadable, or from another machine key is ignored
with one RuntimeWarning and overwritten at the next save; an unwritable path gives
one RuntimeWarning and the process goes on with its in-memory table.
"""
import json
import os
import platform
import tempfile
import threading
import time
import warnings

from numba import config as _numba_config
from ._numba import get_num_threads  # the lock-free getter (fastnn/_numba.py)

from . import _checks
from . import _tuning

FORMAT_VERSION = 1
ENV_VAR = "FASTNN_TUNING_CACHE"
TIMED_ROUNDS = 3        # timed runs per algorithm (after one untimed run), interleaved
NEAR_TIE = 1.15         # runner-up within this factor of the fastest: time the close ones again
EXTRA_ROUNDS = 3        # rounds added for near ties
KEEP_STATIC = 1.03      # the static pick wins when within this factor of the fastest

_LOCK = threading.RLock()
_TABLE = {}             # key (tuple) -> algorithm name
_STATE = {"enabled": True, "loaded_path": None, "measured": 0, "warned": set()}


# --------------------------------------------------------------------------- switch

def set_conv_autotune(flag):
    """Turn conv2d's autotuning on (default) or off for the whole process.

    Parameters
    ----------
    flag : bool
        True: ``conv2d(..., algorithm='auto')`` and ``conv2d_backward`` time the
        applicable algorithms on the first call of each new key whose work is at least
        ``fastnn._tuning.AUTOTUNE_MIN_MACS`` multiply-adds, and reuse the winner. False:
        'auto' always uses the static rule (:func:`fastnn.functional.select_conv2d_algorithm`).
        Winners already measured are kept (see :func:`clear_conv_autotune_cache`).

    Raises
    ------
    TypeError
        ``flag`` is not a bool.
    """
    _STATE["enabled"] = _checks.flag("set_conv_autotune", "flag", flag)


def get_conv_autotune():
    """True when conv2d's 'auto' algorithm is chosen by measurement (:func:`set_conv_autotune`)."""
    return _STATE["enabled"]


def clear_conv_autotune_cache():
    """Forget every measured conv2d winner in this process.

    The next 'auto' call of each key measures again -- unless ``FASTNN_TUNING_CACHE``
    names a file, which is re-read at the next measurement and supplies its stored
    winners (delete the file to re-measure those too). The file itself is untouched.
    """
    with _LOCK:
        _TABLE.clear()
        _STATE["loaded_path"] = None
        _STATE["warned"].clear()


def conv_autotune_results():
    """The winners known to this process: a dict ``{key: algorithm}`` (a copy).

    A key is ``(pass, input_shape, weight_shape, stride, padding, dilation, groups,
    dtype name, Numba threads)``, pass being 'forward' or 'backward', shapes and the
    pairs tuples of ints (padding as (top, left, bottom, right)).
    """
    with _LOCK:
        return dict(_TABLE)


# --------------------------------------------------------------------------- keys

def make_key(pass_name, x, w, geom, groups=1):
    """The table key of one conv2d / conv2d_backward call (see :func:`conv_autotune_results`)."""
    return (pass_name, tuple(int(s) for s in x.shape), tuple(int(s) for s in w.shape),
            (geom.stride_h, geom.stride_w),
            (geom.pad_h, geom.pad_w, geom.pad_bottom, geom.pad_right),
            (geom.dil_h, geom.dil_w), int(groups), x.dtype.name, int(get_num_threads()))


def _key_text(key):
    """A JSON object key for ``key``: 'forward|8x64x56x56|64x64x3x3|1x1|1x1x1x1|1x1|1|float32|2'."""
    parts = [key[0]] + ["x".join(str(v) for v in part) for part in key[1:6]]
    return "|".join(parts + [str(key[6]), key[7], str(key[8])])


def _key_from_text(text):
    parts = text.split("|")
    if len(parts) != 9 or parts[0] not in ("forward", "backward"):
        raise ValueError(text)
    dims = [tuple(int(v) for v in p.split("x")) for p in parts[1:6]]
    if [len(d) for d in dims] != [4, 4, 2, 4, 2]:
        raise ValueError(text)
    return (parts[0], *dims, int(parts[6]), parts[7], int(parts[8]))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key():
    """What a persistent cache must match to be used: format, fastnn version, threads, CPU."""
    from . import __version__
    return {"format": FORMAT_VERSION, "fastnn": __version__,
            "numba_threads": int(_numba_config.NUMBA_NUM_THREADS), "cpu": _cpu_model()}


# --------------------------------------------------------------------------- persistent file

def _warn_once(path, kind, what):
    """One RuntimeWarning per (path, kind of problem) per process (until the table is cleared)."""
    if (path, kind) in _STATE["warned"]:
        return
    _STATE["warned"].add((path, kind))
    warnings.warn(f"fastnn: conv2d tuning cache {path!r} ({ENV_VAR}) {what}", RuntimeWarning,
                  stacklevel=4)


def _read(path):
    """(winners, problem): the valid entries stored in ``path`` ({key: algorithm}, possibly
    empty) and None, or None and a sentence saying why the file cannot be used."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"could not be read ({type(exc).__name__}: {exc})"
    if not isinstance(data, dict) or not isinstance(data.get("winners"), dict):
        return None, "is not a fastnn tuning cache"
    if data.get("machine") != machine_key():
        return None, (f"was written for {data.get('machine')!r}, not this machine "
                      f"{machine_key()!r}")
    from ._conv import ALGORITHMS
    winners = {}
    for text, algorithm in data["winners"].items():
        try:
            key = _key_from_text(text)
        except ValueError:
            continue
        if algorithm in ALGORITHMS:
            winners[key] = algorithm
    return winners, None


def _load(path):
    """Merge the winners stored in ``path`` into the table (caller holds the lock)."""
    _STATE["loaded_path"] = path
    winners, problem = _read(path)
    if problem:
        _warn_once(path, "read", f"{problem}; ignoring it, it will be overwritten")
        return
    for key, algorithm in winners.items():
        _TABLE.setdefault(key, algorithm)


def _save(path):
    """Write the whole table to ``path`` atomically (caller holds the lock).

    Winners that another process saved there since this one read the file are kept
    (merged in first), so processes sharing a file add to it rather than overwrite it
    (the last writer wins only on a key both measured).
    """
    winners, _ = _read(path)
    for key, algorithm in (winners or {}).items():
        _TABLE.setdefault(key, algorithm)
    data = {"machine": machine_key(),
            "winners": {_key_text(k): v for k, v in sorted(_TABLE.items(), key=str)}}
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fastnn-tuning-", suffix=".json", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        _warn_once(path, "write", f"could not be written ({type(exc).__name__}: {exc}); "
                   "winners are kept in this process only")
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _cache_path():
    path = os.environ.get(ENV_VAR, "")
    return path or None


# --------------------------------------------------------------------------- choosing

def _measure(candidates, static, run):
    """(winner, {algorithm: best seconds}) of the interleaved timing (module docstring)."""
    for alg in candidates:
        run(alg)   # untimed: JIT compile / cache load, page faults, workspace allocation
    best = dict.fromkeys(candidates, float("inf"))

    def rounds(algs, n):
        for r in range(n):
            for alg in (algs if r % 2 == 0 else algs[::-1]):
                t0 = time.perf_counter()
                run(alg)
                best[alg] = min(best[alg], time.perf_counter() - t0)

    rounds(list(candidates), TIMED_ROUNDS)
    fastest = min(best.values())
    close = [alg for alg in candidates if best[alg] <= NEAR_TIE * fastest]
    if len(close) > 1:
        rounds(close, EXTRA_ROUNDS)
        fastest = min(best.values())
    if static in best and best[static] <= KEEP_STATIC * fastest:
        return static, best
    return min(candidates, key=best.__getitem__), best


def tunes(macs, candidates):
    """Whether :func:`choose` measures (or looks up) a call rather than taking the static pick:
    autotuning on, at least ``_tuning.AUTOTUNE_MIN_MACS`` multiply-adds, two or more candidates.
    (The caller builds the key only then: :func:`make_key` costs ~7 us, more than a small conv.)"""
    return _STATE["enabled"] and macs >= _tuning.AUTOTUNE_MIN_MACS and len(candidates) >= 2


def choose(key, macs, candidates, static, run):
    """The algorithm for one 'auto' call.

    Parameters
    ----------
    key : tuple, from :func:`make_key`
    macs : int, multiply-adds of the call's forward pass
    candidates : sequence of str, the applicable algorithms (the static pick among them)
    static : str, the static rule's pick
    run : callable(algorithm) running the call with that algorithm on the caller's
        buffers (each run overwrites every output element)

    Returns
    -------
    str, ``static`` when autotuning is off, the call is smaller than
    ``_tuning.AUTOTUNE_MIN_MACS`` or only one algorithm applies; else the measured
    winner for ``key`` (measured now if it is new).
    """
    if not tunes(macs, candidates):
        return static
    found = _TABLE.get(key)
    if found in candidates:
        return found
    with _LOCK:
        path = _cache_path()
        if path != _STATE["loaded_path"] and path is not None:
            _load(path)
        found = _TABLE.get(key)
        if found in candidates:
            return found
        winner, _ = _measure(candidates, static, run)
        _TABLE[key] = winner
        _STATE["measured"] += 1
        if path is not None:
            _save(path)
        return winner
