"""The self-checking exercises: correct pairs pass, broken ones fail and say where.

The pass bound is the gradient checker's 1e-7 for smooth ops in float64; the library's pairs must
clear it by 50x (the margin minifm/exercises/basics.py promises for its fixed inputs), so a correct
pair written another way, which differs only by rounding, passes too. The exercises of lessons
8-11 (minifm/exercises/models.py) are tested the same way: a correct answer written by hand
passes, a typical buggy one fails.
"""

from math import erf

import numpy as np
import pytest

from minifm.exercises import (EXERCISES, FORWARD_TOLERANCE, GRADIENT_TOLERANCE, Exercise,
                              FunctionExercise, check)
from minifm.functional.attention import attention_backward, attention_forward
from minifm.functional.embedding import embedding_forward
from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.functional.linear import linear_backward, linear_forward

REQUIRED = ["linear", "softmax", "cross_entropy", "layernorm", "gelu", "attention", "embedding"]
MODEL_EXERCISES = ["tied_head", "contrastive", "straight_through", "top_p", "kv_cache_step",
                   "mlm_masking"]
PAIRS = [name for name, e in EXERCISES.items() if isinstance(e, Exercise)]
FUNCTIONS = [name for name, e in EXERCISES.items() if isinstance(e, FunctionExercise)]


def test_every_required_exercise_exists():
    assert set(REQUIRED) <= set(EXERCISES) and set(MODEL_EXERCISES) <= set(EXERCISES)
    assert set(PAIRS) | set(FUNCTIONS) == set(EXERCISES)


@pytest.mark.parametrize("name", PAIRS)
def test_library_pair_passes_with_a_margin(name, capsys):
    exercise = EXERCISES[name]
    result = check(name, exercise.forward, exercise.backward)
    assert result.passed and result.problem is None
    assert max(d.rel_error for d in result.gradients.values()) < GRADIENT_TOLERANCE / 50
    assert result.forward.rel_error == 0.0          # the same code gives the same bits
    assert f"{name}: PASS" in capsys.readouterr().out


# ---- correct pairs written the way a student might: they must pass too ------------------------

def naive_layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (x, mu, var, gamma, eps)


def naive_layernorm_backward(dy, cache):
    x, mu, var, gamma, eps = cache
    C = x.shape[-1]
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * inv
    dxhat = dy * gamma
    dvar = np.sum(dxhat * (x - mu), axis=-1, keepdims=True) * -0.5 * inv ** 3
    dmu = -np.sum(dxhat * inv, axis=-1, keepdims=True) - 2 * dvar * np.mean(x - mu, axis=-1,
                                                                              keepdims=True)
    dx = dxhat * inv + dvar * 2 * (x - mu) / C + dmu / C
    axes = tuple(range(dy.ndim - 1))
    return dx, np.sum(dy * xhat, axis=axes), np.sum(dy, axis=axes)


def naive_attention_forward(q, k, v):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p = p / p.sum(axis=-1, keepdims=True)
    return p @ v, (q, k, v, p)


def naive_attention_backward(dy, cache):
    q, k, v, p = cache
    dv = np.swapaxes(p, -1, -2) @ dy
    dp = dy @ np.swapaxes(v, -1, -2)
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True)) / np.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


def naive_cross_entropy_forward(logits, targets):
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    n = len(targets)
    return -np.mean(logp[np.arange(n), targets]), (np.exp(logp), targets)


def naive_cross_entropy_backward(dloss, cache):
    p, t = cache
    onehot = np.eye(p.shape[1])[t]
    return dloss * (p - onehot) / len(t)


def naive_gelu_exact_forward(x):
    phi = 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))
    return x * phi, (x, phi)


def naive_gelu_exact_backward(dy, cache):
    x, phi = cache
    return dy * (phi + x * np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi))


@pytest.mark.parametrize("name, forward, backward", [
    ("layernorm", naive_layernorm_forward, naive_layernorm_backward),
    ("attention", naive_attention_forward, naive_attention_backward),
    ("cross_entropy", naive_cross_entropy_forward, naive_cross_entropy_backward),
    ("gelu_exact", naive_gelu_exact_forward, naive_gelu_exact_backward),
])
def test_a_correct_pair_written_another_way_passes(name, forward, backward):
    result = check(name, forward, backward, verbose=False)
    assert result.passed, str(result)


# ---- broken pairs must fail, and say where ----------------------------------------------------

