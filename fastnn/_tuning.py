"""Every threshold and block size that fastnn's dispatch uses, in one place.

Each value was measured on the 2-core Zen 3 development machine (float32); the
measurements behind them are in the README, "Tuning thresholds". The family
modules read these names at call time (``_tuning.X``), so a test or a user can
change one for the whole process.

:func:`n_chunks` turns a threshold into the trailing ``n_chunks`` argument that
every parallel kernel takes (kernels/_chunks.py): 1 = serial on the calling
thread, else one chunk per thread; :func:`variant` also picks the serial or
the parallel kernel.
"""
from . import _placement
from ._numba import get_num_threads  # imports Numba, sets its threading layer

# --- conv2d algorithm='auto' (static rule; fastnn._conv.select_conv2d_algorithm)
# Fitted with examples/fit_conv_rule.py on A-F, ResNet-18, VGG-11, MobileNet-v1 pointwise
# and small (LeNet, digits) layers; README "Choosing the conv2d algorithm" has the table.
# P = H_out*W_out, D = C_in*kH*kW (taps), K = C_out; K*D = multiply-adds per output position.
POINTWISE_GEMM = True        # 1x1 / stride 1 / unpadded convs run as one GEMM per image ...
POINTWISE_DIRECT_MAX_CIN = 64     # ... except forward with C_in <= this and
POINTWISE_DIRECT_MIN_PLANE = 784  # P >= this: direct (MobileNet 32->64 @112: 1.16x, 1x1-28: 1.16x)
SMALL_PLANE_PIXELS = 16      # im2col when P <= this and D > DIRECT_MAX_TAPS (digits layer 2)
DIRECT_MAX_TAPS = 64
MEDIUM_PLANE_PIXELS = 256         # im2col when P <= this and K*D >= the next value: GEMM
IM2COL_MEDIUM_PLANE_WORK = 65536  # wins 1.1-3x (E, ResNet layer3/4); LeNet conv2 (K*D 2,400,
#                                   P 64) and 16x32x16 (9,216, P 256) stay direct (2.3x), and
#                                   since the 8-channel direct tile (2026-12-03) so does
#                                   32x64x8 (36,864, P 64: direct 2.1 ms, im2col 3.3 forward)
IM2COL_MIN_WORK_FORWARD = 262144   # im2col whatever P when K*D >= this (VGG conv3-6, 1.2-1.4x);
IM2COL_MIN_WORK_BACKWARD = 65536   # backward from a lower value (ResNet layer2: 1.0-1.3x)
# Winograd F(4x4, 3x3) (fastnn/_winograd.py) for 3x3 / stride 1 / dilation 1 when both channel
# counts and the output plane are large enough: 1.5-2.3x the best of direct / im2col on A and
# ResNet-18's 56x56, 28x28 and 14x14 3x3 layers, forward and backward; at 7x7 (P 49) a tie
# forward and 1.1-1.4x slower backward (the 36 transformed weight matrices dominate); on B
# (K 32) a tie. Measured on the shared machine (README "Winograd").
# Re-fitted 2026-12-03 (examples/fit_conv_rule.py, AVX-512 machine) after the direct kernels'
# 8-channel tiles: at 64 x 64 channels direct now wins (A: direct 19.7 ms, Winograd 34.9
# forward; ResNet layer1 1.3-1.4x), from 64 x 128 (VGG conv2) Winograd still wins or ties, and
# VGG's one-image layers need the total positions N x P, not N: with N = 1 and 56x56 planes
# (VGG conv3-4) Winograd is 1.5-2.2x im2col; with few positions in all (VGG conv7, N1 14x14)
# each of the 36 GEMMs falls under GEMM_SERIAL_WORK and runs on one thread.
# Re-fitted 2026-12-04 after the SIMD transforms and the one-region batched GEMM: Winograd wins
# 64 x 64 channels again (A backward 16.9 against direct 26.8 ms, ResNet layer1 forward 5.0
# against 7.0, backward 9.7 against 24.9), so C_in * C_out >= 4096 (was 8192).
WINOGRAD_MIN_CHANNELS = 64            # min(C_in, C_out)
WINOGRAD_MIN_CHANNEL_PRODUCT = 4096   # C_in * C_out
WINOGRAD_MIN_PLANE = 196              # P
WINOGRAD_MIN_POSITIONS = 784          # N * P
DIRECT_BACKWARD_MIN_TASKS = 2      # direct grad-input runs N*ceil(C_in/4) tasks; with fewer than
#                                    this x threads it leaves cores idle (VGG conv1 N1 C3: 1.34x)

# --- conv2d algorithm='auto' by measurement (fastnn._autotune)
# Calls of fewer forward multiply-adds keep the static rule. Tuning a key runs every
# applicable algorithm four to seven times and, on a cold Numba cache, compiles the ones this
# process has not used (seconds each); a 1e7-MAC conv takes ~0.2-0.5 ms at 40-100
# GFLOP/s, so even a 1.25x misprediction there costs < 0.1 ms per call -- not worth a
# compile. Below it sit every test shape, the digits demo (conv2 at batch 32: 2.4e6)
# and LeNet-5 at batch 64 (conv1 5.5e6, conv2 9.8e6); ResNet-18/VGG/MobileNet layers
# (1e8-1e9 at batch 8) are all tuned.
AUTOTUNE_MIN_MACS = 10_000_000

