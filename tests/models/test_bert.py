"""BERT: parameter counts, names, masks, the tied MLM decoder, whole-model gradient checks of the
pre-training and classification losses with padding present, and overfitting one batch."""

import json
import math

import numpy as np
import pytest

from minifm.gradcheck import numerical_gradient_of_scalar, worst, worst_discrepancy
from minifm.models import build_model
from minifm.models.bert import (HEADS, IGNORE_INDEX, PRESETS, Bert, BertConfig,
                                BertForPreTraining, BertForSequenceClassification, count_params)
from minifm.training.checkpoint import load_checkpoint, save_checkpoint
from minifm.training.optim import AdamW

TINY = BertConfig(vocab_size=13, context_length=8, n_layer=2, n_head=2, n_embd=8, n_inner=16,
                  dropout=0.0, n_classes=3)
MODELS = {None: Bert, "pretraining": BertForPreTraining,
          "classification": BertForSequenceClassification}


def tiny(rng, cls=BertForPreTraining, dtype=np.float64, **changes):
    return cls(BertConfig(**{**TINY.__dict__, **changes}), rng=rng, dtype=dtype)


def spread(model, rng):
    """Weights ~ N(0, 0.3^2), LayerNorm gains ~ 1 + N(0, 0.3^2): at BERT's own init (std 0.02)
    the deep gradients are ~1e-9, below what central differences resolve; at std 1 the tanh
    pooler and the softmaxes saturate. Non-zero biases exercise every bias gradient."""
    for name, p in model.named_parameters():
        gain = name.split(".")[-2].startswith("ln") and name.endswith("weight")
        p.data[...] = rng.normal(0.0, 0.3, p.shape) + (1.0 if gain else 0.0)
    return model


def padded_batch(rng, config, B=2, T=6):
    """Ids, segments, and an attention mask whose second row ends in two [PAD] (id 0)."""
    idx = rng.integers(5, config.vocab_size, size=(B, T))
    segments = np.zeros((B, T), dtype=np.int64)
    segments[:, T // 2:] = 1
    attention = np.ones((B, T), dtype=np.int64)
    attention[1, T - 2:] = 0
    idx[attention == 0] = 0
    segments[attention == 0] = 0
    return idx, segments, attention


# ---- sizes and names ------------------------------------------------------------------------
def test_count_params_of_bert_base_is_109_482_240():
    # the number every paper quotes as "110M"; also what transformers' BertModel(BertConfig())
    # allocates (encoder with pooler)
    assert count_params(PRESETS["bert-base"]) == 109_482_240


def test_count_params_of_bert_with_heads_and_bert_large_match_transformers():
    # transformers 5.24: BertForPreTraining(BertConfig()) and the 24-layer BertModel
    assert count_params(PRESETS["bert-base"], "pretraining") == 110_106_428
    assert count_params(PRESETS["bert-large"]) == 335_141_888


def test_count_params_of_minilm_l6_matches_its_checkpoint():
    # all-MiniLM-L6-v2's model.safetensors holds 22,713,216 numbers besides position_ids: 512
    assert count_params(PRESETS["minilm-l6"]) == 22_713_216


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("changes", [{}, {"norm_first": True}, {"n_layer": 3, "n_head": 4,
                                                                   "n_inner": 24, "n_classes": 5},
                                     {"pooler": False}])
def test_count_params_equals_the_allocated_model(rng, head, changes):
    config = BertConfig(**{**TINY.__dict__, **changes})
    if head is not None and not config.pooler:
        with pytest.raises(ValueError, match="pooler"):
            MODELS[head](config, rng=rng)
        return
    assert count_params(config, head) == MODELS[head](config, rng=rng).num_parameters()


def test_count_params_rejects_an_unknown_head():
    with pytest.raises(ValueError, match="head must be one of"):
        count_params(TINY, "mlm")


def test_parameter_names_follow_gpt_style_children(rng):
    names = [n for n, _ in tiny(rng, BertForPreTraining, n_layer=1).named_parameters()]
    block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
             "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
             "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]
    encoder = ["wte.weight", "wpe.weight", "wse.weight", "ln_e.weight", "ln_e.bias",
               "pooler.weight", "pooler.bias"] + [f"h.0.{n}" for n in block]
    heads = ["mlm.dense.weight", "mlm.dense.bias", "mlm.ln.weight", "mlm.ln.bias", "mlm.bias",
             "nsp.weight", "nsp.bias"]
    assert sorted(names) == sorted([f"bert.{n}" for n in encoder] + heads)


def test_bert_is_post_ln_with_exact_gelu_and_pre_ln_adds_ln_f(rng):
    post = tiny(rng, Bert)
    assert all(not b.norm_first and b.mlp.gelu.approximate == "none" for b in post.h)
    assert post.ln_f is None
    assert tiny(rng).mlm.gelu.approximate == "none"
    pre = tiny(rng, Bert, norm_first=True)
    assert all(b.norm_first for b in pre.h) and pre.ln_f is not None


def test_initialisation_follows_bert(rng):
    model = BertForPreTraining(BertConfig(vocab_size=400, n_embd=64), rng=rng)
    params = dict(model.named_parameters())
    matrices = np.concatenate([p.data.ravel() for p in params.values() if p.data.ndim == 2])
    assert abs(matrices.std() - 0.02) < 0.0005 and abs(matrices.mean()) < 0.0005
    for name, p in params.items():
        if p.data.ndim == 1:
            expected = 1.0 if name.split(".")[-2].startswith("ln") and name.endswith("weight") else 0.0
            assert np.all(p.data == expected), name


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="divisible"):
        BertConfig(n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="n_layer must be a positive int"):
        BertConfig(n_layer=0)
    with pytest.raises(ValueError, match="dropout"):
        BertConfig(dropout=1.0)
    with pytest.raises(ValueError, match="eps"):
        BertConfig(eps=0.0)


