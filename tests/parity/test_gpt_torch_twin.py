"""The benchmark's PyTorch twin (benchmarks/gpt_torch_twin.py) against minifm's GPT in float64.

Given copied weights, the twin must compute the same logits, loss and parameter gradients
(max abs difference <= 1e-9), split the parameters into the same weight-decay groups, and land on
the same weights after one full training step (clip + AdamW). This is what makes the benchmark's
minifm / PyTorch time ratio a comparison of equal work.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from minifm.models.gpt import GPT, GPTConfig
from minifm.training.optim import AdamW, clip_grad_norm, param_groups

torch = pytest.importorskip("torch")

TWIN_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpt_torch_twin.py"
spec = importlib.util.spec_from_file_location("gpt_torch_twin", TWIN_PATH)
twin_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(twin_module)

TOL = 1e-9
CONFIG = GPTConfig(vocab_size=11, context_length=6, n_layer=2, n_head=2, n_embd=8)


def models_and_batch(rng, config=CONFIG, B=2, T=5):
    model = GPT(config, rng=rng, dtype=np.float64)
    for _, p in model.named_parameters():          # move biases and LN off 0 and 1 too
        p.data += 0.1 * rng.standard_normal(p.data.shape)
    twin = twin_module.TwinGPT.from_minifm(model)
    idx = rng.integers(0, config.vocab_size, size=(B, T))
    targets = rng.integers(0, config.vocab_size, size=(B, T))
    return model, twin, idx, targets


def max_diff(a, t):
    return float(np.max(np.abs(a - t.detach().numpy())))


@pytest.mark.parametrize("bias", [True, False])
def test_twin_matches_gpt_logits_loss_and_every_gradient_in_float64(rng, bias):
    config = GPTConfig(**{**CONFIG.__dict__, "bias": bias})
    model, twin, idx, targets = models_and_batch(rng, config)
    logits, loss = model(idx, targets)
    model.backward()
    t_logits, t_loss = twin(torch.from_numpy(idx), torch.from_numpy(targets))
    t_loss.backward()
    assert twin.wte.weight.dtype == torch.float64
    assert max_diff(logits, t_logits) <= TOL
    assert abs(loss - t_loss.item()) <= TOL
    grads = twin.minifm_grads()
    assert set(grads) == {name for name, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        assert max_diff(p.grad, grads[name]) <= TOL, name


def test_twin_weight_decay_groups_match_param_groups(rng):
    model, twin, _, _ = models_and_batch(rng)
    names = {id(p): n for n, p in twin.named_parameters()}
    for ours, theirs in zip(param_groups(model, 0.1), twin_module.twin_param_groups(twin, 0.1)):
        assert ours["weight_decay"] == theirs["weight_decay"]
        assert sorted(ours["names"]) == sorted(names[id(p)] for p in theirs["params"])


def test_one_training_step_lands_on_the_same_weights(rng):
    model, twin, idx, targets = models_and_batch(rng)
    opt = AdamW(param_groups(model, 0.1), lr=1e-2, betas=(0.9, 0.99))
    t_opt = torch.optim.AdamW(twin_module.twin_param_groups(twin, 0.1), lr=1e-2, betas=(0.9, 0.99))
    for _ in range(2):
        model.zero_grad()
        model(idx, targets)
        model.backward()
        norm = clip_grad_norm(model.parameters(), 0.05)     # small: the clip really scales
        opt.step()
        t_opt.zero_grad()
        twin(torch.from_numpy(idx), torch.from_numpy(targets))[1].backward()
        t_norm = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.05)
        t_opt.step()
        assert norm > 0.05 and abs(norm - t_norm.item()) <= TOL
    twin_weights = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        assert max_diff(p.data, twin_module._to_layout(name, twin_weights[name])) <= TOL, name


def test_benchmark_runners_start_equal_and_count_flops_like_6n_per_token():
    """benchmarks/harness.py: both runners take the same float32 steps from the same weights, and
    the step's flop count is about 6 x (non-embedding parameters + head) per token."""
    sys.path.insert(0, str(TWIN_PATH.parent))
    try:
        from harness import Recipe, baby_config, make_runners, train_step_flops
        config, recipe = baby_config(13, "classroom"), Recipe(batch_size=3)
        runners = make_runners(config, recipe)
    finally:
        sys.path.remove(str(TWIN_PATH.parent))
    x, y = np.random.default_rng(0).integers(0, 13, size=(2, 3, config.context_length))
    losses = [[r.step(x, y, recipe.lr) for r in runners] for _ in range(3)]
    for ours, theirs in losses:
        assert abs(ours - theirs) < 1e-4
    assert losses[-1][0] < losses[0][0]
    C, L, T, V = config.n_embd, config.n_layer, config.context_length, config.vocab_size
    n_matmul = L * 12 * C * C + V * C                         # weight matrices, plus the tied head
    flops = train_step_flops(config, 3, T)
    assert 6 * n_matmul * 3 * T <= flops <= 6 * n_matmul * 3 * T * 1.5
