"""minifm/tasks/dalle.py: sizing the model for its data, a checkpoint that carries both tokenizers
(and the earlier layout refused), drawing, judging, reranking, and the evaluation."""

import dataclasses

import numpy as np
import pytest

from dalle_helpers import write_old_layout_checkpoint
from minifm.data.shapes import CHANCE, ShapesWorld, class_prompt
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.data.shapes_tokens import ShapesTokenData
from minifm.models.dalle import DALLE
from minifm.tasks.clip import model_config as clip_config
from minifm.tasks.clip import new_model as new_clip
from minifm.tasks.dalle import (TRAIN_DEFAULTS, Reranker, check_captions, draw, evaluate,
                                format_evaluation, judge_titles, judged_correct, load_dalle,
                                model_config, score_drawings)
from minifm.tasks.image_tokens import fit_image_tokenizer
from minifm.tokenizers.image import KMeansImageTokenizer
from minifm.training.checkpoint import CheckpointError, load_checkpoint
from minifm.training.seeds import stream
from minifm.training.trainer import Trainer

SIZES = dict(n_layer=1, n_embd=32, n_head=2)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny DALLE trained for 300 steps of 32 pairs into a folder, as ``train dalle`` leaves it."""
    out = tmp_path_factory.mktemp("dalle_run")
    world = ShapesWorld()
    tokenizer = fit_image_tokenizer("kmeans", world, vocab_size=32, patch_size=4, n_images=300)
    data = ShapesTokenData(tokenizer, world)
    model = DALLE(model_config(data, **SIZES), rng=stream(0, "init"))
    config = dataclasses.replace(TRAIN_DEFAULTS, steps=300, lr=1e-2, warmup_steps=10,
                                 eval_interval=300, eval_batches=1)
    trainer = Trainer(model, data, config, out_dir=out, tokenizer=data.tokenizers,
                      family="dalle", quiet=True)
    trainer.run()
    return out, trainer


class Judge:
    """An oracle reranker: scores ``sign`` where the judge reads the caption's colour and shape,
    else 0."""

    def __init__(self, world, sign):
        self.world, self.sign = world, sign

    def score(self, images, captions):
        colour, shape = self.world.judge(images)
        read = [class_prompt(c, s) if c >= 0 else "" for c, s in zip(colour, shape)]
        return self.sign * np.array([r == c for r, c in zip(read, captions)], dtype=float)


# ---- the model and its checkpoint ---------------------------------------------------------------
def test_model_config_sizes_the_model_for_its_data(run):
    data = run[1].data
    config = model_config(data, n_layer=2, dropout=None)
    assert config.image_vocab_size == 32 and config.image_tokens == 16
    assert config.text_length == data.context_length
    assert config.text_vocab_size == data.tokenizer.vocab_size
    assert config.n_layer == 2 and config.dropout == 0.0               # None keeps the default


def test_load_dalle_rebuilds_the_model_and_its_encodings(run):
    out, trainer = run
    model, data = load_dalle(out)
    assert isinstance(model, DALLE) and isinstance(data.image_tokenizer, KMeansImageTokenizer)
    assert model.config == trainer.model.config
    assert model.config.image_vocab_size == data.image_tokenizer.vocab_size == 32
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, dict(trainer.model.named_parameters())[name].data)
    np.testing.assert_array_equal(data.image_tokenizer.codebook,
                                  trainer.data.image_tokenizer.codebook)   # bit for bit
    assert data.tokenizer.to_dict() == trainer.data.tokenizer.to_dict()
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "metrics.json"]


def test_a_checkpoint_of_the_earlier_layout_is_refused_not_misread(tmp_path):
    old = write_old_layout_checkpoint(tmp_path / "old")
    assert load_checkpoint(old, family="dalle").family == "dalle"     # a valid checkpoint ...
    with pytest.raises(CheckpointError, match=r"earlier minifm.*`minifm train dalle --out DIR`"):
        load_dalle(old)                                              # ... of another layout


# ---- drawing and judging ------------------------------------------------------------------------
def test_draw_gives_codes_and_images_per_caption_and_repeats_with_a_seed(run):
    model, data = run[1].model, run[1].data
    codes, images = draw(model, data, ["a red circle", "a blue square"], 3,
                         rng=np.random.default_rng(1))
    assert codes.shape == (2, 3, 16) and images.shape == (2, 3, 16, 16, 3)
    np.testing.assert_array_equal(data.image_tokenizer.decode(codes[1]), images[1])
    again, _ = draw(model, data, ["a red circle", "a blue square"], 3,
                    rng=np.random.default_rng(1), use_cache=False)
    np.testing.assert_array_equal(again, codes)
    with pytest.raises(ValueError, match="positive int"):
        draw(model, data, ["a red circle"], 0, rng=np.random.default_rng(1))


@pytest.mark.parametrize("caption, message", [
    ("a purple circle", "never saw: purple"), ("  ", "empty"),
    ("a small red circle in the centre on the left at the top", "at most 7")])
def test_check_captions_names_what_is_wrong(run, caption, message):
    with pytest.raises(ValueError, match=message):
        check_captions(run[1].data, ["a red circle", caption])


def test_judged_correct_reads_the_world_s_own_images():
    world = ShapesWorld()
    sample = world.sample(6, np.random.default_rng(2), "all")
    classes = np.stack([sample.colour, sample.shape], axis=1)           # (6, 2)
    colour_ok, shape_ok = judged_correct(world, sample.images[:, None], classes)
    assert colour_ok.shape == (6, 1) and colour_ok.all() and shape_ok.all()



def test_judge_titles_say_what_the_judge_reads_and_the_score():
    world = ShapesWorld()
    images = world.render(np.array([0, 2]), np.array([0, 4]), np.array([1, 1]), np.array([0, 0]),
                          np.random.default_rng(0))                    # a red circle, a blue ring
    blank = np.full_like(images[:1], world.background)
    grid = np.concatenate([images, blank])[None]                        # (1, 3, H, W, 3)
    assert judge_titles(world, grid, None) == [["red circle", "blue ring", "nothing"]]
    titled = judge_titles(world, grid, np.array([[0.5, 0.25, -0.125]]))
    assert titled == [["red circle (0.50)", "blue ring (0.25)", "nothing (-0.12)"]]

# ---- reranking and the evaluation ---------------------------------------------------------------
def test_reranker_scores_each_image_with_its_caption(run):
    data = ShapesCaptionData()
    small = dict(vision_width=16, text_width=16, vision_layers=1, text_layers=1,
                 vision_heads=2, text_heads=2, embed_dim=16)
    reranker = Reranker(new_clip(clip_config("classroom", data, **small), seed=0), data)
    _, images = draw(run[1].model, run[1].data, ["a red circle", "a blue bar"], 2,
                     rng=np.random.default_rng(0))                     # (2, 2, H, W, 3)
    scores = score_drawings(reranker, images, ["a red circle", "a blue bar"])
    assert scores.shape == (2, 2) and np.all(np.abs(scores) <= 1 + 1e-6)
    one = reranker.score(images[1, 1:], ["a blue bar"])
    np.testing.assert_allclose(scores[1, 1], one[0], rtol=1e-5)


def test_evaluate_is_reproducible_and_an_oracle_reranker_only_helps(run):
    model, data = run[1].model, run[1].data
    plain = evaluate(model, data, samples=2, candidates=3, seed=1)
    assert plain == evaluate(model, data, samples=2, candidates=3, seed=1)
    best = evaluate(model, data, reranker=Judge(data.world, 1.0), samples=2, candidates=3, seed=1)
    worst = evaluate(model, data, reranker=Judge(data.world, -1.0), samples=2, candidates=3,
                     seed=1)
    for split in ("seen", "unseen"):
        assert best[split]["accuracy"] == plain[split]["accuracy"]      # same samples drawn
        assert best[split]["reranked"]["accuracy"] >= plain[split]["accuracy"]
        assert worst[split]["reranked"]["accuracy"] <= plain[split]["accuracy"]
        assert len(best[split]["reranked"]["per_prompt"]) == (30 if split == "seen" else 6)
    assert best["seen"]["reranked"]["accuracy"] > worst["seen"]["reranked"]["accuracy"]
    assert plain["seen"]["accuracy"] > 3 * CHANCE["accuracy"]           # it learned something
    text = format_evaluation(best)
    assert text.startswith("seen   pairs: ") and "CLIP-reranked best of 3" in text
