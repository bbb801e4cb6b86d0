"""A DALL-E-like text-to-image model: one decoder-only transformer over caption tokens followed by
image tokens (Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation").

Lesson: lessons/11_images_as_tokens.md.

Dimensions: B batch, Tt caption tokens (padded), P image tokens, T = Tt + P model positions,
C width, V joint vocabulary, Vt text vocabulary, Vi image vocabulary (codebook size), L layers.

An image tokenizer (``minifm.tokenizers.image``) turns an image into P codes in [0, Vi); a word
tokenizer turns its caption into Tt ids in [0, Vt). The transformer reads both as one sequence
over a joint vocabulary with separate ranges for text and image:

    ids   [0, Vt)              caption words ([PAD], [BOS], [EOS], [UNK], words)
    id    Vt                   <image>: the image-start token
    ids   [Vt + 1, Vt + 1 + Vi) image code c is token Vt + 1 + c

    sequence  = [caption (Tt)] [<image>] [codes (P)]           learned positions cover all of it
    input idx = the sequence without its last code              (B, T), T = Tt + P
    x = transformer.hidden(idx)                                 (B, T, C) the GPT trunk
    image logits at positions Tt .. Tt+P-1 = x @ wte[image rows]^T       (B, P, Vi)
    loss = CE(image logits, codes) + text_loss_weight * CE(text logits, caption[1:])

Position Tt (the <image> token) predicts the first code, position Tt + i predicts code i, each
over the image codes only; the optional text loss has positions 0 .. Tt-2 predict the next
caption word over the text ids only, skipping [PAD] targets. (DALL-E weighs the text and image
losses 1/8 and 7/8.) Both heads are tied to the trunk's ``wte`` as GPT's own LM head is.

The model *has* a GPT (``self.transformer``, as in Hugging Face's ``GPT2LMHeadModel``), it is not
one: it calls the trunk's forward/backward pair ``hidden`` / ``backward_hidden`` and, to generate,
``hidden_cached``, and puts its own heads on top. Its parameters are therefore named
``transformer.wte.weight``, ``transformer.h.0.attn.c_attn.weight``, ...

Generation (``generate``) feeds the caption and <image>, then samples P codes one at a time with
temperature, top-k and top-p (``minifm.sampling.sample``) from the image logits only, using the
KV cache of the trunk; the image tokenizer decodes the codes to pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minifm.functional.losses import IGNORE_INDEX, cross_entropy_backward, cross_entropy_forward
from minifm.models.gpt import GPT, GPTConfig
from minifm.nn.module import Module
from minifm.sampling import check_sampling, sample
from minifm.validation import check_ids


@dataclass(frozen=True)
class DALLEConfig:
    """Text-to-image transformer hyperparameters; defaults fit shapes-world captions and an 8 x 8
    grid of image codes (2 x 2 patches of a 16 x 16 image)."""

    text_vocab_size: int = 28     # Vt: the word tokenizer of the shapes captions (24 words + 4)
    text_length: int = 9          # Tt: [BOS] + up to 7 words + [EOS], padded with [PAD]
    image_vocab_size: int = 128   # Vi: the image tokenizer's codebook size
    image_tokens: int = 64        # P: codes per image (an 8 x 8 grid)
    n_layer: int = 3              # L transformer blocks
    n_head: int = 4               # H attention heads per block
    n_embd: int = 96              # C model width
    dropout: float = 0.0
    bias: bool = True
    text_loss_weight: float = 1 / 7   # the caption's own next-word loss (DALL-E: 1/8 vs 7/8)
    pad_id: int = 0               # caption padding: never a text-loss target

    def __post_init__(self) -> None:
        for name in ("text_vocab_size", "text_length", "image_vocab_size", "image_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DALLEConfig.{name} must be a positive int, got {value!r}")
        if not (self.text_loss_weight >= 0 and math.isfinite(self.text_loss_weight)):
            raise ValueError(f"DALLEConfig.text_loss_weight must be >= 0, "
                             f"got {self.text_loss_weight}")
        if not 0 <= self.pad_id < self.text_vocab_size:
            raise ValueError(f"DALLEConfig.pad_id must be in [0, {self.text_vocab_size}), "
                             f"got {self.pad_id}")
        try:                          # the trunk checks its own sizes (n_layer, n_head, ...)
            self.trunk_config()
        except ValueError as e:
            raise ValueError(f"DALLEConfig (its GPT trunk): {e}") from e

    def trunk_config(self) -> GPTConfig:
        """The GPT over the joint sequence: V = Vt + 1 + Vi ids, T = Tt + P positions."""
        return GPTConfig(vocab_size=self.vocab_size, context_length=self.context_length,
                         n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                         dropout=self.dropout, bias=self.bias)

    @property
    def image_start_id(self) -> int:
        """The <image> token, right after the text ids."""
        return self.text_vocab_size

    @property
    def image_offset(self) -> int:
        """Image code c is token ``image_offset + c``."""
        return self.text_vocab_size + 1

    @property
    def vocab_size(self) -> int:
        """V = Vt + 1 + Vi, the rows of ``wte``."""
        return self.text_vocab_size + 1 + self.image_vocab_size

    @property
    def context_length(self) -> int:
        """T = Tt + P: the model never sees the last code as input."""
        return self.text_length + self.image_tokens


class DALLE(Module):
    """A GPT trunk over [caption][<image>][image codes] with an image head and a caption head,
    both tied to the trunk's ``wte``. Child: ``transformer`` (a ``GPT``).

    ``image_logits, loss = model(text, codes)`` then ``model.backward()``;
    ``model.generate(text, ...)`` samples codes for each caption row.
    """

    def __init__(self, config: DALLEConfig, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.config = config
        self.transformer = GPT(config.trunk_config(), rng=rng, dtype=dtype)

    # ---- input checks ----------------------------------------------------------------------------
    def _check_text(self, text: np.ndarray) -> None:
        cfg = self.config
        check_ids(text, "text (caption ids, padded)", vocab_size=cfg.text_vocab_size,
                  shape=(None, cfg.text_length), axes=f"(B, {cfg.text_length})")

    def _check_codes(self, codes: np.ndarray) -> None:
        cfg = self.config
        check_ids(codes, "codes (image tokens)", vocab_size=cfg.image_vocab_size,
                  shape=(None, cfg.image_tokens), axes=f"(B, {cfg.image_tokens})")

    def sequence(self, text: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """[text][<image>][codes + image_offset]: (B, Tt), (B, n) -> (B, Tt + 1 + n) joint ids."""
        cfg = self.config
        start = np.full((len(text), 1), cfg.image_start_id, dtype=np.int64)
        return np.concatenate([text, start, codes + cfg.image_offset], axis=1)

    def image_head(self, x: np.ndarray) -> np.ndarray:
        """The image head: hidden states (..., C) -> logits over the image codes (..., Vi)."""
        return x @ self.transformer.wte.weight.data[self.config.image_offset:].T   # (C, Vi)

    def text_head(self, x: np.ndarray) -> np.ndarray:
        """The caption head: hidden states (..., C) -> logits over the text ids (..., Vt)."""
        return x @ self.transformer.wte.weight.data[:self.config.text_vocab_size].T   # (C, Vt)

    # ---- training forward and backward -----------------------------------------------------------
    def forward(self, text: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, float]:
        """text: (B, Tt) caption ids; codes: (B, P) image codes. Returns the image logits
        (B, P, Vi) (row i predicts code i from the caption and codes < i) and the loss."""
        self._check_text(text)
        self._check_codes(codes)
        if len(text) != len(codes):
            raise ValueError(f"DALLE needs one caption per image: got {len(text)} caption rows "
                             f"and {len(codes)} code rows")
        cfg = self.config
        Tt = cfg.text_length
        x = self.transformer.hidden(self.sequence(text, codes[:, :-1]))   # (B, T, C), T = Tt + P
        image_logits = self.image_head(x[:, Tt:])             # (B, P, C) -> (B, P, Vi)
        loss, image_cache = cross_entropy_forward(image_logits, codes)
        text_cache = None
        if cfg.text_loss_weight > 0:
            text_logits = self.text_head(x[:, :Tt - 1])       # (B, Tt-1, C) -> (B, Tt-1, Vt)
            targets = np.where(text[:, 1:] == cfg.pad_id, IGNORE_INDEX, text[:, 1:])   # (B, Tt-1)
            text_loss, text_cache = cross_entropy_forward(text_logits, targets, IGNORE_INDEX)
            loss += cfg.text_loss_weight * text_loss
        self._cache = (x, image_cache, text_cache)
        return image_logits, loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        x, image_cache, text_cache = self._pop_cache()
        cfg = self.config
        Tt, Vt, off = cfg.text_length, cfg.text_vocab_size, cfg.image_offset
        B, T, C = x.shape
        wte = self.transformer.wte.weight
        dx = np.zeros_like(x)
        # fwd: image_logits = x[:, Tt:] @ wte[off:]^T  =>  dx[:, Tt:] = dlogits @ wte[off:],
        #      dwte[off:] += dlogits^T @ x[:, Tt:]
        dlogits = cross_entropy_backward(1.0, image_cache)   # (B, P, Vi)
        P = dlogits.shape[1]
        dx[:, Tt:] = dlogits @ wte.data[off:]                 # (B, P, Vi) @ (Vi, C)
        wte.grad[off:] += dlogits.reshape(B * P, -1).T @ x[:, Tt:].reshape(B * P, C)
        if text_cache is not None:
            # fwd: text_logits = x[:, :Tt-1] @ wte[:Vt]^T, weighted by text_loss_weight
            dlogits = cross_entropy_backward(cfg.text_loss_weight, text_cache)   # (B, Tt-1, Vt)
            dx[:, :Tt - 1] = dlogits @ wte.data[:Vt]
            wte.grad[:Vt] += dlogits.reshape(B * (Tt - 1), -1).T \
                @ x[:, :Tt - 1].reshape(B * (Tt - 1), C)
        # fwd: x = transformer.hidden(sequence)  =>  the trunk's backward (it adds to wte.grad too)
        self.transformer.backward_hidden(dx)

    # ---- generation ------------------------------------------------------------------------------
    def generate(self, text: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, rng: np.random.Generator | None = None,
                 use_cache: bool = True) -> np.ndarray:
        """Sample P image codes for each caption row; runs in eval mode.

        text: (B, Tt) caption ids (repeat a row to draw several images of one caption).
        Sampling: ``minifm.sampling.sample`` over the image codes only (temperature 0 = greedy;
        ``rng`` defaults to a fresh unseeded generator). Returns codes (B, P) int64 in [0, Vi).
        With ``use_cache`` the caption and <image> go through the model once and each further step
        feeds one code (the KV cache); without it each step reruns the whole prefix. Both compute
        the same logits (up to float rounding), so the same ``rng`` gives the same codes.
        """
        self._check_text(text)
        rng = rng if rng is not None else np.random.default_rng()
        check_sampling(rng, temperature, top_k, top_p)
        cfg, gpt = self.config, self.transformer
        B, P, off = len(text), cfg.image_tokens, cfg.image_offset
        codes = np.zeros((B, P), dtype=np.int64)
        caches = [block.attn.new_cache(B, cfg.context_length) for block in gpt.h] \
            if use_cache else []
        with self.evaluating():
            for i in range(P):
                if use_cache:    # feed what the cache lacks: [text][<image>], then one code
                    new = self.sequence(text, codes[:, :0]) if i == 0 else codes[:, i - 1:i] + off
                    x = gpt.hidden_cached(new, caches)                           # (B, C)
                else:            # the whole prefix [text][<image>][codes < i], every step
                    x = gpt.hidden(self.sequence(text, codes[:, :i]))[:, -1]   # -> (B, C)
                codes[:, i] = sample(self.image_head(x), rng, temperature, top_k, top_p)
        return codes
