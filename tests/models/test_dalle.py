"""DALLE: the joint sequence and its token ranges, a model that has a GPT trunk (not one that is a
GPT), the loss against an independent computation, a whole-model gradient check, gradients that
add up, causality, generation with and without the KV cache, overfitting a handful of pairs, and
input checks."""

import numpy as np
import pytest

from helpers import well_scaled
from minifm.gradcheck import check_model, numerical_gradient_of_scalar, worst, worst_discrepancy
from minifm.models.gpt import GPT
from minifm.models.dalle import DALLE, DALLEConfig
from minifm.training.optim import AdamW

TINY = DALLEConfig(text_vocab_size=6, text_length=4, image_vocab_size=5, image_tokens=3,
                   n_layer=2, n_head=2, n_embd=8, text_loss_weight=0.0)


def tiny_model(rng, dtype=np.float64, **changes):
    return DALLE(DALLEConfig(**{**TINY.__dict__, **changes}), rng=rng, dtype=dtype)


def batch(rng, B=2):
    text = rng.integers(1, TINY.text_vocab_size, size=(B, TINY.text_length))
    text[0, -2:] = TINY.pad_id                                   # a padded caption
    return text, rng.integers(0, TINY.image_vocab_size, size=(B, TINY.image_tokens))


def log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---- the joint sequence -------------------------------------------------------------------------
def test_token_ranges_and_sizes():
    assert (TINY.image_start_id, TINY.image_offset) == (6, 7)         # <image>, then codes
    assert (TINY.vocab_size, TINY.context_length) == (12, 7)             # 6 + 1 + 5, 4 + 3


def test_sequence_is_text_then_image_start_then_offset_codes(rng):
    model = tiny_model(rng)
    text = np.array([[1, 4, 2, 0]])
    assert model.sequence(text, np.array([[0, 4]])).tolist() == [[1, 4, 2, 0, 6, 7, 11]]


def test_dalle_has_a_gpt_trunk_named_as_in_gpt2_over_the_joint_vocabulary(rng):
    model = tiny_model(rng, n_layer=1)
    names = dict(model.named_parameters())
    assert {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
            "transformer.h.0.attn.c_attn.weight"} <= set(names)
    assert all(name.startswith("transformer.") for name in names)     # no second copy of wte
    assert names["transformer.wte.weight"].shape == (12, 8)
    assert names["transformer.wpe.weight"].shape == (7, 8)
    assert isinstance(model.transformer, GPT) and not isinstance(model, GPT)
    assert model.transformer.config == model.config.trunk_config()


def test_same_seed_gives_the_trunk_the_weights_of_a_gpt_of_its_config(rng):
    model = DALLE(TINY, rng=np.random.default_rng(3))
    gpt = GPT(TINY.trunk_config(), rng=np.random.default_rng(3))
    for (name, p), (gpt_name, q) in zip(model.transformer.named_parameters(),
                                        gpt.named_parameters()):
        assert name == gpt_name and np.array_equal(p.data, q.data)


# ---- the loss -----------------------------------------------------------------------------------
@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_loss_matches_an_independent_computation(rng, weight):
    """Image positions score the codes among the image ids only; with a text weight, caption
    positions score the next word among the text ids only, skipping [PAD] targets."""
    model = well_scaled(tiny_model(rng, text_loss_weight=weight), rng)
    text, codes = batch(rng)
    image_logits, loss = model(text, codes)
    Tt, Vt, off = TINY.text_length, TINY.text_vocab_size, TINY.image_offset
    full, _ = model.transformer(model.sequence(text, codes[:, :-1]))     # (B, T, V) GPT head
    image = log_softmax(full[:, Tt:, off:])                              # (B, P, Vi)
    np.testing.assert_allclose(image_logits, full[:, Tt:, off:], rtol=1e-12, atol=1e-12)
    expected = -np.take_along_axis(image, codes[..., None], axis=2).mean()
    words = log_softmax(full[:, :Tt - 1, :Vt])                           # (B, Tt-1, Vt)
    targets = text[:, 1:]
    real = targets != TINY.pad_id
    nll = -np.take_along_axis(words, targets[..., None], axis=2)[..., 0]
    expected += weight * nll[real].mean()
    assert loss == pytest.approx(expected, rel=1e-12)


def test_initial_loss_is_log_of_each_vocabulary_weighted(rng):
    # near-uniform predictions at initialisation: log Vi per code, log Vt per caption word
    config = DALLEConfig(image_vocab_size=64)
    model = DALLE(config, rng=rng)
    text = rng.integers(1, 28, size=(4, 9))
    _, loss = model(text, rng.integers(0, 64, size=(4, 64)))
    assert abs(loss - (np.log(64) + config.text_loss_weight * np.log(28))) < 0.05


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_dalle_backward_matches_numerical_gradient_for_every_parameter(rng, weight):
    model = well_scaled(tiny_model(rng, text_loss_weight=weight), rng)
    text, codes = batch(rng)
    results = check_model(model, text, codes)
    assert set(results) == {n for n, _ in model.named_parameters()}
    # The key bias (middle third of c_attn.bias) shifts every score of a query's row equally,
    # which softmax ignores: its gradient is exactly 0 and its central difference pure round-off,
    # which the relative error's 1e-8 floor would blow up. Those entries are checked against 0.
    C = TINY.n_embd
    key = np.zeros(3 * C, dtype=bool)
    key[C:2 * C] = True
    for name in [n for n in results if n.endswith("c_attn.bias")]:
        p = dict(model.named_parameters())[name]
        model.zero_grad()
        model(text, codes)
        model.backward()
        analytic = p.grad.copy()
        numerical = numerical_gradient_of_scalar(lambda: model(text, codes)[1], p.data)
        assert np.abs(analytic[key]).max() < 1e-15 and np.abs(numerical[key]).max() < 1e-9
        results[name] = worst_discrepancy(analytic[~key], numerical[~key])
    assert worst(results) < 1e-5, {n: d.rel_error for n, d in results.items()}   # whole model


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_backward_adds_into_the_gradients_it_finds(rng, weight):
    # The tied wte gets three contributions (image head, caption head, embedding); each must add,
    # so a backward into pre-filled gradients, or a second backward, gives the sum.
    model = well_scaled(tiny_model(rng, text_loss_weight=weight), rng)
    text, codes = batch(rng)
    model(text, codes)
    model.backward()
    once = {n: p.grad.copy() for n, p in model.named_parameters()}
    prefilled = {n: rng.standard_normal(g.shape) for n, g in once.items()}
    for n, p in model.named_parameters():
        p.grad[...] = prefilled[n]
    model(text, codes)
    model.backward()
    model(text, codes)
    model.backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, prefilled[n] + 2 * once[n], rtol=1e-12, atol=1e-14,
                                   err_msg=n)


