"""Tests for minifm.functional.positional."""

import math

import numpy as np
import pytest

from minifm.functional.positional import sinusoidal_encoding


@pytest.mark.parametrize("C", [8, 7])
def test_sinusoidal_encoding_matches_paper_formula(C):
    T = 6
    pe = sinusoidal_encoding(T, C, np.float64)
    assert pe.shape == (T, C) and pe.dtype == np.float64
    for pos in range(T):
        for d in range(C):
            angle = pos / 10000 ** ((d - d % 2) / C)
            expected = math.sin(angle) if d % 2 == 0 else math.cos(angle)
            assert abs(pe[pos, d] - expected) < 1e-12


def test_sinusoidal_offset_is_a_rotation_of_each_pair():
    C, k = 8, 3
    pe = sinusoidal_encoding(10, C, np.float64)
    for i in range(C // 2):
        w = 10000 ** (-2 * i / C)
        rot = np.array([[math.cos(k * w), -math.sin(k * w)], [math.sin(k * w), math.cos(k * w)]])
        pair = pe[:, 2 * i: 2 * i + 2]                  # rows (sin(pos w), cos(pos w))
        np.testing.assert_allclose(pair[:-k] @ rot, pair[k:], atol=1e-12)


def test_sinusoidal_encoding_keeps_dtype_and_handles_empty():
    assert sinusoidal_encoding(4, 6, np.float32).dtype == np.float32
    assert sinusoidal_encoding(0, 6).shape == (0, 6)
    with pytest.raises(ValueError, match="C > 0"):
        sinusoidal_encoding(4, 0)
