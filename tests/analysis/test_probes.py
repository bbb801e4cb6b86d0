"""Linear probes: a gradient-checked loss, separable and noise toy sets, and the control task."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.analysis.probes import (Probe, control_labels, probe_layers, probe_loss,
                                    train_probe)
from minifm.gradcheck import numerical_gradient_of_scalar, rel_error


def test_probe_loss_gradient_matches_numerical(rng):
    """Smooth (softmax cross-entropy plus a square): < 1e-7 in float64."""
    N, C, K = 7, 4, 3
    h = rng.standard_normal((N, C))
    labels = rng.integers(0, K, N)
    weight, bias = rng.standard_normal((C, K)), rng.standard_normal(K)
    _, dweight, dbias = probe_loss(h, labels, weight, bias, weight_decay=0.3)
    f = lambda: probe_loss(h, labels, weight, bias, weight_decay=0.3)[0]   # noqa: E731
    assert rel_error(dweight, numerical_gradient_of_scalar(f, weight)) < 1e-7
    assert rel_error(dbias, numerical_gradient_of_scalar(f, bias)) < 1e-7


def _blobs(rng, n_per_class: int, K: int = 3, C: int = 5, spread: float = 0.3):
    centres = 3.0 * rng.standard_normal((K, C)) + 10.0        # far apart, off the origin
    labels = np.repeat(np.arange(K), n_per_class)
    return centres[labels] + spread * rng.standard_normal((len(labels), C)), labels


def test_probe_separates_a_linearly_separable_set(rng):
    h, labels = _blobs(rng, 40)
    probe = train_probe(h.astype(np.float32), labels, 3)
    assert probe.accuracy(h, labels) == 1.0
    assert isinstance(probe, Probe) and probe.weight.shape == (5, 3)


def test_probe_generalises_on_separable_held_out_points(rng):
    h, labels = _blobs(rng, 60)
    train, test = np.arange(0, 180, 2), np.arange(1, 180, 2)
    probe = train_probe(h[train], labels[train], 3)
    assert probe.accuracy(h[test], labels[test]) == 1.0


def test_probe_on_noise_is_near_chance_held_out(rng):
    h = rng.standard_normal((3000, 8))
    labels = rng.integers(0, 2, 3000)                          # independent of h
    probe = train_probe(h[:1000], labels[:1000], 2)
    # 2000 held-out coin flips: standard error 0.011; 4.5 of them
    assert abs(probe.accuracy(h[1000:], labels[1000:]) - 0.5) < 0.05


def test_gradient_descent_lowers_the_loss_every_step(rng):
    h, labels = _blobs(rng, 10)
    x = h - h.mean(axis=0)
    losses = []
    for steps in (1, 2, 5, 20, 100):
        probe = train_probe(h, labels, 3, steps=steps, weight_decay=0.01)
        losses.append(probe_loss(x, labels, probe.weight, probe.bias, 0.01)[0])
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert losses[0] < np.log(3)                               # below the loss at W = 0


def test_control_labels_are_one_random_label_per_word_type(rng):
    words = rng.integers(0, 50, 4000)
    labels = (rng.random(4000) < 0.8).astype(np.int64)        # 80% class 1
    control = control_labels(words, labels, np.random.default_rng(3))
    for w in np.unique(words):
        assert len(np.unique(control[words == w])) == 1       # a type-level property
    per_type = np.array([control[words == w][0] for w in np.unique(words)])
    assert 0.6 < per_type.mean() < 0.95                        # drawn with the labels' 80/20
    again = control_labels(words, labels, np.random.default_rng(3))
    assert np.array_equal(control, again)


def test_selectivity_separates_encoding_from_memorising(rng):
    """Layer 0 holds only the word's identity (one-hot), so task and control are equally
    learnable: selectivity ~ 0. Layer 1 holds only the label (a direction plus noise), not the
    word: the task is learnt, the control is not: selectivity high."""
    n_types, N = 6, 1200
    words = rng.integers(0, n_types, N)
    word_label = np.array([0, 1, 0, 1, 1, 0])
    labels = word_label[words]
    identity = np.eye(n_types)[words] + 0.01 * rng.standard_normal((N, n_types))
    label_only = np.zeros((N, n_types))
    label_only[:, 0] = 2.0 * labels - 1.0
    label_only += 0.3 * rng.standard_normal((N, n_types))
    tr, te = slice(0, 800), slice(800, None)
    reports = probe_layers([identity[tr], label_only[tr]], words[tr], labels[tr],
                           [identity[te], label_only[te]], words[te], labels[te], 2,
                           rng=np.random.default_rng(5))
    memorised, encoded = reports
    assert memorised.task_accuracy == 1.0 and memorised.control_accuracy == 1.0
    assert memorised.selectivity == 0.0
    assert encoded.task_accuracy > 0.99
    # the control labels of the 6 types are not a function of the label direction
    assert encoded.selectivity > 0.15


def test_bad_probe_input_is_named(rng):
    h = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="n_classes"):
        train_probe(h, np.zeros(4, dtype=np.int64), 1)
    with pytest.raises(ValueError, match="train_probe labels"):
        train_probe(h, np.array([0, 1, 2, 0]), 2)
    with pytest.raises(TypeError, match="hidden states"):
        train_probe(h.tolist(), np.zeros(4, dtype=np.int64), 2)
    probe = train_probe(h, np.array([0, 1, 0, 1]), 2, steps=3)
    with pytest.raises(ValueError, match="width C=3"):
        probe.logits(rng.standard_normal((4, 5)))
    with pytest.raises(ValueError, match="one word id per label"):
        probe_layers([h], np.zeros(3, dtype=np.int64), np.zeros(4, dtype=np.int64), [h],
                     np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64), 2, rng=rng)
    with pytest.raises(ValueError, match="one train and one test array per layer"):
        probe_layers([h], np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64), [],
                     np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64), 2, rng=rng)
