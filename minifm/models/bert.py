"""BERT: a bidirectional transformer encoder (Devlin et al. 2019, "BERT: Pre-training of Deep
Bidirectional Transformers for Language Understanding").

Dimensions: B batch, T time, C width (n_embd), H heads, F feed-forward width (n_inner),
V vocabulary, L layers (n_layer), K classes.

    x = wte[idx] + wpe[0..T-1] + wse[segments]        token + position + segment embeddings
    x = dropout(ln_e(x))                              (B, T, C)
    x = h.0(x, mask), ..., h.{L-1}(x, mask)           post-LN blocks, exact (erf) GELU; every
                                                      position sees every real token (no causal
                                                      mask), padding is masked out as a key
    pooled = tanh(x[:, 0] @ pooler.W + pooler.b)      the [CLS] position, summarised (B, C)

Heads on top of the encoder:

    masked LM        logits = ln(gelu(x @ mlm.dense)) @ wte^T + mlm.bias     (B, T, V)
                     the decoder is tied to the token embedding, with its own bias
    next sentence    nsp_logits = pooled @ nsp.W + nsp.b                     (B, 2); 0 = IsNext
    classification   logits = dropout(pooled) @ classifier.W + classifier.b  (B, K)

Pre-training minimises the masked-LM cross-entropy (only at the masked positions: the others
carry the label -100, ``IGNORE_INDEX``) plus the next-sentence cross-entropy. The original BERT
puts the LayerNorm after each residual sum (post-LN); ``norm_first=True`` selects pre-LN (as in
GPT-2), which then needs a final ``ln_f``. Parameter names follow minifm's GPT (``wte``,
``h.0.attn.c_attn``, ...); ``minifm.pretrained`` maps real checkpoints onto them with one
explicit table.

Lesson: lessons/09_bert.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from minifm.functional.losses import IGNORE_INDEX, cross_entropy_backward, cross_entropy_forward
from minifm.functional.normalize import l2_normalize_forward
from minifm.functional.pooling import mean_pool_forward
from minifm.nn.activations import GELU
from minifm.nn.dropout import Dropout
from minifm.nn.embedding import Embedding
from minifm.nn.layernorm import LayerNorm
from minifm.nn.linear import Linear
from minifm.nn.module import Module, Parameter
from minifm.nn.transformer import TransformerBlock
from minifm.validation import check_context_length, check_ids, check_mask


@dataclass(frozen=True)
class BertConfig:
    """BERT hyperparameters; the defaults are a classroom model (~0.1M parameters)."""

    vocab_size: int = 256         # V: WordPiece vocabulary, the 5 special tokens included
    context_length: int = 64      # the longest input (T max): rows of wpe
    type_vocab_size: int = 2      # segments: 0 for sentence A, 1 for sentence B
    n_layer: int = 2              # L transformer blocks
    n_head: int = 4               # H attention heads per block
    n_embd: int = 64              # C model width; head size D = C / H
    n_inner: int = 256            # F feed-forward width (4C in BERT)
    dropout: float = 0.1          # on embeddings, attention probabilities, residual branches
    eps: float = 1e-12            # LayerNorm epsilon, as in the released BERT
    norm_first: bool = False      # False: post-LN as in BERT; True: pre-LN plus a final ln_f
    pooler: bool = True           # the tanh pooler on [CLS] (needed by the NSP and class heads)
    n_classes: int = 2            # K, for BertForSequenceClassification

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "type_vocab_size", "n_layer", "n_head",
                     "n_embd", "n_inner", "n_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BertConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"BertConfig: n_embd={self.n_embd} must be divisible by "
                             f"n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"BertConfig.dropout must be in [0, 1), got {self.dropout}")
        if not self.eps > 0:
            raise ValueError(f"BertConfig.eps must be > 0, got {self.eps}")


PRESETS: dict[str, BertConfig] = {
    # BERT-base (Devlin et al. 2019), uncased WordPiece vocabulary: 110M parameters
    "bert-base": BertConfig(vocab_size=30522, context_length=512, n_layer=12, n_head=12,
                            n_embd=768, n_inner=3072),
    # BERT-large: 24 layers, width 1024, 16 heads: 335M parameters
    "bert-large": BertConfig(vocab_size=30522, context_length=512, n_layer=24, n_head=16,
                             n_embd=1024, n_inner=4096),
    # all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM"; sentence-transformers): 6 layers, width 384
    "minilm-l6": BertConfig(vocab_size=30522, context_length=512, n_layer=6, n_head=12,
                            n_embd=384, n_inner=1536),
    # small enough to pre-train on the built-in stories in a minute on a laptop CPU
    "classroom": BertConfig(),
}

HEADS = (None, "pretraining", "classification")


def count_params(config: BertConfig, head: str | None = None) -> int:
    """The number of parameters, from the formula (nothing is allocated).

    head None: the encoder ``Bert(config)``; "pretraining": ``BertForPreTraining``;
    "classification": ``BertForSequenceClassification``.

    Embeddings: (V + context_length + segments) x C, plus ln_e (2C). Per block: c_attn
    (C x 3C + 3C), c_proj (C x C + C), c_fc (C x F + F), mlp.c_proj (F x C + C), ln_1 and ln_2
    (2C each). Pooler: C x C + C; ln_f (2C) only when pre-LN. The masked-LM head adds dense
    (C x C + C), ln (2C) and its bias (V): the decoder matrix is wte itself. NSP adds C x 2 + 2,
    a classifier C x K + K. BERT-base: 109,482,240 (the encoder with its pooler).
    """
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    C, F, V = config.n_embd, config.n_inner, config.vocab_size
    embeddings = (V + config.context_length + config.type_vocab_size) * C + 2 * C
    per_block = (C * 3 * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C) + 2 * (2 * C)
    n = embeddings + config.n_layer * per_block
    n += 2 * C if config.norm_first else 0
    n += C * C + C if config.pooler else 0
    if head == "pretraining":
        n += (C * C + C) + 2 * C + V + (C * 2 + 2)
    elif head == "classification":
        n += C * config.n_classes + config.n_classes
    return n


def _check_input(config: BertConfig, idx: np.ndarray, token_type_ids: np.ndarray | None,
                 attention_mask: np.ndarray | None) -> np.ndarray:
    """Validate the three (B, T) input arrays; returns the segment ids (zeros if None)."""
    check_ids(idx, "input ids", vocab_size=config.vocab_size, ndim=2, axes="(B, T)")
    check_context_length(idx.shape[1], config.context_length)
    if attention_mask is not None:
        check_mask(attention_mask, "attention_mask", shape=idx.shape, axes="(B, T)")
    if token_type_ids is None:
        return np.zeros_like(idx)
    check_ids(token_type_ids, "token_type_ids", vocab_size=config.type_vocab_size,
              shape=idx.shape, axes="(B, T)")
    return token_type_ids


class Bert(Module):
    """The encoder. Children: ``wte``, ``wpe``, ``wse``, ``ln_e``, ``drop``, ``h.{i}``,
    ``ln_f`` (pre-LN only), ``pooler``.

    The layers' own initialisation is BERT's: weight matrices and embeddings ~ N(0, 0.02^2)
    (the original truncates at 2 std), biases 0, LayerNorm gain 1 and shift 0.

    ``hidden, pooled = model(idx, token_type_ids, attention_mask)``, then
    ``model.backward(dhidden, dpooled)`` (either may be None).
    """

    def __init__(self, config: BertConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        self.config = config
        C = config.n_embd
        self.wte = Embedding(config.vocab_size, C, rng=rng, dtype=dtype)
        self.wpe = Embedding(config.context_length, C, rng=rng, dtype=dtype)
        self.wse = Embedding(config.type_vocab_size, C, rng=rng, dtype=dtype)
        self.ln_e = LayerNorm(C, config.eps, dtype=dtype)
        self.drop = Dropout(config.dropout, rng=rng)
        self.h = [TransformerBlock(C, config.n_head, config.n_inner, causal=False,
                                   norm_first=config.norm_first, dropout=config.dropout,
                                   approximate="none", eps=config.eps, rng=rng, dtype=dtype)
                  for _ in range(config.n_layer)]
        self.ln_f = LayerNorm(C, config.eps, dtype=dtype) if config.norm_first else None
        self.pooler = Linear(C, C, rng=rng, dtype=dtype) if config.pooler else None

    def forward(self, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
                attention_mask: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """idx, token_type_ids (default all 0), attention_mask (1 = real token, default all 1):
        (B, T) ints with T <= context_length. Returns hidden (B, T, C) and pooled (B, C) (None
        without a pooler)."""
        segments = _check_input(self.config, idx, token_type_ids, attention_mask)
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(np.arange(T)) + self.wse(segments)   # (B, T, C)
        x = self.drop(self.ln_e(x))
        for block in self.h:
            x = block(x, attention_mask)
        if self.ln_f is not None:
            x = self.ln_f(x)
        pooled = None
        if self.pooler is not None:
            pooled = np.tanh(self.pooler(x[:, 0]))                      # (B, T, C) -> (B, C)
        self._cache = (pooled, x.shape)
        return x, pooled

    def backward(self, dhidden: np.ndarray | None, dpooled: np.ndarray | None = None) -> None:
        """Gradients of hidden (B, T, C) and pooled (B, C); ADDS into every parameter's .grad."""
        pooled, shape = self._pop_cache()
        dtype = self.wte.weight.data.dtype
        dx = np.zeros(shape, dtype=dtype) if dhidden is None else dhidden.copy()     # (B, T, C)
        if dpooled is not None:
            if self.pooler is None:
                raise ValueError("dpooled was given but this Bert has no pooler")
            # fwd: pooled = tanh(x[:, 0] @ W + b)  =>  dx[:, 0] += pooler'(dpooled * (1 - pooled^2))
            dx[:, 0] += self.pooler.backward(dpooled * (1.0 - pooled * pooled))
        if self.ln_f is not None:
            dx = self.ln_f.backward(dx)
        for block in reversed(self.h):
            dx = block.backward(dx)
        dx = self.ln_e.backward(self.drop.backward(dx))
        # fwd: x = wte[idx] + wpe[0..T-1] + wse[segments]  =>  each table gets dx; the position
        # rows are shared by the batch, so their gradient is summed over it
        self.wse.backward(dx)
        self.wpe.backward(dx.sum(axis=0))                               # (B, T, C) -> (T, C)
        self.wte.backward(dx)

    # ---- inference helpers --------------------------------------------------------------------
    def encode(self, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
               attention_mask: np.ndarray | None = None) -> np.ndarray:
        """The last hidden state (B, T, C) of (B, T) inputs (no gradient is kept)."""
        hidden, _ = self.forward(idx, token_type_ids, attention_mask)
        self._cache = None
        return hidden

    def sentence_embedding(self, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
                           attention_mask: np.ndarray | None = None) -> np.ndarray:
        """Mean of the hidden states over the real tokens, L2-normalised: (B, C).

        This is how sentence-transformers pools all-MiniLM-L6-v2 (Reimers & Gurevych 2019,
        "Sentence-BERT"), so dot products of these rows are cosine similarities. The two steps
        are ``minifm.functional``'s ``mean_pool`` and ``l2_normalize``, as in CLIP (lesson 10).
        """
        hidden = self.encode(idx, token_type_ids, attention_mask)       # (B, T, C)
        mean, _ = mean_pool_forward(hidden, attention_mask)            # (B, T, C) -> (B, C)
        embedding, _ = l2_normalize_forward(mean)                      # (B, C), unit rows
        return embedding


