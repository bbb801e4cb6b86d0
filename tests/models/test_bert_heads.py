"""BERT's task heads: token classification (NER) and span prediction (QA). Shapes, the labels
the losses skip, the context mask, best-span inference on hand-worked logits, and float64
gradient checks of each head and of the whole models with padding present."""

import numpy as np
import pytest

from minifm.functional.losses import IGNORE_INDEX, cross_entropy_forward
from minifm.gradcheck import check_module, numerical_gradient_of_scalar, rel_error, worst
from minifm.models.bert import BertConfig
from minifm.models.bert_heads import (BertForQuestionAnswering, BertForTokenClassification,
                                      best_span, context_mask)
from minifm.nn.linear import Linear
from minifm.training.optim import AdamW

TINY = BertConfig(vocab_size=13, context_length=8, n_layer=1, n_head=2, n_embd=8, n_inner=16,
                  dropout=0.0, n_classes=3, pooler=False)


def spread(model, rng):
    """Weights ~ N(0, 0.3^2), LayerNorm gains ~ 1 + N(0, 0.3^2): at BERT's init (std 0.02) the
    deep gradients are ~1e-9, which central differences cannot resolve against round-off."""
    for name, p in model.named_parameters():
        gain = name.split(".")[-2].startswith("ln") and name.endswith("weight")
        p.data[...] = rng.normal(0.0, 0.3, p.shape) + (1.0 if gain else 0.0)
    return model.eval()


def qa_batch(rng):
    """[CLS] q q [SEP] c c c [SEP] and a second row whose context is one token shorter, then a
    [PAD] (id 0): segments 0 for [CLS] q [SEP], 1 for the context and its [SEP]."""
    idx = rng.integers(5, TINY.vocab_size, size=(2, 8))
    segments = np.array([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 0]])
    attention = np.array([[1] * 8, [1] * 7 + [0]])
    idx[attention == 0] = 0
    return idx, segments, attention


def test_token_classifier_shapes_and_loss_skips_ignored_and_padded_positions(rng):
    model = BertForTokenClassification(TINY, rng=rng, dtype=np.float64)
    idx, segments, attention = qa_batch(rng)
    labels = rng.integers(0, 3, size=idx.shape)
    labels[0, 0] = IGNORE_INDEX
    logits, loss = model(idx, segments, attention, labels)
    assert logits.shape == (2, 8, 3)
    kept = np.where(attention == 1, labels, IGNORE_INDEX)      # the padded label 2 is skipped
    assert loss == pytest.approx(cross_entropy_forward(logits, kept)[0], abs=1e-15)


def test_token_classifier_rejects_labels_outside_the_tag_set(rng):
    model = BertForTokenClassification(TINY, rng=rng, dtype=np.float64)
    idx, segments, attention = qa_batch(rng)
    with pytest.raises(ValueError, match=r"tag ids in \[0, 3\).*got 3"):
        model(idx, segments, attention, np.full(idx.shape, 3))
    with pytest.raises(ValueError, match="input's shape"):
        model(idx, segments, attention, np.zeros((2, 7), np.int64))
    with pytest.raises(RuntimeError, match="needs a loss"):
        model(idx, segments, attention)
        model.backward()


def test_context_mask_is_segment_one_without_its_closing_sep():
    segments = np.array([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 0]])
    attention = np.array([[1] * 8, [1] * 7 + [0]])
    assert context_mask(segments, attention, (2, 8)).astype(int).tolist() == [
        [0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 1, 1, 0, 0]]
    assert context_mask(None, attention, (2, 8))[1].astype(int).tolist() == [0] + [1] * 6 + [0]


def test_qa_logits_outside_the_context_get_no_probability(rng):
    model = BertForQuestionAnswering(TINY, rng=rng, dtype=np.float64)
    idx, segments, attention = qa_batch(rng)
    (start, end), loss = model(idx, segments, attention, np.array([4, 5]), np.array([6, 5]))
    assert start.shape == end.shape == (2, 8)
    allowed = context_mask(segments, attention, (2, 8))
    for logits in (start, end):
        p = np.exp(logits - logits.max(1, keepdims=True))
        assert np.all(p[~allowed] == 0.0)
    by_hand = (cross_entropy_forward(start, np.array([4, 5]))[0]
               + cross_entropy_forward(end, np.array([6, 5]))[0]) / 2
    assert loss == pytest.approx(by_hand, abs=1e-15)


def test_qa_rejects_answers_outside_the_context_or_ending_before_they_start(rng):
    model = BertForQuestionAnswering(TINY, rng=rng, dtype=np.float64)
    idx, segments, attention = qa_batch(rng)
    with pytest.raises(ValueError, match=r"start_positions\[0\] = 1 is not a context token"):
        model(idx, segments, attention, np.array([1, 4]), np.array([5, 5]))
    with pytest.raises(ValueError, match=r"end_positions\[1\] = 6 is not a context token"):
        model(idx, segments, attention, np.array([4, 4]), np.array([5, 6]))
    with pytest.raises(ValueError, match="end_positions must be >= start_positions"):
        model(idx, segments, attention, np.array([5, 5]), np.array([4, 5]))
    with pytest.raises(ValueError, match="both"):
        model(idx, segments, attention, np.array([4, 4]))


