"""Data sets for examples and the demo (needs the ``examples`` extra: scikit-learn).

Only loading and batching live here; fastnn's kernels do not depend on this module.
"""
import numpy as np

__all__ = ["load_digits", "minibatches"]


def _sklearn():
    try:
        import sklearn.datasets
        import sklearn.model_selection
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fastnn.data needs scikit-learn for the digits data set; install the examples "
            "extra: pip install -e \".[examples]\"") from exc
    return sklearn


def load_digits(test_size=0.2, seed=0, dtype=np.float32):
    """scikit-learn's 8x8 handwritten digits, as NCHW images, split into train and test.

    The 1,797 images (UCI ML hand-written digits, 16 grey levels) are scaled
    to [0, 1] by dividing by 16 and reshaped to (N, 1, 8, 8). The split is
    stratified by class (sklearn.model_selection.train_test_split), so both
    parts have the same class proportions.

    Parameters
    ----------
    test_size : float in (0, 1), the fraction held out for testing (default 0.2)
    seed : int, fixes the split
    dtype : float32 (default) or float64, the image dtype

    Returns
    -------
    x_train, x_test : ndarray (N, 1, 8, 8) of ``dtype``, values in [0, 1]
    y_train, y_test : ndarray (N,) int64, class indices 0-9

    Raises
    ------
    ImportError if scikit-learn is not installed; ValueError for test_size outside (0, 1).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"load_digits(): test_size must be in (0, 1), got {test_size!r}")
    sklearn = _sklearn()
    digits = sklearn.datasets.load_digits()
    x = (digits.data / 16.0).astype(dtype).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    return sklearn.model_selection.train_test_split(x, y, test_size=test_size, stratify=y,
                                                    random_state=seed)


def minibatches(x, y, batch_size, rng=None):
    """Yield (x_batch, y_batch) pairs covering x, y once, shuffled when ``rng`` is given.

    Batches are C-contiguous copies; the last one may be smaller than
    ``batch_size``. ``rng`` is a numpy Generator (or None for the stored order).
    """
    if len(x) != len(y):
        raise ValueError(f"minibatches(): x and y must have the same length, "
                         f"got {len(x)} and {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"minibatches(): batch_size must be a positive int, got {batch_size!r}")
    order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]
