"""``minifm scaling``, ``bias``, ``probe`` and ``heads RUN`` (minifm/cli/analysis.py) end to end
at the tiny size."""

from __future__ import annotations

import json

from minifm.cli.main import main

TINY_GPT = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--context-length", "16",
            "--batch-size", "4", "--quiet"]


def test_scaling_prints_the_fits_and_writes_the_figure(tmp_path, capsys):
    assert main(["scaling", "--size", "tiny", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "L(N): " in out and "frontier: L=" in out and "N_opt ~ compute^a" in out
    numbers = json.loads((tmp_path / "numbers.json").read_text())
    assert len(numbers["loss"]) == 4 and len(numbers["loss"][0]) == 4
    assert set(numbers["fit_n"]) == {"a", "alpha", "c"} and numbers["fit_d"]["alpha"] > 0
    assert (tmp_path / "scaling.png").stat().st_size > 0


def test_bias_without_weat(tmp_path, capsys):
    assert main(["bias", "--size", "tiny", "--no-weat", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nurse" in out and "pilot" in out and "WEAT" not in out
    numbers = json.loads((tmp_path / "numbers.json").read_text())
    assert len(numbers["gpt_before"]) == 8 and "weat" not in numbers
    assert (tmp_path / "skew.png").is_file()


def test_probe_prints_every_layer(tmp_path, capsys):
    assert main(["probe", "--size", "tiny", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("embeddings") == 3 and "selectivity" in out
    assert (tmp_path / "probes.png").is_file()


def test_heads_on_a_grammar_run(tmp_path, capsys):
    run = tmp_path / "gpt"
    assert main(["train", "gpt", "--steps", "5", "--eval-interval", "5", "--out", str(run)]
                + TINY_GPT) == 0
    out = tmp_path / "heads"
    assert main(["heads", str(run), "--pairs", "10", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "layer 0 head 1:" in printed and "agreement accuracy" in printed
    for name in ("attention.png", "ablation.png", "loss_rise.png", "logit_lens.png"):
        assert (out / name).is_file(), name
    numbers = json.loads((out / "numbers.json").read_text())
    assert len(numbers["lens_probabilities"]) == 2 and len(numbers["lens_probabilities"][0]) == 16


def test_heads_errors(tmp_path, capsys):
    assert main(["heads", str(tmp_path / "missing")]) == 2
    assert "minifm: error:" in capsys.readouterr().err
    assert main(["heads", str(tmp_path), "--pairs", "0"]) == 2
    assert "--pairs must be >= 1" in capsys.readouterr().err


def test_heads_refuses_a_one_token_sentence(tmp_path, capsys):
    run = tmp_path / "gpt"
    assert main(["train", "gpt", "--steps", "2", "--eval-interval", "2", "--out", str(run)]
                + TINY_GPT) == 0
    assert main(["heads", str(run), "--sentence", "a", "--out", str(tmp_path / "h")]) == 2
    assert "--sentence needs at least two tokens" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()