def test_broken_backward_fails_and_reports_the_index(capsys):
    def backward(dy, cache):
        dx, dgamma, dbeta = layernorm_backward(dy, cache)
        dx = dx.copy()
        dx[1, 2, 0] += 0.5                              # one wrong entry
        return dx, dgamma, dbeta

    result = check("layernorm", layernorm_forward, backward)
    assert not result.passed
    assert result.gradients["dx"].index == (1, 2, 0)
    assert result.gradients["dx"].rel_error > 1e-2
    assert result.gradients["dgamma"].rel_error < GRADIENT_TOLERANCE
    out = capsys.readouterr().out
    assert "layernorm: FAIL" in out and "dx[1, 2, 0]" in out and "x[1, 2, 0]" in out


def test_wrong_forward_with_a_consistent_backward_is_reported(capsys):
    def forward(x, gamma, beta):                        # eps = 0.1 instead of 1e-5
        return layernorm_forward(x, gamma, beta, eps=0.1)

    result = check("layernorm", forward, layernorm_backward)
    assert not result.passed
    assert all(d.rel_error < GRADIENT_TOLERANCE for d in result.gradients.values())
    assert result.forward.rel_error > FORWARD_TOLERANCE
    out = capsys.readouterr().out
    assert "computes something other than minifm's" in out
    assert f"y[{', '.join(map(str, result.forward.index))}]" in out


def test_embedding_backward_that_loses_repeated_ids_fails():
    def backward(dout, cache):
        idx, weight = cache
        dweight = np.zeros_like(weight)
        dweight[idx] += dout                            # fancy-index += keeps one write per row
        return dweight

    def forward(idx, weight):
        return embedding_forward(idx, weight)[0], (idx, weight)

    result = check("embedding", forward, backward, verbose=False)
    assert not result.passed
    assert result.gradients["dweight"].index[0] in (1, 3)    # the ids used more than once


def test_missing_bias_gradient_is_a_wrong_count():
    def backward(dy, cache):
        return linear_backward(dy, cache)[:2]

    result = check("linear", linear_forward, backward, verbose=False)
    assert not result.passed and "returns 2 gradient(s)" in result.problem
    assert "dx, dw, db" in result.problem


def test_gradient_of_the_wrong_shape_is_reported():
    def backward(dy, cache):
        dx, dw, db = linear_backward(dy, cache)
        return dx, dw.T, db

    result = check("linear", linear_forward, backward, verbose=False)
    assert not result.passed
    assert "your dw has shape (5, 4), but w has shape (4, 5)" in result.problem


def test_not_started_exercise_is_reported_without_raising(capsys):
    def forward(x):
        raise NotImplementedError("write the softmax forward")

    result = check("softmax", forward, forward)
    assert not result.passed and "NotImplementedError" in result.problem
    out = capsys.readouterr().out
    assert "y, cache = forward(x)" in out and "lessons/02_linear_softmax_cross_entropy.md" in out


def test_error_in_student_code_is_reported_with_its_traceback():
    def forward(x):
        return x[7], None

    result = check("softmax", forward, forward, verbose=False)
    assert not result.passed
    assert "your forward raised IndexError" in result.problem
    assert "in forward" in result.problem and "return x[7], None" in result.problem


def test_forward_that_changes_its_input_is_reported():
    def forward(x, gamma, beta):
        x -= x.mean(axis=-1, keepdims=True)
        return layernorm_forward(x, gamma, beta)

    result = check("layernorm", forward, layernorm_backward, verbose=False)
    assert not result.passed and "changed its input 'x' in place" in result.problem


def test_float32_forward_is_reported():
    def forward(x, gamma, beta):
        y, cache = layernorm_forward(x, gamma, beta)
        return y.astype(np.float32), cache

    result = check("layernorm", forward, layernorm_backward, verbose=False)
    assert not result.passed and "float32" in result.problem


def test_unknown_exercise_is_a_value_error():
    with pytest.raises(ValueError, match="unknown exercise 'layer_norm'.*layernorm"):
        check("layer_norm", layernorm_forward, layernorm_backward)


def test_a_pair_without_a_backward_and_a_function_with_one_are_reported():
    result = check("linear", linear_forward, verbose=False)
    assert not result.passed and "check('linear', your_forward, your_backward)" in result.problem
    top_p = EXERCISES["top_p"].function
    result = check("top_p", top_p, top_p, verbose=False)
    assert not result.passed and "check('top_p', your_function)" in result.problem


def test_swapped_forward_and_backward_ask_whether_they_were_swapped():
    result = check("linear", linear_backward, linear_forward, verbose=False)
    assert not result.passed
    assert "cannot be called as forward(x, w, b)" in result.problem
    assert "Did you swap forward and backward?" in result.problem


def test_a_type_error_inside_the_students_code_is_not_called_a_swap():
    def forward(x):
        return len(x, 2), None

    result = check("softmax", forward, forward, verbose=False)
    assert "raised TypeError" in result.problem and "swap" not in result.problem


