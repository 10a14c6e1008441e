import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded generator, fresh for every test, so each test is reproducible on its own."""
    return np.random.default_rng(20261123)


# Hypothesis profiles for the property-based tests (tests/test_properties.py).
# "ci" (the default) keeps the whole suite fast on a 2-core machine; choose
# another with HYPOTHESIS_PROFILE=thorough (or pytest --hypothesis-profile=thorough).
# deadline=None: the first example of an op pays Numba's JIT compile (seconds).
# derandomize=True in "ci": the same examples every run, so CI never flakes on
# a new random example; "thorough" explores fresh random examples each run.
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
