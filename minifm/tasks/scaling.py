"""A scaling-law experiment in minutes: a grid of tiny GPTs (sizes x token budgets, one recipe)
on the grammar corpus, their training compute counted as Kaplan et al. (2020, section 2.1) count
it, and fits of L(N), L(D) and the compute-efficient frontier (Hoffmann et al. 2022, section 3).

Dimensions: L layers, C width, T context, B batch; N non-embedding parameters (12 L C^2),
D training tokens (steps x B x T), compute = (6 N + 6 L T C) D FLOPs.

    grid = ScalingGrid()                                # the classroom grid, ~3 min on one core
    result = run_scaling(grid)
    result.loss                                         # (sizes, budgets) held-out loss
    result.fit_n, result.fit_d                          # PowerLaw fits of L(N) and L(D)
    result.frontier                                     # flat indices of the frontier runs

Every run is trained from scratch with its own cosine schedule that ends at its budget (Hoffmann
et al. section 3.1 show that a schedule longer than the run overstates its loss), on a corpus
large enough that no run sees a sentence twice. The loss is measured on every window of a
held-out grammar text drawn with another seed, the same for every run.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from minifm.analysis.scaling import (PowerLaw, compute_frontier, fit_power_law, kaplan_params,
                                     training_flops)
from minifm.data.corpora import grammar_corpus
from minifm.data.text import TokenData
from minifm.models.gpt import GPT, GPTConfig
from minifm.tokenizers import CharTokenizer
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer

SCALING_SEED = 40                 # the grammar text the grid trains on (not the built-in corpus)
HELD_OUT_SEED = 41                # the grammar text every run is measured on


@dataclass(frozen=True)
class ScalingGrid:
    """The experiment: model sizes (n_layer, n_embd) x step budgets, one training recipe."""

    sizes: tuple[tuple[int, int], ...] = ((1, 16), (2, 16), (2, 32), (2, 48), (3, 64))
    steps: tuple[int, ...] = (50, 100, 200, 400)     # each a separate run, so D = steps B T
    n_head: int = 2
    context_length: int = 32      # T
    batch_size: int = 16          # B
    lr: float = 3e-3              # peak, cosine to lr / 10 at the run's last step
    warmup_fraction: float = 0.1  # of each run's steps
    seed: int = 1337              # one seed for every run: initial weights and batches
    held_out_sentences: int = 1000

    def __post_init__(self) -> None:
        if not self.sizes or not self.steps:
            raise ValueError("ScalingGrid needs at least one size and one step budget")
        for L, C in self.sizes:
            GPTConfig(n_layer=L, n_embd=C, n_head=self.n_head)   # raises on a bad size
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.steps):
            raise ValueError(f"ScalingGrid.steps must be positive ints, got {self.steps}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"ScalingGrid.warmup_fraction must be in [0, 1), got "
                             f"{self.warmup_fraction}")

    def tokens(self, steps: int) -> int:
        """D, the training tokens of a run of ``steps`` steps."""
        return steps * self.batch_size * self.context_length

    def train_config(self, steps: int) -> TrainConfig:
        """The one recipe, scheduled over ``steps``."""
        return TrainConfig(steps=steps, batch_size=self.batch_size, lr=self.lr,
                           min_lr=self.lr / 10, warmup_steps=int(self.warmup_fraction * steps),
                           eval_interval=steps, eval_batches=1, seed=self.seed)


GRIDS = {"classroom": ScalingGrid(),     # 5 sizes x 4 budgets, ~2-3 min on one shared core
         "tiny": ScalingGrid(sizes=((1, 8), (1, 16), (2, 16), (2, 24)), steps=(4, 8, 16, 32),
                             batch_size=4, context_length=16, held_out_sentences=60)}


@dataclass(frozen=True)
class ScalingResult:
    """The grid's measurements, rows the sizes and columns the step budgets."""

    grid: ScalingGrid
    params: np.ndarray            # (sizes,) N = 12 L C^2, Kaplan's non-embedding count
    tokens: np.ndarray            # (budgets,) D
    compute: np.ndarray           # (sizes, budgets) training FLOPs
    loss: np.ndarray              # (sizes, budgets) held-out loss, nats per character
    seconds: float                # wall-clock time of the whole grid
    fit_n: PowerLaw | None        # L(N) at the largest budget (None: fewer than 4 sizes)
    fit_d: PowerLaw | None        # L(D) for the largest model (None: fewer than 4 budgets)
    frontier: np.ndarray          # flat indices into (sizes, budgets), by increasing compute
    fit_frontier: PowerLaw | None  # L(compute) on the frontier (None: fewer than 4 points)

    def frontier_runs(self) -> list[tuple[int, int]]:
        """The frontier as (size index, budget index) pairs."""
        return [tuple(int(i) for i in np.unravel_index(f, self.loss.shape))
                for f in self.frontier]

    def optimal_size_exponent(self) -> float | None:
        """a in N_opt ~ compute^a, the least-squares slope of log N against log compute over
        the frontier runs (Hoffmann et al. find a ~ 0.5; Kaplan et al. 0.73). None when the
        frontier holds fewer than two distinct sizes."""
        runs = self.frontier_runs()
        n = np.array([self.params[i] for i, _ in runs], dtype=np.float64)
        c = np.array([self.compute[i, j] for i, j in runs], dtype=np.float64)
        if len(np.unique(n)) < 2:
            return None
        return float(np.polyfit(np.log(c), np.log(n), 1)[0])


