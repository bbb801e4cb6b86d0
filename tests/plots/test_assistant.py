"""The assistant stages' figures (minifm/plots/assistant.py): grouped bars, titled, labelled."""

import io

import numpy as np
import pytest

from minifm.data.assistant import TaskScore
from minifm.plots.assistant import plot_pair_accuracy, plot_task_accuracy


def _score(accuracy: float) -> TaskScore:
    return TaskScore(n=10, accuracy=accuracy, score=accuracy, refusal_rate=None,
                     false_refusal_rate=None, mean_words=2.0)


def test_task_accuracy_draws_one_bar_per_stage_and_task_in_percent():
    scores = {"base seen": {"qa": _score(0.1), "code": _score(0.0), "overall": _score(0.05)},
              "sft seen": {"qa": _score(0.5), "code": _score(0.9), "overall": _score(0.7)}}
    fig = plot_task_accuracy(scores)
    ax = fig.axes[0]
    assert ax.get_title() == "Judged accuracy per task, by stage"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("task", "judged accuracy (%)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["qa", "code", "overall"]
    heights = [p.get_height() for p in ax.patches]
    assert np.allclose(heights, [10, 0, 5, 50, 90, 70])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base seen", "sft seen"]
    fig.savefig(io.BytesIO(), format="png")                         # it renders


def test_pair_accuracy_leaves_a_gap_for_a_task_a_split_lacks():
    fig = plot_pair_accuracy({"train": {"qa": 0.8, "summary": 0.6, "overall": 0.7},
                              "heldout": {"qa": 0.5, "overall": 0.5}})
    ax = fig.axes[0]
    assert ax.get_title() == "Reward model: pairs ranked right, by split"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("task", "pairs ranked right (%)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["qa", "summary", "overall"]
    heights = [p.get_height() for p in ax.patches]
    assert np.allclose(heights[:3], [80, 60, 70]) and np.isnan(heights[4])
    fig.savefig(io.BytesIO(), format="png")


def test_nothing_to_draw_is_an_error():
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_task_accuracy({})
