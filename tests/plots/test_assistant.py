"""The assistant stages' figures (minifm/plots/assistant.py): grouped bars, titled, labelled."""

import io

import numpy as np
import pytest

from minifm.data.assistant import TaskScore
from minifm.plots.assistant import (plot_dpo_history, plot_pair_accuracy, plot_rl_history,
                                   plot_task_accuracy, plot_win_rates, save_plots)


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


def test_win_rates_stack_wins_ties_and_losses_in_percent_per_stage():
    rates = {"dpo seen": {"wins": 0.2, "ties": 0.7, "losses": 0.1, "win_rate": 0.55},
             "rl seen": {"wins": 0.1, "ties": 0.5, "losses": 0.4, "win_rate": 0.35}}
    fig = plot_win_rates(rates)
    ax = fig.axes[0]
    assert ax.get_title() == "The judges' preference over the SFT answers"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("prompts (%)", "stage")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dpo seen", "rl seen"]
    bars = [(p.get_x(), p.get_width()) for p in ax.patches]          # wins, ties, losses
    assert np.allclose(bars, [(0, 20), (0, 10), (20, 70), (10, 50), (90, 10), (60, 40)])
    assert [t.get_text() for t in ax.texts] == ["55.0 %", "35.0 %"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["wins", "ties", "losses"]
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1 - 1   # off the bars


def test_dpo_curves_plot_the_loss_and_the_margin_of_each_logged_step():
    history = [{"step": 10, "train_loss": 0.69, "val_loss": None, "margin": 0.0},
               {"step": 20, "train_loss": 0.60, "val_loss": 0.65, "margin": 0.3}]
    fig = plot_dpo_history(history)
    assert fig.get_suptitle() == "DPO" and len(fig.axes) == 2
    (loss,), (margin,) = (ax.get_lines() for ax in fig.axes)
    assert np.allclose(loss.get_xydata(), [[10, 0.69], [20, 0.60]])
    assert np.allclose(margin.get_xydata(), [[10, 0.0], [20, 0.3]])
    assert [ax.get_ylabel() for ax in fig.axes] == ["DPO loss (nats)", "r(chosen) - r(rejected)"]
    assert all(ax.get_xlabel() == "optimizer step" for ax in fig.axes)


def test_rl_curves_plot_reward_kl_and_judged_accuracy_and_refuse_a_history_without_them():
    history = [{"step": 10, "reward": -0.4, "kl_per_token": 0.0, "judged_accuracy": 0.9},
               {"step": 20, "reward": 0.8, "kl_per_token": 2.5, "judged_accuracy": 0.1}]
    fig = plot_rl_history(history, "RL, no leash")
    assert fig.get_suptitle() == "RL, no leash"
    assert [ax.get_title() for ax in fig.axes] == ["reward", "kl per token", "judged accuracy"]
    ys = [ax.get_lines()[0].get_ydata().tolist() for ax in fig.axes]
    assert ys == [[-0.4, 0.8], [0.0, 2.5], [0.9, 0.1]]
    with pytest.raises(ValueError, match="the history has no 'reward'"):
        plot_rl_history([{"step": 1, "train_loss": 1.0}])
    with pytest.raises(ValueError, match="empty history"):
        plot_dpo_history([])


def test_save_plots_writes_a_png_for_each_figure_given(tmp_path):
    paths = save_plots(tmp_path / "run", judged={"sft seen": {"qa": _score(0.5)}},
                       rl_history=[{"step": 1, "reward": 0.0, "kl_per_token": 0.0,
                                    "judged_accuracy": 0.5}],
                       win_rates={"rl seen": {"wins": 0.5, "ties": 0.0, "losses": 0.5,
                                              "win_rate": 0.5}})
    assert paths == [tmp_path / "run" / n for n in ("judged.png", "rl.png", "win_rates.png")]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["judged.png", "rl.png",
                                                                     "win_rates.png"]
