"""Cold start: a new interpreter imports fastnn and makes its first conv2d call.

Timed by asv in a fresh process (``timeraw_``), with Numba's on-disk cache
warm after the first run, so this is the load-the-cached-machine-code cost a
user pays at start-up, not the one-time compile.
"""


def timeraw_import_and_first_conv2d():
    return """
import numpy as np
import fastnn.functional as F
F.conv2d(np.ones((2, 3, 8, 8), np.float32), np.ones((4, 3, 3, 3), np.float32), padding=1)
"""


def timeraw_import_fastnn():
    return "import fastnn"


def timeraw_import_and_warmup_float32():
    return """
import fastnn
fastnn.warmup(dtypes=("float32",))
"""
