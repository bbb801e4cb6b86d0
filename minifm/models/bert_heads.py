"""BERT at work: a tag for every token (named entities) and an answer span (extractive QA), on
top of the ``Bert`` encoder of ``minifm.models.bert`` (Devlin et al. 2019, "BERT", section 4.2
for SQuAD and section 5.3 for CoNLL-2003 NER).

Dimensions: B batch, T time, C width, K tags.

    token classification   logits = dropout(hidden) @ classifier.W + classifier.b    (B, T, K)
                           loss = mean CE over the positions whose label is not IGNORE_INDEX
                           (BERT's NER labels only a word's first WordPiece; continuations,
                           [CLS], [SEP] and padding carry IGNORE_INDEX)
    span prediction        start, end = split(hidden @ qa_outputs.W + qa_outputs.b)  (B, T) each
                           positions outside the context get a huge negative logit
                           loss = (CE(start, i) + CE(end, j)) / 2   (functional.span_loss)
                           answer = argmax over i <= j < i + max_len of start_i + end_j

The context of a QA input ``[CLS] question [SEP] context [SEP]`` is segment 1 without its final
[SEP]. Both heads reuse the encoder's ``forward`` / ``backward`` (models compose).
Lesson: lessons/12_bert_at_work.md.
"""

from __future__ import annotations

import numpy as np

from minifm.functional.losses import IGNORE_INDEX, cross_entropy_backward, cross_entropy_forward
from minifm.functional.span_loss import masked_logits, span_loss_backward, span_loss_forward
from minifm.models.bert import Bert, BertConfig
from minifm.nn.dropout import Dropout
from minifm.nn.linear import Linear
from minifm.nn.module import Module


def _check_labels(labels: np.ndarray, shape: tuple[int, ...], n_tags: int) -> None:
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be an integer numpy array of tag ids, got "
                        f"{type(labels).__name__}")
    if labels.shape != shape:
        raise ValueError(f"labels must have the input's shape (B, T) = {shape}, got "
                         f"{labels.shape}")
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= n_tags))
    if bad.any():
        raise ValueError(f"labels must be tag ids in [0, {n_tags}) (the tag set) or "
                         f"IGNORE_INDEX={IGNORE_INDEX}, got {labels[bad].flat[0]}")


