"""fastnn.warmup() compiles every kernel; importing fastnn bounds the OpenMP spin-wait."""
import importlib
import os
import pkgutil
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastnn
from fastnn import _checks, _tuning, _warmup, functional, kernels


def _dispatchers():
    mods = [importlib.import_module("fastnn.kernels." + m.name)
            for m in pkgutil.iter_modules(kernels.__path__)]
    # public kernels defined in their module (not helpers only called from other kernels)
    return {f"{m.__name__}.{name}": v for m in mods for name, v in vars(m).items()
            if isinstance(v, numba.core.registry.CPUDispatcher) and not name.startswith("_")
            and v.py_func.__module__ == m.__name__ and name not in NOT_OPS}


# Kernels no public op calls: helpers inlined into other kernels, the bench's FMA roof
# (compiled only by `python -m fastnn bench`; this test passed only when test_bench ran first),
# and fastnn/_placement.py's probes (int64 thread ids and CPU numbers, no float dtype).
NOT_OPS = {"valid_range", "chunk_bounds", "row_logsumexp", "fma_peak", "thread_cpus",
           "current_cpu"}


def test_warmup_compiles_every_kernel_for_float32():
    # every kernel: the serial, parallel and streaming variants too (three passes)
    seconds = fastnn.warmup(dtypes=("float32",), processes=1)
    assert isinstance(seconds, float) and seconds > 0
    kernels_seen = _dispatchers()
    assert len(kernels_seen) >= 20
    not_compiled = [name for name, d in kernels_seen.items()
                    if not any(getattr(arg, "dtype", None) == numba.float32
                               for sig in d.signatures for arg in sig)]
    assert not_compiled == []


def test_warmup_table_names_public_ops_and_covers_every_backward():
    names = {name for name, _, _ in _warmup.WARMUP_CALLS} - set(_warmup._EXTRA_CALLS)
    assert names <= set(functional.__all__)
    not_ops = {"select_conv2d_algorithm", "set_conv_autotune", "get_conv_autotune",
               "clear_conv_autotune_cache", "conv_autotune_results"}
    ops = [n for n in functional.__all__ if n not in not_ops]
    assert sorted(set(ops) - names) == []
    conv_algorithms = {kw.get("algorithm") for name, _, kw in _warmup.WARMUP_CALLS
                       if name.startswith("conv2d")}
    assert conv_algorithms == set(_checks.CONV_ALGORITHMS) - {"auto"}


@pytest.mark.parametrize("bad", [(), ("float16",), ("float32", "int64"), "complex128"])
def test_warmup_rejects_other_dtypes(bad):
    with pytest.raises(ValueError, match="warmup"):
        fastnn.warmup(dtypes=bad)


@pytest.mark.parametrize("kwargs, error", [
    ({"processes": 0}, ValueError), ({"processes": 1.5}, TypeError),
    ({"processes": True}, TypeError), ({"progress": "yes"}, TypeError)])
def test_warmup_rejects_bad_processes_and_progress(kwargs, error):
    with pytest.raises(error, match=f"warmup\\(\\): {next(iter(kwargs))}"):
        fastnn.warmup(**kwargs)


def test_warmup_accepts_a_single_dtype_name():
    assert fastnn.warmup(dtypes=np.float32, processes=1) >= 0


def test_warmup_restores_the_thresholds():
    before = {name: getattr(_tuning, name) for name in _warmup._THRESHOLDS}
    fastnn.warmup(processes=1)
    assert {name: getattr(_tuning, name) for name in _warmup._THRESHOLDS} == before


def test_warmup_in_worker_processes_and_the_command_line(capsys):
    # The cache is warm here (the tests above filled it): the workers load, and
    # this process then loads what they compiled.
    fastnn.warmup(dtypes=("float32",), processes=2, progress=True)
    shown = capsys.readouterr()
    assert "fastnn warmup" in shown.err + shown.out  # the tqdm bar, or the plain counter
    proc = subprocess.run([sys.executable, "-m", "fastnn", "warmup", "--processes", "2",
                           "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "kernel cache:" in proc.stdout and "done in" in proc.stdout
    assert _warmup.cache_dir() in proc.stdout


def test_cache_dir_is_where_numba_writes():
    where = _warmup.cache_dir()
    assert where is not None and os.path.isdir(where)
    assert any(name.startswith("activations.relu_forward") for name in os.listdir(where))


def _policy_in_fresh_process(env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    env.update(env_changes)
    code = ("import os, fastnn, fastnn._openmp as o; "
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'), '|', "
            "o.describe())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [s.strip() for s in proc.stdout.split("|")]


def test_import_bounds_the_spin_only_when_the_user_did_not_choose():
    assert _policy_in_fresh_process({}) == [
        "None 3000", "GOMP_SPINCOUNT=3000 (set by fastnn at import)"]
    assert _policy_in_fresh_process({"OMP_WAIT_POLICY": "PASSIVE"}) == [
        "PASSIVE None", "OMP_WAIT_POLICY=PASSIVE (set by the user)"]
    value, text = _policy_in_fresh_process({"GOMP_SPINCOUNT": "1000"})
    assert value == "None 1000" and text == "GOMP_SPINCOUNT=1000 (set by the user)"
