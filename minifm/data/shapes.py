"""The shapes world: small RGB images of one coloured shape on a dark background, with captions.

This is the synthetic data on which minifm's CLIP and its text-to-image (DALL-E-like) model
train. Every image shows one shape with four attributes, each with real visual content:

    colour    red, green, blue, yellow, magenta, cyan      (corners of the RGB cube, so far apart)
    shape     circle, square, triangle, cross, ring, bar   (bar = a flat horizontal rectangle)
    size      small, large                                 (6 and 10 pixels across at 16 x 16)
    position  centre, left, right, top, bottom

and a caption from a few templates ("a red circle", "a small blue square on the left", ...).

Compositional split. Six (colour, shape) pairs, ``UNSEEN``, are never produced by the "train"
split: one shape held out per colour and one colour per shape (a Latin-square diagonal), so every
colour and every shape still appears in training, only never together in these pairs. A model that
understands "blue" and "circle" separately should still draw, or recognise, a blue circle.

The judge, ``ShapesWorld.judge``, reads any image back into (colour, shape). Each pixel's distance
from the background colour makes a map of "how much shape is here". Colour: the palette colour
whose direction (after subtracting the background) is closest to the mean colour of the pixels at
least half as far as the farthest one. Shape: the template, among every shape rendered at every
size and every position where it fits, that best matches the distance map by normalised
cross-correlation (Pearson correlation over pixels; 1 = a perfect match). An image with no pixel
far from the background gets -1. The judge is exact on rendered images, noisy or not, and
degrades gracefully on blurry ones (tests/data/test_shapes.py measures both).

Dimension letters: N images, H = W image side in pixels, K judge templates, M combinations.
Images are float32 in [0, 1], layout (N, H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

COLOURS = ("red", "green", "blue", "yellow", "magenta", "cyan")
PALETTE = np.array([                     # (6, 3) RGB, one row per colour name
    [0.95, 0.15, 0.15],
    [0.15, 0.85, 0.20],
    [0.15, 0.30, 1.00],
    [0.95, 0.90, 0.15],
    [0.90, 0.20, 0.90],
    [0.15, 0.90, 0.95],
], dtype=np.float32)
SHAPES = ("circle", "square", "triangle", "cross", "ring", "bar")
SIZES = ("small", "large")
# What guessing scores on a judged image: a random (colour, shape) class, colour, shape.
CHANCE = {"accuracy": 1 / (len(COLOURS) * len(SHAPES)), "colour": 1 / len(COLOURS),
          "shape": 1 / len(SHAPES)}
POSITIONS = ("centre", "left", "right", "top", "bottom")
POSITION_PHRASES = ("in the centre", "on the left", "on the right", "at the top", "at the bottom")
POSITION_STEPS = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])  # (x, y) direction, y down

# The (colour, shape) pairs the "train" split never shows: each colour once and each shape once.
UNSEEN = (("red", "triangle"), ("green", "ring"), ("blue", "circle"),
          ("yellow", "cross"), ("magenta", "bar"), ("cyan", "square"))

CAPTION_TEMPLATES = (
    "a {colour} {shape}",                    # template 0 is the canonical class prompt
    "a {size} {colour} {shape}",
    "a {colour} {shape} {where}",
    "a {size} {colour} {shape} {where}",
)

SPLITS = ("train", "seen", "unseen", "all")  # "seen" = the train combinations, for evaluation

ARM = 0.34            # half-thickness of the cross's arms and of the bar, in shape units
HOLE = 0.55           # inner radius of the ring, in shape units
MIN_CONTRAST = 0.3    # judge: no shape unless some pixel is this far from the background colour
FOREGROUND = 0.5      # judge: foreground = pixels at least this fraction of the farthest distance

# Inside tests in shape units: (u, v) = (pixel centre - shape centre) / half extent, so every shape
# spans [-1, 1] in its larger direction. v points down, so the triangle's apex is at the top.
_INSIDE = {
    "circle": lambda u, v: u * u + v * v <= 1.0,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 1.0,
    "triangle": lambda u, v: (v <= 1.0) & (np.abs(u) <= (v + 1.0) / 2),
    "cross": lambda u, v: (np.maximum(np.abs(u), np.abs(v)) <= 1.0)
                          & (np.minimum(np.abs(u), np.abs(v)) <= ARM),
    "ring": lambda u, v: (u * u + v * v <= 1.0) & (u * u + v * v >= HOLE * HOLE),
    "bar": lambda u, v: (np.abs(u) <= 1.0) & (np.abs(v) <= ARM),
}


def rasterise(shape: np.ndarray, cx: np.ndarray, cy: np.ndarray, half: np.ndarray,
              image_size: int) -> np.ndarray:
    """Boolean masks (N, H, W) of shapes (N,) centred at (cx, cy) (N,) with half extents (N,).

    Pixel (y, x) is inside when its centre (x + 0.5, y + 0.5) passes the shape's inside test.
    """
    grid = np.arange(image_size) + 0.5                                # (W,) pixel centres
    u = (grid[None, None, :] - cx[:, None, None]) / half[:, None, None]  # (N, 1, W)
    v = (grid[None, :, None] - cy[:, None, None]) / half[:, None, None]  # (N, H, 1)
    u, v = np.broadcast_arrays(u, v)                                  # (N, H, W) each
    mask = np.zeros(u.shape, dtype=bool)
    for s, name in enumerate(SHAPES):       # one pass per kind of shape, over the whole batch
        rows = shape == s
        mask[rows] = _INSIDE[name](u[rows], v[rows])
    return mask


def caption_variants(colour: int, shape: int, size: int, position: int) -> list[str]:
    """Every caption template filled in for one image's attributes (indices into the name lists)."""
    return [t.format(colour=COLOURS[colour], shape=SHAPES[shape], size=SIZES[size],
                     where=POSITION_PHRASES[position]) for t in CAPTION_TEMPLATES]


