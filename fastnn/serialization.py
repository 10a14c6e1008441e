"""Saving and loading models as .npz files (no pickle), with their architecture as JSON."""
import json
import os
import tempfile
import zipfile

import numpy as np

from .layers import Layer

__all__ = ["save", "load", "load_state", "FORMAT_VERSION"]


FORMAT_VERSION = 1
_VERSION_KEY = "__fastnn_format__"
_ARCH_KEY = "__fastnn_architecture__"


def _architecture(layer):
    """JSON-able spec {class, module, config, children} of ``layer``, or None if not rebuildable."""
    config = layer.config()
    if config is None:
        return None
    children = [_architecture(child) for _, child in layer.children()]
    if any(c is None for c in children):
        return None
    return {"class": type(layer).__name__, "module": type(layer).__module__,
            "config": config, "children": children}


def save(model, path):
    """Save ``model`` (any Layer) to the .npz file ``path`` (the name is used as given).

    The file holds a format version (:data:`FORMAT_VERSION`), every array of
    ``model.state_dict()`` (parameters and buffers, under their dotted names)
    and, when every layer returns a :meth:`~fastnn.Layer.config`, the
    architecture as a JSON string, so :func:`load` can rebuild the model. It is
    written without pickle (every entry is a plain numeric or string array) to a
    temporary file in the same directory that then replaces ``path``
    atomically (``os.replace``): an interrupted save never leaves a half-written
    file under ``path``.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"save(): model must be a fastnn Layer, got {type(model).__name__}")
    path = os.fspath(path)
    arrays = {}
    for name, a in model.state_dict().items():
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "biufc":
            raise TypeError(f"save(): state entry {name!r} must be a numeric ndarray (saved "
                            f"without pickle), got {type(a).__name__} "
                            f"{getattr(a, 'dtype', '')}".rstrip())
        arrays[name] = np.ascontiguousarray(a)
    arrays[_VERSION_KEY] = np.array(FORMAT_VERSION, dtype=np.int64)
    arch = _architecture(model)
    arrays[_ARCH_KEY] = np.array(json.dumps(arch))  # "null" when not rebuildable
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _read(path, op):
    """{name: array} of a fastnn .npz file; ValueError naming ``path`` if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{op}(): no such file: {path!r}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{op}(): {path!r} is not a readable .npz file (corrupt or "
                         f"truncated?): {exc}") from None
    if not isinstance(arrays, dict) or _VERSION_KEY not in arrays:
        raise ValueError(f"{op}(): {path!r} is not a fastnn model file (no "
                         f"{_VERSION_KEY!r} entry; was it written by fastnn.save?)")
    version = arrays.pop(_VERSION_KEY)
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
        shown = version.tolist() if version.size < 10 else f"an array of shape {version.shape}"
        raise ValueError(f"{op}(): {path!r} has fastnn file format version {shown}; this "
                         f"fastnn reads version {FORMAT_VERSION}")
    arch = arrays.pop(_ARCH_KEY, None)
    if arch is None or arch.dtype.kind != "U" or arch.shape != ():
        raise ValueError(f"{op}(): {path!r} has no valid {_ARCH_KEY!r} entry")
    try:
        arch = json.loads(str(arch))
    except ValueError as exc:
        raise ValueError(f"{op}(): {path!r}: the architecture is not valid JSON: {exc}") from None
    return arrays, arch


def load_state(model, path):
    """Load the parameters and buffers saved in ``path`` into the existing ``model``.

    Works for every file :func:`save` writes, with or without an architecture.
    Raises ValueError naming ``path`` for a file that is not a readable .npz, an
    .npz not written by fastnn, another format version, or arrays that do not
    match the model (missing/unexpected names, different shapes);
    FileNotFoundError if ``path`` does not exist. Nothing is modified unless
    everything matches.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"load_state(): model must be a fastnn Layer, got {type(model).__name__}")
    arrays, _ = _read(path, "load_state")
    try:
        model.load_state_dict(arrays)
    except ValueError as exc:
        raise ValueError(f"load_state(): {os.fspath(path)!r} does not fit this model: {exc}") \
            from None


def _moved_class(key, classes):
    """A fastnn class saved under a module it has since moved out of (fastnn.model ->
    fastnn.containers, fastnn.layers -> fastnn.layers_norm): found by its unique name."""
    module, name = key
    if not module.startswith("fastnn."):
        return None
    found = [cls for (mod, cname), cls in classes.items()
             if cname == name and mod.startswith("fastnn.")]
    return found[0] if len(found) == 1 else None


def _layer_classes():
    found, todo = {}, [Layer]
    while todo:
        cls = todo.pop()
        found[(cls.__module__, cls.__name__)] = cls
        todo.extend(cls.__subclasses__())
    return found


def _build(spec, classes, path):
    try:
        key = (spec["module"], spec["class"])
        config, children = spec["config"], spec["children"]
    except (TypeError, KeyError):
        raise ValueError(f"load(): {path!r}: malformed architecture entry {spec!r}") from None
    cls = classes.get(key) or _moved_class(key, classes)
    if cls is None:
        raise ValueError(f"load(): {path!r} needs layer class {key[0]}.{key[1]}, which is not "
                         "defined in this process (import the module that defines it first)")
    kids = [_build(child, classes, path) for child in children]
    try:
        return cls(*kids, **config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"load(): {path!r}: cannot rebuild {cls.__name__} from its stored "
                         f"config {config!r}: {exc}") from None


def load(path):
    """Rebuild and return the model saved in ``path`` by :func:`save` / ``model.save(path)``.

    Only classes that are subclasses of :class:`fastnn.Layer` already defined in
    this process are instantiated (looked up by module and name; nothing is
    unpickled or imported). Raises ValueError (naming ``path``) as
    :func:`load_state` does, and also when the file stores no architecture (a
    layer without :meth:`~fastnn.Layer.config` was saved: build the model and
    call ``model.load_state(path)`` instead).
    """
    arrays, arch = _read(path, "load")
    path = os.fspath(path)
    if arch is None:
        raise ValueError(f"load(): {path!r} stores parameters but no architecture (a layer in "
                         "the saved model has no config()); build the model in code and call "
                         "model.load_state(path)")
    model = _build(arch, _layer_classes(), path)
    try:
        model.load_state_dict(arrays)
    except ValueError as exc:
        raise ValueError(f"load(): {path!r} is inconsistent: {exc}") from None
    return model