def test_best_span_on_hand_worked_logits():
    # positions 1..4 may hold the answer; position 0 ([CLS], logits 9) may not
    start = np.array([[9.0, 2.0, 0.0, 3.0, 0.0]])
    allowed = np.array([[False, True, True, True, True]])
    # end logits 5 at position 1: (1, 1) scores 2 + 5 = 7, and (3, 1) would be 8 but ends
    # before it starts
    s, e, score = best_span(start, np.array([[9.0, 5.0, 1.0, 0.0, -1.0]]), allowed, 4)
    assert (s[0], e[0], score[0]) == (1, 1, 7.0)
    # end logits 1 at position 2: (1, 2) = 3 and (3, 3) = 3 tie; (3, 4) = 3 + 2.5 = 5.5 wins
    s, e, score = best_span(start, np.array([[9.0, 0.0, 1.0, 0.0, 2.5]]), allowed, 4)
    assert (s[0], e[0], score[0]) == (3, 4, 5.5)
    # at most 1 token: (3, 4) is 2 tokens long; the best single token is (3, 3) = 3 + 0
    s, e, score = best_span(start, np.array([[9.0, 0.0, 0.5, 0.0, 2.5]]), allowed, 1)
    assert (s[0], e[0], score[0]) == (3, 3, 3.0)
    with pytest.raises(ValueError, match="max_answer_length"):
        best_span(start, start, allowed, 0)


def test_heads_backward_matches_numerical_gradient(rng):
    # the heads alone are a Linear on hidden states: smooth, so the tight bound of STYLE.md
    head = Linear(8, 3, rng=rng, dtype=np.float64)
    head.bias.data[:] = rng.standard_normal(3)
    assert worst(check_module(head, rng.standard_normal((2, 5, 8)))) < 1e-7


def exact_zero_gradients(model):
    """Parameters, or slices of them, whose gradient is exactly 0, so a relative error against
    it is meaningless: the attention key biases (the middle third of c_attn.bias) add q . b_k to
    every score of a query's row, and softmax ignores a shift shared by a row; for span
    prediction, anything that adds the same amount to every position's logit (the qa_outputs
    bias, and the last block's LayerNorm shift, which reaches each position through the same
    qa_outputs weights) shifts a whole row of start or end logits the same way."""
    C = model.config.n_embd
    zeros = {f"bert.h.{i}.attn.c_attn.bias": slice(C, 2 * C) for i in range(model.config.n_layer)}
    if isinstance(model, BertForQuestionAnswering):
        zeros.update({"qa_outputs.bias": slice(None),
                      f"bert.h.{model.config.n_layer - 1}.ln_2.bias": slice(None)})
    return zeros


@pytest.mark.parametrize("cls", [BertForTokenClassification, BertForQuestionAnswering])
def test_whole_model_backward_matches_numerical_gradient_with_padding(rng, cls):
    model = spread(cls(TINY, rng=rng, dtype=np.float64), rng)
    idx, segments, attention = qa_batch(rng)
    if cls is BertForTokenClassification:
        labels = np.where(attention == 1, rng.integers(0, 3, idx.shape), IGNORE_INDEX)
        labels[:, 0] = IGNORE_INDEX                            # [CLS] and a continuation
        labels[0, 5] = IGNORE_INDEX
        batch = (idx, segments, attention, labels)
    else:
        batch = (idx, segments, attention, np.array([4, 5]), np.array([6, 5]))
    model.zero_grad()
    model(*batch)
    model.backward()
    zeros = exact_zero_gradients(model)
    errors = {}
    for name, p in model.named_parameters():
        numerical = numerical_gradient_of_scalar(lambda: model(*batch)[1], p.data)
        keep = np.ones(p.shape, bool)
        if name in zeros:
            keep[zeros[name]] = False
            assert np.abs(p.grad[~keep]).max() < 1e-14        # exactly 0 up to round-off
            assert np.abs(numerical[~keep]).max() < 1e-10     # ~ulp(loss) / h
        if keep.any():
            errors[name] = rel_error(p.grad[keep], numerical[keep])
    assert set(errors) | set(zeros) == {n for n, _ in model.named_parameters()}
    assert max(errors.values()) < 1e-5                         # whole-model bound (STYLE.md)


@pytest.mark.parametrize("cls", [BertForTokenClassification, BertForQuestionAnswering])
def test_heads_overfit_one_batch(rng, cls):
    model = cls(TINY, rng=rng, dtype=np.float32)
    idx, segments, attention = qa_batch(rng)
    if cls is BertForTokenClassification:
        batch = (idx, segments, attention, np.where(attention == 1, rng.integers(0, 3, idx.shape),
                                                    IGNORE_INDEX))
    else:
        batch = (idx, segments, attention, np.array([4, 5]), np.array([6, 5]))
    opt = AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(150):
        opt.zero_grad()
        _, loss = model(*batch)
        first = loss if first is None else first
        model.backward()
        opt.step()
    assert loss < 0.05 < first                                  # memorised the batch
