"""CLIP: an image encoder and a text encoder trained to agree (Radford et al. 2021, "Learning
Transferable Visual Models From Natural Language Supervision"). Lesson: lessons/10_clip.md.

Dimensions: B batch (B image-caption pairs), H = W image side, Ch channels, P patches,
T caption tokens, C width of a tower, V vocabulary, E width of the joint embedding, L layers.

    image tower (a small ViT)                      text tower (a small transformer)
    x = patch_embed(images)        (B, P, C)       x = wte[tokens] + wpe[0..T-1]    (B, T, C)
    x = [class_embedding; x] + wpe (B, 1+P, C)     x = h.0(x), ..., h.{L-1}(x)       causal
    x = h.0(ln_pre(x)), ...                        t = x[b, last real token]         (B, C)
    v = x[:, 0]                    (B, C)              (the end-of-text token)
    v = ln_post(v) @ proj          (B, E)          t = ln_f(t) @ proj                (B, E)

    img = v / ||v||,  txt = t / ||t||                                  (minifm.functional.normalize)
    logits_per_image = exp(logit_scale) * img @ txt^T                  (B, B): pair i is (i, i)
    loss = (CE(logits, arange B) + CE(logits^T, arange B)) / 2         (minifm.nn.losses)

The temperature is learned as ``logit_scale`` = log(1 / temperature), starting at 1 / 0.07 and
clipped so the logits are scaled by at most 100 (the paper, section 2.5). A caption is pooled at
its last real token, which is the end-of-text token [EOS] when the tokenizer adds one; under the
causal mask that token is the only one that has seen the whole caption.

Pooling. CLIP reads the class token and the end-of-text token ("cls", "eot"); the classroom
default averages instead ("mean", "mean": no class token, the mean over patches and over real
tokens). On the shapes world the mean generalises far better to held-out (colour, shape) pairs:
after ``minifm train clip`` (1,000 steps), zero-shot accuracy on the unseen pairs was 98.2 % with
"mean" and 52.5 % with "cls"/"eot" (colour 100 % in both; the "cls"/"eot" model confuses the shapes).

Options for real checkpoints (``minifm.pretrained.clip`` loads Hugging Face's CLIPModel): OpenAI's
CLIP uses GELU's sigmoid form x * sigmoid(1.702 x) (``gelu="sigmoid"``), and pools a caption at
its first end-of-text token, whatever follows it (``eot_id``: that token's id; None pools at the
last real token, which is the same position when [EOS] ends every caption).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.functional.normalize import l2_normalize_backward, l2_normalize_forward
from minifm.functional.pooling import (mean_pool_backward, mean_pool_forward,
                                       select_pool_backward, select_pool_forward)
from minifm.nn.activations import GELU_FORMS
from minifm.nn.embedding import Embedding
from minifm.nn.layernorm import LayerNorm
from minifm.nn.linear import Linear
from minifm.nn.losses import ContrastiveLoss
from minifm.nn.module import Module, Parameter
from minifm.nn.patch_embedding import PatchEmbedding
from minifm.nn.transformer import TransformerBlock
from minifm.validation import (check_context_length, check_floats, check_ids,
                               check_right_padded)

IMAGE_POOLS = ("cls", "mean")   # the class token (ViT, CLIP) or the mean over patches
TEXT_POOLS = ("eot", "mean")    # the last real token (CLIP) or the mean over real tokens


@dataclass(frozen=True)
class CLIPConfig:
    """CLIP hyperparameters; the defaults suit 16 x 16 shapes-world images and their captions."""

    image_size: int = 16          # H = W
    patch_size: int = 4           # p: P = (16 / 4)^2 = 16 patches
    channels: int = 3             # Ch
    vision_width: int = 64        # C of the image tower; MLP width 4C
    vision_layers: int = 2
    vision_heads: int = 4
    image_pool: str = "mean"      # one of IMAGE_POOLS (see the note on pooling above)
    vocab_size: int = 28          # V: the word tokenizer of the shapes captions (24 words + 4)
    context_length: int = 12      # rows of the text wpe: captions up to 12 tokens (shapes: 9)
    text_width: int = 64          # C of the text tower; MLP width 4C
    text_layers: int = 2
    text_heads: int = 4
    text_pool: str = "mean"       # one of TEXT_POOLS
    pad_id: int = 0               # caption padding; it must come after the text
    eot_id: int | None = None     # "eot" pool: the first position of this id (None: last real)
    gelu: str = "tanh"            # the MLPs' GELU form: "tanh", "none" or "sigmoid" (OpenAI CLIP)
    embed_dim: int = 32           # E: the joint embedding space
    init_temperature: float = 0.07    # logit scale starts at 1 / 0.07 = 14.3 (the paper)
    max_logit_scale: float = 100.0    # and is clipped at 100
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "channels", "vision_width", "vision_layers",
                     "vision_heads", "vocab_size", "context_length", "text_width", "text_layers",
                     "text_heads", "embed_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CLIPConfig.{name} must be a positive int, got {value!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"CLIPConfig: image_size={self.image_size} must be divisible by "
                             f"patch_size={self.patch_size}")
        for width, heads in (("vision_width", "vision_heads"), ("text_width", "text_heads")):
            if getattr(self, width) % getattr(self, heads):
                raise ValueError(f"CLIPConfig: {width}={getattr(self, width)} must be divisible "
                                 f"by {heads}={getattr(self, heads)}")
        if self.image_pool not in IMAGE_POOLS or self.text_pool not in TEXT_POOLS:
            raise ValueError(f"CLIPConfig: image_pool must be one of {IMAGE_POOLS} and text_pool "
                             f"one of {TEXT_POOLS}, got {self.image_pool!r}, {self.text_pool!r}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"CLIPConfig.pad_id must be in [0, {self.vocab_size}), "
                             f"got {self.pad_id}")
        if self.eot_id is not None and (isinstance(self.eot_id, bool) or not isinstance(
                self.eot_id, int) or not 0 <= self.eot_id < self.vocab_size
                or self.eot_id == self.pad_id):
            raise ValueError(f"CLIPConfig.eot_id must be None or an id in [0, {self.vocab_size}) "
                             f"other than pad_id={self.pad_id}, got {self.eot_id!r}")
        if self.gelu not in GELU_FORMS:
            raise ValueError(f"CLIPConfig.gelu must be one of {GELU_FORMS}, got {self.gelu!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CLIPConfig.dropout must be in [0, 1), got {self.dropout}")


PRESETS: dict[str, CLIPConfig] = {
    # OpenAI's CLIP ViT-B/32: 224 x 224 images in 7 x 7 patches of 32; 151,277,313 parameters
    "vit-b-32": CLIPConfig(image_size=224, patch_size=32, vision_width=768, vision_layers=12,
                           vision_heads=12, vocab_size=49408, context_length=77, text_width=512,
                           text_layers=12, text_heads=8, embed_dim=512, image_pool="cls",
                           text_pool="eot"),
    # trains on the shapes world in a few minutes on a laptop CPU
    "classroom": CLIPConfig(),
}


def count_params(config: CLIPConfig) -> int:
    """The number of parameters of ``CLIP(config)``, from the formula (nothing is allocated).

    A block of width C: ln_1, ln_2 (2C each), c_attn (C x 3C + 3C), c_proj (C x C + C),
    mlp.c_fc (C x 4C + 4C), mlp.c_proj (4C x C + C) = 12 C^2 + 13 C.
    Image tower: patch_embed (p^2 Ch x C, no bias: the learned positions already add a constant
    per position), class_embedding (C, with the "cls" pool), wpe ((P [+1]) x C), ln_pre and
    ln_post (2C each), proj (C x E). Text tower: wte (V x C), wpe (context_length x C), ln_f (2C),
    proj (C x E). Plus logit_scale (1). CLIP ViT-B/32: 151,277,313.
    """
    def blocks(C: int, L: int) -> int:
        return L * (12 * C * C + 13 * C)

    Cv, Ct, E = config.vision_width, config.text_width, config.embed_dim
    P = (config.image_size // config.patch_size) ** 2
    cls = config.image_pool == "cls"
    vision = (config.patch_size ** 2 * config.channels * Cv + cls * Cv + (P + cls) * Cv
              + 4 * Cv + blocks(Cv, config.vision_layers) + Cv * E)
    text = ((config.vocab_size + config.context_length) * Ct + blocks(Ct, config.text_layers)
            + 2 * Ct + Ct * E)
    return vision + text + 1


class VisionTransformer(Module):
    """The image tower: children ``patch_embed``, ``class_embedding`` (with the "cls" pool),
    ``wpe``, ``ln_pre``, ``h.{i}``, ``ln_post``, ``proj``. images (B, H, W, Ch) -> (B, E)."""

    def __init__(self, config: CLIPConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        C, self.pool = config.vision_width, config.image_pool
        self.patch_embed = PatchEmbedding(config.image_size, config.patch_size, config.channels,
                                          C, bias=False, rng=rng, dtype=dtype)
        n_tokens = self.patch_embed.num_patches
        if self.pool == "cls":
            self.class_embedding = Parameter((0.02 * rng.standard_normal(C)).astype(dtype))
            n_tokens += 1
        self.wpe = Embedding(n_tokens, C, rng=rng, dtype=dtype)
        self.ln_pre = LayerNorm(C, dtype=dtype)
        self.h = [TransformerBlock(C, config.vision_heads, 4 * C, dropout=config.dropout,
                                   approximate=config.gelu, rng=rng, dtype=dtype)
                  for _ in range(config.vision_layers)]
        self.ln_post = LayerNorm(C, dtype=dtype)
        self.proj = Linear(C, config.embed_dim, bias=False, rng=rng, dtype=dtype)

    def forward(self, images: np.ndarray) -> np.ndarray:
        """images: (B, H, W, Ch) in the tower's dtype -> features (B, E), not yet normalised."""
        x = self.patch_embed(images)                          # (B, H, W, Ch) -> (B, P, C)
        B, P, C = x.shape
        if self.pool == "cls":
            cls = np.broadcast_to(self.class_embedding.data, (B, 1, C))
            x = np.concatenate([cls, x], axis=1)              # (B, P, C) -> (B, 1+P, C)
        x = self.ln_pre(x + self.wpe(np.arange(x.shape[1])))  # (B, T, C) with T = P or 1+P
        for block in self.h:
            x = block(x)
        if self.pool == "cls":
            v, pool_cache = select_pool_forward(x, np.zeros(B, dtype=np.int64))   # (B, C)
        else:
            v, pool_cache = mean_pool_forward(x)                                   # (B, C)
        self._cache = pool_cache
        return self.proj(self.ln_post(v))                     # (B, C) -> (B, E)

    def backward(self, dfeatures: np.ndarray) -> np.ndarray:
        """dfeatures: (B, E) -> dimages (B, H, W, Ch); adds into every parameter's gradient."""
        pool_cache = self._pop_cache()
        dv = self.ln_post.backward(self.proj.backward(dfeatures))        # (B, C)
        pool_backward = select_pool_backward if self.pool == "cls" else mean_pool_backward
        dx = pool_backward(dv, pool_cache)                               # (B, C) -> (B, T, C)
        for block in reversed(self.h):
            dx = block.backward(dx)
        dx = self.ln_pre.backward(dx)
        # fwd: x = x + wpe[0..T-1]  =>  dwpe = dx summed over the batch (broadcast)
        self.wpe.backward(dx.sum(axis=0))                                # (B, T, C) -> (T, C)
        if self.pool == "cls":
            # fwd: x = [class_embedding; patches]  =>  split dx; the one class vector is shared
            self.class_embedding.grad += dx[:, 0].sum(axis=0)            # (B, C) -> (C,)
            dx = dx[:, 1:]                                               # (B, 1+P, C) -> (B, P, C)
        return self.patch_embed.backward(dx)


