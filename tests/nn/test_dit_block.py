"""Tests for minifm.nn.dit_block: the adaLN-Zero transformer block."""

import numpy as np

from helpers import key_bias_gradcheck
from minifm.gradcheck import numerical_gradient, rel_error
from minifm.nn.dit_block import DiTBlock

# Attention, LayerNorm, GELU and modulation are smooth; float64: the library bound for smooth ops.
BOUND = 1e-7


def _block(rng, well_scaled: bool) -> DiTBlock:
    block = DiTBlock(4, 2, 8, rng=rng, dtype=np.float64)
    if well_scaled:   # at adaLN-Zero init every gate is 0 and most gradients vanish
        for _, p in block.named_parameters():
            p.data[...] = rng.standard_normal(p.shape) * 0.5
    return block


def test_dit_block_starts_as_the_identity(rng):
    block = _block(rng, well_scaled=False)
    x, c = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))
    np.testing.assert_array_equal(block(x, c), x)
    dx, dc = block.backward(np.ones((2, 3, 4)))
    np.testing.assert_array_equal(dx, np.ones((2, 3, 4)))
    assert np.abs(block.ada.weight.grad).max() > 0       # the gates learn from the first step


def test_dit_block_gradients_match_numerical(rng):
    block = _block(rng, well_scaled=True)
    x, c = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))

    # The key bias's exact gradient is 0 (softmax ignores a shift of a whole row): checked apart.
    errors, key_bias = key_bias_gradcheck(_Fixed(block, c), x, None, rng, "attn.c_attn.bias")
    assert len(errors) == 1 + len(list(block.named_parameters()))
    assert max(errors.values()) < BOUND
    assert max(key_bias) < 1e-9
    y = block(x, c)
    dy = rng.standard_normal(y.shape)
    _, dc = block.backward(dy)
    assert rel_error(dc, numerical_gradient(lambda: block(x, c), c, dy)) < BOUND


class _Fixed:
    """The block as a one-input module (c held fixed), for check_module."""

    def __init__(self, block, c):
        self.block, self.c = block, c

    def __call__(self, x, mask=None):
        assert mask is None
        return self.block(x, self.c)

    def backward(self, dy):
        return self.block.backward(dy)[0]

    def zero_grad(self):
        self.block.zero_grad()

    def named_parameters(self):
        return self.block.named_parameters()
