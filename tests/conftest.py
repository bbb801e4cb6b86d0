import os

import matplotlib
import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every test is reproducible."""
    return np.random.default_rng(1234)
