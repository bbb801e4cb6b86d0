"""Image-caption batches for CLIP: shapes, splits, and captions that fit only their own image."""

import numpy as np
import pytest

from minifm.data.shapes import (CAPTION_TEMPLATES, COLOURS, POSITION_PHRASES, SHAPES, SIZES,
                                UNSEEN, ShapesConfig, ShapesWorld)
from minifm.data.shapes_captions import ShapesCaptionData, describes

UNSEEN_IDS = {(COLOURS.index(c), SHAPES.index(s)) for c, s in UNSEEN}


def read_caption(caption):
    """(colour, shape, size or None, position or None) named by a caption, parsed by hand."""
    words = caption.split()
    colour = next(i for i, c in enumerate(COLOURS) if c in words)
    shape = next(i for i, s in enumerate(SHAPES) if s in words)
    size = next((i for i, z in enumerate(SIZES) if z in words), None)
    position = next((i for i, p in enumerate(POSITION_PHRASES) if caption.endswith(p)), None)
    return colour, shape, size, position


def fits(caption, judged, j):
    colour, shape, size, position = read_caption(caption)
    return (judged.colour[j] == colour and judged.shape[j] == shape
            and size in (None, judged.size[j]) and position in (None, judged.position[j]))


@pytest.fixture(scope="module")
def data():
    return ShapesCaptionData()


def test_batches_are_images_and_padded_token_ids(data, rng):
    images, tokens = data.get_batch("train", 16, rng)
    assert images.shape == (16, 16, 16, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    tok = data.tokenizer
    assert tokens.dtype == np.int64 and tokens.shape == (16, data.context_length)
    assert np.all(tokens[:, 0] == tok.bos_id) and np.all((tokens == tok.eos_id).sum(axis=1) == 1)
    # the longest caption: "a small magenta triangle at the bottom", 7 words, + [BOS] and [EOS]
    assert data.context_length == 9


def test_every_caption_describes_its_own_image_and_no_other(data, rng):
    world = data.world
    for split in ("train", "unseen"):
        images, tokens = data.get_batch(split, 60 if split == "train" else 12, rng)
        captions = [data.tokenizer.decode(row) for row in tokens]
        judged = world.judge_details(images)                  # read back from the pixels
        for i, caption in enumerate(captions):
            matches = [j for j in range(len(captions)) if fits(caption, judged, j)]
            assert matches == [i], (caption, matches)


def test_splits_draw_the_right_combinations(data, rng):
    for split, wanted in (("train", False), ("val", False), ("seen", False), ("unseen", True)):
        images, _ = data.get_batch(split, 12, rng)
        colour, shape = data.world.judge(images)
        assert all(((c, s) in UNSEEN_IDS) == wanted for c, s in zip(colour, shape)), split


def test_the_unseen_captions_need_no_unknown_words(data):
    # the tokenizer learns from training captions only; unseen pairs reuse their words
    ids = data.encode(["a small blue circle on the left", "a magenta bar"])
    assert data.tokenizer.unk_id not in ids


def test_batches_are_reproducible(data):
    a = data.get_batch("train", 8, np.random.default_rng(3))
    b = data.get_batch("train", 8, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_describes_knows_which_attributes_a_template_names():
    assert "{size}" not in CAPTION_TEMPLATES[0] and "{where}" in CAPTION_TEMPLATES[3]
    rows = np.array([[0, 0, 0, 0, 0],         # "a red circle"
                     [0, 0, 1, 2, 3],         # "a large red circle on the right"
                     [0, 0, 0, 2, 3],         # "a small red circle on the right"
                     [1, 0, 1, 2, 3]])        # "a large green circle on the right"
    expected = np.array([[1, 1, 1, 0],
                         [0, 1, 0, 0],
                         [0, 0, 1, 0],
                         [0, 0, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(describes(rows), expected)


def test_get_batch_rejects_bad_input(data, rng):
    with pytest.raises(ValueError, match="split must be one of"):
        data.get_batch("test", 4, rng)
    with pytest.raises(ValueError, match="positive int"):
        data.get_batch("train", 0, rng)
    with pytest.raises(TypeError, match="np.random.Generator"):
        data.get_batch("train", 4, 0)
    with pytest.raises(ValueError, match="could not draw 200 distinguishable"):
        data.get_batch("unseen", 200, rng)


def test_the_world_sets_the_image_size():
    data = ShapesCaptionData(ShapesWorld(ShapesConfig(image_size=24)))
    assert data.image_shape == (24, 24, 3)
    assert data.get_batch("all", 2, np.random.default_rng(0))[0].shape == (2, 24, 24, 3)
