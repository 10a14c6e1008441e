"""Every examples/seed_*.py runs (its main(), in this process) and prints what its case shows.

The scripts check their own facts (np.testing / SystemExit), so a change that breaks a
seed case or the API a script uses fails here."""
import importlib.util
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("seed_*.py"))


def load(path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_is_a_script_per_seed_case():
    cases = {int(p.stem.split("_")[1]) for p in SCRIPTS}
    assert {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15} <= cases


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs(path, capsys):
    # The NumPy backend keeps this fast; test_seed_cases*.py run every case on both backends,
    # and test_example_command_line runs one script as a user would (Numba backend).
    load(path).main("numpy")
    assert len(capsys.readouterr().out.splitlines()) >= 1


def test_example_command_line():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "seed_10_param_count.py")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "total params: 26" in proc.stdout
