"""The training loop shared by every model family.

    trainer = Trainer(model, data, TrainConfig(steps=500), out_dir="out/gpt", tokenizer=tok,
                      family="gpt")
    metrics = trainer.run()

``model`` follows the model contract (``out, loss = model(*batch)``; ``model.backward()``) and
``data`` is any object with ``get_batch(split, batch_size, rng) -> tuple of arrays`` for the splits
``"train"`` and ``"val"``. One step is

    zero_grad -> forward -> stop if the loss is not finite -> backward -> clip the global
    gradient norm -> set the scheduled lr -> AdamW step

and every ``eval_interval`` steps the model is validated (in eval mode) and, when ``out_dir`` and
``family`` are given, a checkpoint is written. At the end ``out_dir`` gets ``metrics.json``; the
loss curve is drawn from ``trainer.history`` by ``minifm.plots.training`` (this layer draws
nothing). A run continues bit for bit from its checkpoint: ``Trainer.from_checkpoint`` restores
the weights, the optimizer moments, the batch generator and every dropout generator.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
from tqdm import tqdm

from minifm.atomic import atomic_write
from minifm.nn.module import Module
from minifm.training.checkpoint import (CHECKPOINT_NAME, CheckpointError, load_checkpoint,
                                        save_checkpoint)
from minifm.training.memory import keep_freed_memory
from minifm.training.optim import (AdamW, clip_grad_norm, cosine_with_warmup, global_grad_norm,
                                   param_groups)
from minifm.training.seeds import stream


class Throughput(NamedTuple):
    """What training speed counts: ``unit`` per second (e.g. "tok/s") and how many of it one
    batch holds. ``TOKENS`` (the default) counts the entries of the batch's first array: the
    (B, T) input ids of GPT and BERT (BERT's padding included: the positions the model
    computes)."""

    unit: str
    count: Callable[[tuple[np.ndarray, ...]], int]


TOKENS = Throughput("tok/s", lambda batch: int(batch[0].size))
HEARTBEAT_SECONDS = 15.0    # without a terminal, a progress line at least this often


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a training run; the defaults suit the classroom-sized models."""

    steps: int = 1000                       # optimizer steps in the whole run
    batch_size: int = 16                    # examples per step (B)
    lr: float = 1e-3                        # peak learning rate, reached after warmup
    min_lr: float = 1e-4                    # the cosine schedule decays to this
    warmup_steps: int = 100                 # linear warmup (see optim.cosine_with_warmup)
    weight_decay: float = 0.1               # AdamW decay of weight matrices (optim.param_groups)
    betas: tuple[float, float] = (0.9, 0.99)    # AdamW moment decay rates
    eps: float = 1e-8                       # AdamW denominator guard
    grad_clip: float | None = 1.0           # cap on the global gradient norm; None: no clipping
    eval_interval: int = 100                # validate (and checkpoint) this often, and at the end
    eval_batches: int = 10                  # batches averaged into one validation loss
    log_interval: int = 10                  # history row and progress readout this often
    seed: int = 1337                        # seeds the generator that samples training batches

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))    # JSON gives a list back
        for name in ("steps", "batch_size", "eval_interval", "eval_batches", "log_interval",
                     "warmup_steps"):
            value, least = getattr(self, name), 0 if name == "warmup_steps" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"TrainConfig.{name} must be an integer >= {least}, "
                                 f"got {value!r}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"TrainConfig.lr must be a positive finite number, got {self.lr}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"TrainConfig.min_lr must lie in [0, lr={self.lr}], got {self.min_lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip}")
        if self.weight_decay < 0:
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay}")