class TextTransformer(Module):
    """The text tower: children ``wte``, ``wpe``, ``h.{i}`` (causal), ``ln_f``, ``proj``.
    tokens (B, T) -> (B, E)."""

    def __init__(self, config: CLIPConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        C, self.pool, self.pad_id = config.text_width, config.text_pool, config.pad_id
        self.eot_id = config.eot_id
        self.wte = Embedding(config.vocab_size, C, rng=rng, dtype=dtype)
        self.wpe = Embedding(config.context_length, C, rng=rng, dtype=dtype)
        self.h = [TransformerBlock(C, config.text_heads, 4 * C, causal=True,
                                   dropout=config.dropout, approximate=config.gelu, rng=rng,
                                   dtype=dtype)
                  for _ in range(config.text_layers)]
        self.ln_f = LayerNorm(C, dtype=dtype)
        self.proj = Linear(C, config.embed_dim, bias=False, rng=rng, dtype=dtype)

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """tokens: (B, T) int ids, padding (pad_id) only after the text -> features (B, E)."""
        real = tokens != self.pad_id                          # (B, T) key-padding mask
        T = tokens.shape[1]
        x = self.wte(tokens) + self.wpe(np.arange(T))         # (B, T, C)
        for block in self.h:
            x = block(x, real)
        if self.pool == "eot":
            # the first end-of-text token (argmax finds the first True), else the last real one
            at = (real.sum(axis=1) - 1 if self.eot_id is None
                  else (tokens == self.eot_id).argmax(axis=1))             # (B,)
            t, pool_cache = select_pool_forward(x, at)                     # (B, T, C) -> (B, C)
        else:
            t, pool_cache = mean_pool_forward(x, real)                     # (B, T, C) -> (B, C)
        self._cache = pool_cache
        return self.proj(self.ln_f(t))                        # (B, C) -> (B, E)

    def backward(self, dfeatures: np.ndarray) -> None:
        """dfeatures: (B, E); adds into every parameter's gradient (token ids have none)."""
        pool_cache = self._pop_cache()
        dt = self.ln_f.backward(self.proj.backward(dfeatures))          # (B, C)
        pool_backward = select_pool_backward if self.pool == "eot" else mean_pool_backward
        dx = pool_backward(dt, pool_cache)                               # (B, C) -> (B, T, C)
        for block in reversed(self.h):
            dx = block.backward(dx)
        # fwd: x = wte[tokens] + wpe[0..T-1]  =>  dwte rows += dx,  dwpe = dx summed over B
        self.wpe.backward(dx.sum(axis=0))                                # (B, T, C) -> (T, C)
        self.wte.backward(dx)


class CLIP(Module):
    """Contrastive image-text model. Children: ``visual``, ``text``, ``contrastive`` (which owns
    ``logit_scale``).

    ``logits_per_image, loss = model(images, tokens)`` then ``model.backward()``;
    ``encode_image`` / ``encode_text`` give unit-length embeddings for inference.
    """

    def __init__(self, config: CLIPConfig, *, rng: np.random.Generator, dtype: type = np.float32):
        self.config = config
        self.visual = VisionTransformer(config, rng=rng, dtype=dtype)
        self.text = TextTransformer(config, rng=rng, dtype=dtype)
        self.contrastive = ContrastiveLoss(init_temperature=config.init_temperature,
                                           max_scale=config.max_logit_scale, dtype=dtype)

    @property
    def dtype(self) -> np.dtype:
        return self.text.wte.weight.data.dtype

    @property
    def temperature(self) -> float:
        """The softmax temperature 1 / exp(logit_scale) (0.07 at initialisation)."""
        return float(np.exp(-self.contrastive.logit_scale.data))

    # ---- input checks -------------------------------------------------------------------------
    def _check_images(self, images: np.ndarray) -> None:
        S, Ch = self.config.image_size, self.config.channels
        check_floats(images, "images", shape=(None, S, S, Ch), axes=f"(B, {S}, {S}, {Ch})",
                     dtype=self.dtype)

    def _check_tokens(self, tokens: np.ndarray) -> None:
        cfg = self.config
        check_ids(tokens, "tokens", vocab_size=cfg.vocab_size, ndim=2, axes="(B, T)")
        check_context_length(tokens.shape[1], cfg.context_length)
        check_right_padded(tokens, cfg.pad_id, "tokens")
        if cfg.text_pool == "eot" and cfg.eot_id is not None:
            lacking = np.flatnonzero(~(tokens == cfg.eot_id).any(axis=1))
            if lacking.size:
                raise ValueError(f"tokens: every row must hold the end-of-text id "
                                 f"{cfg.eot_id} (the eot pool reads it); rows "
                                 f"{lacking.tolist()} do not")

    # ---- training forward and backward ----------------------------------------------------------
    def forward(self, images: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, float]:
        """images: (B, H, W, Ch) float; tokens: (B, T) int, caption i describes image i.

        Returns logits_per_image (B, B) = exp(logit_scale) * cosine similarities (row i: image i
        against every caption) and the symmetric contrastive loss.
        """
        self._check_images(images)
        self._check_tokens(tokens)
        if len(images) != len(tokens):
            raise ValueError(f"CLIP needs one caption per image: got {len(images)} images and "
                             f"{len(tokens)} token rows")
        img, img_cache = l2_normalize_forward(self.visual(images))     # (B, E), unit rows
        txt, txt_cache = l2_normalize_forward(self.text(tokens))       # (B, E), unit rows
        loss = self.contrastive(img, txt)                              # clamps logit_scale first
        logits = np.exp(self.contrastive.logit_scale.data) * (img @ txt.T)   # (B, E) @ (E, B)
        self._cache = (img_cache, txt_cache)
        return logits, loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every parameter's .grad."""
        img_cache, txt_cache = self._pop_cache()
        dimg, dtxt = self.contrastive.backward(1.0)                    # (B, E) each
        self.text.backward(l2_normalize_backward(dtxt, txt_cache))
        self.visual.backward(l2_normalize_backward(dimg, img_cache))

    # ---- inference ------------------------------------------------------------------------------
    def _infer(self, tower: Module, x: np.ndarray) -> np.ndarray:
        with self.evaluating():
            emb, _ = l2_normalize_forward(tower(x))
        self._cache = None     # an inference pass: a backward now would mix passes, so it fails
        return emb

    def encode_image(self, images: np.ndarray) -> np.ndarray:
        """images: (N, H, W, Ch) -> unit-length embeddings (N, E), in eval mode."""
        self._check_images(images)
        return self._infer(self.visual, images)

    def encode_text(self, tokens: np.ndarray) -> np.ndarray:
        """tokens: (N, T) int ids -> unit-length embeddings (N, E), in eval mode."""
        self._check_tokens(tokens)
        return self._infer(self.text, tokens)


def clip_score(model: CLIP, images: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Cosine similarity of each image with its own caption: (N, H, W, Ch), (N, T) -> (N,).

    In [-1, 1], higher = a better match; rerank generated images for one caption by repeating its
    tokens N times. (Hessel et al. 2021 call 2.5 * max(cos, 0) the CLIPScore.)
    """
    if len(images) != len(tokens):
        raise ValueError(f"clip_score pairs image i with caption i: got {len(images)} images "
                         f"and {len(tokens)} token rows")
    return np.einsum("ne,ne->n", model.encode_image(images), model.encode_text(tokens))
