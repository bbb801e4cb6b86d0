"""Tests for minifm.functional.unpatchify: the pair whose backward is patchify."""

import numpy as np

from minifm.functional.patches import patchify, unpatchify
from minifm.functional.unpatchify import unpatchify_backward, unpatchify_forward
from minifm.gradcheck import check_pair, worst

# A permutation is linear: the library bound for smooth functional pairs.
BOUND = 1e-7


def test_unpatchify_forward_is_unpatchify(rng):
    patches = rng.standard_normal((2, 4, 12))
    images, _ = unpatchify_forward(patches, 2, (4, 4))
    np.testing.assert_array_equal(images, unpatchify(patches, 2, (4, 4)))
    np.testing.assert_array_equal(patchify(images, 2), patches)


def test_unpatchify_backward_matches_numerical(rng):
    patches = rng.standard_normal((2, 6, 12))              # a 4 x 6 image of 2 x 2 x 3 patches
    results = check_pair(lambda p: unpatchify_forward(p, 2, (4, 6)), unpatchify_backward,
                         [patches], rng=rng)
    assert worst(results) < BOUND
