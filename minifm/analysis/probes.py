"""Linear probes on frozen hidden states, with the control task of Hewitt & Liang (2019,
"Designing and Interpreting Probes with Control Tasks", sections 2-3).

Dimensions: N positions (tokens) probed, C hidden width, K classes, L layers.

A probe is a softmax regression ``logits = (h - mean) @ W + b`` trained on hidden states h (N, C)
that the model computed and that stay fixed: if it predicts a property (a noun's number, a word's
part of speech) from layer l, layer l holds that property linearly. Training minimises

    loss(W, b) = cross_entropy((h - mean) @ W + b, labels) + weight_decay / 2 * |W|^2

by full-batch gradient descent from W = 0, b = 0 with the step 1 / S, S an upper bound on the
loss's curvature (softmax cross-entropy has a Hessian of at most 1/2 times that of least squares
in the logits: S = |[h - mean, 1]|_2^2 / (2 N) + weight_decay), so every step lowers the loss and
no learning rate needs tuning. The problem is convex, so the result does not depend on a seed.

A high accuracy alone may mean the probe memorised the words, not that the layer encodes the
property. The control task gives every word *type* a random label, drawn once from the empirical
distribution of the real labels; a probe can only learn it by memorising word identities.
Selectivity = task accuracy - control accuracy, both on held-out positions: high when the states
hold the property beyond the words' identities.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from minifm.functional.linear import linear_backward, linear_forward
from minifm.functional.losses import cross_entropy_backward, cross_entropy_forward
from minifm.validation import check_floats, check_ids


@dataclass(frozen=True)
class Probe:
    """A trained linear probe: mean (C,), weight (C, K), bias (K,)."""

    mean: np.ndarray
    weight: np.ndarray
    bias: np.ndarray

    def logits(self, h: np.ndarray) -> np.ndarray:
        """h: (N, C) hidden states -> (N, K) class scores."""
        check_floats(h, "probe input h", ndim=2, axes=f"(N, C={len(self.mean)})")
        if h.shape[1] != len(self.mean):
            raise ValueError(f"the probe was trained on width C={len(self.mean)}, got h of shape "
                             f"{h.shape}")
        return (h - self.mean) @ self.weight + self.bias     # (N, C) @ (C, K) -> (N, K)

    def accuracy(self, h: np.ndarray, labels: np.ndarray) -> float:
        """The fraction of positions whose highest-scoring class is the label."""
        check_ids(labels, "probe labels", vocab_size=self.weight.shape[1], shape=(len(h),),
                  axes="(N,)")
        return float(np.mean(self.logits(h).argmax(axis=1) == labels))


@dataclass(frozen=True)
class ProbeReport:
    """Held-out accuracies of a probe on the real task and on its control task."""

    task_accuracy: float
    control_accuracy: float

    @property
    def selectivity(self) -> float:
        return self.task_accuracy - self.control_accuracy


def probe_loss(h: np.ndarray, labels: np.ndarray, weight: np.ndarray, bias: np.ndarray,
               weight_decay: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
    """The probe's loss and its gradients: h (N, C) already centred, labels (N,) ints in [0, K),
    weight (C, K), bias (K,). Returns (loss, dweight (C, K), dbias (K,))."""
    logits, lin_cache = linear_forward(h, weight, bias)       # (N, C) @ (C, K) -> (N, K)
    loss, ce_cache = cross_entropy_forward(logits, labels)
    loss += 0.5 * weight_decay * float(np.sum(weight * weight))
    # fwd: loss = ce(logits) + wd/2 |W|^2  =>  dlogits = (softmax - onehot) / N, dW += wd W
    _, dweight, dbias = linear_backward(cross_entropy_backward(1.0, ce_cache), lin_cache)
    return loss, dweight + weight_decay * weight, dbias


def _check_probe_data(h: np.ndarray, labels: np.ndarray, n_classes: int, what: str) -> None:
    check_floats(h, f"{what} hidden states h", ndim=2, axes="(N, C)")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
            or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    check_ids(labels, f"{what} labels", vocab_size=n_classes, shape=(len(h),), axes="(N,)")


def train_probe(h: np.ndarray, labels: np.ndarray, n_classes: int, *, steps: int = 300,
                weight_decay: float = 0.0) -> Probe:
    """Fit a softmax probe to hidden states h (N, C) and labels (N,) in [0, n_classes) by
    ``steps`` full-batch gradient-descent steps of size 1 / S (see the module docstring).
    The arithmetic runs in float64."""
    _check_probe_data(h, labels, n_classes, "train_probe")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"train_probe: steps must be a positive int, got {steps!r}")
    if weight_decay < 0:
        raise ValueError(f"train_probe: weight_decay must be >= 0, got {weight_decay}")
    h = h.astype(np.float64)
    N, C = h.shape
    mean = h.mean(axis=0)
    x = h - mean                                              # (N, C) centred states
    with_ones = np.concatenate([x, np.ones((N, 1))], axis=1)  # (N, C + 1): the bias as a column
    curvature = np.linalg.norm(with_ones, 2) ** 2 / (2 * N) + weight_decay
    weight, bias = np.zeros((C, n_classes)), np.zeros(n_classes)
    for _ in range(steps):
        _, dweight, dbias = probe_loss(x, labels, weight, bias, weight_decay)
        weight -= dweight / curvature
        bias -= dbias / curvature
    return Probe(mean, weight, bias)


def control_labels(words: np.ndarray, labels: np.ndarray, rng: np.random.Generator
                   ) -> np.ndarray:
    """The control task: one label per word type, drawn from the empirical distribution of
    ``labels``, given to every position of that type. words, labels: (N,) ints -> (N,) ints.

    Pass the word ids of every split at once (train and test concatenated), so a word keeps its
    control label across splits, as a type-level property must."""
    check_ids(words, "control_labels words", vocab_size=np.iinfo(np.int64).max, ndim=1,
              axes="(N,)")
    check_ids(labels, "control_labels labels", vocab_size=np.iinfo(np.int64).max,
              shape=(len(words),), axes="(N,)")
    types, position_type = np.unique(words, return_inverse=True)
    classes, counts = np.unique(labels, return_counts=True)
    per_type = rng.choice(classes, size=len(types), p=counts / counts.sum())   # (n_types,)
    return per_type[position_type]


def probe_layers(train_states: Sequence[np.ndarray], train_words: np.ndarray,
                 train_labels: np.ndarray, test_states: Sequence[np.ndarray],
                 test_words: np.ndarray, test_labels: np.ndarray, n_classes: int, *,
                 rng: np.random.Generator, steps: int = 300, weight_decay: float = 0.0
                 ) -> list[ProbeReport]:
    """A task probe and a control probe at every layer, reported on the test split.

    train_states and test_states hold L arrays each, (N_train, C) and (N_test, C): the states of
    the same positions at layers 0..L-1. words and labels: (N_train,) and (N_test,) ints. The
    control labels are drawn once from ``rng``, so every layer is probed on the same control task.
    """
    if len(train_states) != len(test_states) or not len(train_states):
        raise ValueError(f"probe_layers needs one train and one test array per layer, got "
                         f"{len(train_states)} and {len(test_states)}")
    _check_probe_data(test_states[0], test_labels, n_classes, "test")
    for split, words, labels in (("train", train_words, train_labels),
                                 ("test", test_words, test_labels)):
        if np.shape(words) != np.shape(labels):
            raise ValueError(f"probe_layers: {split}_words must have one word id per label, "
                             f"got shapes {np.shape(words)} and {np.shape(labels)}")
    control = control_labels(np.concatenate([train_words, test_words]),
                             np.concatenate([train_labels, test_labels]), rng)
    control_train, control_test = control[:len(train_words)], control[len(train_words):]
    reports = []
    for train_h, test_h in zip(train_states, test_states):
        task = train_probe(train_h, train_labels, n_classes, steps=steps,
                           weight_decay=weight_decay)
        ctrl = train_probe(train_h, control_train, n_classes, steps=steps,
                           weight_decay=weight_decay)
        reports.append(ProbeReport(task_accuracy=task.accuracy(test_h, test_labels),
                                   control_accuracy=ctrl.accuracy(test_h, control_test)))
    return reports