def class_prompt(colour: int, shape: int) -> str:
    """The canonical prompt for a (colour, shape) class, e.g. "a red circle"."""
    return CAPTION_TEMPLATES[0].format(colour=COLOURS[colour], shape=SHAPES[shape])


def class_prompts() -> list[str]:
    """All 36 class prompts; class c * len(SHAPES) + s is (colour c, shape s)."""
    return [class_prompt(c, s) for c in range(len(COLOURS)) for s in range(len(SHAPES))]


def _check_attributes(*attrs: np.ndarray) -> list[np.ndarray]:
    """Raise unless (colour, shape, size, position) are equally long 1-D int arrays of valid ids."""
    attrs = [np.asarray(a) for a in attrs]
    for a, what, names in zip(attrs, ("colour", "shape", "size", "position"),
                              (COLOURS, SHAPES, SIZES, POSITIONS)):
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{what} must be a 1-D int array, got shape {a.shape} dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= len(names)):
            raise ValueError(f"{what} ids must lie in [0, {len(names)}), "
                             f"got [{a.min()}, {a.max()}]")
    if len({len(a) for a in attrs}) != 1:
        raise ValueError(f"colour, shape, size, position need equal lengths, "
                         f"got {[len(a) for a in attrs]}")
    return attrs


def _check_rng(rng: np.random.Generator) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator, got {type(rng).__name__}")


