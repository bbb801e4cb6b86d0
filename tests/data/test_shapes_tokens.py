"""ShapesTokenData: (caption ids, image codes) batches for the text-to-image model, from any image
tokenizer it is given, and without loading a model."""

import subprocess
import sys

import numpy as np
import pytest

from minifm.data.shapes import ShapesConfig, ShapesWorld
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.tokenizers.image import KMeansImageTokenizer


def tokenizer(image_size=16, patch_size=4, rng=None):
    rng = rng or np.random.default_rng(0)
    K = patch_size * patch_size * 3
    return KMeansImageTokenizer(rng.uniform(0, 1, (8, K)), image_size, patch_size)


def test_batches_pair_each_caption_with_its_image_codes():
    tok = tokenizer()
    data = ShapesTokenData(tok)
    text, codes = data.get_batch("train", 5, np.random.default_rng(1))
    assert text.shape == (5, data.context_length) and text.dtype == np.int64
    assert codes.shape == (5, 16) and codes.dtype == np.int64
    sample = data.world.sample(5, np.random.default_rng(1), "train")     # the same draw
    np.testing.assert_array_equal(codes, tok.encode(sample.images))
    np.testing.assert_array_equal(text, data.encode(sample.captions))
    assert data.tokenizers == {"caption": data.tokenizer, "image": tok}


def test_bad_splits_and_mismatched_tokenizers_are_refused():
    with pytest.raises(ValueError, match="split must be one of"):
        ShapesTokenData(tokenizer()).get_batch("test", 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="reads 8 x 8 images, the world draws 16 x 16"):
        ShapesTokenData(tokenizer(image_size=8), ShapesWorld(ShapesConfig(image_size=16)))


def test_the_data_layer_loads_no_model():
    code = ("import sys, minifm.data.shapes_tokens; "
            "print(sorted(m for m in sys.modules if m.startswith(('minifm.models', "
            "'minifm.training'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
