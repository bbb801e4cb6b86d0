"""The shapes world: drawing, captions, the compositional split and the attribute judge.

Measured judge accuracy (colour and shape; 5,000 images of every split from default_rng(1234)):
100 % on rendered images at 16 x 16 and 24 x 24, with and without noise (std 0.05 and 0.1) and
position jitter; 100 % after a Gaussian blur of sigma 0.7 px plus noise 0.05. Shape accuracy first
drops at sigma 0.85 on 16 x 16 (91 %: small rings and crosses become blobs); at sigma 1.0 it is
83 % there, colour still 100 %.
"""

import numpy as np
import pytest

from minifm.data.shapes import (CAPTION_TEMPLATES, COLOURS, PALETTE, POSITION_PHRASES, POSITIONS,
                                SHAPES, SIZES, SPLITS, UNSEEN, ShapesConfig, ShapesWorld,
                                caption_variants, class_prompt, class_prompts)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (N, H, W, 3) images, edges padded by repetition."""
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    H, W = images.shape[1:3]
    padded = np.pad(images, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")
    rows = sum(w * padded[:, i:i + H] for i, w in enumerate(k))         # blur along H
    return sum(w * rows[:, :, i:i + W] for i, w in enumerate(k)).astype(np.float32)


def render_one(world, colour, shape, size, position, rng):
    return world.render(np.array([colour]), np.array([shape]), np.array([size]),
                        np.array([position]), rng)[0]


def foreground(world, image):
    return np.abs(image - world.background).max(axis=2) > 0.3            # (H, W)


# ---- drawing ---------------------------------------------------------------------------------
def test_sample_is_deterministic_given_a_seed():
    world = ShapesWorld(ShapesConfig(noise=0.05, position_jitter=1))
    a = world.sample(50, np.random.default_rng(7))
    b = world.sample(50, np.random.default_rng(7))
    c = world.sample(50, np.random.default_rng(8))
    assert np.array_equal(a.images, b.images) and a.captions == b.captions
    for x, y in zip(a[2:], b[2:]):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("config", [ShapesConfig(), ShapesConfig(image_size=24, noise=0.1)])
def test_images_are_float32_in_unit_range_with_layout_nhwc(rng, config):
    s = ShapesWorld(config).sample(64, rng, "all")
    S = config.image_size
    assert s.images.shape == (64, S, S, 3) and s.images.dtype == np.float32
    assert s.images.min() >= 0.0 and s.images.max() <= 1.0
    assert len(s.captions) == 64 and all(isinstance(c, str) for c in s.captions)
    for a in (s.colour, s.shape, s.size, s.position):
        assert a.shape == (64,) and np.issubdtype(a.dtype, np.integer)


# Small shapes (6 px across) in the centre of a 16 x 16 image, rows 5..10, columns 5..10, worked out
# by hand from the inside tests at pixel centres (u, v in {±1/6, ±1/2, ±5/6}).
SMALL_SHAPES = {
    "circle": [".####.", "######", "######", "######", "######", ".####."],
    "square": ["######"] * 6,
    "triangle": ["......", "..##..", "..##..", ".####.", ".####.", "######"],
    "cross": ["..##..", "..##..", "######", "######", "..##..", "..##.."],
    "ring": [".####.", "##..##", "#....#", "#....#", "##..##", ".####."],
    "bar": ["......", "......", "######", "######", "......", "......"],
}


@pytest.mark.parametrize("name", SHAPES)
def test_small_centred_shapes_cover_the_pixels_worked_out_by_hand(rng, name):
    world = ShapesWorld(ShapesConfig(colour_jitter=0.0))
    image = render_one(world, 0, SHAPES.index(name), 0, POSITIONS.index("centre"), rng)
    expected = np.zeros((16, 16), dtype=bool)
    expected[5:11, 5:11] = np.array([[ch == "#" for ch in row] for row in SMALL_SHAPES[name]])
    assert np.array_equal(foreground(world, image), expected)


def test_shapes_take_the_exact_palette_colour_on_the_background_without_jitter(rng):
    world = ShapesWorld(ShapesConfig(colour_jitter=0.0))
    for c in range(len(COLOURS)):
        image = render_one(world, c, SHAPES.index("square"), 1, 0, rng)
        assert np.array_equal(image[8, 8], PALETTE[c])
        assert np.allclose(image[0, 0], (0.06, 0.06, 0.10))


def test_positions_move_the_shape_the_named_way_and_large_is_larger(rng):
    world = ShapesWorld()
    for size in range(len(SIZES)):
        centroids = {}
        for p, where in enumerate(POSITIONS):
            ys, xs = np.nonzero(foreground(world, render_one(world, 2, 1, size, p, rng)))
            centroids[where] = (xs.mean(), ys.mean())
        x0, y0 = centroids["centre"]
        assert centroids["left"][0] < x0 < centroids["right"][0]
        assert centroids["top"][1] < y0 < centroids["bottom"][1]
        assert centroids["left"][1] == centroids["right"][1] == y0
    small, large = (foreground(world, render_one(world, 0, 1, z, 0, rng)).sum() for z in range(2))
    assert (small, large) == (6 * 6, 10 * 10)
    # a small square on the left: centre x = 8 - shift 4, so columns 1..6, one pixel from the border
    ys, xs = np.nonzero(foreground(world, render_one(world, 0, 1, 0, POSITIONS.index("left"), rng)))
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (1, 6, 5, 10)


def test_jittered_shapes_are_never_cut_off_by_the_border(rng):
    world = ShapesWorld(ShapesConfig(position_jitter=1, colour_jitter=0.0))
    s = world.sample(2000, rng, "all")
    fg = np.abs(s.images - world.background).max(axis=3) > 0.3             # (N, H, W)
    full = np.array([[foreground(world, render_one(world, 0, sh, z, 0, rng)).sum()
                      for z in range(len(SIZES))] for sh in range(len(SHAPES))])  # centred
    assert np.array_equal(fg.sum(axis=(1, 2)), full[s.shape, s.size])
    centred = np.nonzero((s.shape == 1) & (s.size == 0) & (s.position == 0))[0]   # small squares
    leftmost = {int(np.nonzero(fg[i].any(axis=0))[0].min()) for i in centred}
    assert leftmost == {4, 5, 6}                                    # column 5, moved by -1, 0, +1


# ---- the compositional split -----------------------------------------------------------------
def test_unseen_pairs_never_appear_in_the_train_split(rng):
    world = ShapesWorld()
    s = world.sample(20000, rng, "train")
    unseen = {(COLOURS.index(c), SHAPES.index(sh)) for c, sh in UNSEEN}
    assert not any(pair in unseen for pair in zip(s.colour.tolist(), s.shape.tolist()))
    assert not any(f"{c} {sh}" in caption for caption in s.captions for c, sh in UNSEEN)
    judged = set(zip(*(a.tolist() for a in world.judge(s.images))))
    assert not judged & unseen


def test_every_colour_and_every_shape_appears_in_train_and_every_train_pair_is_drawn(rng):
    s = ShapesWorld().sample(20000, rng, "train")
    assert set(s.colour.tolist()) == set(range(len(COLOURS)))
    assert set(s.shape.tolist()) == set(range(len(SHAPES)))
    assert len(set(zip(s.colour.tolist(), s.shape.tolist()))) == 36 - 6


def test_unseen_split_holds_out_one_shape_per_colour_and_one_colour_per_shape(rng):
    world = ShapesWorld()
    pairs = world.combos("unseen")
    assert sorted(pairs[:, 0]) == list(range(6)) and sorted(pairs[:, 1]) == list(range(6))
    s = world.sample(3000, rng, "unseen")
    drawn = set(zip(s.colour.tolist(), s.shape.tolist()))
    assert drawn == {(COLOURS.index(c), SHAPES.index(sh)) for c, sh in UNSEEN}
    assert len(world.combos("all")) == 36
    assert np.array_equal(world.combos("seen"), world.combos("train"))


# ---- captions --------------------------------------------------------------------------------
def test_caption_variants_fill_every_template():
    variants = caption_variants(COLOURS.index("blue"), SHAPES.index("square"),
                                SIZES.index("small"), POSITIONS.index("left"))
    assert variants == ["a blue square", "a small blue square", "a blue square on the left",
                        "a small blue square on the left"]
    assert class_prompt(COLOURS.index("red"), SHAPES.index("circle")) == "a red circle"
    prompts = class_prompts()
    assert len(prompts) == 36 and prompts[3 * 6 + 4] == "a yellow ring"


def test_captions_mention_the_right_attributes(rng):
    s = ShapesWorld().sample(2000, rng, "all")
    used = set()
    for caption, c, sh, z, p in zip(s.captions, s.colour, s.shape, s.size, s.position):
        words = caption.split()
        assert f"{COLOURS[c]} {SHAPES[sh]}" in caption
        assert not set(words) & (set(COLOURS) - {COLOURS[c]})
        assert not set(words) & (set(SHAPES) - {SHAPES[sh]})
        assert not set(words) & set(SIZES) or SIZES[z] in words
        said = [phrase for phrase in POSITION_PHRASES if caption.endswith(phrase)]
        assert said in ([], [POSITION_PHRASES[p]])
        used.add((bool(set(words) & set(SIZES)), bool(said)))
    assert len(used) == len(CAPTION_TEMPLATES)                   # every template was drawn


# ---- the judge -------------------------------------------------------------------------------
def test_judge_is_exact_on_noise_free_rendered_images(rng):
    world = ShapesWorld()
    s = world.sample(3000, rng, "all")
    j = world.judge_details(s.images)
    for got, want in zip(j[:4], (s.colour, s.shape, s.size, s.position)):
        assert np.array_equal(got, want)
    assert np.allclose(j.score, 1.0, atol=1e-5)                   # the drawn template itself


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("config", [ShapesConfig(noise=0.05, position_jitter=1),
                                    ShapesConfig(image_size=24, noise=0.1, position_jitter=1)])
def test_judge_reads_colour_and_shape_of_noisy_jittered_images(rng, split, config):
    world = ShapesWorld(config)
    s = world.sample(3000, rng, split)
    colour, shape = world.judge(s.images)
    # measured: 100 % for every split and both configurations; the brief asks for >= 99.5 %
    assert (colour == s.colour).mean() >= 0.995
    assert (shape == s.shape).mean() >= 0.995


def test_judge_is_still_right_on_blurred_noisy_images(rng):
    world = ShapesWorld(ShapesConfig(noise=0.05))
    s = world.sample(3000, rng, "all")
    j = world.judge_details(gaussian_blur(s.images, 0.7))
    # measured 100 % (5,000 images, 16 and 24 px, noise 0 to 0.1); 99 % leaves room for other seeds
    assert (j.colour == s.colour).mean() >= 0.99
    assert (j.shape == s.shape).mean() >= 0.99
    assert j.score.mean() < 0.99                                  # the blur shows in the score


def test_judge_degrades_gracefully_under_heavy_blur(rng):
    world = ShapesWorld()
    s = world.sample(3000, rng, "all")
    j = world.judge_details(gaussian_blur(s.images, 1.0))
    assert (j.colour == s.colour).mean() >= 0.99                  # measured 100 %
    # measured 83 %: small crosses blur into circles and small rings into squares, large shapes
    # stay right; a failure below 75 % means the matching itself got worse
    assert (j.shape == s.shape).mean() >= 0.75
    assert (j.shape[s.size == 1] == s.shape[s.size == 1]).mean() >= 0.99
    assert (j.shape >= 0).all() and (j.score > 0.5).all()


def test_judge_returns_minus_one_when_there_is_no_shape():
    world = ShapesWorld()
    blank = np.broadcast_to(world.background, (3, 16, 16, 3)).copy()
    blank[1] = 0.0                                                 # black
    blank[2] += 0.15                                               # a faint grey veil
    j = world.judge_details(blank)
    for a in j[:4]:
        assert np.array_equal(a, [-1, -1, -1])
    assert np.array_equal(j.score, [0, 0, 0])


def test_judge_keeps_images_apart_in_one_batch(rng):
    world = ShapesWorld()
    s = world.sample(4, rng, "all")
    images = np.concatenate([s.images, np.broadcast_to(world.background, (1, 16, 16, 3))])
    colour, shape = world.judge(images.astype(np.float64))
    assert np.array_equal(colour, [*s.colour, -1]) and np.array_equal(shape, [*s.shape, -1])


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(image_size=15), "even int"),
    (dict(small=0.7, large=0.6), "small < large"),
    (dict(small=0.1), "4 <= small"),
    (dict(large=0.95), "no room"),
    (dict(position_jitter=-1), "position_jitter"),
    (dict(noise=-0.1), "noise"),
    (dict(background=(0.0, 0.0)), "3 RGB"),
])
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ShapesConfig(**kwargs)


def test_sample_and_render_reject_bad_input(rng):
    world = ShapesWorld()
    with pytest.raises(ValueError, match="split must be one of"):
        world.sample(4, rng, "test")
    with pytest.raises(ValueError, match="positive int"):
        world.sample(0, rng)
    with pytest.raises(TypeError, match="np.random.Generator"):
        world.sample(4, 1234)
    ok = np.zeros(2, dtype=int)
    with pytest.raises(ValueError, match=r"shape ids must lie in \[0, 6\)"):
        world.render(ok, np.array([0, 6]), ok, ok, rng)
    with pytest.raises(ValueError, match="colour must be a 1-D int array"):
        world.render(np.zeros(2), ok, ok, ok, rng)
    with pytest.raises(ValueError, match="equal lengths"):
        world.render(ok, ok, ok, np.zeros(3, dtype=int), rng)


def test_judge_rejects_images_of_the_wrong_layout(rng):
    world = ShapesWorld()
    images = world.sample(2, rng).images
    for bad in (images[0], images.transpose(0, 3, 1, 2), (images * 255).astype(np.uint8),
                np.zeros((2, 24, 24, 3), np.float32), images.tolist()):
        with pytest.raises(ValueError, match=r"images must be a float array \(N, 16, 16, 3\)"):
            world.judge(bad)