@dataclass(frozen=True)
class ShapesConfig:
    """How the world draws: image side, shape sizes, jitter and noise (default: 16 x 16, none)."""

    image_size: int = 16          # H = W, even
    small: float = 0.375          # shape extent / image side, rounded to an even pixel count
    large: float = 0.625
    position_jitter: int = 0      # each centre moves by up to this many pixels in x and in y
    colour_jitter: float = 0.05   # each RGB channel moves by up to this much
    noise: float = 0.0            # std of Gaussian noise added to every pixel (then clipped)
    background: tuple[float, float, float] = (0.06, 0.06, 0.10)

    def __post_init__(self) -> None:
        if not isinstance(self.image_size, int) or self.image_size < 8 or self.image_size % 2:
            raise ValueError(f"image_size must be an even int >= 8, got {self.image_size!r}")
        if not 0 < self.small < self.large < 1:
            raise ValueError(f"need 0 < small < large < 1, got {self.small}, {self.large}")
        small, large = self.extents
        if small < 4 or small == large:
            raise ValueError(f"sizes round to {small} and {large} pixels; need 4 <= small < large")
        if min(self.shifts) < 1:
            raise ValueError(f"large={self.large} leaves no room to move a large shape off centre")
        if not isinstance(self.position_jitter, int) or self.position_jitter < 0:
            raise ValueError(f"position_jitter must be an int >= 0, got {self.position_jitter!r}")
        if self.colour_jitter < 0 or self.noise < 0:
            raise ValueError(f"colour_jitter and noise must be >= 0, "
                             f"got {self.colour_jitter}, {self.noise}")
        if len(self.background) != 3:
            raise ValueError(f"background must be 3 RGB values, got {self.background!r}")

    @property
    def extents(self) -> tuple[int, int]:
        """(small, large) extents in pixels, even so shapes sit symmetrically on pixels."""
        return tuple(2 * round(f * self.image_size / 2) for f in (self.small, self.large))

    @property
    def shifts(self) -> tuple[int, int]:
        """(small, large) distance in pixels from the centre to the left/right/top/bottom positions,
        leaving a one-pixel margin to the border."""
        return tuple((self.image_size - e) // 2 - 1 for e in self.extents)


class ShapesSample(NamedTuple):
    images: np.ndarray    # (N, H, W, 3) float32 in [0, 1]
    captions: list[str]   # N captions
    colour: np.ndarray    # (N,) index into COLOURS
    shape: np.ndarray     # (N,) index into SHAPES
    size: np.ndarray      # (N,) index into SIZES
    position: np.ndarray  # (N,) index into POSITIONS


class Judgement(NamedTuple):
    colour: np.ndarray    # (N,) index into COLOURS, -1 where the image shows no shape
    shape: np.ndarray     # (N,) index into SHAPES, -1 likewise
    size: np.ndarray      # (N,) index into SIZES of the best template, -1 likewise
    position: np.ndarray  # (N,) nearest of POSITIONS to the best template's centre, -1 likewise;
                          # ambiguous where position jitter reaches half a shift (large, 16 x 16)
    score: np.ndarray     # (N,) float32 correlation with the best template: 1 exact, 0 no shape


class ShapesWorld:
    """Samples captioned images of the shapes world and judges images back into attributes."""

    def __init__(self, config: ShapesConfig = ShapesConfig()):
        self.config = config
        S = config.image_size
        self.background = np.array(config.background, dtype=np.float32)  # (3,)
        steps = np.array(config.shifts)[:, None, None] * POSITION_STEPS   # (2, 5, 2)
        self.centres = S / 2 + steps                                      # (2, 5, 2) nominal (x, y)
        unseen = {(COLOURS.index(c), SHAPES.index(s)) for c, s in UNSEEN}
        every = [(c, s) for c in range(len(COLOURS)) for s in range(len(SHAPES))]
        self._combos = {
            "train": np.array([p for p in every if p not in unseen]),
            "unseen": np.array(sorted(unseen)),
            "all": np.array(every),
        }
        self._combos["seen"] = self._combos["train"]
        self._build_templates()

    def combos(self, split: str) -> np.ndarray:
        """The (colour, shape) index pairs (M, 2) that a split draws from, uniformly."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self._combos[split]

    # ---- drawing -----------------------------------------------------------------------------
    def render(self, colour: np.ndarray, shape: np.ndarray, size: np.ndarray, position: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Images (N, H, W, 3) float32 in [0, 1] for attribute index arrays of length N each.

        rng draws the position and colour jitter and the noise set in the config.
        """
        colour, shape, size, position = _check_attributes(colour, shape, size, position)
        _check_rng(rng)
        cfg, n, S = self.config, len(colour), self.config.image_size
        half = np.array(cfg.extents)[size] / 2                                  # (N,)
        jitter = rng.integers(-cfg.position_jitter, cfg.position_jitter + 1, size=(n, 2))
        centre = np.clip(self.centres[size, position] + jitter,                 # (N, 2) (x, y)
                         half[:, None], S - half[:, None])                      # keep it inside
        mask = rasterise(shape, centre[:, 0], centre[:, 1], half, S)            # (N, H, W)
        rgb = PALETTE[colour] + rng.uniform(-cfg.colour_jitter, cfg.colour_jitter, size=(n, 3))
        images = np.where(mask[..., None], rgb.astype(np.float32)[:, None, None, :],
                          self.background)                                     # (N, H, W, 3)
        if cfg.noise > 0:
            images += cfg.noise * rng.standard_normal(images.shape, dtype=np.float32)
        return np.clip(images, 0.0, 1.0, out=images)

    def sample(self, n: int, rng: np.random.Generator, split: str = "train") -> ShapesSample:
        """n captioned images from a split: combination uniform over the split's (colour, shape)
        pairs; size, position and caption template uniform."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        _check_rng(rng)
        combos = self.combos(split)
        colour, shape = combos[rng.integers(len(combos), size=n)].T    # (N,), (N,)
        size = rng.integers(len(SIZES), size=n)
        position = rng.integers(len(POSITIONS), size=n)
        template = rng.integers(len(CAPTION_TEMPLATES), size=n)
        images = self.render(colour, shape, size, position, rng)
        captions = [caption_variants(c, s, z, p)[t]
                    for c, s, z, p, t in zip(colour, shape, size, position, template)]
        return ShapesSample(images, captions, colour, shape, size, position)

    # ---- judging -----------------------------------------------------------------------------
    def _build_templates(self) -> None:
        """Masks (K, H*W) of every shape at every size and every integer centre where it fits."""
        S, poses = self.config.image_size, []
        for z, e in enumerate(self.config.extents):
            c = np.arange(e // 2, S - e // 2 + 1)
            cx, cy = np.meshgrid(c, c)
            poses.append(np.stack([np.full(cx.size, z), cx.ravel(), cy.ravel()], axis=1))
        poses = np.concatenate(poses)                              # (P, 3) size, cx, cy
        shape = np.repeat(np.arange(len(SHAPES)), len(poses))      # (K,) with K = 6 P
        size, cx, cy = np.tile(poses, (len(SHAPES), 1)).T          # (K,) each
        half = np.array(self.config.extents)[size] / 2
        masks = rasterise(shape, cx.astype(float), cy.astype(float), half, S)
        t = masks.reshape(len(shape), S * S).astype(np.float32)     # (K, H, W) -> (K, H*W)
        t -= t.mean(axis=1, keepdims=True)
        self._templates = t / np.linalg.norm(t, axis=1, keepdims=True)  # zero mean, unit norm
        gap = self.centres[size] - np.stack([cx, cy], axis=1)[:, None, :]       # (K, 5, 2)
        self._template_attrs = (shape, size, (gap ** 2).sum(axis=2).argmin(axis=1))

    def judge_details(self, images: np.ndarray) -> Judgement:
        """Colour, shape, size, position and match score of images (N, H, W, 3); -1: no shape.

        How: see the module docstring.
        """
        S = self.config.image_size
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1:] != (S, S, 3) \
                or not np.issubdtype(images.dtype, np.floating):
            raise ValueError(f"images must be a float array (N, {S}, {S}, 3), got "
                             f"{getattr(images, 'shape', type(images).__name__)} "
                             f"{getattr(images, 'dtype', '')}")
        n = len(images)
        diff = images.astype(np.float32) - self.background                # (N, H, W, 3)
        dist = np.sqrt(np.einsum("nhwc,nhwc->nhw", diff, diff))            # (N, H, W)
        peak = dist.max(axis=(1, 2))                                       # (N,)
        found = peak >= MIN_CONTRAST

        # colour: the palette direction nearest the mean foreground colour (cosine similarity),
        # which blending with the background (blur, anti-aliasing) does not change
        mask = (dist >= FOREGROUND * peak[:, None, None]).reshape(n, S * S)  # (N, H*W), never empty
        mean = np.einsum("np,npc->nc", mask.astype(np.float32), diff.reshape(n, S * S, 3))  # (N, 3)
        ref = PALETTE - self.background                                    # (6, 3)
        cosine = mean @ ref.T / np.linalg.norm(ref, axis=1)                # (N, 6), times |mean|
        colour = cosine.argmax(axis=1)

        # shape: normalised cross-correlation of the distance map with every template
        z = dist.reshape(n, S * S)                                         # (N, H, W) -> (N, H*W)
        z = z - z.mean(axis=1, keepdims=True)
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)   # blank image: z = 0
        score = z @ self._templates.T                                      # (N, K), in [-1, 1]
        best = score.argmax(axis=1)                                        # (N,)
        shape, size, position = (a[best] for a in self._template_attrs)
        return Judgement(np.where(found, colour, -1), np.where(found, shape, -1),
                         np.where(found, size, -1), np.where(found, position, -1),
                         np.where(found, score[np.arange(n), best], 0.0).astype(np.float32))

    def judge(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(colour, shape) index arrays (N,) read off images (N, H, W, 3); -1 where none shows."""
        details = self.judge_details(images)
        return details.colour, details.shape

