"""``minifm sample`` with sampling arguments out of range exits 2 with one readable line in flag
terms, even when greedy (temperature 0) would not use them; a good call still exits 0."""

from __future__ import annotations

import re

import numpy as np
import pytest

from minifm.cli.main import main
from minifm.models.gpt import GPT, GPTConfig
from minifm.tokenizers import CharTokenizer
from minifm.training.checkpoint import save_checkpoint
from minifm.training.optim import AdamW


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny GPT with its character tokenizer, saved as a run folder."""
    out = tmp_path_factory.mktemp("gpt")
    tok = CharTokenizer("abcdefgh ")
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, context_length=8, n_layer=1, n_head=2,
                          n_embd=8), rng=np.random.default_rng(0))
    save_checkpoint(out / "checkpoint.npz", model=model,
                    optimizer=AdamW(model.parameters(), lr=1e-3), step=0,
                    rng=np.random.default_rng(0), train_config=None, tokenizer=tok,
                    family="gpt")
    return out


@pytest.mark.parametrize("flags, message", [
    (["--top-k", "-1", "--temperature", "0"], "--top-k must be >= 1, got -1"),
    (["--top-k", "0"], "--top-k must be >= 1, got 0"),
    (["--top-p", "1.5", "--temperature", "0"], r"--top-p must be in \(0, 1\], got 1.5"),
    (["--top-p", "0"], r"--top-p must be in \(0, 1\], got 0"),
    (["--temperature", "-1"], "--temperature must be >= 0, got -1"),
    (["--temperature", "inf"], "--temperature must be a finite number >= 0, got inf"),
    (["--temperature", "nan"], "--temperature must be a finite number >= 0, got nan"),
])
def test_bad_sampling_arguments_exit_2_with_one_error_line(checkpoint, capsys, flags, message):
    argv = ["sample", str(checkpoint), "--prompt", "ab", "--max-new-tokens", "3"] + flags
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minifm sample: error: ")
    assert re.search(message, err[0]), err[0]


def test_good_sampling_arguments_exit_0(checkpoint, capsys):
    argv = ["sample", str(checkpoint), "--prompt", "ab", "--max-new-tokens", "3", "--top-k", "2",
            "--top-p", "0.9", "--temperature", "0"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("ab")
