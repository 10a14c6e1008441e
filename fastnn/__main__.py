"""Command line: ``python -m fastnn demo|bench|warmup [options]`` (see ``python -m fastnn demo --help``)."""
import argparse
import sys


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def main(argv=None):
    from .demo import DEFAULTS

    parser = argparse.ArgumentParser(prog="python -m fastnn",
                                     description="fastnn: Numba-compiled neural-network kernels.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="train a small CNN on scikit-learn's 8x8 handwritten digits",
        description="Train conv-relu-pool-conv-relu-pool-linear on scikit-learn's 1,797 8x8 "
                    "handwritten digits (20% held out as a stratified test set) with SGD, "
                    "printing loss, accuracy and time per epoch for the Numba backend and the "
                    "NumPy reference backend side by side. Needs the examples extra: "
                    "pip install -e \".[examples]\".")
    demo.add_argument("--epochs", type=_positive_int, default=DEFAULTS["epochs"],
                      help="passes over the training set")
    demo.add_argument("--batch-size", type=_positive_int, default=DEFAULTS["batch_size"],
                      help="images per SGD step")
    demo.add_argument("--lr", type=_positive_float, default=DEFAULTS["lr"], help="learning rate")
    demo.add_argument("--momentum", type=_non_negative_float, default=DEFAULTS["momentum"],
                      help="SGD momentum")
    demo.add_argument("--backend", choices=["numba", "numpy", "both"],
                      default=DEFAULTS["backend"],
                      help="'numba' (compiled kernels), 'numpy' (reference) or both, one "
                           "after the other from the same initial weights")
    demo.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                      help="fixes the train/test split, the initial weights and batch order")
    demo.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bars")
    demo.add_argument("--plots", metavar="DIR", default=None,
                      help="also write filters.png, feature_maps.png, max_patches.png, "
                           "saliency.png and history.png (fastnn.vis) for the trained network "
                           "into DIR (needs matplotlib; works without a display)")
    _add_bench_parser(sub)
    _add_warmup_parser(sub)
    args = parser.parse_args(argv)

    if args.command == "demo":
        from .demo import run
        run(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
            seed=args.seed, backend=args.backend, progress=not args.no_progress,
            plots=args.plots)
    elif args.command == "bench":
        from .bench import run as run_bench
        run_bench(only=args.only, repeat=args.repeat, quick=args.quick, markdown=args.markdown,
                  peak_gflops_override=args.peak_gflops, threads=args.threads, tiny=args.tiny)
    elif args.command == "warmup":
        return _run_warmup(args)
    return 0


def _add_warmup_parser(sub):
    from ._warmup import _default_processes
    warm = sub.add_parser(
        "warmup", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="compile every kernel into Numba's on-disk cache, ahead of time",
        description="Compile every fastnn kernel (serial, parallel and streaming variants of "
                    "every op and its backward) into Numba's on-disk cache, in parallel worker "
                    "processes, so that no later program on this machine pauses to compile. "
                    "The cache is tied to the CPU (its name and features are part of the key): "
                    "build it on the machine, or in the Docker image, that runs the code. "
                    "NUMBA_CACHE_DIR chooses where it lives.")
    warm.add_argument("--dtypes", default="float32", metavar="DTYPES",
                      help="comma-separated: float32, float64 or float32,float64")
    warm.add_argument("--processes", type=_positive_int, default=_default_processes(),
                      help="worker processes compiling in parallel (default: the CPU cores)")
    warm.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _run_warmup(args):
    from . import _warmup
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    where = _warmup.cache_dir()
    print(f"fastnn warmup: {', '.join(dtypes)}, {args.processes} process(es); kernel cache: "
          f"{where if where else 'off (FASTNN_NO_CACHE=1 or not writable): nothing is kept'}",
          flush=True)
    seconds = _warmup.warmup(dtypes=dtypes, processes=args.processes,
                             progress=not args.no_progress)
    print(f"fastnn warmup: done in {seconds:.1f} s")
    return 0


def _groups(text):
    from .bench import GROUPS
    names = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in names if g not in GROUPS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list from {','.join(GROUPS)}, got {text!r}")
    return names


def _add_bench_parser(sub):
    from .bench import GROUPS
    bench = sub.add_parser(
        "bench", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="time fastnn against NumPy and PyTorch CPU, with a roofline",
        description="Time fastnn's ops (GEMM, conv2d forward/backward, elementwise, softmax "
                    "family, the digits demo's training epoch, cold start, threading) against "
                    "idiomatic NumPy, fastnn.reference (conv2d and the demo) and PyTorch CPU "
                    "(when installed; '-' otherwise), with the same thread count everywhere. "
                    "Prints milliseconds per call (median; warm-up call excluded; rotating "
                    "order, each sample once the other thread pools are idle), speed-ups "
                    "(other time / fastnn time), GFLOP/s or GB/s and the percentage of the "
                    "machine's fp32 peak or copy bandwidth (measured with the same threads).")
    bench.add_argument("--only", type=_groups, default=None, metavar="GROUPS",
                       help=f"comma-separated subset of: {','.join(GROUPS)} (default: all)")
    bench.add_argument("--repeat", type=_positive_int, default=None,
                       help="timed samples per implementation (default 7; 3 with --quick, "
                            "1 with --tiny)")
    bench.add_argument("--quick", action="store_true",
                       help="fewer repeats and a subset of the shapes (about a minute)")
    bench.add_argument("--markdown", action="store_true",
                       help="print the table as GitHub markdown (for the README)")
    bench.add_argument("--peak-gflops", type=_positive_float, default=None,
                       help="fp32 peak to use for '%% roof' instead of the measured "
                            "one (register-only FMA chains on the bench's threads)")
    bench.add_argument("--threads", type=_positive_int, default=None,
                       help="threads for fastnn, torch and BLAS (default: "
                            "fastnn.get_num_threads())")
    bench.add_argument("--tiny", action="store_true",
                       help="smoke test (CI): every group on tiny shapes, one sample; the "
                            "figures mean nothing")


if __name__ == "__main__":
    sys.exit(main())
