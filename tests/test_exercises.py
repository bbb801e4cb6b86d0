"""The self-checking exercises: correct pairs pass, broken ones fail and say where.

The pass bound is the gradient checker's 1e-7 for smooth ops in float64; the library's pairs must
clear it by 50x (the margin minifm/exercises.py promises for its fixed inputs), so a correct pair
written another way, which differs only by rounding, passes too.
"""

from math import erf

import numpy as np
import pytest

from minifm.exercises import EXERCISES, FORWARD_TOLERANCE, GRADIENT_TOLERANCE, check
from minifm.functional.embedding import embedding_forward
from minifm.functional.layernorm import layernorm_backward, layernorm_forward
from minifm.functional.linear import linear_backward, linear_forward

REQUIRED = ["linear", "softmax", "cross_entropy", "layernorm", "gelu", "attention", "embedding"]


def test_every_required_exercise_exists():
    assert set(REQUIRED) <= set(EXERCISES)


@pytest.mark.parametrize("name", list(EXERCISES))
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
