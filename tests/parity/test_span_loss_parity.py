"""Parity of the span loss with PyTorch in float64: the loss of Hugging Face's
BertForQuestionAnswering, (cross_entropy(start) + cross_entropy(end)) / 2, and its gradients
(autograd) agree to a max absolute difference of 1e-12."""

import numpy as np
import pytest

from minifm.functional.span_loss import masked_logits, span_loss_backward, span_loss_forward

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("dloss", [1.0, 0.3])
def test_span_loss_matches_torch(rng, dloss):
    allowed = np.ones((4, 9), bool)
    allowed[:, :3] = False                                     # [CLS] and a question
    allowed[2, 7:] = False                                     # a shorter context
    s = masked_logits(rng.standard_normal((4, 9)), allowed)
    e = masked_logits(rng.standard_normal((4, 9)), allowed)
    i, j = np.array([3, 5, 4, 8]), np.array([4, 5, 6, 8])
    loss, cache = span_loss_forward(s, e, i, j)
    ds, de = span_loss_backward(dloss, cache)
    ts = torch.tensor(s, requires_grad=True)
    te = torch.tensor(e, requires_grad=True)
    tloss = (F.cross_entropy(ts, torch.tensor(i)) + F.cross_entropy(te, torch.tensor(j))) / 2
    (tloss * dloss).backward()
    assert abs(loss - tloss.item()) <= 1e-12
    assert np.max(np.abs(ds - ts.grad.numpy())) <= 1e-12
    assert np.max(np.abs(de - te.grad.numpy())) <= 1e-12
