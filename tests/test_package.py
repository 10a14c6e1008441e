"""Packaging, the command line and the README example."""
import pathlib
import re
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_python(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)


def test_import_uses_installed_kernels_not_top_level_package():
    # From the repo root, `import kernels` would compile a second copy of every kernel.
    code = ("import sys, fastnn, fastnn.functional, fastnn.kernels.gemm as g; "
            "assert 'kernels' not in sys.modules, 'top-level kernels imported'; "
            "print(g.__name__)")
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fastnn.kernels.gemm"


def test_import_compiles_nothing():
    # Kernels compile (or load from the on-disk cache) on first call, one dtype at a time.
    code = ("import fastnn, numba; from fastnn import kernels; import pkgutil, importlib; "
            "mods = [importlib.import_module('fastnn.kernels.' + m.name) "
            "for m in pkgutil.iter_modules(kernels.__path__)]; "
            "ds = [v for m in mods for v in vars(m).values() "
            "if isinstance(v, numba.core.registry.CPUDispatcher)]; "
            "print(len(ds), sum(len(d.signatures) for d in ds))")
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    n_kernels, n_compiled = map(int, proc.stdout.split())
    assert n_kernels >= 20 and n_compiled == 0


def test_readme_example_runs_as_written():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick example", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("(4, 6, 8, 8) (6, 1, 3, 3)")
    losses = [float(line.split()[1]) for line in lines[1:6]]
    assert losses[-1] < losses[0]
    assert lines[-1] == "(4, 10)"


def test_cli_help_documents_options():
    proc = run_python("-m", "fastnn", "demo", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ["--epochs", "--batch-size", "--backend", "--seed", "--lr", "--momentum",
                   "--no-progress"]:
        assert option in proc.stdout
    top = run_python("-m", "fastnn", "--help")
    assert top.returncode == 0 and "demo" in top.stdout


def test_cli_rejects_bad_options():
    proc = run_python("-m", "fastnn", "demo", "--epochs", "0")
    assert proc.returncode == 2
    assert "--epochs" in proc.stderr and "positive" in proc.stderr
    proc = run_python("-m", "fastnn", "demo", "--backend", "torch")
    assert proc.returncode == 2 and "--backend" in proc.stderr


def test_version():
    import fastnn
    assert re.fullmatch(r"\d+\.\d+\.\d+", fastnn.__version__)
    assert np.__version__  # numpy is importable alongside