def test_the_verdict_shows_the_inputs_behind_it(capsys):
    check("embedding", embedding_forward, EXERCISES["embedding"].backward)
    out = capsys.readouterr().out
    assert "idx: int64 (2, 3) = [[1, 3, 1], [0, 3, 3]]" in out and "weight: float64 (5, 4)" in out
    check("attention", attention_forward, attention_backward)
    assert "D = 4, so the scores are scaled by 1/sqrt(D) = 0.5" in capsys.readouterr().out


# ---- causal attention: a query with no allowed key --------------------------------------------

def test_causal_attention_inputs_hold_a_query_with_no_allowed_key():
    allowed = EXERCISES["causal_attention"].inputs()[3]
    assert allowed.shape == (4, 4) and allowed.dtype == bool
    assert not allowed[0].any() and allowed[1:].any(axis=1).all()
    assert not np.triu(allowed, 1).any()                           # causal


def test_causal_attention_without_the_fully_masked_row_guard_fails():
    def forward(q, k, v, allowed):                                 # masks, but never zeroes row 0
        s = np.where(allowed, q @ np.swapaxes(k, -1, -2) / 2.0, -1e9)
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        return (p / p.sum(axis=-1, keepdims=True)) @ v, None

    result = check("causal_attention", forward, lambda dy, cache: (dy, dy, dy), verbose=False)
    assert not result.passed and result.forward.rel_error > FORWARD_TOLERANCE
    assert result.forward.index[2] == 0                            # the query with no key


def test_causal_attention_that_builds_its_own_mask_fails():
    def forward(q, k, v, allowed):
        T = q.shape[2]
        return attention_forward(q, k, v, np.tril(np.ones((T, T), dtype=bool)))

    result = check("causal_attention", forward, attention_backward, verbose=False)
    assert not result.passed and result.forward.rel_error > FORWARD_TOLERANCE


# ---- the exercises of lessons 8-11: a correct and a buggy answer each -------------------------

def tied_forward(idx, wte):
    x = wte[idx]                                                   # (B, T, C)
    return x @ wte.T, (idx, x, wte)


def tied_backward(dlogits, cache, head_only=False):
    idx, x, wte = cache
    V, C = wte.shape
    dwte = dlogits.reshape(-1, V).T @ x.reshape(-1, C)              # the head's share
    if not head_only:
        np.add.at(dwte, idx.reshape(-1), (dlogits @ wte).reshape(-1, C))   # the embedding's
    return dwte


def test_tied_head_correct_passes_and_the_head_share_alone_fails():
    assert check("tied_head", tied_forward, tied_backward, verbose=False).passed
    result = check("tied_head", tied_forward,
                   lambda d, c: tied_backward(d, c, head_only=True), verbose=False)
    assert not result.passed and result.gradients["dwte"].rel_error > 1e-2
    assert result.gradients["dwte"].index[0] != 3                  # id 3 is never embedded


def clip_forward(img, txt, logit_scale):
    s = np.exp(logit_scale)
    logits = s * img @ txt.T
    n = len(img)

    def ce(z):
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[np.arange(n), np.arange(n)].mean(), np.exp(logp)

    (li, pi), (lt, pt) = ce(logits), ce(logits.T)
    return (li + lt) / 2, (img, txt, s, logits, pi, pt)


def clip_backward(dloss, cache, forget_scale=False):
    img, txt, s, logits, pi, pt = cache
    eye = np.eye(len(img))
    dlogits = dloss * ((pi - eye) + (pt - eye).T) / (2 * len(img))
    dscale = 0.0 if forget_scale else np.sum(dlogits * logits)
    return s * dlogits @ txt, s * dlogits.T @ img, np.array(dscale)


def test_contrastive_correct_passes_and_a_frozen_temperature_fails():
    assert check("contrastive", clip_forward, clip_backward, verbose=False).passed
    result = check("contrastive", clip_forward,
                   lambda d, c: clip_backward(d, c, forget_scale=True), verbose=False)
    assert not result.passed
    assert result.gradients["dlogit_scale"].rel_error > 0.5
    assert result.gradients["dimage_emb"].rel_error < GRADIENT_TOLERANCE


def vq_forward(z_e, codebook):
    d = ((z_e[..., None, :] - codebook) ** 2).sum(axis=-1)         # (B, P, K)
    codes = d.argmin(axis=-1)
    return codebook[codes], (z_e, codebook, codes)