class Trainer:
    """Runs AdamW with a warmup + cosine schedule on ``model`` using batches from ``data``.

    ``out_dir`` (created if needed) receives ``metrics.json`` and, when ``family``
    is given too, ``checkpoint.npz`` at every validation and at the end (the family must be in
    ``minifm.models.MODEL_FAMILIES`` for the checkpoint to be rebuilt). The model needs a
    ``config`` dataclass attribute for the checkpoint. ``tokenizer`` (anything with
    ``to_dict()``, or a dict of named ones, as text-to-image keeps its caption and image
    tokenizers) is stored in the checkpoint. ``metrics_out`` is a further path for the metrics
    JSON. The progress bar (tqdm, on
    stdout) shows only when stdout is a terminal; otherwise a line is printed at each validation
    and, between them, a heartbeat line (step, loss, ETA) whenever ``heartbeat`` seconds have
    passed since the last line, so a log never goes quiet for long.
    ``quiet`` silences both; a divergence message is always printed (to stderr).
    ``extra_metrics(model) -> {name: number}``, if given, adds its entries to every history row
    (CLIP logs its learned temperature this way). ``throughput`` says what the speed counts
    (default ``TOKENS``; CLIP counts image-caption pairs).
    """

    def __init__(self, model: Module, data: Any, config: TrainConfig, *,
                 out_dir: str | os.PathLike | None = None, tokenizer: Any = None,
                 family: str | None = None, quiet: bool = False,
                 metrics_out: str | os.PathLike | None = None,
                 extra_metrics: Callable[[Module], dict[str, float]] | None = None,
                 throughput: Throughput = TOKENS, heartbeat: float = HEARTBEAT_SECONDS):
        if not callable(getattr(data, "get_batch", None)):
            raise TypeError(f"data must have a get_batch(split, batch_size, rng) method, got "
                            f"{type(data).__name__}")
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.model, self.data, self.config = model, data, config
        self.tokenizer, self.family, self.quiet = tokenizer, family, quiet
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.metrics_out = None if metrics_out is None else Path(metrics_out)
        self.extra_metrics, self.throughput, self.heartbeat = extra_metrics, throughput, heartbeat
        self.optimizer = AdamW(param_groups(model, config.weight_decay), lr=config.lr,
                               betas=config.betas, eps=config.eps)
        self.rng = np.random.default_rng(config.seed)   # samples the training batches
        self.step = 0                                   # optimizer steps taken so far
        self.history: list[dict[str, Any]] = []
        self.stopped_early: str | None = None
        self._last_line = 0.0                           # when the last progress line was printed

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, data: Any, *,
                        config: TrainConfig | None = None, family: str | None = None,
                        out_dir: str | os.PathLike | None = None, quiet: bool = False,
                        metrics_out: str | os.PathLike | None = None,
                        extra_metrics: Callable[[Module], dict[str, float]] | None = None,
                        throughput: Throughput = TOKENS) -> Trainer:
        """Continue a run from a checkpoint file (or a directory holding ``checkpoint.npz``).

        Weights, optimizer state, step, history and every generator are restored, so the rest
        of the run is bit-identical to an uninterrupted one. ``config`` replaces the saved
        train config (changing ``steps`` changes the schedule); ``family``, if given, must match.
        """
        ckpt = load_checkpoint(path, family=family)
        if config is None:
            if ckpt.train_config is None:
                raise CheckpointError(f"checkpoint {ckpt.path} has no train config to resume "
                                      "with; pass config=")
            config = TrainConfig(**ckpt.train_config)
        trainer = cls(ckpt.build_model(), data, config, out_dir=out_dir,
                      tokenizer=ckpt.build_tokenizer(), family=ckpt.family, quiet=quiet,
                      metrics_out=metrics_out, extra_metrics=extra_metrics,
                      throughput=throughput)
        try:
            trainer.optimizer.load_state_dict(ckpt.optimizer)
        except ValueError as e:
            raise CheckpointError(f"checkpoint {ckpt.path}: {e}") from e
        trainer.rng = ckpt.make_rng()
        trainer.step = ckpt.step
        trainer.history = ckpt.extra.get("history", [])
        return trainer

    @property
    def checkpoint_path(self) -> Path | None:
        """Where checkpoints go: ``out_dir/checkpoint.npz`` when both out_dir and family are set."""
        if self.out_dir is None or self.family is None:
            return None
        return self.out_dir / CHECKPOINT_NAME

    # ---- one step, one validation -------------------------------------------------------------
    def train_step(self, batch: tuple[np.ndarray, ...], lr: float) -> tuple[float, float]:
        """One optimizer step on ``batch`` at learning rate ``lr``; returns (loss, grad norm).

        If the loss or the gradient norm is not finite, nothing is updated and the returned
        value shows it. NumPy's overflow warnings are silenced here because that check reports
        the problem with a clearer message.
        """
        params = self.optimizer.parameters()            # all of the model's, as a flat list
        self.optimizer.zero_grad()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _, loss = self.model(*batch)
            loss = float(loss)
            if not math.isfinite(loss):
                return loss, math.nan
            self.model.backward()
            if self.config.grad_clip is None:
                norm = global_grad_norm(params)
            else:
                norm = clip_grad_norm(params, self.config.grad_clip)
        if math.isfinite(norm):
            self.optimizer.lr = lr
            self.optimizer.step()
        return loss, norm

    def evaluate(self, split: str = "val") -> float:
        """Mean loss over ``eval_batches`` batches of ``split``, in eval mode (no dropout).

        The batches come from a generator seeded afresh from ``seed`` each time, so every
        validation sees the same batches and the training batch stream is not disturbed.
        """
        rng = stream(self.config.seed, "eval_batches")
        total = 0.0
        self.model.eval()
        try:
            for _ in range(self.config.eval_batches):
                _, loss = self.model(*self.data.get_batch(split, self.config.batch_size, rng))
                total += float(loss)
        finally:
            self.model.train()
        return total / self.config.eval_batches

    def _divergence_message(self, batch: tuple[np.ndarray, ...], loss: float) -> str:
        """What went wrong at the step about to be taken, and what to try."""
        cfg = self.config
        what = (f"the loss is {loss}" if not math.isfinite(loss)
                else "the gradient norm is not finite")
        bad_data = any(isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)
                       and not np.all(np.isfinite(a)) for a in batch)
        data = "(this batch contains NaN or inf values!)" if bad_data else "for NaN/inf values"
        clip = ("--grad-clip 1.0, now off" if cfg.grad_clip is None
                else f"--grad-clip, now {cfg.grad_clip:g}; try a smaller value")
        return (f"Training stopped at step {self.step + 1}: {what}. Things to try: a lower "
                f"learning rate (lr is {cfg.lr:g}; try --lr {cfg.lr / 10:g}); check the data "
                f"{data}; gradient clipping ({clip}).")

    # ---- the loop -------------------------------------------------------------------------------
    def run(self, until_step: int | None = None) -> dict[str, Any]:
        """Train from the current step to ``config.steps`` (or stop after ``until_step`` steps in
        total, keeping the full run's schedule). Returns the metrics dict (also written to
        ``out_dir/metrics.json`` and ``metrics_out``). ``history`` holds a row every
        ``log_interval`` steps and at each validation: ``step`` (steps done), ``train_loss``,
        ``lr`` and ``grad_norm`` (of that step, before clipping), ``val_loss`` (after it; None on
        rows without a validation) and ``per_sec`` (training throughput since the last row, in
        the metrics' ``throughput_unit``). ``stopped_early`` is None or the divergence
        message."""
        keep_freed_memory()             # a process-level allocator setting, see training.memory
        cfg = self.config
        end = cfg.steps if until_step is None else min(until_step, cfg.steps)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        show_bar = not self.quiet and sys.stdout.isatty()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not show_bar, file=sys.stdout,
                   unit="step", dynamic_ncols=True)
        self.model.train()
        self.stopped_early = None
        started, tokens, train_time = time.perf_counter(), 0, 0.0
        first_step, self._last_line = self.step, started
        while self.step < end:
            lr = cosine_with_warmup(self.step, cfg.lr, cfg.min_lr, cfg.warmup_steps, cfg.steps)
            t0 = time.perf_counter()
            batch = self.data.get_batch("train", cfg.batch_size, self.rng)
            loss, norm = self.train_step(batch, lr)
            train_time += time.perf_counter() - t0
            if not (math.isfinite(loss) and math.isfinite(norm)):
                self.stopped_early = self._divergence_message(batch, loss)
                print(self.stopped_early, file=sys.stderr)
                break
            self.step += 1
            tokens += self.throughput.count(batch)
            evaluating = self.step % cfg.eval_interval == 0 or self.step == cfg.steps
            if evaluating or self.step % cfg.log_interval == 0:
                self.history.append({
                    "step": self.step, "train_loss": loss,
                    "val_loss": self.evaluate() if evaluating else None, "lr": lr,
                    "grad_norm": norm, "per_sec": tokens / max(train_time, 1e-9),
                    **(self.extra_metrics(self.model) if self.extra_metrics else {})})
                tokens, train_time = 0, 0.0
                self._report(bar, show_bar)
            if not show_bar and not self.quiet:
                self._heartbeat(loss, end, (time.perf_counter() - started)
                                / (self.step - first_step))
            if evaluating and self.step < end and self.checkpoint_path is not None:
                self.save_checkpoint()
            bar.update(1)
        bar.close()
        if self.stopped_early is None and self.checkpoint_path is not None:
            self.save_checkpoint()
        return self._finish(time.perf_counter() - started)

    def _report(self, bar: tqdm, show_bar: bool) -> None:
        """Show the newest history row on the progress bar; print it if it has a validation."""
        row = self.history[-1]
        val = next((r["val_loss"] for r in reversed(self.history) if r["val_loss"] is not None),
                   None)
        bar.set_postfix({"loss": f"{row['train_loss']:.4f}",
                         "val": "-" if val is None else f"{val:.4f}",
                         self.throughput.unit: f"{row['per_sec']:,.0f}"}, refresh=False)
        if row["val_loss"] is None or self.quiet:
            return
        line = (f"step {row['step']}/{self.config.steps}  train {row['train_loss']:.4f}  "
                f"val {row['val_loss']:.4f}  lr {row['lr']:.2e}  "
                f"{row['per_sec']:,.0f} {self.throughput.unit}")
        if show_bar:
            bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)
            self._last_line = time.perf_counter()

    def _heartbeat(self, loss: float, end: int, seconds_per_step: float) -> None:
        """Without a progress bar: a line with the step, loss and ETA if none was printed for
        ``heartbeat`` seconds."""
        now = time.perf_counter()
        if now - self._last_line < self.heartbeat or self.step >= end:
            return
        print(f"step {self.step}/{self.config.steps}  train {loss:.4f}  "
              f"ETA {format_seconds(seconds_per_step * (end - self.step))}", flush=True)
        self._last_line = now

    # ---- outputs --------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write a checkpoint of the current state (default: ``checkpoint_path``)."""
        path = path if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("no checkpoint path: give a path, or out_dir and family to Trainer")
        return save_checkpoint(path, model=self.model, optimizer=self.optimizer, step=self.step,
                               rng=self.rng, train_config=self.config, tokenizer=self.tokenizer,
                               family=self.family, extra={"history": self.history})

    def metrics(self, seconds: float = 0.0) -> dict[str, Any]:
        """The run's summary and full history as a JSON-serialisable dict."""
        val = [row["val_loss"] for row in self.history if row["val_loss"] is not None]
        return {"family": self.family, "steps_done": self.step,
                "num_parameters": self.model.num_parameters(),
                "final_train_loss": self.history[-1]["train_loss"] if self.history else None,
                "final_val_loss": val[-1] if val else None, "stopped_early": self.stopped_early,
                "seconds": seconds, "throughput_unit": self.throughput.unit,
                "train_config": dataclasses.asdict(self.config),
                "history": self.history}

    def _finish(self, seconds: float) -> dict[str, Any]:
        return self.write_metrics(self.metrics(seconds))

    def write_metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Write ``metrics`` as JSON (atomically) to ``out_dir/metrics.json`` and ``metrics_out``.

        ``run`` calls it with the run's summary; a task that evaluates the model afterwards adds
        its results to that dict and calls it again, so the file always holds one complete
        record. Returns exactly what was written (tuples become lists).
        """
        text = json.dumps(metrics, indent=1).encode("utf-8")
        paths = [] if self.metrics_out is None else [self.metrics_out]
        if self.out_dir is not None:
            paths.append(self.out_dir / "metrics.json")
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f: f.write(text))
        return json.loads(text)


def format_seconds(seconds: float) -> str:
    """A duration for people: "45 s", "3 min 20 s", "1 h 05 min"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