def training_data(grid: ScalingGrid) -> tuple[TokenData, CharTokenizer]:
    """Grammar text long enough that the largest budget reads each training token about once,
    as windows in its own character vocabulary, and that tokenizer."""
    sentences = grid.tokens(max(grid.steps)) // 25 + 100    # a sentence is ~30 characters
    text = grammar_corpus(sentences, seed=SCALING_SEED)
    tokenizer = CharTokenizer.train(text)
    ids = np.array(tokenizer.encode(text), dtype=np.int64)
    return TokenData(ids, grid.context_length, val_fraction=0.05), tokenizer


def held_out_windows(grid: ScalingGrid, tokenizer: CharTokenizer
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Every non-overlapping window (inputs, targets), each (N, T), of the held-out text."""
    text = grammar_corpus(grid.held_out_sentences, seed=HELD_OUT_SEED)
    ids = np.array(tokenizer.encode(text), dtype=np.int64)
    T = grid.context_length
    n = (len(ids) - 1) // T
    return ids[:n * T].reshape(n, T), ids[1:n * T + 1].reshape(n, T)   # (N * T,) -> (N, T)


def held_out_loss(model: GPT, inputs: np.ndarray, targets: np.ndarray, chunk: int = 256
                  ) -> float:
    """The mean next-token loss over all windows, in eval mode, ``chunk`` windows at a time."""
    total = 0.0
    with model.evaluating():
        for s in range(0, len(inputs), chunk):
            _, loss = model(inputs[s:s + chunk], targets[s:s + chunk])
            total += float(loss) * len(inputs[s:s + chunk])
    return total / len(inputs)


def _fit(x: np.ndarray, y: np.ndarray) -> PowerLaw | None:
    return fit_power_law(x, y) if len(x) >= 4 else None


def run_scaling(grid: ScalingGrid, *, quiet: bool = True) -> ScalingResult:
    """Train every (size, budget) run of ``grid`` and fit the laws (see the module docstring).
    Unless ``quiet``, print one line per run."""
    start = time.time()
    data, tokenizer = training_data(grid)
    inputs, targets = held_out_windows(grid, tokenizer)
    configs = [GPTConfig(vocab_size=tokenizer.vocab_size, context_length=grid.context_length,
                         n_layer=L, n_head=grid.n_head, n_embd=C) for L, C in grid.sizes]
    loss = np.zeros((len(configs), len(grid.steps)))
    compute = np.zeros_like(loss)
    for i, config in enumerate(configs):
        for j, steps in enumerate(grid.steps):
            model = GPT(config, rng=stream(grid.seed, "init"))
            Trainer(model, data, grid.train_config(steps), quiet=True).run()
            loss[i, j] = held_out_loss(model, inputs, targets)
            compute[i, j] = training_flops(config, grid.tokens(steps))
            if not quiet:
                print(f"L={config.n_layer} C={config.n_embd:3d} steps={steps:5d} "
                      f"compute={compute[i, j]:.2e} loss={loss[i, j]:.4f}", flush=True)
    params = np.array([kaplan_params(c) for c in configs], dtype=np.float64)
    tokens = np.array([grid.tokens(s) for s in grid.steps], dtype=np.float64)
    frontier = compute_frontier(compute.ravel(), loss.ravel())
    return ScalingResult(grid=grid, params=params, tokens=tokens, compute=compute, loss=loss,
                         seconds=time.time() - start,
                         fit_n=_fit(params, loss[:, -1]), fit_d=_fit(tokens, loss[-1]),
                         frontier=frontier,
                         fit_frontier=_fit(compute.ravel()[frontier], loss.ravel()[frontier]))
