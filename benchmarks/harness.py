"""What the GPT benchmarks share: thread pinning, the baby-GPT recipe, and one training step of
minifm and of its PyTorch twin behind the same two calls.

Dimensions: B batch, T time (block size), C width, H heads, L layers, V vocabulary.

    threads = pin_threads(None)                  # fixes BLAS and torch threads (re-executes once)
    runners = make_runners(config, recipe)       # minifm GPT and TwinGPT with identical weights
    loss = runner.step(x, y, lr)                 # zero_grad, forward, backward, clip, AdamW
    loss = runner.eval_loss(x, y)                # forward only, eval mode
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass

import numpy as np

from minifm.models.gpt import GPT, PRESETS, GPTConfig
from minifm.training.memory import keep_freed_memory
from minifm.training.optim import AdamW, clip_grad_norm, param_groups

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(threads: int | None) -> int:
    """Give OpenBLAS (NumPy) and torch the same number of threads (default: every core).

    Both read their thread count from the environment once, when first imported (NumPy is
    already imported here), so if the environment does not already say ``threads`` this sets it
    and re-executes the script (once).
    """
    threads = threads or os.cpu_count() or 1
    if any(os.environ.get(name) != str(threads) for name in THREAD_VARIABLES):
        os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
        os.execv(sys.executable, [sys.executable] + sys.argv)
    return threads


@dataclass(frozen=True)
class Recipe:
    """nanoGPT's CPU "baby GPT" training recipe (its README, "I only have a macbook")."""

    batch_size: int = 12
    lr: float = 1e-3
    min_lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.1
    warmup_steps: int = 100
    steps: int = 2000
    grad_clip: float = 1.0


def baby_config(vocab_size: int, preset: str = "baby") -> GPTConfig:
    """The preset (4 layers, 4 heads, width 128, block 64, dropout 0) with the text's vocabulary."""
    return dataclasses.replace(PRESETS[preset], vocab_size=vocab_size)


def train_step_flops(config: GPTConfig, B: int, T: int) -> float:
    """Matmul flops of one training step (forward + backward = 3 x forward), 2 per multiply-add.

    Per block, forward: c_attn 2BT.C.3C, q k^T and att v 2 x 2BHT.T.D (the full T x T square),
    c_proj 2BT.C.C, mlp 2 x 2BT.C.4C; then the tied head 2BT.C.V. Element-wise work
    (softmax, GELU, LayerNorm, AdamW) is not counted: this is the work a matmul peak can bound.
    """
    C, L, V = config.n_embd, config.n_layer, config.vocab_size
    per_block = 2 * B * T * C * (3 * C + C + 8 * C) + 4 * B * T * T * C
    return 3.0 * (L * per_block + 2 * B * T * C * V)


class MinifmRunner:
    """minifm's GPT with AdamW over ``param_groups``, stepped as ``minifm.training.trainer`` does."""

    name = "minifm"

    def __init__(self, model: GPT, recipe: Recipe):
        self.model, self.recipe = model, recipe
        self.params = model.parameters()
        self.opt = AdamW(param_groups(model, recipe.weight_decay), lr=recipe.lr,
                         betas=recipe.betas)

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        self.opt.zero_grad()
        _, loss = self.model(x, y)
        self.model.backward()
        clip_grad_norm(self.params, self.recipe.grad_clip)
        self.opt.lr = lr
        self.opt.step()
        return loss

    def eval_loss(self, x: np.ndarray, y: np.ndarray) -> float:
        self.model.eval()
        loss = self.model(x, y)[1]
        self.model.train()
        return loss


class TorchRunner:
    """The PyTorch twin with ``torch.optim.AdamW`` over the same groups, stepped as nanoGPT does."""

    name = "pytorch"

    def __init__(self, model: GPT, recipe: Recipe):
        import torch
        from gpt_torch_twin import TwinGPT, twin_param_groups
        self.torch, self.recipe = torch, recipe
        self.model = TwinGPT.from_minifm(model)
        self.params = list(self.model.parameters())
        self.opt = torch.optim.AdamW(twin_param_groups(self.model, recipe.weight_decay),
                                     lr=recipe.lr, betas=recipe.betas)

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        self.opt.zero_grad(set_to_none=True)
        _, loss = self.model(self.torch.from_numpy(x), self.torch.from_numpy(y))
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.params, self.recipe.grad_clip)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()
        return loss.item()

    def eval_loss(self, x: np.ndarray, y: np.ndarray) -> float:
        self.model.eval()
        with self.torch.no_grad():
            loss = self.model(self.torch.from_numpy(x), self.torch.from_numpy(y))[1].item()
        self.model.train()
        return loss


RUNNERS = {"minifm": MinifmRunner, "pytorch": TorchRunner}


def make_runner(name: str, config: GPTConfig, recipe: Recipe, seed: int = 1337):
    """A runner around a fresh float32 ``GPT(config)`` drawn from ``seed`` (the twin copies it).

    Training starts here, so this applies ``minifm.training.memory.keep_freed_memory`` (as
    ``Trainer.run`` does); it is process-wide, so it serves the PyTorch twin as well."""
    keep_freed_memory()
    model = GPT(config, rng=np.random.default_rng(seed), dtype=np.float32)
    return RUNNERS[name](model, recipe)


def make_runners(config: GPTConfig, recipe: Recipe, seed: int = 1337) -> list:
    """[minifm, pytorch] runners starting from the same weights."""
    return [make_runner(name, config, recipe, seed) for name in RUNNERS]


def peak_rss_child(name: str, config: GPTConfig, recipe: Recipe, steps: int) -> dict[str, float]:
    """Run in a fresh process: train ``steps`` steps on random batches and return memory in MB.

    ``base``: resident memory once the libraries are imported; ``peak``: the highest resident
    memory during model set-up and training (Linux VmHWM, reset to the current RSS right after the
    imports, so importing torch does not count); ``train`` = peak - base.
    """
    def status(key: str) -> float:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(key + ":"))
        return int(line.split()[1]) / 1024                 # kB -> MB

    if name == "pytorch":
        import torch  # noqa: F401  (imported before the baseline, like numpy)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                       # reset the peak (VmHWM) to VmRSS
    base = status("VmRSS")
    runner = make_runner(name, config, recipe)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        x, y = rng.integers(0, config.vocab_size, size=(2, recipe.batch_size, config.context_length))
        runner.step(x, y, recipe.lr)
    peak = status("VmHWM")
    return {"base": base, "peak": peak, "train": peak - base}
