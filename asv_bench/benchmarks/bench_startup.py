"""Start-up: a new interpreter imports fastnn and runs its first op or training step.

Timed by asv in a fresh process (``timeraw_``). The ``warm_`` benchmarks use
one temporary Numba cache directory per benchmark, filled by ``setup`` (so
they time loading the cached machine code, what a user pays at every
start-up); the ``cold_`` ones point the timed process at a new, empty cache
directory every time (so they time the one-time compile a new machine pays).
"""
import subprocess
import sys
import tempfile

# The digits demo CNN's first training step (fastnn/demo.py's network, batch 32).
FIRST_STEP = """
import numpy as np
import fastnn
from fastnn.demo import build_cnn
model = build_cnn(0)
loss = fastnn.CrossEntropyLoss()
x = np.random.default_rng(0).standard_normal((32, 1, 8, 8)).astype(np.float32)
value = loss(model.forward(x), np.arange(32) % 10)
model.backward(loss.backward())
fastnn.SGD(model, lr=0.05, momentum=0.9).step()
"""


def _with_cache(directory, code):
    # timeraw_ code runs in a new interpreter: choose its cache before numba is imported
    return f"import os; os.environ['NUMBA_CACHE_DIR'] = {directory!r}\n" + code


class WarmStart:
    """Warm cache: import fastnn (no Numba), + the first demo training step, + the first conv2d."""

    def setup(self):
        self.cache = tempfile.mkdtemp(prefix="fastnn-asv-cache-")
        subprocess.run([sys.executable, "-c", _with_cache(self.cache, FIRST_STEP)], check=True)

    def timeraw_import_fastnn(self):
        return _with_cache(self.cache, "import fastnn")

    def timeraw_import_and_first_training_step(self):
        return _with_cache(self.cache, FIRST_STEP)


class ColdStart:
    """Empty cache: the first demo training step compiles every kernel it runs."""
    timeout = 600
    number = 1
    repeat = 1

    def timeraw_first_training_step_empty_cache(self):
        return _with_cache(tempfile.mkdtemp(prefix="fastnn-asv-cold-"), FIRST_STEP)


def timeraw_import_and_first_conv2d():
    return """
import numpy as np
import fastnn.functional as F
F.conv2d(np.ones((2, 3, 8, 8), np.float32), np.ones((4, 3, 3, 3), np.float32), padding=1)
"""


def timeraw_import_and_warmup_float32():
    return """
import fastnn
fastnn.warmup(dtypes=("float32",), processes=1)
"""
