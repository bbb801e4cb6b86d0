import os

# Tests train tiny models: one BLAS thread is as fast for them and keeps timings steady on a
# shared machine (multi-threaded OpenBLAS on small matrices spins badly when the cores are busy).
# Set before NumPy is imported; notebook kernels started by the tests inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib
import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
matplotlib.use("Agg")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every test is reproducible."""
    return np.random.default_rng(1234)
