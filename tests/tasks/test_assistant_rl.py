"""minifm/tasks/assistant_rl.py: a policy-gradient step raises the advantage-weighted
log-probability of its own samples, the KL leash keeps the policy nearer the reference, the
reference stays frozen, and the errors for a mismatched reward model or group."""

from dataclasses import replace

import numpy as np
import pytest

from minifm.data.assistant import examples, world_tokenizer
from minifm.functional.policy_gradient import group_advantages
from minifm.models.gpt import GPT
from minifm.models.reward import RewardModel
from minifm.tasks.assistant import model_config
from minifm.tasks.assistant_policy import sequence_logprobs
from minifm.tasks.assistant_rl import (policy_gradient_step, rl_stage, sample_groups,
                                       score_samples)
from minifm.training.trainer import TrainConfig

TOK = world_tokenizer()
SMALL = model_config(TOK, n_layer=1, n_head=2, n_embd=16)


def test_a_policy_gradient_step_favours_the_samples_with_positive_advantage():
    reference = GPT(SMALL, rng=np.random.default_rng(0))
    policy = GPT(SMALL, rng=np.random.default_rng(0))
    reward_model = RewardModel.from_gpt(reference, pad_id=TOK.pad_id,
                                        rng=np.random.default_rng(1))
    prompts = examples("train", 1, np.random.default_rng(0))
    rows, repeated, answers = sample_groups(policy, TOK, prompts, 4, np.random.default_rng(0))
    assert rows.shape[0] == 4 * len(prompts) and len(repeated) == len(answers) == rows.shape[0]
    rewards = score_samples(reward_model, rows, repeated, answers).reshape(len(prompts), 4)
    advantages = group_advantages(rewards).ravel()                   # (B,)
    before = sequence_logprobs(policy, rows, TOK)
    policy.zero_grad()
    policy_gradient_step(policy, reference, TOK, rows, advantages, kl=0.0)
    for _, p in policy.named_parameters():                           # one small SGD step
        p.data -= 0.05 * p.grad
    change = sequence_logprobs(policy, rows, TOK) - before            # (B,)
    # the samples with A > 0 gain log-probability relative to those with A < 0
    assert float(advantages @ change) > 0, (advantages, change)
    assert change[advantages > 0].mean() > change[advantages < 0].mean()


def test_the_kl_leash_keeps_the_policy_nearer_the_reference():
    """30 steps of 4 prompts x 4 samples against a random reward model, lr 1e-2 (~4 s each).
    Measured: KL per token to the reference on the held-out greedy answers 0.045 without the
    leash, 0.014 with kl = 1 (0.31 of it)."""
    sft = GPT(SMALL, rng=np.random.default_rng(0))
    frozen = {n: p.data.copy() for n, p in sft.named_parameters()}
    reward_model = RewardModel.from_gpt(sft, pad_id=TOK.pad_id, rng=np.random.default_rng(1))
    config = TrainConfig(steps=30, batch_size=4, lr=1e-2, min_lr=1e-3, warmup_steps=3,
                         log_interval=5)
    kl = {}
    for beta in (0.0, 1.0):
        _, metrics = rl_stage(sft, reward_model, TOK, kl=beta, config=config, eval_per_task=2,
                              quiet=True)
        kl[beta] = metrics["heldout"]["kl_per_token"]
        assert [r["step"] for r in metrics["history"]] == [5, 10, 15, 20, 25, 30]
        assert metrics["reward"] == "reward model"
    assert kl[0.0] > 0.01 and kl[1.0] < 0.6 * kl[0.0], kl
    for n, p in sft.named_parameters():                              # the reference is frozen
        assert np.array_equal(p.data, frozen[n]) and not p.grad.any(), n


def test_a_mismatched_reward_model_or_group_is_refused():
    sft = GPT(SMALL, rng=np.random.default_rng(0))
    other = RewardModel.from_gpt(GPT(replace(SMALL, n_embd=8), rng=np.random.default_rng(0)),
                                 pad_id=TOK.pad_id, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="reward model's trunk must have the policy's config"):
        rl_stage(sft, other, TOK, quiet=True)
    with pytest.raises(TypeError, match="reward_model must be a RewardModel"):
        rl_stage(sft, sft, TOK, quiet=True)
    with pytest.raises(ValueError, match="kl must be a number >= 0"):
        rl_stage(sft, None, TOK, kl=-0.1, quiet=True)
    with pytest.raises(ValueError, match="group must be an int >= 2"):
        rl_stage(sft, None, TOK, group=1, quiet=True)
