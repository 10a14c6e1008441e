"""Train a small CNN on the 8x8 digits with fastnn.fit, then look inside it with fastnn.vis.

The whole training loop is one fit() call; evaluate() gives the test loss and
accuracy; the pictures go to --plots (default: no pictures).

    pip install -e ".[examples]"
    python examples/digits_cnn.py --epochs 8 --plots out/
"""
import argparse
import os

import fastnn
from fastnn import vis
from fastnn.data import load_digits


def main(backend="numba", epochs=8, plots=None, progress=True):
    x_train, x_test, y_train, y_test = load_digits(seed=0)
    with fastnn.backend(backend):
        model = fastnn.Sequential(
            fastnn.Conv2d(1, 16, 3, padding=1, rng=0), fastnn.ReLU(), fastnn.MaxPool2d(2),
            fastnn.Conv2d(16, 32, 3, padding=1, rng=1), fastnn.ReLU(), fastnn.MaxPool2d(2),
            fastnn.Flatten(), fastnn.Linear(32 * 2 * 2, 10, rng=2))
        loss = fastnn.CrossEntropyLoss()
        history = fastnn.fit(model, loss, fastnn.SGD(model, lr=0.05, momentum=0.9),
                             fastnn.DataLoader(x_train, y_train, 32, shuffle=True, seed=0),
                             epochs=epochs, val_data=(x_test, y_test), progress=progress)
        test_loss, test_acc = fastnn.evaluate(model, loss, (x_test, y_test))
        print(f"test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")
        print(f"receptive field of the last pooling layer: {vis.receptive_field(model, 5)}")
        if plots:
            os.makedirs(plots, exist_ok=True)
            vis.plot_filters(model[0], path=os.path.join(plots, "filters.png"))
            vis.plot_feature_maps(model, x_test[0], 1, path=os.path.join(plots, "maps.png"))
            vis.max_activating_patches(model, x_test, 4, channel=0,
                                       path=os.path.join(plots, "patches.png"))
            vis.plot_saliency(model, x_test[:8], y_test[:8],
                              path=os.path.join(plots, "saliency.png"))
            vis.plot_history(history, path=os.path.join(plots, "history.png"))
            print(f"pictures in {plots}")
    return history, test_acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--plots", metavar="DIR", default=None)
    args = parser.parse_args()
    main(args.backend, args.epochs, args.plots)
