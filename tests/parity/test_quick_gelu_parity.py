"""Quick GELU (minifm.nn.GELU("sigmoid")) against PyTorch's x * sigmoid(1.702 x), which is
transformers' "quick_gelu": output and input gradient agree to 1e-10 in float64 (rtol 0)."""

import numpy as np
import pytest

from minifm.nn import GELU

torch = pytest.importorskip("torch")

ATOL = 1e-10


def test_quick_gelu_matches_torch(rng):
    x, dout = rng.standard_normal((2, 3, 8)) * 3, rng.standard_normal((2, 3, 8))
    gelu = GELU("sigmoid")
    y = gelu(x)
    dx = gelu.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    ty = tx * torch.sigmoid(1.702 * tx)
    ty.backward(torch.tensor(dout))
    assert np.abs(y - ty.detach().numpy()).max() <= ATOL
    assert np.abs(dx - tx.grad.numpy()).max() <= ATOL
