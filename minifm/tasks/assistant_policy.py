"""What DPO and RL share on the assistant world: a GPT as a policy over responses, scored by
the log-probability it gives them, next to a frozen reference copy of it.

Lesson: "From GPT to assistant" (issue 12; the DPO gradient, the policy gradient with a KL
penalty). Dimension letters: B conversation rows, T time (positions), C width, V vocabulary.

A conversation row (prompt, response, [PAD]s) gives GPT's input and the response-only targets
(``functional.sequence_logprob.response_targets`` with ``data.assistant.response_mask``). The
LM head is GPT's tied one, written out here on the trunk pair ``hidden`` / ``backward_hidden``
so that any loss on the logits (DPO's, the policy gradient's) can send its gradient down:

    x = policy.hidden(idx)                (B, T) -> (B, T, C)
    logits = x @ wte^T                    (B, T, C) -> (B, T, V)
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Sequence

import numpy as np

from minifm.data.assistant import Example, aggregate, render_prompt, response_mask
from minifm.data.assistant.judges import preference_key
from minifm.functional.sequence_logprob import (response_targets, sequence_logprob_forward,
                                                token_logprob_forward)
from minifm.models.gpt import GPT
from minifm.tasks.assistant import (EVAL_PER_TASK, answer, evaluation_examples,
                                    generate_conversations, response_words)
from minifm.tokenizers.word import WordTokenizer


def check_reference(policy: GPT, reference: GPT) -> None:
    """The reference must be a GPT of exactly the policy's config (same vocabulary, sizes)."""
    for name, model in (("policy", policy), ("reference", reference)):
        if not isinstance(model, GPT):
            raise TypeError(f"the {name} must be a GPT, got {type(model).__name__}")
    diff = [f"{f.name} {getattr(policy.config, f.name)!r} vs {getattr(reference.config, f.name)!r}"
            for f in fields(policy.config)
            if getattr(policy.config, f.name) != getattr(reference.config, f.name)]
    if diff:
        raise ValueError("the reference model must have the policy's config (vocabulary and "
                         f"sizes); they differ in: {', '.join(diff)} (policy vs reference)")


def row_targets(rows: np.ndarray, tokenizer: WordTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Conversation rows (B, T + 1), right-padded -> GPT input idx (B, T) and the response-only
    targets (B, T) (IGNORE_INDEX on prompt and padding)."""
    return response_targets(rows, response_mask(rows, tokenizer))


def lm_logits(policy: GPT, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits (B, T, V) of idx (B, T) and the trunk's output x (B, T, C) that
    ``lm_logits_backward`` needs; the trunk caches its own activations."""
    x = policy.hidden(idx)                                           # (B, T) -> (B, T, C)
    B, T, C = x.shape
    logits = (x.reshape(B * T, C) @ policy.wte.weight.data.T).reshape(B, T, -1)  # (BT, V)
    return logits, x


def lm_logits_backward(policy: GPT, x: np.ndarray, dlogits: np.ndarray) -> None:
    """dlogits (B, T, V) -> ADDS into every policy parameter's .grad (the tied head and the
    trunk, as ``GPT.backward`` does for its cross-entropy)."""
    B, T, C = x.shape
    dlogits = dlogits.reshape(B * T, -1)                             # (B, T, V) -> (BT, V)
    wte = policy.wte.weight
    # fwd: logits = x @ wte^T  =>  dwte += dlogits^T @ x,  dx = dlogits @ wte
    wte.grad += (dlogits.T @ x.reshape(B * T, C)).astype(wte.grad.dtype, copy=False)
    policy.backward_hidden((dlogits @ wte.data).reshape(B, T, C).astype(x.dtype, copy=False))


def sequence_logprobs(model: GPT, rows: np.ndarray, tokenizer: WordTokenizer,
                      batch_size: int = 256) -> np.ndarray:
    """log model(response | prompt) of each row (B, T + 1) -> (B,), in eval mode, no gradient."""
    out = []
    with model.evaluating():
        for start in range(0, len(rows), batch_size):
            idx, targets = row_targets(rows[start:start + batch_size], tokenizer)
            out.append(sequence_logprob_forward(lm_logits(model, idx)[0], targets)[0])
    return np.concatenate(out)                                       # (B,)


def kl_per_token(policy: GPT, reference: GPT, rows: np.ndarray, tokenizer: WordTokenizer,
                 batch_size: int = 256) -> float:
    """Exact KL(policy || reference) of the next-token distributions, averaged over every
    response position of ``rows`` (B, T + 1) (nats per token)."""
    check_reference(policy, reference)
    total, count = 0.0, 0
    with policy.evaluating(), reference.evaluating():
        for start in range(0, len(rows), batch_size):
            idx, targets = row_targets(rows[start:start + batch_size], tokenizer)
            logp = _log_softmax(lm_logits(policy, idx)[0])           # (B, T, V)
            logq = _log_softmax(lm_logits(reference, idx)[0])
            kl = (np.exp(logp) * (logp - logq)).sum(axis=-1)         # (B, T, V) -> (B, T)
            valid = token_logprob_forward(logp, targets)[1].valid    # (B, T) response positions
            total, count = total + float(kl[valid].sum()), count + int(valid.sum())
    return total / max(count, 1)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def win_rate(prompts: Sequence[Example], answers: Sequence[str], baseline: Sequence[str]
             ) -> dict[str, float]:
    """The judges' preference between two answers to each prompt (``preference_key``, the
    order ``data.assistant.rank`` sorts by): shares of wins, ties and losses of ``answers``
    over ``baseline``, and the win rate wins + ties / 2."""
    if not (len(prompts) == len(answers) == len(baseline)) or not prompts:
        raise ValueError(f"win_rate needs one answer and one baseline answer per prompt, got "
                         f"{len(prompts)} prompts, {len(answers)} and {len(baseline)} answers")
    keys = [(preference_key(e, a), preference_key(e, b))
            for e, a, b in zip(prompts, answers, baseline)]
    n = len(keys)
    wins, ties = sum(a > b for a, b in keys) / n, sum(a == b for a, b in keys) / n
    return {"wins": wins, "ties": ties, "losses": 1.0 - wins - ties, "win_rate": wins + ties / 2}


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int) -> np.ndarray:
    """Rows of ids of different lengths -> one (N, T) int64 array, right-padded with pad_id."""
    out = np.full((len(rows), max(len(r) for r in rows)), pad_id, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out                                                       # (N, T)


def judged_against_reference(policy: GPT, reference: GPT, tokenizer: WordTokenizer,
                             eval_per_task: int = EVAL_PER_TASK) -> dict[str, Any]:
    """On the "seen" and "heldout" judged prompts: the policy's judged scores (per task and
    overall), the judges' preference of its greedy answers over the reference's
    (``win_rate``), and the KL per token to the reference on its greedy answers."""
    check_reference(policy, reference)
    out: dict[str, Any] = {}
    for split in ("seen", "heldout"):
        chosen = evaluation_examples(split, eval_per_task)
        prompts = [render_prompt(e.message) for e in chosen]
        rows = generate_conversations(policy, tokenizer, prompts)
        answers = [response_words(tokenizer, r) for r in rows]
        out[split] = {
            "judged": {t: asdict(s) for t, s in aggregate(chosen, answers).items()},
            "preference_over_reference": win_rate(chosen, answers,
                                                  answer(reference, tokenizer, prompts)),
            "kl_per_token": kl_per_token(policy, reference, pad_rows(rows, tokenizer.pad_id),
                                         tokenizer)}
    return out