# --- conv2d algorithm='winograd': its transforms run parallel from this many elements of the
# transformed array (36 x channels x tiles); not measured separately, the pooling value
WINOGRAD_PARALLEL_MIN = 65536

# --- memory
IM2COL_CHUNK_BYTES = 32 * 2**20   # im2col columns per batch chunk (>= one image)

# --- GEMM: products of fewer multiply-adds run on the calling thread. Re-measured 2026-12-04
# (eleventh session) once worker placement kept the 2-thread figures steady, one thread
# (gemm_small) / two (gemm_parallel), us, interleaved: 96^3 14/21 and 22/40, 104^3 33/34,
# 112^3 24/31 and 30/33, 120^3 44/40, 128^3 41/33 and 58/44; 64 x 256 x 64 35/32,
# 256 x 64 x 64 27/36, 64 x 64 x 256 32/32 (96^3 before).
GEMM_SERIAL_WORK = 112 * 112 * 112
# ... without packing (kernels/gemm_small.py): gemm_small_m, a row of C (or with B transposed
# one dot product) at a time, for C of at most GEMM_SMALL_M rows; with B transposed also up to
# GEMM_SMALL_M_NT rows or GEMM_SMALL_N_NT columns, where gemm_small would first pack B into
# 2-vector slivers, mostly padding when n is small (serial us, AVX-512 VM, 2026-12-04,
# gemm_small_m / gemm_small): m x 120 x 400 (LeNet-5's fc1) m=2 6.2/17, 4 11.6/17.7, 6
# 17.1/18.0, 8 22.4/21.7; m x 84 x 120 m=6 3.6/3.7, 8 4.5/5.2, 12 6.4/4.6; 64 x 3 x 2000 26/91;
# 64 x 10 x 84 6.0/3.9. Everything else below GEMM_SERIAL_WORK goes to gemm_small (6-row
# tiles read in place): 64^3 6.1 -> 4.5 us, 96^3 14.9 -> 12.3 us against the packed
# gemm_serial it replaced.
GEMM_SMALL_M = 2
GEMM_SMALL_M_NT = 6
GEMM_SMALL_N_NT = 8

# --- serial below, parallel from: elements of the output (or input) per call
BIAS_PARALLEL_MIN = 262144             # bias add / bias-gradient reduction
ELEMENTWISE_PARALLEL_MIN = 32768       # relu, step, leaky_relu, their backward, dropout
TRANSCENDENTAL_PARALLEL_MIN = 8192     # sigmoid, tanh
SOFTMAX_PARALLEL_MIN = 8192            # softmax family, rows x K
BATCHNORM_PARALLEL_MIN = 32768         # batch-norm statistics, forward, backward (input elements)
NORM_PARALLEL_MIN = 65536              # layer_norm / group_norm, input elements
EMBEDDING_PARALLEL_MIN = 262144        # embedding lookup / scatter-add, elements moved
POOL_PARALLEL_MIN = 65536              # max / avg pooling, input elements
CONV_COPY_PARALLEL_MIN = 65536         # direct conv's pack / unpack / widen, elements
#                                        copied (the pooling value: a copy costs less per element)
GLOBAL_POOL_PARALLEL_MIN = 262144      # global average pooling, input elements
# --- direct conv grad-weight with vectors along output channels (kernels/conv_weight_cvec.py)
CONV_CVEC_WEIGHT_MAX_BYTES = 24576     # grad_output bytes per image, C_out a multiple of lanes
CONV_CVEC_WEIGHT_MIN_TAPS = 48         # C_in * kH * kW

# --- streaming (non-temporal) stores for outputs that do not fit in L3
STREAMING_MIN_BYTES = 16 * 2**20     # activations but sigmoid / tanh forward (measured slower)


def n_chunks(size, threshold):
    """The ``n_chunks`` argument for a kernel call on ``size`` items: 1 below ``threshold``.

    Before a parallel call it also lets fastnn/_placement.py keep the pool's
    workers off the calling thread's CPU (a ~50 ns test when nothing moved).
    """
    if size < threshold:
        return 1
    return before_parallel()


def before_parallel():
    """Numba's thread count, once fastnn/_placement.py has kept the pool's workers off the
    calling thread's CPU. Call it before a parallel kernel that takes no ``n_chunks``
    (kernels/im2col.py's always run on every thread); ``n_chunks`` calls it for the rest.
    """
    threads = get_num_threads()
    if threads > 1:
        _placement.maybe_check(threads)
    return threads


def variant(kernels, name, size, threshold):
    """``(kernel, n_chunks)`` for a call on ``size`` items.

    ``kernels.<name>`` (serial, n_chunks=1) below ``threshold`` or on one
    thread, else ``kernels.<name>_parallel`` with one chunk per thread. The two
    are separate compiled kernels (kernels/_chunks.serial_and_parallel), so a
    call compiles only the one it runs.
    """
    n = n_chunks(size, threshold)
    return pick(kernels, name, n), n


def pick(kernels, name, n_chunks):
    """``kernels.<name>`` (serial) when n_chunks is 1, else ``kernels.<name>_parallel``."""
    return getattr(kernels, name if n_chunks == 1 else name + "_parallel")


def run(kernels, name, size, threshold, *args):
    """Call the :func:`variant` of ``kernels.<name>`` for ``size`` items: ``kernel(*args, n_chunks)``."""
    kernel, n = variant(kernels, name, size, threshold)
    return kernel(*args, n)