def test_families_registry_builds_bert_models(rng):
    model = build_model("bert", TINY.__dict__, rng=rng)
    assert isinstance(model, BertForPreTraining) and model.config == TINY
    assert isinstance(build_model("bert-classifier", TINY.__dict__, rng=rng),
                      BertForSequenceClassification)


# ---- forward -------------------------------------------------------------------------------
def test_forward_shapes_dtype_and_initial_loss(rng):
    config = BertConfig(vocab_size=50, n_embd=32, n_layer=2, n_head=2, n_inner=64)
    model = BertForPreTraining(config, rng=rng)
    idx, segments, attention = padded_batch(rng, config, B=3, T=10)
    labels = np.where(attention == 1, idx, IGNORE_INDEX)
    out, loss = model(idx, segments, attention, labels, np.array([0, 1, 0]))
    assert out.mlm_logits.shape == (3, 10, 50) and out.mlm_logits.dtype == np.float32
    assert out.nsp_logits.shape == (3, 2) and out.nsp_logits.dtype == np.float32
    assert abs(loss - (math.log(50) + math.log(2))) < 0.1     # near-uniform predictions at init


def test_padding_does_not_change_the_real_tokens(rng):
    model = spread(tiny(rng, Bert), rng)
    idx = rng.integers(5, TINY.vocab_size, size=(1, 4))
    segments = np.array([[0, 0, 1, 1]])
    hidden, pooled = model(idx, segments)
    padded = np.concatenate([idx, [[0, 0, 0]]], axis=1)
    seg = np.concatenate([segments, [[0, 0, 0]]], axis=1)
    mask = np.array([[1, 1, 1, 1, 0, 0, 0]])
    hidden_p, pooled_p = model(padded, seg, mask)
    np.testing.assert_allclose(hidden_p[:, :4], hidden, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pooled_p, pooled, rtol=1e-12, atol=1e-12)
    assert np.all(model.h[0].attn.attn_probs[..., 4:] == 0)   # no query attends to padding


def test_attention_is_bidirectional(rng):
    model = tiny(rng, Bert)
    idx = np.array([[5, 6, 7, 8]])
    changed = idx.copy()
    changed[0, 3] = 9
    h1, _ = model(idx)
    h2, _ = model(changed)
    assert np.abs(h1[0, 0] - h2[0, 0]).max() > 1e-6             # position 0 sees position 3


