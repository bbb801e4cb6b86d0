"""``minifm train assistant`` and ``minifm sft`` (minifm/cli/assistant.py) end to end on tiny
models."""

import json

import pytest

from minifm.cli.main import main
from minifm.training.checkpoint import load_checkpoint

TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--batch-size", "4", "--quiet"]
SHORT = ["--steps", "6", "--eval-interval", "3", "--eval-batches", "1"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny GPT pre-trained for 6 steps on the assistant world's text."""
    out = tmp_path_factory.mktemp("assistant-base")
    assert main(["train", "assistant", "--out", str(out)] + SHORT + TINY) == 0
    return out


def test_train_assistant_writes_a_gpt_run_of_the_world(base):
    for name in ("checkpoint.npz", "tokenizer.json", "loss.png", "metrics.json"):
        assert (base / name).is_file(), name
    ckpt = load_checkpoint(base, family="gpt")
    assert ckpt.model_config["context_length"] == 48 and ckpt.model_config["n_embd"] == 16
    assert ckpt.tokenizer["type"] == "word" and "<|assistant|>" in ckpt.tokenizer["words"]


@pytest.mark.parametrize("scratch", [False, True])
def test_sft_trains_and_stores_the_judged_table(base, tmp_path, scratch, capsys):
    out = tmp_path / "sft"
    args = ["sft", str(base), "--out", str(out), "--eval-per-task", "2", "--steps", "6",
            "--eval-interval", "3", "--eval-batches", "1", "--batch-size", "4"]
    assert main(args + (["--scratch"] if scratch else [])) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps_done"] == 6
    before, after = ("untrained", "sft-scratch") if scratch else ("base", "sft")
    assert set(metrics["judged"]) == {f"{s} {split}" for s in (before, after)
                                      for split in ("seen", "heldout")}
    assert metrics["judged"][f"{after} heldout"]["overall"]["n"] == 10
    assert f"{after} heldout" in printed and "false refusal" in printed
    assert (out / "judged.png").read_bytes().startswith(b"\x89PNG") and "judged.png" in printed


def test_sft_refuses_a_run_of_another_world(tmp_path, capsys):
    gpt = tmp_path / "gpt"
    assert main(["train", "gpt", "--steps", "2", "--out", str(gpt), "--n-layer", "1",
                 "--n-embd", "8", "--n-head", "2", "--context-length", "48", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sft", str(gpt), "--out", str(tmp_path / "sft")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minifm: error: the tokenizer must be the assistant world's")
    assert main(["sft", str(gpt), "--resume", str(gpt)]) == 2
    assert "does not resume" in capsys.readouterr().err


def test_reward_refuses_a_run_whose_samples_make_no_pair(base, tmp_path, capsys):
    # 6 pre-training steps: every sampled answer is wrong with no partial credit, so all tie
    assert main(["reward", str(base), "--out", str(tmp_path / "reward"), "--prompts-per-task",
                 "3", "--eval-per-task", "3"] + SHORT) == 2
    assert capsys.readouterr().err.startswith("minifm: error: no preference pairs: the judges "
                                              "could not tell apart")


def test_reward_trains_on_the_judged_pairs_of_an_sft_run(base, tmp_path):
    sft_run, out = tmp_path / "sft", tmp_path / "reward"
    assert main(["sft", str(base), "--out", str(sft_run), "--eval-per-task", "1", "--steps",
                 "150", "--lr", "3e-3", "--warmup-steps", "10", "--batch-size", "16",
                 "--eval-interval", "150", "--eval-batches", "1", "--quiet"]) == 0
    assert main(["reward", str(sft_run), "--out", str(out), "--prompts-per-task", "10",
                 "--eval-per-task", "5"] + SHORT) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["pair_accuracy"]) == {"train", "seen", "heldout"}
    assert all(n > 0 for n in metrics["pairs"].values())
    assert load_checkpoint(out, family="reward").step == 6
    assert (out / "pair_accuracy.png").read_bytes().startswith(b"\x89PNG")
    # --variants: the same samples (same seed) and the judged variants, so at least as many pairs
    assert main(["reward", str(sft_run), "--out", str(tmp_path / "variants"), "--variants",
                 "--prompts-per-task", "10", "--eval-per-task", "5"] + SHORT) == 0
    more = json.loads((tmp_path / "variants" / "metrics.json").read_text())["pairs"]
    assert all(more[split] >= n for split, n in metrics["pairs"].items())
    assert sum(more.values()) > sum(metrics["pairs"].values()), (more, metrics["pairs"])
