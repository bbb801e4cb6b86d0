"""CLIP: shapes, the loss, pooling, input checks, and the whole model's gradient."""

import numpy as np
import pytest

from minifm.gradcheck import check_model, numerical_gradient_of_scalar, worst_discrepancy
from minifm.models.clip import CLIP, CLIPConfig, PRESETS, clip_score, count_params
from minifm.training.optim import AdamW

# Whole-model bound (STYLE.md).
MODEL_BOUND = 1e-5
POOLS = [("cls", "eot"), ("mean", "mean")]


def tiny_config(image_pool="mean", text_pool="mean", **overrides):
    sizes = dict(image_size=4, patch_size=2, vision_width=4, vision_layers=1, vision_heads=2,
                 vocab_size=7, context_length=5, text_width=4, text_layers=1, text_heads=2,
                 embed_dim=3, image_pool=image_pool, text_pool=text_pool)
    return CLIPConfig(**{**sizes, **overrides})


def tiny_batch(rng, config, dtype=np.float64):
    S = config.image_size
    images = rng.random((3, S, S, 3)).astype(dtype)
    tokens = np.array([[1, 4, 5, 2, 0], [1, 6, 2, 0, 0], [1, 4, 4, 6, 2]])    # [BOS] .. [EOS] pad
    return images, tokens


