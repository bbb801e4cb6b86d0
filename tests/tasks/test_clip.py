"""minifm/tasks/clip.py: sizing, loading a run, embedding, zero-shot and retrieval measures,
best-of-K picking."""

import dataclasses

import numpy as np
import pytest

from minifm.data.shapes import CHANCE, class_prompts
from minifm.data.shapes_captions import ShapesCaptionData
from minifm.models.clip import CLIP
from minifm.tasks.clip import (TRAIN_DEFAULTS, caption_data, classify, embed_images,
                               embed_texts, embedding_map, evaluate, format_evaluation,
                               images_of_classes, is_unseen, label_classes, load_clip_run,
                               model_config, new_model, pick_best, retrieval_recall,
                               similarity_batch, temperature_metric)
from minifm.training.trainer import Trainer

SMALL = dict(vision_width=16, text_width=16, vision_layers=1, text_layers=1, vision_heads=2,
             text_heads=2, embed_dim=16)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny CLIP trained for 20 steps into a folder, as ``minifm train clip`` leaves it."""
    out = tmp_path_factory.mktemp("clip_run")
    data = ShapesCaptionData()
    model = new_model(model_config("classroom", data, **SMALL), seed=0)
    config = dataclasses.replace(TRAIN_DEFAULTS, steps=20, batch_size=16, warmup_steps=2,
                                 eval_interval=10, eval_batches=1)
    trainer = Trainer(model, data, config, out_dir=out, tokenizer=data.tokenizer, family="clip",
                      quiet=True, extra_metrics=temperature_metric)
    trainer.run()
    return out, trainer


def test_load_clip_run_gives_the_trained_weights_and_the_tokenizer(run):
    out, trainer = run
    model, data = load_clip_run(out)
    assert isinstance(model, CLIP) and model.config == trainer.model.config
    for (name, p), (_, q) in zip(model.named_parameters(), trainer.model.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert data.tokenizer.vocab == trainer.data.tokenizer.vocab
    assert data.world.config.image_size == model.config.image_size == 16
    assert load_clip_run(out / "checkpoint.npz")[0].config == model.config


def test_new_model_draws_its_weights_from_the_init_stream():
    config = model_config("classroom", ShapesCaptionData(), **SMALL)
    a, b, c = new_model(config, 0), new_model(config, 0), new_model(config, 1)
    assert np.array_equal(a.visual.proj.weight.data, b.visual.proj.weight.data)
    assert not np.array_equal(a.visual.proj.weight.data, c.visual.proj.weight.data)
    reference = CLIP(config, rng=np.random.default_rng([0, 2]))      # the stream's old number
    assert np.array_equal(a.text.wte.weight.data, reference.text.wte.weight.data)


def test_evaluate_is_reproducible_and_retrieval_is_a_recall(run):
    model, data = load_clip_run(run[0])
    a = evaluate(model, data, n_images=50, n_pairs={"seen": 10})
    assert a == evaluate(model, data, n_images=50, n_pairs={"seen": 10})
    assert a["zero_shot_chance"] == CHANCE and a["zero_shot_chance"]["accuracy"] == 1 / 36
    recall = retrieval_recall(model, data, "seen", 10, np.random.default_rng(0), ks=(1, 5, 10))
    assert recall["image_to_text@10"] == recall["text_to_image@10"] == 1.0   # all 10 candidates
    assert recall["image_to_text@1"] <= recall["image_to_text@5"]
    text = format_evaluation(a)
    assert "zero-shot unseen" in text and "retrieval seen   (10 pairs)" in text


def test_embeddings_are_unit_length_in_any_chunking(run):
    model, data = load_clip_run(run[0])
    images = data.world.sample(300, np.random.default_rng(0), "all").images   # > one CHUNK
    img = embed_images(model, images)
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(img[:5], model.encode_image(images[:5]), rtol=1e-5, atol=1e-6)
    txt = embed_texts(model, data, class_prompts())
    assert txt.shape == (36, model.config.embed_dim)


def test_classify_is_the_softmax_over_the_temperature(run):
    model, data = load_clip_run(run[0])
    images = data.world.sample(4, np.random.default_rng(0)).images
    labels = ["a red circle", "a blue square", "a green bar"]
    probs = classify(model, data, images, labels)
    assert probs.shape == (4, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    sim = embed_images(model, images) @ embed_texts(model, data, labels).T
    logits = sim / model.temperature
    np.testing.assert_allclose(np.log(probs[:, 0] / probs[:, 1]), logits[:, 0] - logits[:, 1],
                               rtol=1e-4, atol=1e-4)


def test_label_classes_reads_one_colour_and_one_shape_per_label():
    assert label_classes(["a red circle", "A Blue SQUARE."]) == [(0, 0), (2, 1)]
    assert label_classes(["a red circle", "a red"]) is None
    assert label_classes(["a red blue circle"]) is None


def test_images_of_classes_draws_exactly_those_classes(rng):
    world = caption_data().world
    images, colour, shape = images_of_classes(world, [(0, 0), (2, 1)], 40, rng)
    assert images.shape == (40, 16, 16, 3)
    assert set(zip(colour.tolist(), shape.tolist())) == {(0, 0), (2, 1)}
    judged = world.judge(images)                                     # the judge reads them back
    np.testing.assert_array_equal(judged[0], colour)
    np.testing.assert_array_equal(judged[1], shape)
    assert is_unseen(world, np.array([2, 0]), np.array([0, 0])).tolist() == [True, False]


def test_pick_best_takes_the_top_scoring_candidate_of_each_group(rng):
    scores = rng.standard_normal((2, 3, 4))                          # (M, S, K)
    images = rng.random((2, 3, 4, 5, 5, 3))                          # (M, S, K, H, W, 3)
    best = pick_best(scores, images)
    assert best.shape == (2, 3, 5, 5, 3)
    for m in range(2):
        for s in range(3):
            k = int(np.argmax(scores[m, s]))
            assert np.array_equal(best[m, s], images[m, s, k])
    np.testing.assert_array_equal(pick_best(scores, scores), scores.max(axis=-1))


def test_model_config_sizes_the_model_for_the_data():
    data = ShapesCaptionData()
    config = model_config("classroom", data, embed_dim=8, text_pool=None)
    # 24 caption words + 4 special tokens; the preset's 12 positions hold the 9-token captions
    assert (config.vocab_size, config.context_length, config.embed_dim) == (28, 12, 8)
    assert (config.text_pool, config.eot_id) == ("mean", None)
    # the "eot" pool reads the word tokenizer's [EOS], a fixed id, as OpenAI's CLIP does
    assert model_config("classroom", data, text_pool="eot").eot_id == data.tokenizer.eos_id == 2
    data.context_length = 20
    assert model_config("classroom", data).context_length == 20
    with pytest.raises(ValueError, match="unknown preset"):
        model_config("huge", data)


def test_what_the_pictures_show(run):
    model, data = load_clip_run(run[0])
    batch = similarity_batch(model, data, n=6)
    assert batch.sim.shape == (6, 6) and len(batch.captions) == 6 == len(batch.images)
    assert np.abs(batch.sim).max() <= 1 + 1e-5                       # cosines
    emap = embedding_map(model, data, n_images=50)
    assert emap.image_xy.shape == (50, 2) and emap.prompt_xy.shape == (36, 2)
    assert emap.unseen.dtype == bool and len(emap.prompts) == 36