class MaskedLMHead(Module):
    """Children ``dense``, ``ln``; own parameter ``bias`` (V). The decoder matrix is passed in
    (the token embedding ``wte.weight``), so its gradient lands in the embedding's."""

    def __init__(self, config: BertConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        self.dense = Linear(config.n_embd, config.n_embd, rng=rng, dtype=dtype)
        self.gelu = GELU("none")
        self.ln = LayerNorm(config.n_embd, config.eps, dtype=dtype)
        self.bias = Parameter(np.zeros(config.vocab_size, dtype=dtype))

    def forward(self, x: np.ndarray, decoder: Parameter) -> np.ndarray:
        """x: (B, T, C); decoder: the tied (V, C) embedding. Returns logits (B, T, V)."""
        h = self.ln(self.gelu(self.dense(x)))                           # (B, T, C)
        logits = h @ decoder.data.T + self.bias.data       # (B, T, C) @ (C, V) -> (B, T, V)
        self._cache = (h, decoder)
        return logits

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        """dlogits (B, T, V) -> dx (B, T, C); adds into dense, ln, bias and the decoder."""
        h, decoder = self._pop_cache()
        B, T, C = h.shape
        # fwd: logits = h @ decoder^T + bias  =>  dh = dlogits @ decoder,
        #      ddecoder += dlogits^T @ h,  dbias += dlogits summed over (B, T)
        self.bias.grad += dlogits.sum(axis=(0, 1))
        decoder.grad += dlogits.reshape(B * T, -1).T @ h.reshape(B * T, C)   # (V, BT) @ (BT, C)
        dh = dlogits @ decoder.data                        # (B, T, V) @ (V, C) -> (B, T, C)
        return self.dense.backward(self.gelu.backward(self.ln.backward(dh)))


class PreTrainingOutput(NamedTuple):
    mlm_logits: np.ndarray        # (B, T, V)
    nsp_logits: np.ndarray        # (B, 2); class 0 = "B follows A"


class BertForPreTraining(Module):
    """Encoder + masked-LM head + next-sentence head. Children ``bert``, ``mlm``, ``nsp``.

    ``out, loss = model(idx, token_type_ids, attention_mask, mlm_labels, nsp_labels)``, then
    ``model.backward()``. The loss is the masked-LM mean cross-entropy over the positions whose
    label is not ``IGNORE_INDEX``, plus the NSP cross-entropy (each term only if its labels are
    given; without labels the loss is None).
    """

    def __init__(self, config: BertConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        if not config.pooler:
            raise ValueError("BertForPreTraining needs config.pooler=True (NSP reads the pooler)")
        self.config = config
        self.bert = Bert(config, rng=rng, dtype=dtype)
        self.mlm = MaskedLMHead(config, rng=rng, dtype=dtype)
        self.nsp = Linear(config.n_embd, 2, rng=rng, dtype=dtype)

    def forward(self, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
                attention_mask: np.ndarray | None = None, mlm_labels: np.ndarray | None = None,
                nsp_labels: np.ndarray | None = None) -> tuple[PreTrainingOutput, float | None]:
        """(B, T) int inputs as in ``Bert.forward``; mlm_labels (B, T) int (IGNORE_INDEX where
        not masked); nsp_labels (B,) int in {0, 1}. Returns (PreTrainingOutput, loss)."""
        hidden, pooled = self.bert(idx, token_type_ids, attention_mask)
        mlm_logits = self.mlm(hidden, self.bert.wte.weight)            # (B, T, V)
        nsp_logits = self.nsp(pooled)                                   # (B, C) -> (B, 2)
        loss, mlm_cache, nsp_cache = None, None, None
        if mlm_labels is not None:
            loss, mlm_cache = cross_entropy_forward(mlm_logits, mlm_labels, IGNORE_INDEX)
        if nsp_labels is not None:
            nsp_loss, nsp_cache = cross_entropy_forward(nsp_logits, nsp_labels)
            loss = nsp_loss if loss is None else loss + nsp_loss
        self._cache = (mlm_cache, nsp_cache)
        return PreTrainingOutput(mlm_logits, nsp_logits), loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        mlm_cache, nsp_cache = self._pop_cache()
        if mlm_cache is None and nsp_cache is None:
            raise RuntimeError("BertForPreTraining.backward() needs a loss: pass mlm_labels "
                               "and/or nsp_labels to forward")
        dhidden = dpooled = None
        if nsp_cache is not None:
            # fwd: loss += CE(nsp_logits, nsp_labels)  =>  dnsp_logits = (softmax - onehot) / B
            dpooled = self.nsp.backward(cross_entropy_backward(1.0, nsp_cache))
        if mlm_cache is not None:
            # fwd: loss = CE(mlm_logits, mlm_labels), masked positions only
            dhidden = self.mlm.backward(cross_entropy_backward(1.0, mlm_cache))
        self.bert.backward(dhidden, dpooled)


class BertForSequenceClassification(Module):
    """Encoder + dropout + a linear classifier on the pooled [CLS] state (fine-tuning).

    Children ``bert``, ``drop``, ``classifier``. ``logits, loss = model(idx, token_type_ids,
    attention_mask, labels)``, then ``model.backward()``.
    """

    def __init__(self, config: BertConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        if not config.pooler:
            raise ValueError("BertForSequenceClassification needs config.pooler=True")
        self.config = config
        self.bert = Bert(config, rng=rng, dtype=dtype)
        self.drop = Dropout(config.dropout, rng=rng)
        self.classifier = Linear(config.n_embd, config.n_classes, rng=rng, dtype=dtype)

    def forward(self, idx: np.ndarray, token_type_ids: np.ndarray | None = None,
                attention_mask: np.ndarray | None = None, labels: np.ndarray | None = None
                ) -> tuple[np.ndarray, float | None]:
        """(B, T) int inputs as in ``Bert.forward``; labels (B,) int in [0, K).
        Returns logits (B, K) and the mean cross-entropy (None without labels)."""
        _, pooled = self.bert(idx, token_type_ids, attention_mask)
        logits = self.classifier(self.drop(pooled))                     # (B, C) -> (B, K)
        loss, ce_cache = None, None
        if labels is not None:
            loss, ce_cache = cross_entropy_forward(logits, labels)
        self._cache = (ce_cache,)
        return logits, loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        (ce_cache,) = self._pop_cache()
        if ce_cache is None:
            raise RuntimeError("BertForSequenceClassification.backward() needs a loss: pass "
                               "labels to forward")
        # fwd: loss = CE(logits, labels)  =>  dlogits = (softmax - onehot) / B
        dlogits = cross_entropy_backward(1.0, ce_cache)                # (B, K)
        dpooled = self.drop.backward(self.classifier.backward(dlogits))  # (B, C)
        self.bert.backward(None, dpooled)
