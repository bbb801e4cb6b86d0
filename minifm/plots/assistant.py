"""Pictures of the assistant stages: judged accuracy per task for every stage, the reward
model's pair accuracy per task for every split, the judges' preference of DPO's and RL's answers
over SFT's (win rates), and the curves of a DPO run (loss, implicit-reward margin) and of an RL
run (reward, KL per token, judged accuracy of the samples).

Lesson 15, "From GPT to assistant" (issue 12). The accuracies are grouped bars: one group per
task (the world's ``TASKS`` order, then "overall" where present), one bar per stage or split.
``save_plots`` writes whichever of them a stage has (what ``minifm sft / reward / dpo / rl``
and the tour's assistant stop save).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from minifm.data.assistant import TASKS, TaskScore


def _grouped_bars(values: Mapping[str, Mapping[str, float]], title: str, ylabel: str) -> Figure:
    """Bars of ``values[series][task]`` (shares in [0, 1], drawn in %), grouped by task."""
    if not values:
        raise ValueError(f"{title}: nothing to draw (no stage or split given)")
    present = set().union(*(set(v) for v in values.values()))
    tasks = [t for t in (*TASKS, "overall") if t in present]
    fig = Figure(figsize=(1.3 * len(tasks) + 2, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(tasks))
    width = 0.8 / len(values)
    for i, (name, by_task) in enumerate(values.items()):
        heights = [100 * by_task[t] if t in by_task else np.nan for t in tasks]
        ax.bar(x + (i - (len(values) - 1) / 2) * width, heights, width, label=name)
    ax.set(xticks=x, xticklabels=tasks, ylim=(0, 105), xlabel="task", ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncols=2)
    return fig


def plot_task_accuracy(scores: Mapping[str, Mapping[str, TaskScore]],
                       title: str = "Judged accuracy per task, by stage") -> Figure:
    """One bar per stage (``{stage: evaluate(...)}``, e.g. "base seen", "sft heldout") in each
    task's group: the share of answers the judges call correct."""
    return _grouped_bars({stage: {t: s.accuracy for t, s in by_task.items()}
                          for stage, by_task in scores.items()}, title, "judged accuracy (%)")


def plot_pair_accuracy(pair_accuracy: Mapping[str, Mapping[str, float]],
                       title: str = "Reward model: pairs ranked right, by split") -> Figure:
    """One bar per split (``metrics["pair_accuracy"]`` of ``reward_stage``: train, seen,
    heldout) in each task's group: the share of pairs with r(chosen) > r(rejected)."""
    return _grouped_bars(pair_accuracy, title, "pairs ranked right (%)")


def plot_win_rates(rates: Mapping[str, Mapping[str, float]],
                   title: str = "The judges' preference over the SFT answers") -> Figure:
    """One stacked bar per entry (``{name: win_rate(...)}``, e.g. "dpo seen"): the shares of
    prompts whose answer the judges prefer (wins), rank equal (ties) or rank lower (losses)
    than the SFT model's, in %, with the win rate (wins + ties / 2) written at the bar's end."""
    if not rates:
        raise ValueError(f"{title}: nothing to draw (no win rate given)")
    fig = Figure(figsize=(8, 0.6 * len(rates) + 1.6), layout="constrained")
    ax = fig.subplots()
    names = list(rates)
    y = np.arange(len(names))
    left = np.zeros(len(names))
    for part, colour in (("wins", "tab:green"), ("ties", "tab:gray"), ("losses", "tab:red")):
        widths = np.array([100 * rates[n][part] for n in names])
        ax.barh(y, widths, left=left, color=colour, label=part)
        left += widths
    for i, n in enumerate(names):
        ax.text(101, i, f"{100 * rates[n]['win_rate']:.1f} %", va="center", fontsize="small")
    ax.axvline(50, color="black", lw=0.8, ls="--")
    ax.set(yticks=y, yticklabels=names, xlim=(0, 112), xlabel="prompts (%)", ylabel="stage",
           title=title)
    ax.invert_yaxis()
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))   # off the bars
    return fig


def _curves(history: Sequence[Mapping[str, Any]], panels: Sequence[tuple[str, str]],
            title: str) -> Figure:
    """One panel per ``(history key, y label)``, each the key's value against the step (rows
    without the key, or with None, are skipped)."""
    if not history:
        raise ValueError(f"{title}: nothing to draw (an empty history)")
    fig = Figure(figsize=(4 * len(panels), 3.5), layout="constrained")
    for ax, (key, ylabel) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        points = [(r["step"], r[key]) for r in history if r.get(key) is not None]
        if not points:
            raise ValueError(f"{title}: the history has no {key!r}")
        ax.plot(*zip(*points), "o-" if len(points) < 20 else "-", ms=3)
        ax.set(xlabel="optimizer step", ylabel=ylabel, title=key.replace("_", " "))
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_dpo_history(history: Sequence[Mapping[str, Any]], title: str = "DPO") -> Figure:
    """A DPO run's ``history`` (``tasks.assistant_dpo.dpo_stage``): the loss of each logged
    training batch (log 2 = 0.693 at the start, where the policy is the reference) and the mean
    implicit-reward margin r(chosen) - r(rejected) of that batch."""
    return _curves(history, [("train_loss", "DPO loss (nats)"),
                             ("margin", "r(chosen) - r(rejected)")], title)


def plot_rl_history(history: Sequence[Mapping[str, Any]], title: str = "RL") -> Figure:
    """An RL run's ``history`` (``tasks.assistant_rl.rl_stage``): the mean reward of the
    sampled answers, their KL per token to the reference, and their judged accuracy (a reward
    that rises while the judged accuracy falls is reward hacking)."""
    return _curves(history, [("reward", "mean reward of the samples"),
                             ("kl_per_token", "KL to the reference (nats / token)"),
                             ("judged_accuracy", "judged accuracy of the samples")], title)


def save_plots(out_dir: str | os.PathLike, *,
               judged: Mapping[str, Mapping[str, TaskScore]] | None = None,
               pair_accuracy: Mapping[str, Mapping[str, float]] | None = None,
               dpo_history: Sequence[Mapping[str, Any]] | None = None,
               rl_history: Sequence[Mapping[str, Any]] | None = None,
               win_rates: Mapping[str, Mapping[str, float]] | None = None) -> list[Path]:
    """Write the figures of what is given into ``out_dir``: ``judged.png``
    (``plot_task_accuracy``), ``pair_accuracy.png``, ``dpo.png``, ``rl.png`` and
    ``win_rates.png``; returns their paths, in that order."""
    given = {"judged": (judged, plot_task_accuracy),
             "pair_accuracy": (pair_accuracy, plot_pair_accuracy),
             "dpo": (dpo_history, plot_dpo_history), "rl": (rl_history, plot_rl_history),
             "win_rates": (win_rates, plot_win_rates)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (values, plot) in given.items():
        if values is not None:
            plot(values).savefig(out / f"{name}.png", dpi=100)
            paths.append(out / f"{name}.png")
    return paths
