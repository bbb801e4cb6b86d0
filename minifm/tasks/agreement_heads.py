"""Which attention heads of a grammar GPT carry subject-verb agreement? Ablate each head alone and
measure the drop in minimal-pair agreement accuracy, against a control: the rise of the held-out
language-modelling loss, which says how much the head matters for everything else.

Dimensions: L layers, H heads, T time.

    model, tokenizer = load_pretrained("out/gpt")      # trained with --corpus grammar
    report = agreement_heads(model, tokenizer)
    report.attractor_drops                             # (L, H): the agreement heads stand out

The judge is ``minifm.analysis.agreement`` (minimal pairs from the grammar); the ablation is
``minifm.analysis.heads``. Fresh sentences come from seeds other than the training corpus's.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minifm.analysis.agreement import agreement_pairs, verb_agreement_accuracy
from minifm.analysis.heads import ablation_drops
from minifm.data.corpora import grammar_corpus
from minifm.models.gpt import GPT
from minifm.tasks.gpt import CORPUS_SEED
from minifm.tokenizers import Tokenizer


@dataclass(frozen=True)
class AgreementHeads:
    """Agreement accuracies of the whole model and what each single-head ablation costs."""

    accuracy: float               # all minimal pairs (chance 0.5)
    attractor_accuracy: float     # pairs with a noun of the other number before the verb
    drops: np.ndarray             # (L, H) fall of ``accuracy`` with that head ablated
    attractor_drops: np.ndarray   # (L, H) fall of ``attractor_accuracy``
    loss: float                   # held-out language-modelling loss (nats per token)
    loss_rise: np.ndarray         # (L, H) rise of ``loss`` with that head ablated (the control)


def held_out_windows(tokenizer: Tokenizer, context_length: int, n_windows: int = 128,
                     seed: int = CORPUS_SEED + 103) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n_windows`` next-token windows (inputs, targets), each (N, T), of fresh grammar
    sentences drawn with ``seed``."""
    ids = np.array(tokenizer.encode(grammar_corpus(10 * n_windows, seed=seed)), dtype=np.int64)
    T = context_length
    n = min(n_windows, (len(ids) - 1) // T)
    return ids[:n * T].reshape(n, T), ids[1:n * T + 1].reshape(n, T)   # (N * T,) -> (N, T)


def agreement_heads(model: GPT, tokenizer: Tokenizer, *, n_pairs: int = 1000,
                    seed: int = CORPUS_SEED + 101) -> AgreementHeads:
    """Measure every head of ``model`` (see the module docstring) on ``n_pairs`` minimal pairs
    of each kind, drawn with ``seed`` (all pairs) and ``seed + 1`` (attractor pairs)."""
    every = agreement_pairs(n_pairs, seed)
    attracted = agreement_pairs(n_pairs, seed + 1, attractors_only=True)
    inputs, targets = held_out_windows(tokenizer, model.config.context_length)

    def accuracy() -> float:
        return verb_agreement_accuracy(model, tokenizer, every)

    def attractor_accuracy() -> float:
        return verb_agreement_accuracy(model, tokenizer, attracted)

    def loss() -> float:
        with model.evaluating():
            return float(model(inputs, targets)[1])

    return AgreementHeads(accuracy=accuracy(), attractor_accuracy=attractor_accuracy(),
                          drops=ablation_drops(model, accuracy),
                          attractor_drops=ablation_drops(model, attractor_accuracy),
                          loss=loss(), loss_rise=-ablation_drops(model, loss))
