"""Loss modules: the module contract, gradients of the inputs and of CLIP's logit_scale, the clamp.

Both losses are smooth, so float64 gradient checks assert a relative error below 1e-7.
"""

import numpy as np
import pytest

from minifm.gradcheck import check_module, numerical_gradient_of_scalar, rel_error, worst
from minifm.nn import ContrastiveLoss, CrossEntropyLoss


def unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_cross_entropy_module_backward_matches_numerical(rng):
    logits = rng.standard_normal((2, 3, 5))
    targets = np.array([[0, 4, -100], [2, 2, 1]])
    res = check_module(CrossEntropyLoss(), logits, targets, rng=rng)
    assert set(res) == {"x"}
    assert worst(res) < 1e-7


def test_cross_entropy_module_scales_by_dloss_and_respects_ignore_index(rng):
    logits = rng.standard_normal((4, 3))
    targets = np.array([1, 7, 7, 0])
    loss_fn = CrossEntropyLoss(ignore_index=7)
    loss = loss_fn(logits, targets)
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    assert abs(loss - -(logp[0, 1] + logp[3, 0]) / 2) < 1e-14
    d1 = loss_fn.backward()
    loss_fn(logits, targets)
    d3 = loss_fn.backward(3.0)
    np.testing.assert_allclose(d3, 3 * d1, rtol=1e-15)
    assert not d1[1:3].any()


def test_cross_entropy_module_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before forward"):
        CrossEntropyLoss().backward()


def test_contrastive_module_starts_at_clip_temperature_and_has_one_parameter():
    loss_fn = ContrastiveLoss()
    (name, p), = loss_fn.named_parameters()
    assert name == "logit_scale" and p.data.shape == () and p.data.dtype == np.float32
    assert abs(float(np.exp(p.data)) - 1 / 0.07) < 1e-4


def test_contrastive_module_gradients_match_numerical(rng):
    img = unit_rows(rng.standard_normal((4, 3)))
    txt = unit_rows(rng.standard_normal((4, 3)))
    loss_fn = ContrastiveLoss(init_temperature=0.2, dtype=np.float64)

    def loss():
        return loss_fn(img, txt)

    loss()
    dimg, dtxt = loss_fn.backward(1.0)
    errors = {"image_emb": rel_error(dimg, numerical_gradient_of_scalar(loss, img)),
              "text_emb": rel_error(dtxt, numerical_gradient_of_scalar(loss, txt)),
              "logit_scale": rel_error(loss_fn.logit_scale.grad,
                                       numerical_gradient_of_scalar(loss, loss_fn.logit_scale.data))}
    assert max(errors.values()) < 1e-7, errors


def test_contrastive_module_accumulates_logit_scale_gradient(rng):
    img = unit_rows(rng.standard_normal((4, 3)))
    loss_fn = ContrastiveLoss(dtype=np.float64)
    loss_fn(img, img[::-1])
    loss_fn.backward()
    once = float(loss_fn.logit_scale.grad)
    assert once != 0.0
    loss_fn(img, img[::-1])
    loss_fn.backward()
    assert abs(float(loss_fn.logit_scale.grad) - 2 * once) < 1e-15


def test_contrastive_module_clamps_the_scale_to_max_scale(rng):
    img = unit_rows(rng.standard_normal((4, 3)))
    loss_fn = ContrastiveLoss(dtype=np.float64)
    loss_fn.logit_scale.data[...] = np.log(1e4)          # as if an optimizer step overshot
    loss_fn(img, img)
    assert abs(float(np.exp(loss_fn.logit_scale.data)) - 100.0) < 1e-10
    at_max = ContrastiveLoss(init_temperature=0.01, dtype=np.float64)
    assert abs(loss_fn(img, img) - at_max(img, img)) < 1e-14


def test_contrastive_module_rejects_a_temperature_beyond_the_clamp():
    with pytest.raises(ValueError, match="init_temperature"):
        ContrastiveLoss(init_temperature=0.001)
    with pytest.raises(ValueError, match="init_temperature"):
        ContrastiveLoss(init_temperature=0.0)
