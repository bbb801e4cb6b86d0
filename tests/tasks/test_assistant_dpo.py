"""minifm/tasks/assistant_dpo.py: the DPO loss chained through sequence log-probs into a real GPT
(float64 gradient check), the frozen reference, a short run that moves the policy towards the
chosen answers, and the errors for a mismatched reference or an empty preference set."""

from dataclasses import replace

import numpy as np
import pytest

from minifm.data.assistant import examples, render_prompt, world_tokenizer
from minifm.data.assistant.harmless import REFUSAL
from minifm.gradcheck import check_model, worst
from minifm.models.gpt import GPT
from minifm.tasks.assistant import model_config
from minifm.tasks.assistant_dpo import DPOData, DPOObjective, implicit_reward_accuracy
from minifm.tasks.assistant_policy import check_reference, pad_rows
from minifm.tasks.assistant_reward import PreferencePairs
from minifm.training.trainer import TrainConfig, Trainer
from tests.helpers import well_scaled

TOK = world_tokenizer()
PROMPTS = examples("train", 6, np.random.default_rng(0))
TINY = model_config(TOK, n_layer=1, n_head=2, n_embd=8)


def _row(example, words):
    return TOK.encode(f"{render_prompt(example.message)} {words} <|end|>",
                      add_special_tokens=False)


def hand_pairs() -> PreferencePairs:
    """Each prompt's reference answer over "tom", and over the refusal (allowed prompts)."""
    chosen, rejected, tasks = [], [], []
    for e in PROMPTS:
        for bad in ("tom",) + (() if e.off_limits else (REFUSAL,)):
            chosen.append(_row(e, e.response))
            rejected.append(_row(e, bad))
            tasks.append(e.task)
    return PreferencePairs(pad_rows(chosen, TOK.pad_id), pad_rows(rejected, TOK.pad_id), tasks)


def test_dpo_gradient_through_the_gpt_matches_numerical():
    # A whole-model float64 check (< 1e-5): every GPT weight gets its gradient through
    # dpo_backward -> sequence_logprob_backward -> the tied head -> backward_hidden. The
    # weights are well scaled (tests/helpers.py: at GPT-2 init some entries are ~1e-9, below
    # the central difference's round-off), with the token table at std 0.5, and Linear biases
    # are off (the key bias has an exact zero gradient, checked apart in test_gpt). h = 1e-4:
    # each loss sums 248-way log-sum-exps, and the smallest wte entries (~2e-6, tokens outside
    # the batch) then measure round-off at h = 1e-5 (worst 3.7e-5) and truncation at h = 1e-3
    # (8e-5); at 1e-4 the worst entry is 2.2e-6. The reference is another GPT.
    rng = np.random.default_rng(0)
    config = replace(TINY, bias=False)
    policy = well_scaled(GPT(config, rng=rng, dtype=np.float64), rng)
    policy.wte.weight.data *= 0.5
    reference = GPT(config, rng=np.random.default_rng(1), dtype=np.float64)
    data = DPOData({"train": hand_pairs()}, reference, TOK)
    batch = data.get_batch("train", 2, np.random.default_rng(0))
    results = check_model(DPOObjective(policy, TOK, beta=0.5), *batch, h=1e-4)
    assert set(results) == {f"policy.{n}" for n, _ in policy.named_parameters()}
    assert worst(results) < 1e-5, {n: d.rel_error for n, d in results.items()}


def test_the_reference_is_frozen_and_the_policy_moves_towards_the_chosen_answers():
    """40 DPO steps of a 1-layer width-16 policy on the 58 hand-made pairs (~1 s). Measured: at
    the start the implicit rewards are all 0 (accuracy 0, ties count wrong); after, accuracy
    0.966 (56 of 58) and a mean margin of 3.7 at beta 0.5."""
    pairs = hand_pairs()
    config = model_config(TOK, n_layer=1, n_head=2, n_embd=16)
    reference = GPT(config, rng=np.random.default_rng(0))
    policy = GPT(config, rng=np.random.default_rng(0))
    before = {n: p.data.copy() for n, p in reference.named_parameters()}
    objective = DPOObjective(policy, TOK, beta=0.5)
    assert all(n.startswith("policy.") for n, _ in objective.named_parameters())
    assert implicit_reward_accuracy(policy, reference, TOK, pairs, 0.5)["accuracy"] == 0.0
    Trainer(objective, DPOData({"train": pairs, "val": pairs}, reference, TOK),
            TrainConfig(steps=40, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=5,
                        eval_interval=40, eval_batches=1), quiet=True).run()
    after = implicit_reward_accuracy(policy, reference, TOK, pairs, 0.5)
    assert after["accuracy"] >= 0.9 and after["margin"] > 2.0, after
    for n, p in reference.named_parameters():
        assert np.array_equal(p.data, before[n]) and not p.grad.any(), n


def test_a_reference_of_another_config_is_refused():
    policy = GPT(TINY, rng=np.random.default_rng(0))
    other = GPT(replace(TINY, n_embd=16), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="reference model must have the policy's config.*n_embd"):
        check_reference(policy, other)
    small_vocab = GPT(replace(TINY, vocab_size=TOK.vocab_size - 1), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="vocab_size"):
        check_reference(policy, small_vocab)
    with pytest.raises(TypeError, match="reference must be a GPT"):
        check_reference(policy, "sft")


def test_bad_beta_and_an_empty_preference_set_are_refused():
    policy = GPT(TINY, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="beta must be a number > 0"):
        DPOObjective(policy, TOK, beta=0.0)
    empty = PreferencePairs(np.zeros((0, 4), np.int64), np.zeros((0, 4), np.int64), [])
    with pytest.raises(ValueError, match="no preference pairs in split 'train'"):
        DPOData({"train": empty}, policy, TOK)
