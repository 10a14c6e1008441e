"""fastnn installed in a read-only directory: it imports, computes, and writes nothing there.

Numba's ``cache=True`` looks for a writable place when a kernel is decorated
(import time): NUMBA_CACHE_DIR, else __pycache__ next to the source, else the
user-wide cache (~/.cache/numba, $XDG_CACHE_HOME/numba), and raises if there is
none. kernels/_config.py adds FASTNN_NO_CACHE=1 (no caching at all) and turns
"no writable place" into a warning. Each test copies the package to a temporary
directory, makes it read-only and imports it in a fresh interpreter.

Root ignores file permissions, so the child also refuses (simulated) writes
under the read-only directories the way the OS would for anyone else: in
``os.open`` / ``os.mkdir``, which is how Numba probes a cache directory. Any
other write would still land on disk, and the before/after listings catch it.
"""
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys, warnings
readonly = [p for p in os.environ["READONLY_DIRS"].split(os.pathsep) if p]

def _blocked(path):
    p = os.path.abspath(os.fsdecode(path))
    return any(p == r or p.startswith(r + os.sep) for r in readonly)

_open, _mkdir = os.open, os.mkdir

def _guarded_open(path, flags, mode=0o777, *, dir_fd=None):
    if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and _blocked(path):
        raise PermissionError(13, "Permission denied (read-only)", path)
    return _open(path, flags, mode, dir_fd=dir_fd)

def _guarded_mkdir(path, mode=0o777, *, dir_fd=None):
    if _blocked(path):
        raise PermissionError(13, "Permission denied (read-only)", path)
    return _mkdir(path, mode, dir_fd=dir_fd)

os.open, os.mkdir = _guarded_open, _guarded_mkdir
sys.path.insert(0, sys.argv[1])
warnings.simplefilter("always")
import numpy as np
import fastnn, fastnn.functional as F
from fastnn.kernels import _config, conv_direct
assert fastnn.__file__.startswith(sys.argv[1]), fastnn.__file__
x = np.arange(2 * 3 * 6 * 6, dtype=np.float64).reshape(2, 3, 6, 6) / 100
w = np.ones((4, 3, 3, 3))
y = F.conv2d(x, w, padding=1, algorithm="direct")
assert np.allclose(y, fastnn.reference.conv2d(x, w, padding=1))
print("CACHE", _config.CACHE, "hits", sum(conv_direct.conv2d_direct_forward.stats.cache_hits.values()))
"""


def _listing(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _set_writable(path, writable):
    for p in [path, *path.rglob("*")]:
        mode = p.stat().st_mode
        if writable:
            p.chmod(mode | stat.S_IWUSR)
        else:
            p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def install(tmp_path):
    """A read-only copy of the package (site/fastnn, site/fastnn/kernels) and a user cache dir."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc")
    shutil.copytree(ROOT / "fastnn", site / "fastnn", ignore=ignore)
    shutil.copytree(ROOT / "kernels", site / "fastnn" / "kernels", ignore=ignore)
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    _set_writable(site, False)
    yield site, xdg
    _set_writable(site, True)
    _set_writable(xdg, True)


def _run(site, xdg, readonly, **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("NUMBA_CACHE_DIR", "FASTNN_NO_CACHE")}
    full.update(PYTHONDONTWRITEBYTECODE="1", XDG_CACHE_HOME=str(xdg), HOME=str(xdg),
                READONLY_DIRS=os.pathsep.join(str(p) for p in readonly), **env)
    return subprocess.run([sys.executable, "-c", CHILD, str(site)], capture_output=True,
                          text=True, timeout=600, cwd=site, env=full)


def test_readonly_package_falls_back_to_the_user_cache(install):
    site, xdg = install
    before = _listing(site)
    proc = _run(site, xdg, [site])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CACHE True" in proc.stdout
    assert _listing(site) == before
    assert any(p.endswith(".nbi") for p in _listing(xdg))  # Numba's own user-wide fallback


def test_nothing_writable_warns_and_still_works(install):
    site, xdg = install
    before, xdg_before = _listing(site), _listing(xdg)
    proc = _run(site, xdg, [site, xdg])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CACHE False" in proc.stdout
    assert "will not be cached" in proc.stderr and "NUMBA_CACHE_DIR" in proc.stderr
    assert _listing(site) == before and _listing(xdg) == xdg_before


def test_fastnn_no_cache_writes_nothing_anywhere(install):
    site, xdg = install
    before, xdg_before = _listing(site), _listing(xdg)
    proc = _run(site, xdg, [site], FASTNN_NO_CACHE="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CACHE False" in proc.stdout and "Warning" not in proc.stderr
    assert _listing(site) == before and _listing(xdg) == xdg_before


def test_numba_cache_dir_is_honoured(install, tmp_path):
    site, xdg = install
    cache = tmp_path / "numba-cache"
    before, xdg_before = _listing(site), _listing(xdg)
    first = _run(site, xdg, [site], NUMBA_CACHE_DIR=str(cache))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "CACHE True hits 0" in first.stdout
    assert any(p.endswith(".nbi") for p in _listing(cache))
    second = _run(site, xdg, [site], NUMBA_CACHE_DIR=str(cache))  # loads what the first saved
    assert second.returncode == 0, second.stderr[-3000:]
    assert "CACHE True hits 1" in second.stdout
    assert _listing(site) == before and _listing(xdg) == xdg_before


def test_every_kernel_uses_the_cache_flag():
    # New kernels must write @njit(cache=CACHE, ...) so FASTNN_NO_CACHE reaches them.
    offenders = [f"{p.name}:{i}" for p in sorted((ROOT / "kernels").glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if line.lstrip().startswith("@") and "cache=True" in line]
    assert not offenders, offenders