def cross_entropy(logits):
    """Mean -log softmax(row)[i] for row i, written out independently of minifm."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(np.diag(log_probs))


# ---- sizes and names ---------------------------------------------------------------------------
def test_count_params_of_vit_b_32_is_the_published_151_277_313():
    # OpenAI's CLIP notebook ("Interacting with CLIP") prints 151,277,313 for ViT-B/32.
    assert count_params(PRESETS["vit-b-32"]) == 151_277_313


@pytest.mark.parametrize("pools", POOLS)
def test_count_params_equals_the_allocated_model(rng, pools):
    config = tiny_config(*pools)
    assert CLIP(config, rng=rng).num_parameters() == count_params(config)
    assert CLIP(CLIPConfig(), rng=rng).num_parameters() == count_params(CLIPConfig())


def test_parameter_names_follow_clip_and_gpt2(rng):
    names = {n for n, _ in CLIP(tiny_config("cls", "eot"), rng=rng).named_parameters()}
    for name in ("visual.patch_embed.proj.weight", "visual.class_embedding", "visual.wpe.weight",
                 "visual.ln_pre.weight", "visual.h.0.attn.c_attn.weight", "visual.ln_post.bias",
                 "visual.proj.weight", "text.wte.weight", "text.wpe.weight",
                 "text.h.0.mlp.c_fc.weight", "text.ln_f.weight", "text.proj.weight",
                 "contrastive.logit_scale"):
        assert name in names
    assert "visual.patch_embed.proj.bias" not in names and "visual.proj.bias" not in names
    mean_names = {n for n, _ in CLIP(tiny_config(), rng=rng).named_parameters()}
    assert "visual.class_embedding" not in mean_names


def test_config_rejects_bad_values():
    for bad in (dict(vision_width=0), dict(patch_size=3), dict(text_width=6, text_heads=4),
                dict(image_pool="max"), dict(text_pool="cls"), dict(pad_id=7),
                dict(dropout=1.0), dict(embed_dim=2.5)):
        with pytest.raises(ValueError, match="CLIPConfig"):
            tiny_config(**bad)


# ---- forward -------------------------------------------------------------------------------------
@pytest.mark.parametrize("pools", POOLS)
def test_logits_are_scaled_cosines_and_the_loss_is_symmetric_cross_entropy(rng, pools):
    model = CLIP(tiny_config(*pools), rng=rng, dtype=np.float64)
    images, tokens = tiny_batch(rng, model.config)
    logits, loss = model(images, tokens)
    img, txt = model.encode_image(images), model.encode_text(tokens)
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(logits, (img @ txt.T) / 0.07, rtol=1e-10)
    expected = (cross_entropy(logits) + cross_entropy(logits.T)) / 2
    np.testing.assert_allclose(loss, expected, rtol=1e-12)


def test_forward_keeps_float32(rng):
    model = CLIP(tiny_config(), rng=rng)
    images, tokens = tiny_batch(rng, model.config, np.float32)
    logits, loss = model(images, tokens)
    model.backward()
    assert logits.shape == (3, 3) and logits.dtype == np.float32 and np.isfinite(loss)
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


@pytest.mark.parametrize("pools", POOLS)
def test_padding_does_not_change_a_caption_embedding(rng, pools):
    model = CLIP(tiny_config(*pools, context_length=7), rng=rng, dtype=np.float64)
    short = np.array([[1, 4, 5, 2]])
    padded = np.array([[1, 4, 5, 2, 0, 0, 0]])
    np.testing.assert_allclose(model.encode_text(short), model.encode_text(padded), rtol=1e-12)
    other = np.array([[1, 4, 6, 2]])
    assert not np.allclose(model.encode_text(short), model.encode_text(other))


def test_eot_pooling_reads_the_whole_caption_and_cls_pooling_every_patch(rng):
    model = CLIP(tiny_config("cls", "eot"), rng=rng, dtype=np.float64)
    # the first word changes the end-of-text token's vector (it attends to every earlier token)
    a, b = model.encode_text(np.array([[1, 4, 5, 2], [1, 6, 5, 2]]))
    assert not np.allclose(a, b)
    images = rng.random((2, 4, 4, 3))
    images[1] = images[0]
    images[1, 3, 3] += 1.0                                  # change only the last patch
    first, second = model.encode_image(images)
    assert not np.allclose(first, second)


def test_logit_scale_is_clamped_at_100(rng):
    model = CLIP(tiny_config(), rng=rng, dtype=np.float64)
    model.contrastive.logit_scale.data[...] = 7.0
    logits, _ = model(*tiny_batch(rng, model.config))
    assert model.contrastive.logit_scale.data == pytest.approx(np.log(100.0))
    assert model.temperature == pytest.approx(0.01)
    assert np.abs(logits).max() <= 100.0 + 1e-9


def test_forward_rejects_bad_input(rng):
    model = CLIP(tiny_config(), rng=rng)
    images, tokens = tiny_batch(rng, model.config, np.float32)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 4, 4, 3\)"):
        model(images[:, :2], tokens)
    with pytest.raises(TypeError, match="images must be float32"):
        model(images.astype(np.float64), tokens)
    with pytest.raises(TypeError, match="integer numpy array"):
        model(images, tokens.astype(np.float32))
    with pytest.raises(ValueError, match="context_length=5"):
        model(images, np.ones((3, 6), dtype=np.int64))
    with pytest.raises(ValueError, match=r"id 7, outside the vocabulary \[0, 7\)"):
        model(images, np.array([[1, 7], [1, 2], [1, 2]]))
    with pytest.raises(ValueError, match="padding .* only at the end"):
        model(images, np.array([[1, 0, 2], [1, 2, 0], [1, 2, 0]]))
    with pytest.raises(ValueError, match="start with a real token"):
        model(images, np.array([[0, 1, 2], [1, 2, 0], [1, 2, 0]]))
    with pytest.raises(ValueError, match="one caption per image: got 3 images and 2"):
        model(images, tokens[:2])


# ---- backward ------------------------------------------------------------------------------------
def perturbed_model(rng, config):
    """A float64 model whose weights are moved off their small initial values: with weights of
    size 0.02 many gradients are ~1e-8, at the round-off floor of the numerical gradient."""
    model = CLIP(config, rng=rng, dtype=np.float64)
    for _, p in model.named_parameters():
        if p.data.ndim:
            p.data += 0.3 * rng.standard_normal(p.shape)
    return model


# OpenAI's CLIP options too: quick GELU and pooling at the first end-of-text id ([EOS] = 2 here)
@pytest.mark.parametrize("pools, options", [(pools, {}) for pools in POOLS]
                         + [(("cls", "eot"), {"gelu": "sigmoid", "eot_id": 2})],
                         ids=["cls-eot", "mean-mean", "openai-options"])
def test_clip_backward_matches_numerical_gradient_for_every_parameter(rng, pools, options):
    model = perturbed_model(rng, tiny_config(*pools, **options))
    images, tokens = tiny_batch(rng, model.config)
    results = check_model(model, images, tokens)
    assert set(results) == {n for n, _ in model.named_parameters()}
    for name, d in results.items():
        if not name.endswith("attn.c_attn.bias"):
            assert d.rel_error < MODEL_BOUND, name
    # The key third of c_attn.bias adds q . b_k to every score in a query's row, and softmax
    # ignores a constant added to a row: its gradient is exactly 0, and the relative error of
    # two zeros would only measure round-off against the 1e-8 floor. So: zero there, and the
    # query and value thirds against the bound.
    model.zero_grad()
    model(images, tokens)
    model.backward()
    for name, p in model.named_parameters():
        if name.endswith("attn.c_attn.bias"):
            C = p.shape[0] // 3
            numerical = numerical_gradient_of_scalar(lambda: model(images, tokens)[1], p.data)
            assert np.abs(p.grad[C:2 * C]).max() < 1e-12
            assert np.abs(numerical[C:2 * C]).max() < 1e-9
            rest = np.r_[0:C, 2 * C:3 * C]
            assert worst_discrepancy(p.grad[rest], numerical[rest]).rel_error < MODEL_BOUND


def test_backward_adds_into_prefilled_gradients_of_shared_weights(rng):
    # the class token and the position tables are shared by every image / caption of the batch
    model = CLIP(tiny_config("cls", "eot"), rng=rng, dtype=np.float64)
    images, tokens = tiny_batch(rng, model.config)
    model(images, tokens)
    model.backward()
    fresh = {n: p.grad.copy() for n, p in model.named_parameters()}
    prefill = {n: rng.standard_normal(p.shape) for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.grad[...] = prefill[n]
    model(images, tokens)
    model.backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, prefill[n] + fresh[n], rtol=1e-12, atol=1e-15,
                                   err_msg=n)
    assert np.abs(fresh["visual.class_embedding"]).max() > 0


def test_backward_needs_a_training_forward(rng):
    model = CLIP(tiny_config(), rng=rng)
    images, tokens = tiny_batch(rng, model.config, np.float32)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward()
    model(images, tokens)
    model.encode_image(images)               # an inference pass in between: backward must fail
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward()


def test_clip_overfits_one_batch(rng):
    model = CLIP(tiny_config(vision_width=16, text_width=16, embed_dim=8), rng=rng)
    images = rng.random((6, 4, 4, 3), dtype=np.float32)
    tokens = np.array([[1, 4, 2, 0, 0], [1, 5, 2, 0, 0], [1, 6, 2, 0, 0], [1, 4, 5, 2, 0],
                       [1, 5, 6, 2, 0], [1, 6, 4, 2, 0]])
    opt = AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        model.zero_grad()
        _, loss = model(images, tokens)
        first = loss if first is None else first
        model.backward()
        opt.step()
    assert first > 1.0 and loss < 0.05                  # ln 6 = 1.79 at chance


# ---- inference -----------------------------------------------------------------------------------
def test_clip_score_is_the_cosine_of_each_pair_and_restores_training_mode(rng):
    model = CLIP(tiny_config(dropout=0.5), rng=rng, dtype=np.float64)
    images, tokens = tiny_batch(rng, model.config)
    score = clip_score(model, images, tokens)
    expected = np.diag(model.encode_image(images) @ model.encode_text(tokens).T)
    assert score.shape == (3,)
    np.testing.assert_allclose(score, expected, rtol=1e-12)     # eval mode: no dropout noise
    assert model.training
    with pytest.raises(ValueError, match="got 3 images and 2"):
        clip_score(model, images, tokens[:2])