def vq_backward(dz_q, cache, straight_through=True):
    z_e, codebook, codes = cache
    e = codebook[codes]
    dz_e = (dz_q if straight_through else 0 * dz_q) + 0.25 * 2 * (z_e - e) / z_e.size
    dcodebook = np.zeros_like(codebook)
    np.add.at(dcodebook, codes.reshape(-1), (2 * (e - z_e) / z_e.size).reshape(-1, e.shape[-1]))
    return dz_e, dcodebook


def test_straight_through_correct_passes_and_the_true_derivative_fails(capsys):
    result = check("straight_through", vq_forward, vq_backward)
    assert result.passed, str(result)
    assert "every sg[.] held fixed" in capsys.readouterr().out
    # the true derivative of the forward (dz_q/dz_e = 0 through the argmin) is the wrong update
    result = check("straight_through", vq_forward,
                   lambda d, c: vq_backward(d, c, straight_through=False), verbose=False)
    assert not result.passed and result.gradients["dz_e"].rel_error > 0.5
    assert result.gradients["dcodebook"].rel_error < GRADIENT_TOLERANCE


def my_top_p(logits, p, crossing_kept=True):
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    order = np.argsort(-logits, axis=1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=1)
    before = np.cumsum(sorted_probs, axis=1) - sorted_probs
    keep_sorted = before < p if crossing_kept else before + sorted_probs <= p
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return np.where(keep, logits, -np.inf)


def test_top_p_correct_passes_and_dropping_the_crossing_token_fails(capsys):
    assert check("top_p", my_top_p).passed
    assert capsys.readouterr().out.count(": ok") == 5
    result = check("top_p", lambda z, p: my_top_p(z, p, crossing_kept=False), verbose=False)
    assert not result.passed
    assert result.cases["p = 1 keeps every token"] == "ok"
    assert "minifm keeps" in result.cases["a tiny p keeps only the most likely token"]


def my_step(q, k, v, past_k, past_v, include_new=True):
    keys = np.concatenate([past_k, k], axis=2) if include_new else past_k
    values = np.concatenate([past_v, v], axis=2) if include_new else past_v
    s = q @ np.swapaxes(keys, -1, -2) / np.sqrt(q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ values, np.concatenate([past_k, k], axis=2), \
        np.concatenate([past_v, v], axis=2)


def test_kv_cache_step_correct_passes_and_forgetting_the_new_key_fails():
    assert check("kv_cache_step", my_step, verbose=False).passed
    result = check("kv_cache_step", lambda *a: my_step(*a, include_new=False), verbose=False)
    assert not result.passed
    assert result.cases["three positions already cached"].startswith("your y[")
    assert "raised" in result.cases["the first step: an empty cache (t = 0)"]   # no key at all


def my_mask(ids, rng, special_ids, mask_id, vocab_size, rule="bert"):
    real = ~np.isin(ids, special_ids)
    if rule == "coin":                                             # a 15% coin per token
        chosen = real & (rng.random(ids.shape) < 0.15)
    else:
        n = real.sum(axis=1)
        want = np.maximum(1, np.rint(0.15 * n)).astype(int)
        keys = np.where(real, rng.random(ids.shape), 2.0)
        rank = np.argsort(np.argsort(keys, axis=1), axis=1)
        chosen = rank < want[:, None]
    labels = np.where(chosen, ids, -100)
    if rule == "always_mask":
        return np.where(chosen, mask_id, ids), labels
    u = rng.random(ids.shape)
    regular = np.setdiff1d(np.arange(vocab_size), special_ids)
    random_ids = rng.choice(regular, size=ids.shape)
    masked = np.where(chosen & (u < 0.8), mask_id, ids)
    masked = np.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, masked)
    return masked, labels


def test_mlm_masking_correct_passes_and_two_classic_bugs_fail():
    case = "2,000 rows of [CLS], 3 to 20 real tokens, [SEP] and padding"
    assert check("mlm_masking", my_mask, verbose=False).passed
    assert check("mlm_masking", EXERCISES["mlm_masking"].function, verbose=False).passed
    coin = check("mlm_masking", lambda *a: my_mask(*a, rule="coin"), verbose=False)
    assert not coin.passed and "must be chosen" in coin.cases[case]
    always = check("mlm_masking", lambda *a: my_mask(*a, rule="always_mask"), verbose=False)
    assert not always.passed and "became [MASK]" in always.cases[case]


def test_mlm_masking_that_labels_every_token_fails():
    def forward(ids, rng, special_ids, mask_id, vocab_size):
        masked, _ = my_mask(ids, rng, special_ids, mask_id, vocab_size)
        return masked, ids.copy()                                  # no -100 anywhere

    result = check("mlm_masking", forward, verbose=False)
    assert not result.passed and "special id" in next(iter(result.cases.values()))
