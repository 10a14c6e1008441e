"""Command line: ``python -m fastnn demo [options]`` (see ``python -m fastnn demo --help``)."""
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
    args = parser.parse_args(argv)

    if args.command == "demo":
        from .demo import run
        run(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
            seed=args.seed, backend=args.backend, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
