"""Bad input to minifm.sampling: every argument is checked on every call (greedy included), and
logits at the edges (NaN, all -inf, +inf) get an error or the one token they make certain."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.sampling import apply_temperature, sample, softmax, top_k_filter, top_p_filter


@pytest.fixture
def logits() -> np.ndarray:
    return np.array([[0.0, 2.0, 1.0, -1.0]])


@pytest.mark.parametrize("rng", [0, None, "seed", np.random.RandomState(0)])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_sample_refuses_an_rng_that_is_not_a_generator(logits, rng, temperature):
    with pytest.raises(TypeError, match="rng must be a np.random.Generator"):
        sample(logits, rng, temperature=temperature)


@pytest.mark.parametrize("temperature, error, words", [
    ("0.5", TypeError, "temperature must be a number"),
    (True, TypeError, "temperature must be a number"),
    (None, TypeError, "temperature must be a number"),
    (-0.5, ValueError, "temperature must be >= 0"),
    (np.inf, ValueError, "temperature must be a finite number"),
    (np.nan, ValueError, "temperature must be a finite number"),
])
def test_sample_refuses_a_bad_temperature(logits, temperature, error, words):
    with pytest.raises(error, match=words):
        sample(logits, np.random.default_rng(0), temperature=temperature, top_k=1)


def test_apply_temperature_refuses_zero_and_infinity(logits):
    with pytest.raises(ValueError, match="greedy"):
        apply_temperature(logits, 0)
    with pytest.raises(ValueError, match="finite"):
        apply_temperature(logits, float("inf"))


@pytest.mark.parametrize("temperature", [0.0, 0.7])
@pytest.mark.parametrize("top_k, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError),
                                          ("3", TypeError), (False, TypeError)])
def test_top_k_is_checked_even_when_greedy(logits, temperature, top_k, error):
    with pytest.raises(error, match="top_k must be (an|a positive) int"):
        sample(logits, np.random.default_rng(0), temperature=temperature, top_k=top_k)


@pytest.mark.parametrize("temperature", [0.0, 0.7])
@pytest.mark.parametrize("top_p, error", [(0.0, ValueError), (-0.1, ValueError),
                                          (1.5, ValueError), (np.nan, ValueError),
                                          ("0.9", TypeError), (True, TypeError)])
def test_top_p_is_checked_even_when_greedy(logits, temperature, top_p, error):
    with pytest.raises(error, match="top_p must be"):
        sample(logits, np.random.default_rng(0), temperature=temperature, top_p=top_p)


@pytest.mark.parametrize("function", [
    lambda x: sample(x, np.random.default_rng(0)),
    lambda x: sample(x, np.random.default_rng(0), temperature=0),
    lambda x: top_k_filter(x, 2), lambda x: top_p_filter(x, 0.9),
    lambda x: apply_temperature(x, 0.5),
])
def test_nan_logits_are_an_error_naming_where(function):
    x = np.array([[0.0, 1.0, 2.0], [0.0, np.nan, 1.0]])
    with pytest.raises(ValueError, match=r"logits holds NaN at index \(1, 1\)"):
        function(x)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_row_of_only_minus_inf_is_an_error(temperature):
    x = np.array([[0.0, 1.0], [-np.inf, -np.inf]])
    with pytest.raises(ValueError, match="logits row 1 is -inf everywhere"):
        sample(x, np.random.default_rng(0), temperature=temperature)


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.0, None, None), (1.0, None, None),
                                                       (5.0, 2, None), (0.3, None, 0.5),
                                                       (1.0, 1, 0.1)])
def test_one_plus_inf_logit_is_always_chosen(temperature, top_k, top_p):
    x = np.array([[3.0, 1.0, np.inf, 2.0], [0.0, 1.0, 2.0, 3.0]])
    rng = np.random.default_rng(0)
    for _ in range(20):
        ids = sample(x, rng, temperature, top_k, top_p)
        assert ids[0] == 2
        assert 0 <= ids[1] < 4
    assert sample(x, rng, 0.0)[1] == 3          # the finite row is untouched


def test_several_plus_inf_logits_are_tied():
    x = np.array([[np.inf, 0.0, np.inf, 5.0]])
    np.testing.assert_array_equal(softmax(x), [[0.5, 0.0, 0.5, 0.0]])
    assert sample(x, np.random.default_rng(0), temperature=0)[0] == 0    # ties: lower id
    drawn = {int(sample(x, np.random.default_rng(s))[0]) for s in range(40)}
    assert drawn == {0, 2}


def test_plus_inf_in_float32_logits_keeps_the_dtype():
    x = np.array([[0.0, np.inf]], dtype=np.float32)
    assert softmax(x).dtype == np.float32
    np.testing.assert_array_equal(softmax(x), [[0.0, 1.0]])


@pytest.mark.parametrize("bad, error", [([[0.0, 1.0]], TypeError), (np.zeros(3), ValueError),
                                        (np.zeros((2, 0)), ValueError),
                                        (np.arange(4).reshape(1, 4), TypeError)])
def test_logits_must_be_a_float_array_of_shape_b_v(bad, error):
    with pytest.raises(error, match="logits"):
        sample(bad, np.random.default_rng(0))
