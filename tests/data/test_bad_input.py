"""Bad input to the datasets: every ``get_batch(split, batch_size, rng)`` refuses a batch size
that is not an int >= 1 (8.0 is not floored) and an rng that is not a Generator; k-means refuses
NaN vectors (they would get valid-looking codes)."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.data.bert_data import LabelledTextData, PretrainingData
from minifm.data.shapes import ShapesWorld
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.data.stories import story_corpus
from minifm.data.text import TokenData
from minifm.tasks.image_tokens import ImageBatches, kmeans
from minifm.tokenizers import KMeansImageTokenizer, WordPieceTokenizer


def _datasets():
    corpus = story_corpus(20, seed=0)
    wordpiece = WordPieceTokenizer.train([s for doc in corpus for s in doc], 200)
    texts = ["a cat sat", "a dog ran", "the end"]
    images = np.zeros((4, 16, 16, 3), np.float32)
    codes = KMeansImageTokenizer(np.random.default_rng(0).uniform(0, 1, (5, 48)), 16, 4)
    return {
        "TokenData": TokenData(np.arange(50) % 7, context_length=4),
        "ShapesCaptionData": ShapesCaptionData(),
        "ShapesTokenData": ShapesTokenData(codes, ShapesWorld()),
        "PretrainingData": PretrainingData(corpus, wordpiece),
        "LabelledTextData": LabelledTextData({"train": (texts, np.array([0, 1, 0])),
                                              "val": (texts[:1], np.array([1]))}, wordpiece, 16),
        "ImageBatches": ImageBatches(images, images),
    }


DATASETS = _datasets()


@pytest.fixture(params=sorted(DATASETS))
def data(request):
    return DATASETS[request.param]


@pytest.mark.parametrize("batch_size, error, words", [
    (8.0, TypeError, r"batch_size must be an int, got 8.0 \(float\)"),
    (2.5, TypeError, r"batch_size must be an int, got 2.5"),
    ("8", TypeError, r"batch_size must be an int, got '8' \(str\)"),
    (True, TypeError, r"batch_size must be an int, got True \(bool\)"),
    (None, TypeError, r"batch_size must be an int, got None"),
    (0, ValueError, "batch_size must be a positive int, got 0"),
    (-3, ValueError, "batch_size must be a positive int, got -3"),
])
def test_get_batch_refuses_a_batch_size_that_is_not_a_positive_int(data, batch_size, error, words):
    with pytest.raises(error, match=words):
        data.get_batch("train", batch_size, np.random.default_rng(0))


@pytest.mark.parametrize("rng", [0, None, np.random.RandomState(0)])
def test_get_batch_refuses_an_rng_that_is_not_a_generator(data, rng):
    with pytest.raises(TypeError, match="rng must be a np.random.Generator"):
        data.get_batch("train", 2, rng)


def test_get_batch_takes_a_numpy_int_batch_size(data):
    batch = data.get_batch("train", np.int64(2), np.random.default_rng(0))
    assert all(len(part) == 2 for part in batch)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_kmeans_refuses_nan_or_inf_vectors(bad):
    x = np.random.default_rng(0).standard_normal((10, 3))
    x[4, 1] = bad
    with pytest.raises(ValueError, match=r"kmeans input x holds .* at index \(4, 1\)"):
        kmeans(x, 3, np.random.default_rng(0))
