"""Response-only targets, the masked SFT loss they give, and token / sequence log-probs.

Every op here is smooth in the logits, so each float64 central-difference check asserts a
relative error below 1e-7.
"""

import numpy as np
import pytest

from minifm.functional.losses import IGNORE_INDEX, cross_entropy_backward, cross_entropy_forward
from minifm.functional.sequence_logprob import (response_targets, sequence_logprob_backward,
                                                sequence_logprob_forward, token_logprob_backward,
                                                token_logprob_forward)
from minifm.gradcheck import check_pair, worst

B, T, V = 2, 5, 6
# two rows of prompt + response (+ padding 0 at the end of row 1); 1 marks the response
TOKENS = np.array([[3, 4, 1, 5, 2, 2], [4, 1, 3, 5, 0, 0]])
RESPONSE = np.array([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 0, 0]])


def test_response_targets_shift_the_mask_with_the_targets():
    idx, targets = response_targets(TOKENS, RESPONSE)
    np.testing.assert_array_equal(idx, TOKENS[:, :-1])
    I = IGNORE_INDEX
    np.testing.assert_array_equal(targets, [[I, I, 5, 2, 2], [I, 3, 5, I, I]])


def test_masked_cross_entropy_averages_response_tokens_only(rng):
    _, targets = response_targets(TOKENS, RESPONSE)
    logits = rng.standard_normal((B, T, V))
    loss, _ = cross_entropy_forward(logits, targets)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picks = [-logp[b, t, targets[b, t]] for b in range(B) for t in range(T)
             if targets[b, t] != IGNORE_INDEX]
    assert len(picks) == 5 and abs(loss - np.mean(picks)) < 1e-14


def test_masked_cross_entropy_gives_prompt_positions_exactly_zero_gradient(rng):
    _, targets = response_targets(TOKENS, RESPONSE)
    logits = rng.standard_normal((B, T, V)) * 3
    loss, cache = cross_entropy_forward(logits, targets)
    dlogits = cross_entropy_backward(1.0, cache)
    prompt = targets == IGNORE_INDEX
    assert np.all(dlogits[prompt] == 0.0)                      # exactly, not approximately
    assert np.all(np.abs(dlogits[~prompt]).sum(-1) > 0)
    # and the loss does not move at all when the prompt positions' logits change
    changed = logits.copy()
    changed[prompt] = rng.standard_normal((int(prompt.sum()), V)) * 10
    assert cross_entropy_forward(changed, targets)[0] == loss


def test_response_targets_rejects_bad_input():
    with pytest.raises(TypeError, match="tokens must be an integer"):
        response_targets(TOKENS.astype(float), RESPONSE)
    with pytest.raises(ValueError, match=r"shape \(B, T \+ 1\) = \(2, 6\)"):
        response_targets(TOKENS, RESPONSE[:, :-1])
    with pytest.raises(ValueError, match="first token of a row cannot be a response"):
        response_targets(TOKENS, np.ones_like(RESPONSE))
    with pytest.raises(ValueError, match="T \\+ 1 >= 2"):
        response_targets(TOKENS[:, :1], RESPONSE[:, :1])


def test_token_logprob_matches_log_softmax_and_is_zero_where_ignored(rng):
    _, targets = response_targets(TOKENS, RESPONSE)
    logits = rng.standard_normal((B, T, V))
    logp, _ = token_logprob_forward(logits, targets)
    ref = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    for b in range(B):
        for t in range(T):
            want = 0.0 if targets[b, t] == IGNORE_INDEX else ref[b, t, targets[b, t]]
            assert abs(logp[b, t] - want) < 1e-14


def test_sequence_logprob_is_minus_the_summed_cross_entropy(rng):
    _, targets = response_targets(TOKENS, RESPONSE)
    logits = rng.standard_normal((B, T, V))
    s, _ = sequence_logprob_forward(logits, targets)
    assert s.shape == (B,)
    for b in range(B):
        loss, _ = cross_entropy_forward(logits[b:b + 1], targets[b:b + 1])
        n = int((targets[b] != IGNORE_INDEX).sum())
        assert abs(s[b] + n * loss) < 1e-13


def test_token_logprob_backward_matches_numerical(rng):
    _, targets = response_targets(TOKENS, RESPONSE)
    res = check_pair(lambda x: token_logprob_forward(x, targets), token_logprob_backward,
                     [rng.standard_normal((B, T, V))], rng=rng)
    assert worst(res) < 1e-7


def test_sequence_logprob_backward_matches_numerical_and_zeroes_the_prompt(rng):
    _, targets = response_targets(TOKENS, RESPONSE)
    logits = rng.standard_normal((B, T, V))
    res = check_pair(lambda x: sequence_logprob_forward(x, targets), sequence_logprob_backward,
                     [logits], rng=rng)
    assert worst(res) < 1e-7
    _, cache = sequence_logprob_forward(logits, targets)
    dlogits = sequence_logprob_backward(np.array([1.0, -2.0]), cache)
    assert np.all(dlogits[targets == IGNORE_INDEX] == 0.0)
    np.testing.assert_allclose(dlogits.sum(-1), 0.0, atol=1e-15)   # onehot - softmax rows


def test_sequence_logprob_keeps_float32_and_is_stable_for_huge_logits():
    logits = np.zeros((1, 2, 3), dtype=np.float32)
    logits[0, :, 0] = 1000.0
    s, cache = sequence_logprob_forward(logits, np.array([[0, 1]]))
    assert s.dtype == np.float32 and np.isfinite(s).all() and abs(s[0] + 1000.0) < 1e-3
    d = sequence_logprob_backward(np.ones(1, dtype=np.float32), cache)
    assert d.dtype == np.float32 and np.isfinite(d).all()


def test_token_logprob_rejects_bad_targets(rng):
    logits = rng.standard_normal((B, T, V))
    with pytest.raises(ValueError, match=r"targets must have shape \(B, T\) = \(2, 5\)"):
        token_logprob_forward(logits, np.zeros((B, T + 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 6\)"):
        token_logprob_forward(logits, np.full((B, T), V))
    with pytest.raises(TypeError, match="targets must be an integer"):
        token_logprob_forward(logits, np.zeros((B, T)))
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        token_logprob_forward(logits[0], np.zeros((B, T), dtype=np.int64))
    _, cache = token_logprob_forward(logits, np.zeros((B, T), dtype=np.int64))
    with pytest.raises(ValueError, match="dlogp must have the forward output's shape"):
        token_logprob_backward(np.ones(B), cache)
