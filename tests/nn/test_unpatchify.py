"""Tests for minifm.nn.unpatchify."""

import numpy as np
import pytest

from minifm.functional.patches import patchify
from minifm.gradcheck import check_module, worst
from minifm.nn.unpatchify import Unpatchify

BOUND = 1e-7   # a permutation: exact up to round-off


def test_unpatchify_undoes_patchify(rng):
    images = rng.standard_normal((2, 4, 4, 3))
    np.testing.assert_array_equal(Unpatchify(4, 2, 3)(patchify(images, 2)), images)


def test_unpatchify_backward_matches_numerical(rng):
    results = check_module(Unpatchify(4, 2, 3), rng.standard_normal((2, 4, 12)), rng=rng)
    assert worst(results) < BOUND


def test_bad_input_is_refused(rng):
    m = Unpatchify(4, 2, 3)
    with pytest.raises(ValueError, match=r"Unpatchify patches must have shape \(B, P=4, K=12\)"):
        m(rng.standard_normal((2, 4, 11)))
    m(rng.standard_normal((2, 4, 12)))
    with pytest.raises(ValueError, match="Unpatchify dimages must have the forward output's"):
        m.backward(rng.standard_normal((2, 4, 4, 2)))
    with pytest.raises(ValueError, match="not divisible"):
        Unpatchify(5, 2, 3)
