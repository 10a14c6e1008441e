"""Compatibility module: the containers live in :mod:`fastnn.containers`, saving and
loading in :mod:`fastnn.serialization`. ``fastnn.model.X`` keeps working for both."""
from .containers import Concat, Residual, Sequential  # noqa: F401
from .serialization import FORMAT_VERSION, load, load_state, save  # noqa: F401

__all__ = ["Sequential", "Residual", "Concat", "save", "load", "load_state", "FORMAT_VERSION"]