def test_segment_embeddings_change_the_output(rng):
    model = tiny(rng, Bert)
    idx = np.array([[5, 6, 7, 8]])
    h0, _ = model(idx)
    h1, _ = model(idx, np.array([[0, 0, 1, 1]]))
    h_default, _ = model(idx, np.zeros((1, 4), dtype=np.int64))
    np.testing.assert_array_equal(h0, h_default)
    assert np.abs(h0 - h1).max() > 1e-6


def test_forward_rejects_bad_input(rng):
    model = tiny(rng, Bert)
    with pytest.raises(TypeError, match="input ids must be an integer numpy array"):
        model(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"input ids must have shape \(B, T\).*batch axis"):
        model(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="input ids is empty"):
        model(np.zeros((1, 0), dtype=np.int64))
    with pytest.raises(ValueError, match="T=9 exceeds context_length=8"):
        model(np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(ValueError, match=r"input ids holds id 13, outside the vocabulary \[0, 13\)"):
        model(np.array([[0, 13]]))
    with pytest.raises(ValueError, match=r"token_type_ids holds id 2, outside the vocabulary "
                                         r"\[0, 2\)"):
        model(np.array([[1, 2]]), np.array([[0, 2]]))
    with pytest.raises(ValueError, match=r"token_type_ids must have shape \(B, T\) with size 2"):
        model(np.array([[1, 2]]), np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(B, T\) = \(1, 2\), "
                                         r"got shape \(2,\)"):
        model(np.array([[1, 2]]), None, np.array([1, 1]))
    with pytest.raises(TypeError, match="attention_mask must be a bool or 0/1 integer"):
        model(np.array([[1, 2]]), None, np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"attention_mask must hold only 0 \(padding\) and 1"):
        model(np.array([[1, 2]]), None, np.array([[1, 3]]))


def test_a_bool_attention_mask_equals_a_0_1_one(rng):
    model = tiny(rng, Bert)
    idx, segments, attention = padded_batch(rng, TINY)
    hidden, pooled = model(idx, segments, attention)
    hidden_b, pooled_b = model(idx, segments, attention.astype(bool))
    np.testing.assert_array_equal(hidden_b, hidden)
    np.testing.assert_array_equal(pooled_b, pooled)


def test_mlm_loss_is_the_cross_entropy_of_the_masked_positions_only(rng):
    model = tiny(rng)
    idx, segments, attention = padded_batch(rng, TINY)
    labels = np.full(idx.shape, IGNORE_INDEX)
    labels[0, 1], labels[1, 2] = 7, 11
    out, loss = model(idx, segments, attention, labels)
    logits = out.mlm_logits
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(log_probs[0, 1, 7] + log_probs[1, 2, 11]) / 2
    assert abs(loss - expected) < 1e-12
    # the ignored positions' labels do not matter, whatever the logits there
    other = labels.copy()
    other[0, 3] = IGNORE_INDEX
    assert model(idx, segments, attention, other)[1] == loss


def test_mlm_decoder_is_the_token_embedding_plus_a_bias(rng):
    model = spread(tiny(rng), rng)
    idx, segments, attention = padded_batch(rng, TINY)
    out, _ = model(idx, segments, attention)
    hidden, _ = model.bert(idx, segments, attention)
    m = model.mlm
    h = m.ln(m.gelu(m.dense(hidden)))
    np.testing.assert_allclose(out.mlm_logits, h @ model.bert.wte.weight.data.T + m.bias.data,
                               rtol=1e-12, atol=1e-12)
    assert not any("decoder" in n for n, _ in model.named_parameters())


def test_pooler_is_tanh_of_a_dense_layer_on_cls(rng):
    model = spread(tiny(rng, Bert), rng)
    idx, segments, attention = padded_batch(rng, TINY)
    hidden, pooled = model(idx, segments, attention)
    expected = np.tanh(hidden[:, 0] @ model.pooler.weight.data + model.pooler.bias.data)
    np.testing.assert_allclose(pooled, expected, rtol=1e-12, atol=1e-12)


# ---- backward ------------------------------------------------------------------------------
def check_bert(model, batch):
    """Compare every parameter's gradient with Richardson-extrapolated central differences.

    Plain central differences (h = 1e-5) carry ~5e-11 of round-off here, ~ulp(loss) / h, and a
    two-layer BERT has a few entries with gradients ~1e-6, so the relative error of those would
    measure the round-off (~1e-5), not the backward. Richardson extrapolation, (4 D(h) - D(2h)) / 3
    with D the central difference of ``minifm.gradcheck``, cancels the h^2 error term, so h = 1e-3
    is accurate to ~1e-12 (Press et al., "Numerical Recipes", 3rd ed., section 5.7).

    The attention key biases (the middle third of each c_attn.bias) are returned apart: their
    gradient is exactly 0, since a key bias adds q . b_k to every score of a query's row and
    softmax ignores a shift shared by the row; a relative error against 0 is meaningless.
    """
    model.zero_grad()
    model(*batch)
    model.backward()

    def loss():
        return float(model(*batch)[1])

    C = model.config.n_embd
    results, keys = {}, {}
    for name, p in model.named_parameters():
        analytic = p.grad.copy()
        numerical = (4 * numerical_gradient_of_scalar(loss, p.data, h=1e-3)
                     - numerical_gradient_of_scalar(loss, p.data, h=2e-3)) / 3
        if name.endswith("attn.c_attn.bias"):
            keys[name] = (analytic[C:2 * C], numerical[C:2 * C])
            analytic, numerical = analytic[np.r_[:C, 2 * C:3 * C]], numerical[np.r_[:C, 2 * C:3 * C]]
        results[name] = worst_discrepancy(analytic, numerical)
    return results, keys


@pytest.mark.parametrize("norm_first", [False, True])
def test_pretraining_backward_matches_numerical_gradient_with_padding(rng, norm_first):
    model = spread(tiny(rng, norm_first=norm_first), rng).eval()
    idx, segments, attention = padded_batch(rng, TINY)
    labels = np.where(attention == 1, rng.integers(5, TINY.vocab_size, idx.shape), IGNORE_INDEX)
    labels[0, 0] = IGNORE_INDEX                                # an unmasked real position too
    results, keys = check_bert(model, (idx, segments, attention, labels, np.array([0, 1])))
    assert set(results) == {n for n, _ in model.named_parameters()}
    assert worst(results) < 1e-5                              # whole-model bound (STYLE.md)
    for analytic, numerical in keys.values():
        assert np.abs(analytic).max() < 1e-14 and np.abs(numerical).max() < 1e-10


def test_classification_backward_matches_numerical_gradient_with_padding(rng):
    model = spread(tiny(rng, BertForSequenceClassification), rng).eval()
    idx, segments, attention = padded_batch(rng, TINY, B=3)
    results, keys = check_bert(model, (idx, segments, attention, np.array([0, 2, 1])))
    assert set(results) == {n for n, _ in model.named_parameters()}
    assert worst(results) < 1e-5                              # whole-model bound (STYLE.md)
    for analytic, numerical in keys.values():
        assert np.abs(analytic).max() < 1e-14 and np.abs(numerical).max() < 1e-10


def test_backward_needs_a_forward_with_labels(rng):
    model = tiny(rng)
    idx, segments, attention = padded_batch(rng, TINY)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward()
    model(idx, segments, attention)
    with pytest.raises(RuntimeError, match="needs a loss"):
        model.backward()
    classifier = tiny(rng, BertForSequenceClassification)
    classifier(idx, segments, attention)
    with pytest.raises(RuntimeError, match="needs a loss"):
        classifier.backward()


def test_mlm_only_and_nsp_only_losses_have_gradients(rng):
    model = tiny(rng)
    idx, segments, attention = padded_batch(rng, TINY)
    labels = np.where(attention == 1, idx, IGNORE_INDEX)
    model(idx, segments, attention, labels)
    model.backward()
    assert np.abs(model.mlm.bias.grad).max() > 0 and not model.nsp.weight.grad.any()
    model.zero_grad()
    model(idx, segments, attention, None, np.array([0, 1]))
    model.backward()
    assert np.abs(model.nsp.weight.grad).max() > 0 and not model.mlm.bias.grad.any()


def test_gradients_keep_float32(rng):
    model = tiny(rng, dtype=np.float32)
    idx, segments, attention = padded_batch(rng, TINY)
    model(idx, segments, attention, np.where(attention == 1, idx, IGNORE_INDEX), np.array([0, 1]))
    model.backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_dropout_is_active_in_train_mode_only(rng):
    model = tiny(rng, Bert, dtype=np.float32, dropout=0.5)
    idx = np.array([[5, 6, 7, 8]])
    train = model(idx)[0]
    model.eval()
    np.testing.assert_array_equal(model(idx)[0], model(idx)[0])
    assert np.abs(train - model(idx)[0]).max() > 1e-3


def test_pretraining_overfits_one_batch(rng):
    config = BertConfig(vocab_size=30, context_length=16, n_layer=2, n_head=2, n_embd=32, n_inner=64,
                        dropout=0.0)
    model = BertForPreTraining(config, rng=rng)
    idx, segments, attention = padded_batch(rng, config, B=4, T=12)
    labels = np.where(attention == 1, idx, IGNORE_INDEX)
    masked = np.where(rng.random(idx.shape) < 0.3, 4, idx)   # some inputs replaced by [MASK]
    nsp = np.array([0, 1, 1, 0])
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(150):
        model.zero_grad()
        losses.append(model(masked, segments, attention, labels, nsp)[1])
        model.backward()
        opt.step()
    assert losses[0] > 3.5 and losses[-1] < 0.05             # from ~ln 30 + ln 2 to memorised


# ---- sentence embeddings -------------------------------------------------------------------
def test_sentence_embedding_is_the_normalised_mean_of_real_tokens(rng):
    model = spread(tiny(rng, Bert), rng)
    idx, segments, attention = padded_batch(rng, TINY)
    emb = model.sentence_embedding(idx, segments, attention)
    hidden = model.encode(idx, segments, attention)
    mean = hidden[1, :4].mean(axis=0)                          # row 1: 4 real tokens
    np.testing.assert_allclose(emb[1], mean / np.linalg.norm(mean), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-12)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(hidden)                                 # encode keeps no gradient path


# ---- checkpoints ---------------------------------------------------------------------------
@pytest.mark.parametrize("family, cls", [("bert", BertForPreTraining),
                                         ("bert-classifier", BertForSequenceClassification)])
def test_a_checkpoint_saved_before_the_context_length_rename_still_loads(tmp_path, rng, family,
                                                                         cls):
    """BERT checkpoints once stored ``max_len``; the same file must rebuild the same model."""
    model = spread(tiny(rng, cls, dtype=np.float32), rng).eval()
    path = save_checkpoint(tmp_path / "new.npz", model=model,
                           optimizer=AdamW(model.parameters(), lr=1e-3), step=0, rng=rng,
                           train_config=None, tokenizer=None, family=family)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    meta["model_config"]["max_len"] = meta["model_config"].pop("context_length")  # the old layout
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    old = tmp_path / "old.npz"
    np.savez(old, allow_pickle=False, **arrays)
    ckpt = load_checkpoint(old, family=family)
    assert ckpt.model_config["context_length"] == 8 and "max_len" not in ckpt.model_config
    rebuilt = ckpt.build_model().eval()
    assert isinstance(rebuilt, cls) and rebuilt.config == model.config
    idx, segments, attention = padded_batch(rng, TINY)
    before, after = model(idx, segments, attention)[0], rebuilt(idx, segments, attention)[0]
    if family == "bert":                       # a PreTrainingOutput: compare both heads' logits
        before, after = np.concatenate(before, axis=None), np.concatenate(after, axis=None)
    np.testing.assert_array_equal(after, before)