class BertForTokenClassification(Module):
    """Encoder + dropout + a linear tagger on every hidden state. Children ``bert``, ``drop``,
    ``classifier``; K = ``config.n_classes`` tags.

    ``logits, loss = model(idx, token_type_ids, attention_mask, labels)``, then
    ``model.backward()``.
    """

    def __init__(self, config: BertConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        self.config = config
        self.bert = Bert(config, rng=rng, dtype=dtype)
        self.drop = Dropout(config.dropout, rng=rng)
        self.classifier = Linear(config.n_embd, config.n_classes, rng=rng, dtype=dtype)

    def forward(self, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
                attention_mask: np.ndarray | None = None, labels: np.ndarray | None = None
                ) -> tuple[np.ndarray, float | None]:
        """(B, T) int inputs as in ``Bert.forward``; labels (B, T) int in [0, K) or
        IGNORE_INDEX (padding positions are ignored whatever their label). Returns logits
        (B, T, K) and the mean cross-entropy over the labelled positions (None without labels)."""
        if labels is not None:
            _check_labels(labels, idx.shape, self.config.n_classes)
        hidden, _ = self.bert(idx, token_type_ids, attention_mask)      # (B, T, C)
        logits = self.classifier(self.drop(hidden))                     # (B, T, C) -> (B, T, K)
        loss, ce_cache = None, None
        if labels is not None:
            if attention_mask is not None:
                labels = np.where(attention_mask.astype(bool), labels, IGNORE_INDEX)
            loss, ce_cache = cross_entropy_forward(logits, labels, IGNORE_INDEX)
        self._cache = (ce_cache,)
        return logits, loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        (ce_cache,) = self._pop_cache()
        if ce_cache is None:
            raise RuntimeError("BertForTokenClassification.backward() needs a loss: pass "
                               "labels to forward")
        # fwd: loss = CE(logits, labels) over labelled positions  =>  (softmax - onehot) / N
        dlogits = cross_entropy_backward(1.0, ce_cache)                 # (B, T, K)
        dhidden = self.drop.backward(self.classifier.backward(dlogits))  # (B, T, C)
        self.bert.backward(dhidden, None)


def context_mask(token_type_ids: np.ndarray | None, attention_mask: np.ndarray | None,
                 shape: tuple[int, int]) -> np.ndarray:
    """(B, T) bool: where an answer may lie. With segments, the real segment-1 tokens except the
    last one of each row (the closing [SEP]); without, every real token but [CLS] (position 0)."""
    real = np.ones(shape, bool) if attention_mask is None else attention_mask.astype(bool)
    if token_type_ids is None:
        allowed = real.copy()
        allowed[:, 0] = False
        return allowed
    allowed = real & (token_type_ids == 1)
    last = shape[1] - 1 - np.argmax(allowed[:, ::-1], axis=1)          # (B,) last segment-1 token
    allowed[np.arange(shape[0]), last] = False
    return allowed


def _check_positions(positions: np.ndarray, what: str, allowed: np.ndarray) -> None:
    B, T = allowed.shape
    if not isinstance(positions, np.ndarray) or not np.issubdtype(positions.dtype, np.integer) \
            or positions.shape != (B,):
        raise ValueError(f"{what} must be an integer array of shape (B,) = ({B},), got "
                         f"{getattr(positions, 'dtype', type(positions).__name__)} of shape "
                         f"{np.shape(positions)}")
    inside = (positions >= 0) & (positions < T)
    if not inside.all() or not allowed[np.arange(B), positions].all():
        row = int(np.flatnonzero(~inside | ~allowed[np.arange(B), np.clip(positions, 0, T - 1)])[0])
        raise ValueError(f"{what}[{row}] = {positions[row]} is not a context token of row {row} "
                         "(answers are spans of the context, segment 1)")


class BertForQuestionAnswering(Module):
    """Encoder + a linear layer giving each position a start and an end logit. Children ``bert``,
    ``qa_outputs`` (C -> 2).

    ``(start_logits, end_logits), loss = model(idx, token_type_ids, attention_mask,
    start_positions, end_positions)``, then ``model.backward()``. Logits outside the context
    (``context_mask``) are a huge negative number.
    """

    def __init__(self, config: BertConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        self.config = config
        self.bert = Bert(config, rng=rng, dtype=dtype)
        self.qa_outputs = Linear(config.n_embd, 2, rng=rng, dtype=dtype)

    def forward(self, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
                attention_mask: np.ndarray | None = None,
                start_positions: np.ndarray | None = None, end_positions: np.ndarray | None = None
                ) -> tuple[tuple[np.ndarray, np.ndarray], float | None]:
        """(B, T) int inputs as in ``Bert.forward``; start_positions, end_positions (B,) int
        token positions of the answer's first and last token (both or neither). Returns
        ((start_logits, end_logits), each (B, T)) and the span loss (None without positions)."""
        if (start_positions is None) != (end_positions is None):
            raise ValueError("pass both start_positions and end_positions, or neither")
        hidden, _ = self.bert(idx, token_type_ids, attention_mask)      # (B, T, C)
        allowed = context_mask(token_type_ids, attention_mask, idx.shape)   # (B, T)
        both = self.qa_outputs(hidden)                                  # (B, T, C) -> (B, T, 2)
        start_logits = masked_logits(both[..., 0], allowed)             # (B, T)
        end_logits = masked_logits(both[..., 1], allowed)               # (B, T)
        loss, span_cache = None, None
        if start_positions is not None:
            _check_positions(start_positions, "start_positions", allowed)
            _check_positions(end_positions, "end_positions", allowed)
            if (end_positions < start_positions).any():
                raise ValueError("end_positions must be >= start_positions (an answer ends "
                                 "where or after it starts)")
            loss, span_cache = span_loss_forward(start_logits, end_logits, start_positions,
                                                 end_positions)
        self._cache = (allowed, span_cache)
        return (start_logits, end_logits), loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        allowed, span_cache = self._pop_cache()
        if span_cache is None:
            raise RuntimeError("BertForQuestionAnswering.backward() needs a loss: pass "
                               "start_positions and end_positions to forward")
        dstart, dend = span_loss_backward(1.0, span_cache)             # (B, T) each
        # fwd: logits = where(allowed, both[..., k], -big)  =>  dboth[..., k] = dlogits * allowed
        dboth = np.stack([dstart * allowed, dend * allowed], axis=-1)   # (B, T) x 2 -> (B, T, 2)
        self.bert.backward(self.qa_outputs.backward(dboth), None)


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, allowed: np.ndarray,
              max_answer_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The highest-scoring answer of each row: start i and end j with allowed[i], allowed[j],
    i <= j < i + max_answer_length, maximising start_logits[i] + end_logits[j].

    start_logits, end_logits, allowed: (B, T). Returns starts (B,), ends (B,) int and scores
    (B,) float (the summed logits). A row with no allowed position is an error.
    """
    if max_answer_length < 1:
        raise ValueError(f"max_answer_length must be >= 1, got {max_answer_length}")
    if not allowed.any(axis=1).all():
        raise ValueError("every row needs at least one context token to answer from")
    B, T = start_logits.shape
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    valid = (j >= i) & (j < i + max_answer_length)                     # (T, T)
    valid = valid[None] & allowed[:, :, None] & allowed[:, None, :]    # (B, T, T)
    scores = start_logits.astype(np.float64)[:, :, None] + end_logits[:, None, :]   # (B, T, T)
    scores = np.where(valid, scores, -np.inf)
    flat = scores.reshape(B, -1).argmax(axis=1)                        # (B, T*T) -> (B,)
    starts, ends = np.divmod(flat, T)
    return starts, ends, scores.reshape(B, -1)[np.arange(B), flat]
