"""Cross-entropy and CLIP's contrastive loss: values, ignore_index, stability, gradients.

Both losses are smooth in their float inputs, so every float64 gradient check asserts a relative
error below 1e-7.
"""

import numpy as np
import pytest

from minifm.functional.losses import (contrastive_loss_backward, contrastive_loss_forward,
                                      cross_entropy_backward, cross_entropy_forward)
from minifm.gradcheck import check_pair, worst

N, V = 5, 4


def naive_cross_entropy(logits, targets, ignore_index=-100):
    """Mean of -log(exp(x_t) / sum exp(x)) over the kept rows, one row at a time."""
    losses = [-np.log(np.exp(x[t]) / np.exp(x).sum())
              for x, t in zip(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
              if t != ignore_index]
    return float(np.mean(losses))


def test_cross_entropy_matches_the_definition(rng):
    logits = rng.standard_normal((N, V))
    targets = rng.integers(0, V, N)
    loss, _ = cross_entropy_forward(logits, targets)
    assert isinstance(loss, float)
    assert abs(loss - naive_cross_entropy(logits, targets)) < 1e-14


def test_cross_entropy_of_uniform_logits_is_log_v():
    loss, _ = cross_entropy_forward(np.zeros((3, 7)), np.array([0, 3, 6]))
    assert abs(loss - np.log(7)) < 1e-15


def test_cross_entropy_backward_matches_numerical(rng):
    logits = rng.standard_normal((N, V))
    targets = rng.integers(0, V, N)
    res = check_pair(lambda x: cross_entropy_forward(x, targets), cross_entropy_backward,
                     [logits], rng=rng)
    assert worst(res) < 1e-7


def test_cross_entropy_on_3d_logits_with_ignore_index_matches_numerical(rng):
    logits = rng.standard_normal((2, 3, V))
    targets = np.array([[1, -100, 3], [-100, 0, 2]])
    loss, cache = cross_entropy_forward(logits, targets)
    assert abs(loss - naive_cross_entropy(logits, targets)) < 1e-14
    dlogits = cross_entropy_backward(1.0, cache)
    assert dlogits.shape == logits.shape
    assert np.all(dlogits[0, 1] == 0.0) and np.all(dlogits[1, 0] == 0.0)
    res = check_pair(lambda x: cross_entropy_forward(x, targets), cross_entropy_backward,
                     [logits], rng=rng)
    assert worst(res) < 1e-7


def test_cross_entropy_with_a_custom_ignore_index(rng):
    logits = rng.standard_normal((N, V))
    targets = np.array([0, 1, 0, 3, 2])
    loss, _ = cross_entropy_forward(logits, targets, ignore_index=0)
    assert abs(loss - naive_cross_entropy(logits, targets, ignore_index=0)) < 1e-14


def test_cross_entropy_with_every_target_ignored_is_zero_with_zero_gradient(rng):
    logits = rng.standard_normal((N, V)).astype(np.float32)
    loss, cache = cross_entropy_forward(logits, np.full(N, -100))
    assert loss == 0.0
    dlogits = cross_entropy_backward(1.0, cache)
    assert dlogits.dtype == np.float32 and not dlogits.any()


def test_cross_entropy_gradient_rows_sum_to_zero_and_keep_dtype(rng):
    logits = rng.standard_normal((N, V)).astype(np.float32)
    loss, cache = cross_entropy_forward(logits, rng.integers(0, V, N))
    dlogits = cross_entropy_backward(2.0, cache)
    assert dlogits.dtype == np.float32
    np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-7)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=np.float32)
    loss, cache = cross_entropy_forward(logits, np.array([1, 1]))
    assert np.isfinite(loss) and abs(loss - 1000.0) < 1e-3    # (1000 + 1000) / 2
    assert np.all(np.isfinite(cross_entropy_backward(1.0, cache)))


def test_cross_entropy_rejects_bad_targets(rng):
    logits = rng.standard_normal((N, V))
    with pytest.raises(TypeError, match="integer class ids"):
        cross_entropy_forward(logits, np.zeros(N))
    with pytest.raises(TypeError, match="floating-point logits"):
        cross_entropy_forward(np.zeros((N, V), dtype=np.int64), np.zeros(N, dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[0, 4\) or ignore_index=-100, got 4"):
        cross_entropy_forward(logits, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="got -1"):
        cross_entropy_forward(logits, np.array([0, -1, 2, 3, 1]))
    with pytest.raises(ValueError, match=r"targets must have shape \(5,\)"):
        cross_entropy_forward(logits, np.zeros((N, 1), dtype=np.int64))


# ---- contrastive loss ---------------------------------------------------------------------

def unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_contrastive_loss_matches_the_clip_formula(rng):
    img, txt = unit_rows(rng.standard_normal((N, 3))), unit_rows(rng.standard_normal((N, 3)))
    s = np.log(1 / 0.07)
    loss, _ = contrastive_loss_forward(img, txt, s)
    logits = np.exp(s) * img @ txt.T
    labels = np.arange(N)
    expected = (naive_cross_entropy(logits, labels) + naive_cross_entropy(logits.T, labels)) / 2
    assert abs(loss - expected) < 1e-13


def test_contrastive_loss_is_symmetric_in_images_and_texts(rng):
    img, txt = unit_rows(rng.standard_normal((N, 3))), unit_rows(rng.standard_normal((N, 3)))
    a, _ = contrastive_loss_forward(img, txt, 1.5)
    b, _ = contrastive_loss_forward(txt, img, 1.5)
    assert abs(a - b) < 1e-14


def test_contrastive_loss_of_matching_orthogonal_pairs_has_a_closed_form():
    emb = np.eye(4)
    loss, _ = contrastive_loss_forward(emb, emb, np.log(10.0))
    # each row and column: logsumexp([10, 0, 0, 0]) - 10 = log(1 + 3 e^-10)
    assert abs(loss - np.log1p(3 * np.exp(-10.0))) < 1e-15


def test_contrastive_loss_backward_matches_numerical(rng):
    img, txt = unit_rows(rng.standard_normal((N, 3))), unit_rows(rng.standard_normal((N, 3)))
    logit_scale = np.array(np.log(1 / 0.07))
    res = check_pair(contrastive_loss_forward, contrastive_loss_backward,
                     [img, txt, logit_scale], rng=rng)
    assert set(res) == {0, 1, 2}
    assert worst(res) < 1e-7


def test_contrastive_loss_gradients_keep_dtype_and_shape(rng):
    img = unit_rows(rng.standard_normal((N, 3))).astype(np.float32)
    txt = unit_rows(rng.standard_normal((N, 3))).astype(np.float32)
    _, cache = contrastive_loss_forward(img, txt, np.array(2.0, dtype=np.float32))
    dimg, dtxt, ds = contrastive_loss_backward(1.0, cache)
    assert dimg.dtype == dtxt.dtype == ds.dtype == np.float32
    assert dimg.shape == dtxt.shape == (N, 3) and ds.shape == ()


def test_contrastive_loss_rejects_bad_inputs(rng):
    img = rng.standard_normal((N, 3))
    with pytest.raises(ValueError, match="same"):
        contrastive_loss_forward(img, rng.standard_normal((N + 1, 3)), 1.0)
    with pytest.raises(ValueError, match=r"\(N, E\)"):
        contrastive_loss_forward(img[None], img[None], 1.0)
    with pytest.raises(ValueError, match="scalar"):
        contrastive_loss_forward(img, img, np.ones(2))
