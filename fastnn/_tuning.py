"""Every threshold and block size that fastnn's dispatch uses, in one place.

Each value was measured on the 2-core Zen 3 development machine (float32); the
measurements behind them are in the README, "Tuning thresholds". The family
modules read these names at call time (``_tuning.X``), so a test or a user can
change one for the whole process.

:func:`n_chunks` turns a threshold into the trailing ``n_chunks`` argument that
every parallel kernel takes (kernels/_chunks.py): 1 = serial on the calling
thread, else one chunk per thread.
"""
from numba import get_num_threads

# --- conv2d algorithm='auto' (static rule; fastnn._conv.select_conv2d_algorithm)
POINTWISE_GEMM = True        # 1x1 / stride 1 / unpadded convs run as one GEMM per image
SMALL_PLANE_PIXELS = 16      # im2col when H_out*W_out <= this ...
DIRECT_MAX_TAPS = 64         # ... and C_in*kH*kW > this; otherwise the direct kernel

# --- conv2d algorithm='winograd': its transforms run parallel from this many elements of the
# transformed array (36 x channels x tiles); not measured separately, the pooling value
WINOGRAD_PARALLEL_MIN = 65536

# --- memory
IM2COL_CHUNK_BYTES = 32 * 2**20   # im2col columns per batch chunk (>= one image)

# --- GEMM: products of fewer multiply-adds run on the calling thread
GEMM_SERIAL_WORK = 96 * 96 * 96

# --- serial below, parallel from: elements of the output (or input) per call
BIAS_PARALLEL_MIN = 262144             # bias add / bias-gradient reduction
ELEMENTWISE_PARALLEL_MIN = 32768       # relu, step, leaky_relu, their backward, dropout
TRANSCENDENTAL_PARALLEL_MIN = 8192     # sigmoid, tanh
SOFTMAX_PARALLEL_MIN = 8192            # softmax family, rows x K
BATCHNORM_PARALLEL_MIN = 32768         # batch-norm statistics, forward, backward (input elements)
NORM_PARALLEL_MIN = 65536              # layer_norm / group_norm, input elements
EMBEDDING_PARALLEL_MIN = 262144        # embedding lookup / scatter-add, elements moved
POOL_PARALLEL_MIN = 65536              # max / avg pooling, input elements
GLOBAL_POOL_PARALLEL_MIN = 262144      # global average pooling, input elements

# --- streaming (non-temporal) stores for outputs that do not fit in L3
STREAMING_MIN_BYTES = 16 * 2**20
TRANSCENDENTAL_STREAMING = False       # sigmoid / tanh measured slower streaming


def n_chunks(size, threshold):
    """The ``n_chunks`` argument for a kernel call on ``size`` items: 1 below ``threshold``."""
    return get_num_threads() if size >= threshold else 1
