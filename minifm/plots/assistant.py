"""Pictures of the assistant stages: judged accuracy per task for every stage, and the reward
model's pair accuracy per task for every split.

Lesson 15, "From GPT to assistant" (issue 12). Both are grouped bars: one group per task (the
world's ``TASKS`` order, then "overall" where present), one bar per stage or split.
"""

from __future__ import annotations

from typing import Mapping

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
