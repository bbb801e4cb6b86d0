"""The losses against PyTorch autograd in float64: values and gradients within 1e-10."""

import numpy as np
import pytest

from minifm.nn import ContrastiveLoss, CrossEntropyLoss

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-10


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - b.detach().numpy())))


@pytest.mark.parametrize("targets", [
    [[3, 0, 1], [4, 4, 2]],
    [[3, -100, 1], [-100, 4, 2]],
    [[-100, -100, -100], [-100, -100, -100]],
], ids=["all-kept", "some-ignored", "all-ignored"])
def test_cross_entropy_matches_torch(rng, targets):
    logits = rng.standard_normal((2, 3, 5)) * 3
    targets = np.array(targets)
    loss_fn = CrossEntropyLoss()
    loss = loss_fn(logits, targets)
    dlogits = loss_fn.backward(1.0)

    x = torch.tensor(logits, requires_grad=True)
    t_loss = F.cross_entropy(x.reshape(-1, 5), torch.tensor(targets).reshape(-1), ignore_index=-100)
    if bool(t_loss.isnan()):
        # torch returns 0/0 = NaN when every target is ignored; minifm defines that loss as 0
        assert loss == 0.0 and not dlogits.any()
        return
    t_loss.backward()
    assert abs(loss - t_loss.item()) <= TOL
    assert max_diff(dlogits, x.grad) <= TOL


def test_cross_entropy_ignore_index_other_than_default_matches_torch(rng):
    logits = rng.standard_normal((6, 4))
    targets = np.array([0, 1, 2, 3, 0, 2])
    loss_fn = CrossEntropyLoss(ignore_index=0)
    loss = loss_fn(logits, targets)
    dlogits = loss_fn.backward(0.5)
    x = torch.tensor(logits, requires_grad=True)
    t_loss = F.cross_entropy(x, torch.tensor(targets), ignore_index=0)
    (0.5 * t_loss).backward()
    assert abs(loss - t_loss.item()) <= TOL
    assert max_diff(dlogits, x.grad) <= TOL


def test_contrastive_loss_matches_torch_clip_loss(rng):
    img = rng.standard_normal((6, 4))
    txt = rng.standard_normal((6, 4))
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    loss_fn = ContrastiveLoss(init_temperature=0.07, dtype=np.float64)
    loss = loss_fn(img, txt)
    dimg, dtxt = loss_fn.backward(1.0)

    # CLIP, Radford et al. 2021, Figure 3, written with torch autograd
    t_img = torch.tensor(img, requires_grad=True)
    t_txt = torch.tensor(txt, requires_grad=True)
    t_scale = torch.tensor(np.log(1 / 0.07), dtype=torch.float64, requires_grad=True)
    logits = t_scale.exp() * t_img @ t_txt.T
    labels = torch.arange(6)
    t_loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    t_loss.backward()

    assert abs(loss - t_loss.item()) <= TOL
    assert max_diff(dimg, t_img.grad) <= TOL
    assert max_diff(dtxt, t_txt.grad) <= TOL
    assert max_diff(loss_fn.logit_scale.grad, t_scale.grad) <= TOL