def test_without_text_loss_unused_text_rows_get_no_gradient(rng):
    model = tiny_model(rng)
    text = np.array([[1, 2, 0, 0], [1, 2, 2, 0]])                 # ids 3, 4, 5 never read
    model(text, np.array([[0, 1, 2], [3, 4, 0]]))
    model.backward()
    grad = model.transformer.wte.weight.grad
    assert not grad[3:6].any() and grad[1].any() and grad[TINY.image_offset:].any()


def test_image_logit_i_depends_only_on_the_caption_and_codes_before_i(rng):
    model = tiny_model(rng)
    text, codes = batch(rng)
    logits, _ = model(text, codes)
    changed = codes.copy()
    changed[:, 1:] = (codes[:, 1:] + 1) % TINY.image_vocab_size          # codes 1.. differ
    logits2, _ = model(text, changed)
    np.testing.assert_array_equal(logits2[:, :2], logits[:, :2])          # rows 0, 1 see code 0
    assert not np.allclose(logits2[:, 2], logits[:, 2])
    other = text.copy()
    other[:, 1] = text[:, 1] % 5 + 1                                      # another word, 1..5
    assert not np.allclose(model(other, codes)[0][:, 0], logits[:, 0])


# ---- generation ---------------------------------------------------------------------------------
def test_generate_with_and_without_cache_agree(rng):
    model = well_scaled(tiny_model(rng), rng)
    text, _ = batch(rng, B=3)
    with_cache = model.generate(text, rng=np.random.default_rng(5))
    without = model.generate(text, rng=np.random.default_rng(5), use_cache=False)
    assert with_cache.shape == (3, TINY.image_tokens) and with_cache.dtype == np.int64
    assert with_cache.min() >= 0 and with_cache.max() < TINY.image_vocab_size
    assert np.array_equal(with_cache, without)


def test_greedy_generation_picks_the_argmax_of_the_teacher_forced_logits(rng):
    model = well_scaled(tiny_model(rng), rng)
    text, _ = batch(rng)
    codes = model.generate(text, temperature=0)
    logits, _ = model(text, codes)
    assert np.array_equal(logits.argmax(axis=2), codes)


def test_generate_restores_the_training_mode(rng):
    model = tiny_model(rng, dropout=0.1)
    model.generate(batch(rng)[0], rng=rng)
    assert model.training and all(block.training for block in model.transformer.h)


def test_dalle_overfits_a_handful_of_pairs(rng):
    model = DALLE(DALLEConfig(text_vocab_size=8, text_length=4, image_vocab_size=16,
                              image_tokens=6, n_layer=2, n_head=2, n_embd=32,
                              text_loss_weight=0.0), rng=rng)
    text = np.array([[1, 4, 5, 2], [1, 4, 6, 2], [1, 7, 5, 2], [1, 7, 6, 2]])
    codes = rng.integers(0, 16, size=(4, 6))
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(150):
        model.zero_grad()
        _, loss = model(text, codes)
        model.backward()
        opt.step()
    assert loss < 0.05
    assert np.array_equal(model.generate(text, temperature=0), codes)


# ---- checks -------------------------------------------------------------------------------------
def test_dalle_rejects_bad_input(rng):
    model = tiny_model(rng)
    text, codes = batch(rng)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        model(text[:, :3], codes)
    with pytest.raises(ValueError, match=r"text \(caption ids, padded\) holds id 6, outside the "
                                         r"vocabulary \[0, 6\)"):
        model(np.full_like(text, 6), codes)
    with pytest.raises(ValueError, match=r"codes \(image tokens\) holds id 5, outside the "
                                         r"vocabulary \[0, 5\)"):
        model(text, np.full_like(codes, 5))
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        model(text, codes[:, :2])
    with pytest.raises(TypeError, match="integer"):
        model(text.astype(float), codes)
    with pytest.raises(ValueError, match="one caption per image"):
        model(text, codes[:1])
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        model.generate(text[0])
    with pytest.raises(RuntimeError, match="before forward"):
        tiny_model(rng).backward()


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="GPT trunk.*divisible"):
        DALLEConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="GPT trunk.*n_layer"):
        DALLEConfig(n_layer=0)
    with pytest.raises(ValueError, match="image_tokens"):
        DALLEConfig(image_tokens=0)
    with pytest.raises(ValueError, match="text_loss_weight"):
        DALLEConfig(text_loss_weight=-1.0)
    with pytest.raises(ValueError, match="pad_id"):
        DALLEConfig(pad_id=28)
