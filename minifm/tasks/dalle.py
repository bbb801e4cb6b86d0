"""Text-to-image on the shapes world: the model sized for its data, drawing captions, judging the
drawings, and reranking them with CLIP.

Lesson: lessons/11_images_as_tokens.md.

    tok = fit_image_tokenizer("kmeans", world)                 (minifm.tasks.image_tokens)
    data = ShapesTokenData(tok, world)
    model = DALLE(model_config(data), rng=stream(seed, "init"))
    ... train it (minifm.training.trainer.Trainer) ...
    codes, images = draw(model, data, ["a red circle"], 8, rng=rng)     # (1, 8, P), (1, 8, H, W, 3)
    result = evaluate(model, data, reranker=Reranker.load("out/clip"))

``evaluate`` measures what the lesson quotes: for the class prompt of each (colour, shape) pair
("a red circle"), the 30 seen in training and the 6 held out, the share of generated images that
the shapes world's judge reads as the prompt's colour and shape. Without reranking that is the
share over every sample; with a CLIP, samples come in groups of ``candidates`` and only the one
most similar to the prompt counts (Ramesh et al. 2021 rerank 512 samples per caption this way).

Why 2 x 2 patches (64 tokens per image) rather than 4 x 4 (16 tokens): the codebook is fitted on
training images only, so a code is a patch the training set shows. A 4 x 4 patch holds a piece of
a shape in one colour, and pieces of a green ring never occur in training: 256 such codes
reconstruct held-out pairs so that the judge agrees only 70 % of the time (98 % on seen pairs),
and the transformer cannot draw what its tokens cannot say. A 2 x 2 patch is one colour in one of
16 masks, and every mask occurs in every colour: 6 x 15 + 1 (background) = 91 patterns, which
128 codes hold, so every pair is reconstructed and the model can compose the parts (measured:
10 % of unseen prompts drawn right with 4 x 4 tokens, about 70 % with 2 x 2).

A checkpoint of ``minifm train dalle`` carries both of its tokenizers inside (``tokenizer`` =
{"caption": ..., "image": ...}, see ``minifm.training.checkpoint``); ``load_dalle`` rebuilds the
model and its data from it alone.

Dimensions: M prompts, S samples (picks) per prompt, K candidates per pick, N = S K images per
prompt, P image tokens, H = W image side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from minifm.data.shapes import CHANCE, COLOURS, SHAPES, ShapesWorld, class_prompt
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.clip import CLIP
from minifm.models.dalle import DALLE, DALLEConfig
from minifm.tasks.clip import (check_known_words, embed_images, embed_texts, load_clip_run,
                               pick_best)
from minifm.tokenizers.word import split_words
from minifm.training.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from minifm.training.trainer import Throughput, TrainConfig

TRAIN_DEFAULTS = TrainConfig(steps=1500, batch_size=32, lr=2e-3, min_lr=2e-4, warmup_steps=100,
                             eval_interval=500, eval_batches=4)
OLD_IMAGE_TOKENIZER_FILE = "image_tokenizer.npz"   # where minifm kept it before checkpoints did
# The model reads a caption and then the image's codes: a batch (text (B, Tt), codes (B, P))
# holds B (Tt + P) tokens, and its training speed counts all of them.
THROUGHPUT = Throughput("tok/s", lambda batch: int(batch[0].size + batch[1].size))


# ---- the model and its checkpoint ----------------------------------------------------------------
def model_config(data: ShapesTokenData, *, n_layer: int | None = None, n_head: int | None = None,
                 n_embd: int | None = None, dropout: float | None = None,
                 text_loss_weight: float | None = None) -> DALLEConfig:
    """DALLEConfig sized for the data (vocabularies, caption length, image tokens); every size
    given (not None) replaces the default."""
    sizes = {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "dropout": dropout,
             "text_loss_weight": text_loss_weight}
    tok = data.image_tokenizer
    return DALLEConfig(text_vocab_size=data.tokenizer.vocab_size,
                       text_length=data.context_length, image_vocab_size=tok.vocab_size,
                       image_tokens=tok.num_tokens, pad_id=data.tokenizer.pad_id,
                       **{k: v for k, v in sizes.items() if v is not None})


def data_from_checkpoint(ckpt: Checkpoint, world: ShapesWorld | None = None) -> ShapesTokenData:
    """The data encoding a ``train dalle`` checkpoint was trained with, from the caption and
    image tokenizers stored inside it. A checkpoint of an earlier layout (its image tokenizer in
    a file beside it) is refused with a ``CheckpointError`` that says how to retrain."""
    tokenizers = ckpt.build_tokenizer()
    if not isinstance(tokenizers, dict) or set(tokenizers) != {"caption", "image"}:
        raise CheckpointError(
            f"checkpoint {ckpt.path} was written by an earlier minifm: it keeps its image "
            f"tokenizer outside ({OLD_IMAGE_TOKENIZER_FILE} beside it) and names the "
            "transformer's weights without the 'transformer.' prefix. This minifm stores the "
            "image tokenizer inside the checkpoint; train the model again with "
            "`minifm train dalle --out DIR`")
    return ShapesTokenData(tokenizers["image"], world, tokenizers["caption"])


def load_dalle(path: str | os.PathLike) -> tuple[DALLE, ShapesTokenData]:
    """The model and its data encoding from a ``train dalle`` folder (or its checkpoint file)."""
    ckpt = load_checkpoint(path, family="dalle")
    data = data_from_checkpoint(ckpt)
    return ckpt.build_model(), data


# ---- CLIP as a reranker --------------------------------------------------------------------------
@dataclass
class Reranker:
    """A trained CLIP and the caption encoding it was trained with."""

    model: CLIP
    captions: ShapesCaptionData

    @classmethod
    def load(cls, path: str | os.PathLike) -> Reranker:
        """From a ``minifm train clip`` folder or checkpoint file."""
        return cls(*load_clip_run(path))

    def score(self, images: np.ndarray, captions: Sequence[str]) -> np.ndarray:
        """Cosine similarity (N,) of image i (N, H, W, 3) with caption i."""
        image = embed_images(self.model, images)                        # (N, E), unit length
        text = embed_texts(self.model, self.captions, captions)         # (N, E), unit length
        return np.einsum("ne,ne->n", image, text)


def score_drawings(reranker: Reranker, images: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """Scores (M, N) of each prompt's drawings, images (M, N, H, W, 3), with that prompt. Any
    ``reranker`` with ``score(images, captions) -> (N,)`` will do (a CLIP, or a test's judge)."""
    M, N = images.shape[:2]
    return reranker.score(images.reshape(M * N, *images.shape[2:]),
                          [p for p in prompts for _ in range(N)]).reshape(M, N)


# ---- drawing captions ----------------------------------------------------------------------------
def check_captions(data: ShapesTokenData | ShapesCaptionData, captions: Sequence[str]) -> None:
    """Raise ValueError for an empty caption, unknown words (``check_known_words``) or a caption
    longer than the model's."""
    check_known_words(data.tokenizer, captions, "caption")
    for caption in captions:
        words = split_words(caption)
        if len(words) + 2 > data.context_length:
            raise ValueError(f"caption {caption!r} has {len(words)} words; the model reads at "
                             f"most {data.context_length - 2}")


def draw(model: DALLE, data: ShapesTokenData, captions: Sequence[str], n: int, *,
         temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
         rng: np.random.Generator, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """n samples of each caption: codes (M, n, P) and decoded images (M, n, H, W, 3)."""
    check_captions(data, captions)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of samples must be a positive int, got {n!r}")
    text = np.repeat(data.encode(captions), n, axis=0)                  # (M n, Tt)
    codes = model.generate(text, temperature, top_k, top_p, rng=rng, use_cache=use_cache)
    images = data.image_tokenizer.decode(codes)                         # (M n, H, W, 3)
    M = len(captions)
    return codes.reshape(M, n, -1), images.reshape(M, n, *images.shape[1:])


def judged_correct(world: ShapesWorld, images: np.ndarray, classes: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Whether the judge reads each image as its class: images (M, S, H, W, 3), classes (M, 2)
    (colour, shape) -> colour_ok, shape_ok, each (M, S) bool."""
    M, S = images.shape[:2]
    colour, shape = world.judge(images.reshape(M * S, *images.shape[2:]))
    return (colour.reshape(M, S) == classes[:, :1]), (shape.reshape(M, S) == classes[:, 1:])


def _shares(colour_ok: np.ndarray, shape_ok: np.ndarray, prompts: Sequence[str]
            ) -> dict[str, Any]:
    """Accuracy, colour and shape shares of (M, S) judgements, and the accuracy per prompt."""
    both = colour_ok & shape_ok
    return {"accuracy": float(both.mean()), "colour": float(colour_ok.mean()),
            "shape": float(shape_ok.mean()),
            "per_prompt": {p: float(a) for p, a in zip(prompts, both.mean(axis=1))}}


def judge_titles(world: ShapesWorld, images: np.ndarray, scores: np.ndarray | None
                 ) -> list[list[str]]:
    """What the judge reads in each image (M, S, H, W, 3), with its CLIP score (M, S) if given:
    the titles of a ``generate`` grid."""
    M, S = images.shape[:2]
    colour, shape = world.judge(images.reshape(M * S, *images.shape[2:]))
    reads = ["nothing" if c < 0 else f"{COLOURS[c]} {SHAPES[s]}" for c, s in zip(colour, shape)]
    return [[reads[m * S + s] + ("" if scores is None else f" ({scores[m, s]:.2f})")
             for s in range(S)] for m in range(M)]


Drawer = Callable[[list[str], int, np.random.Generator], np.ndarray]
"""``drawer(prompts, n, rng) -> images (M, n, H, W, 3)``: n drawings of each of M prompts."""


def judge_prompts(world: ShapesWorld, drawer: Drawer, *, reranker: Reranker | None = None,
                  samples: int = 10, candidates: int = 8, seed: int = 0) -> dict[str, Any]:
    """Judge-read accuracy of any text-to-image ``drawer`` for the class prompts of seen and
    unseen pairs (the token model's ``evaluate`` and the diffusion model's share it).

    Each prompt gets ``samples * candidates`` images. ``accuracy`` is the share the judge reads
    as the prompt's colour and shape (``colour``, ``shape``: each on its own); ``per_prompt``
    holds it for every prompt. With a ``reranker``, ``reranked`` is the same for the CLIP-best
    image of each group of ``candidates`` (``samples`` picks per prompt). Everything is drawn
    from ``default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"samples": samples, "candidates": candidates, "chance": CHANCE}
    for split in ("seen", "unseen"):
        classes = world.combos(split)                                       # (M, 2)
        prompts = [class_prompt(c, s) for c, s in classes]
        images = drawer(prompts, samples * candidates, rng)                 # (M, S K, H, W, 3)
        colour_ok, shape_ok = judged_correct(world, images, classes)        # (M, S K) each
        result[split] = _shares(colour_ok, shape_ok, prompts)
        if reranker is not None:
            M = len(prompts)
            scores = score_drawings(reranker, images, prompts).reshape(M, samples, candidates)
            colour_best, shape_best = (pick_best(scores, ok.reshape(M, samples, candidates))
                                       for ok in (colour_ok, shape_ok))    # (M, S) each
            result[split]["reranked"] = _shares(colour_best, shape_best, prompts)
    return result


def evaluate(model: DALLE, data: ShapesTokenData, *, reranker: Reranker | None = None,
             samples: int = 10, candidates: int = 8, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int = 0
             ) -> dict[str, Any]:
    """``judge_prompts`` of the token model drawing with these sampling settings (recorded in
    the result as ``temperature``, ``top_k`` and ``top_p``)."""
    def drawer(prompts: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
        return draw(model, data, prompts, n, temperature=temperature, top_k=top_k,
                    top_p=top_p, rng=rng)[1]

    result = judge_prompts(data.world, drawer, reranker=reranker, samples=samples,
                           candidates=candidates, seed=seed)
    result.update({"temperature": temperature, "top_k": top_k, "top_p": top_p})
    return result


def format_judged(result: dict[str, Any]) -> list[str]:
    """One line per split of a ``judge_prompts`` result."""
    lines = []
    for split in ("seen", "unseen"):
        e = result[split]
        line = (f"{split:6s} pairs: {e['accuracy']:.1%} of samples drawn right (colour "
                f"{e['colour']:.1%}, shape {e['shape']:.1%})")
        if "reranked" in e:
            line += (f"; CLIP-reranked best of {result['candidates']}: "
                     f"{e['reranked']['accuracy']:.1%}")
        lines.append(line)
    return lines


def format_evaluation(result: dict[str, Any]) -> str:
    """The evaluation as a few readable lines."""
    lines = format_judged(result)
    lines.append(f"  (chance: {result['chance']['accuracy']:.1%}; temperature "
                 f"{result['temperature']}, top-k {result['top_k']}, "
                 f"{result['samples'] * result['candidates']} samples per prompt)")
    return "\n".join(lines)
