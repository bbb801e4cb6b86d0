"""``minifm dpo`` and ``minifm rl`` (minifm/cli/assistant.py) end to end on tiny models."""

import json

import pytest

from minifm.cli.main import main
from minifm.training.checkpoint import load_checkpoint

TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--batch-size", "4", "--quiet"]
SHORT = ["--steps", "6", "--eval-interval", "3", "--eval-batches", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny base (6 pre-training steps), its SFT (150 steps) and a reward model (6 steps)."""
    root = tmp_path_factory.mktemp("assistant")
    base, sft, reward = root / "base", root / "sft", root / "reward"
    assert main(["train", "assistant", "--out", str(base)] + SHORT + TINY) == 0
    assert main(["sft", str(base), "--out", str(sft), "--eval-per-task", "1", "--steps",
                 "150", "--lr", "3e-3", "--warmup-steps", "10", "--batch-size", "16",
                 "--eval-interval", "150", "--eval-batches", "1", "--quiet"]) == 0
    assert main(["reward", str(sft), "--out", str(reward), "--prompts-per-task", "10",
                 "--eval-per-task", "5", "--quiet"] + SHORT) == 0
    return {"base": base, "sft": sft, "reward": reward}


def test_dpo_sweeps_beta_into_one_folder_each(runs, tmp_path):
    out = tmp_path / "dpo"
    assert main(["dpo", str(runs["sft"]), "--beta", "0.1", "0.5", "--out", str(out),
                 "--prompts-per-task", "10", "--eval-per-task", "5", "--quiet"] + SHORT) == 0
    for beta in ("0.1", "0.5"):
        metrics = json.loads((out / f"beta-{beta}" / "metrics.json").read_text())
        assert metrics["beta"] == float(beta) and metrics["steps_done"] == 6
        assert set(metrics["implicit_reward"]) == {"train", "seen", "heldout"}
        for split in ("seen", "heldout"):
            assert 0 <= metrics[split]["preference_over_reference"]["win_rate"] <= 1
            assert metrics[split]["kl_per_token"] >= 0
            assert metrics[split]["judged"]["overall"]["n"] == 25
        assert load_checkpoint(out / f"beta-{beta}", family="gpt").step == 6
        for name in ("judged.png", "dpo.png", "win_rates.png"):
            assert (out / f"beta-{beta}" / name).read_bytes().startswith(b"\x89PNG")
        assert all("margin" in row for row in metrics["history"])


def test_dpo_variants_add_judged_pairs_to_the_same_samples(runs, tmp_path):
    # the fixture's reward run sampled with the same seed (1337) and no variants
    plain = json.loads((runs["reward"] / "metrics.json").read_text())["pairs"]
    out = tmp_path / "dpo"
    assert main(["dpo", str(runs["sft"]), "--variants", "--out", str(out),
                 "--prompts-per-task", "10", "--eval-per-task", "5", "--quiet"] + SHORT) == 0
    more = json.loads((out / "metrics.json").read_text())["pairs"]
    assert all(more[split] >= n for split, n in plain.items())
    assert sum(more.values()) > sum(plain.values()), (more, plain)


def test_dpo_refuses_a_run_whose_samples_make_no_pair(runs, tmp_path, capsys):
    assert main(["dpo", str(runs["base"]), "--out", str(tmp_path / "dpo"),
                 "--prompts-per-task", "3", "--eval-per-task", "3"] + SHORT) == 2
    assert capsys.readouterr().err.startswith("minifm: error: no preference pairs")
    assert main(["dpo", str(runs["sft"]), "--beta", "0.1", "-1"]) == 2
    assert capsys.readouterr().err.startswith("minifm dpo: error: --beta must be > 0, got -1")


@pytest.mark.parametrize("reward", ["judges", "model"])
def test_rl_trains_against_the_reward_model_or_the_judges(runs, tmp_path, reward, capsys):
    out = tmp_path / "rl"
    rm = "judges" if reward == "judges" else str(runs["reward"])
    assert main(["rl", str(runs["sft"]), "--reward", rm, "--kl", "0.05", "--out", str(out),
                 "--eval-per-task", "2", "--steps", "3", "--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reward"] == ("judges" if reward == "judges" else "reward model")
    assert metrics["kl_coefficient"] == 0.05 and metrics["history"][-1]["step"] == 3
    assert "KL per token" in printed and "the judges prefer it to SFT" in printed
    assert load_checkpoint(out, family="gpt").step == 3
    for name in ("judged.png", "rl.png", "win_rates.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert "rl.png" in printed


def test_rl_refuses_a_reward_run_that_is_not_a_reward_model(runs, tmp_path, capsys):
    assert main(["rl", str(runs["sft"]), "--reward", str(runs["sft"]), "--out",
                 str(tmp_path / "rl")]) == 2
    assert capsys.readouterr().err.startswith("minifm: error:")
