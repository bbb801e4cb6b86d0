"""A DALL-E-like text-to-image model: one decoder-only transformer over caption tokens followed by
image tokens (Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation").

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
    x = GPT trunk(idx)                                          (B, T, C) causal, pre-LN
    image logits at positions Tt .. Tt+P-1 = x @ wte[image rows]^T       (B, P, Vi)
    loss = CE(image logits, codes) + text_loss_weight * CE(text logits, caption[1:])

Position Tt (the <image> token) predicts the first code, position Tt + i predicts code i, each
over the image codes only; the optional text loss has positions 0 .. Tt-2 predict the next
caption word over the text ids only, skipping [PAD] targets. (DALL-E weighs the text and image
losses 1/8 and 7/8.) The output head is tied to ``wte`` as in GPT.

Generation (``generate``) feeds the caption and <image>, then samples P codes one at a time with
temperature, top-k and top-p (``minifm.sampling.sample``) from the image logits only, using the
KV cache of ``minifm.models.gpt.GPT``; the image tokenizer decodes the codes to pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minifm.functional.losses import cross_entropy_backward, cross_entropy_forward
from minifm.models.gpt import GPT, GPTConfig
from minifm.sampling import sample

IGNORE = -100      # cross-entropy target to skip (caption padding)


@dataclass(frozen=True)
class DalleConfig:
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
        for name in ("text_vocab_size", "text_length", "image_vocab_size", "image_tokens",
                     "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DalleConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"DalleConfig: n_embd={self.n_embd} must be divisible by "
                             f"n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"DalleConfig.dropout must be in [0, 1), got {self.dropout}")
        if not (self.text_loss_weight >= 0 and math.isfinite(self.text_loss_weight)):
            raise ValueError(f"DalleConfig.text_loss_weight must be >= 0, "
                             f"got {self.text_loss_weight}")
        if not 0 <= self.pad_id < self.text_vocab_size:
            raise ValueError(f"DalleConfig.pad_id must be in [0, {self.text_vocab_size}), "
                             f"got {self.pad_id}")

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
    def block_size(self) -> int:
        """T = Tt + P: the model never sees the last code as input."""
        return self.text_length + self.image_tokens


class DALLE(GPT):
    """A GPT over [caption][<image>][image codes]; children as in GPT (``wte``, ``wpe``, ``drop``,
    ``h.{i}``, ``ln_f``).

    ``image_logits, loss = model(text, codes)`` then ``model.backward()``;
    ``model.generate(text, ...)`` samples codes for each caption row.
    """

    def __init__(self, config: DalleConfig, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        super().__init__(GPTConfig(vocab_size=config.vocab_size, block_size=config.block_size,
                                   n_layer=config.n_layer, n_head=config.n_head,
                                   n_embd=config.n_embd, dropout=config.dropout,
                                   bias=config.bias), rng=rng, dtype=dtype)
        self.config = config          # a DalleConfig (checkpoints rebuild the model from it)

    # ---- input checks ----------------------------------------------------------------------------
    def _check_ids_in(self, ids: np.ndarray, what: str, length: int, high: int) -> None:
        if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
            got = ids.dtype if isinstance(ids, np.ndarray) else type(ids).__name__
            raise TypeError(f"DALLE expects {what} as an integer numpy array, got {got}")
        if ids.ndim != 2 or ids.shape[1] != length or len(ids) == 0:
            raise ValueError(f"DALLE expects {what} of shape (B, {length}) with B >= 1, got "
                             f"{ids.shape}")
        if ids.min() < 0 or ids.max() >= high:
            bad = ids[(ids < 0) | (ids >= high)].flat[0]
            raise ValueError(f"{what} hold id {bad}, outside [0, {high})")

    def _check_text(self, text: np.ndarray) -> None:
        cfg = self.config
        self._check_ids_in(text, "text (caption ids, padded)", cfg.text_length,
                           cfg.text_vocab_size)

    def _check_codes(self, codes: np.ndarray) -> None:
        cfg = self.config
        self._check_ids_in(codes, "codes (image tokens)", cfg.image_tokens, cfg.image_vocab_size)

    def sequence(self, text: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """[text][<image>][codes + image_offset]: (B, Tt), (B, n) -> (B, Tt + 1 + n) joint ids."""
        cfg = self.config
        start = np.full((len(text), 1), cfg.image_start_id, dtype=np.int64)
        return np.concatenate([text, start, codes + cfg.image_offset], axis=1)

    # ---- training forward and backward -----------------------------------------------------------
    def _hidden(self, idx: np.ndarray) -> np.ndarray:
        """The GPT trunk: joint ids (B, T) -> final hidden states (B, T, C), caches kept."""
        tok = self.wte(idx)                                   # (B, T) -> (B, T, C)
        pos = self.wpe(np.arange(idx.shape[1]))               # (T,) -> (T, C)
        x = self.drop(tok + pos)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def forward(self, text: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, float]:
        """text: (B, Tt) caption ids; codes: (B, P) image codes. Returns the image logits
        (B, P, Vi) (row i predicts code i from the caption and codes < i) and the loss."""
        self._check_text(text)
        self._check_codes(codes)
        if len(text) != len(codes):
            raise ValueError(f"DALLE needs one caption per image: got {len(text)} caption rows "
                             f"and {len(codes)} code rows")
        cfg = self.config
        Tt, Vt, off = cfg.text_length, cfg.text_vocab_size, cfg.image_offset
        x = self._hidden(self.sequence(text, codes[:, :-1]))  # (B, T, C), T = Tt + P
        wte = self.wte.weight.data
        image_logits = x[:, Tt:] @ wte[off:].T                # (B, P, C) @ (C, Vi) -> (B, P, Vi)
        loss, image_cache = cross_entropy_forward(image_logits, codes)
        text_cache = None
        if cfg.text_loss_weight > 0:
            text_logits = x[:, :Tt - 1] @ wte[:Vt].T          # (B, Tt-1, C) @ (C, Vt)
            targets = np.where(text[:, 1:] == cfg.pad_id, IGNORE, text[:, 1:])   # (B, Tt-1)
            text_loss, text_cache = cross_entropy_forward(text_logits, targets, IGNORE)
            loss += cfg.text_loss_weight * text_loss
        self._cache = (x, image_cache, text_cache)
        return image_logits, loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        x, image_cache, text_cache = self._pop_cache()
        cfg = self.config
        Tt, Vt, off = cfg.text_length, cfg.text_vocab_size, cfg.image_offset
        B, T, C = x.shape
        wte = self.wte.weight
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
        dx = self.ln_f.backward(dx)
        for block in reversed(self.h):
            dx = block.backward(dx)
        dx = self.drop.backward(dx)
        # fwd: x = tok + pos  =>  dpos = dx summed over the batch, dtok = dx
        self.wpe.backward(dx.sum(axis=0))                     # (B, T, C) -> (T, C)
        self.wte.backward(dx)

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
        cfg = self.config
        B, P, off = len(text), cfg.image_tokens, cfg.image_offset
        codes = np.zeros((B, P), dtype=np.int64)
        was_training = self.training
        self.eval()
        try:
            caches = ([block.attn.new_cache(B, cfg.block_size) for block in self.h]
                      if use_cache else [])
            for i in range(P):
                if use_cache:        # feed what the cache lacks: [text][<image>], then one code
                    new = self.sequence(text, codes[:, :0]) if i == 0 else codes[:, i - 1:i] + off
                    logits = self._logits_cached(new, caches)[:, off:]   # (B, V) -> (B, Vi)
                else:                # the whole prefix [text][<image>][codes < i], every step
                    x = self._hidden(self.sequence(text, codes[:, :i]))[:, -1]   # (B, C)
                    logits = x @ self.wte.weight.data[off:].T                    # (B, Vi)
                codes[:, i] = sample(logits, rng, temperature, top_k, top_p)
        finally:
            self.train(was_training)
        return codes
