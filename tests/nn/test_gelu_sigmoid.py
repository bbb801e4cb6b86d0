"""minifm.nn.GELU("sigmoid"): the quick GELU of OpenAI's CLIP as a module, and in a block."""

import numpy as np

from helpers import key_bias_gradcheck
from minifm.gradcheck import check_module, worst
from minifm.nn import GELU
from minifm.nn.transformer import TransformerBlock

BOUND = 1e-7   # a smooth op; float64, h = 1e-5


def test_sigmoid_gelu_module_gradient_matches_numerical(rng):
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4)[:, :, rng.permutation(4)]
    result = check_module(GELU("sigmoid"), x, rng=rng)
    assert list(result) == ["x"] and worst(result) < BOUND


def test_sigmoid_gelu_module_computes_x_sigmoid_1702x(rng):
    x = rng.standard_normal((2, 5)).astype(np.float32)
    y = GELU("sigmoid")(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x / (1 + np.exp(-1.702 * x)), rtol=1e-6, atol=1e-7)


def test_block_with_quick_gelu_matches_numerical(rng):
    # the whole-model bound 1e-5, for the reason given in tests/nn/test_transformer.py; the key
    # bias has no gradient at all (softmax ignores a constant per row) and is checked apart
    block = TransformerBlock(4, 2, 8, causal=True, approximate="sigmoid", rng=rng,
                             dtype=np.float64)
    assert block.mlp.gelu.approximate == "sigmoid"
    for _, p in block.named_parameters():
        p.data += rng.standard_normal(p.shape) * 0.5
    errors, key_bias = key_bias_gradcheck(block, rng.standard_normal((2, 3, 4)), None, rng,
                                          bias="attn.c_attn.bias")
    assert max(errors.values()) < 1e-5, errors
    assert max(key_bias) < 1e-9
