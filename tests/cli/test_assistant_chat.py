"""``minifm chat RUN`` (minifm/cli/assistant.py): requests from stdin, one answer a line, refusals
of words outside the world, an empty line or end of input ends it."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from minifm.cli.main import main
from minifm.data.assistant import world_tokenizer
from minifm.models.gpt import GPT
from minifm.tasks.assistant import model_config
from minifm.tasks.assistant_chat import reply
from minifm.training.checkpoint import save_checkpoint
from minifm.training.optim import AdamW

UNKNOWN = ("minifm: request 'hello zorg' has words the model never saw: hello, zorg; it knows "
           "only the assistant world's 244 words, e.g. 'add 2 and 3'\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An untrained tiny assistant-world GPT saved as a run folder, and the model itself."""
    out = tmp_path_factory.mktemp("assistant-run")
    tokenizer = world_tokenizer()
    model = GPT(model_config(tokenizer, n_layer=1, n_head=2, n_embd=8),
                rng=np.random.default_rng(0))
    save_checkpoint(out / "checkpoint.npz", model=model,
                    optimizer=AdamW(model.parameters(), lr=1e-3), step=0,
                    rng=np.random.default_rng(0), train_config=None, tokenizer=tokenizer,
                    family="gpt")
    return out, model, tokenizer


def _chat(monkeypatch, capsys, argv, typed):
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    code = main(["chat"] + argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_chat_answers_each_request_and_refuses_unknown_words(run, monkeypatch, capsys):
    path, model, tokenizer = run
    code, out, err = _chat(monkeypatch, capsys, [str(path)],
                           "add 2 and 3\nhello zorg\nwho has the kite ?\n")
    assert code == 0
    assert out == (f"assistant> {reply(model, tokenizer, 'add 2 and 3')}\n"
                   f"assistant> {reply(model, tokenizer, 'who has the kite ?')}\n")
    assert err == UNKNOWN


def test_an_empty_line_ends_the_chat(run, monkeypatch, capsys):
    path, model, tokenizer = run
    code, out, err = _chat(monkeypatch, capsys, [str(path)], "add 2 and 3\n\nadd 4 and 5\n")
    assert (code, err) == (0, "")
    assert out == f"assistant> {reply(model, tokenizer, 'add 2 and 3')}\n"


def test_chat_samples_with_the_flags_of_sample(run, monkeypatch, capsys):
    path, model, tokenizer = run
    flags = ["--temperature", "1.5", "--top-k", "5", "--top-p", "0.9", "--seed", "3",
             "--max-new-tokens", "4"]
    code, out, _ = _chat(monkeypatch, capsys, [str(path)] + flags, "add 2 and 3\nadd 2 and 3\n")
    rng = np.random.default_rng(3)
    want = [reply(model, tokenizer, "add 2 and 3", max_new_tokens=4, temperature=1.5, top_k=5,
                  top_p=0.9, rng=rng) for _ in range(2)]
    assert code == 0 and out == "".join(f"assistant> {a}\n" for a in want)
    assert all(len(a.split()) <= 4 for a in want)


@pytest.mark.parametrize("flags, message", [
    (["--top-k", "0"], "--top-k must be >= 1, got 0"),
    (["--temperature", "-1"], "--temperature must be >= 0, got -1"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1, got 0"),
])
def test_bad_sampling_flags_exit_2_before_reading_a_request(run, monkeypatch, capsys, flags,
                                                            message):
    code, out, err = _chat(monkeypatch, capsys, [str(run[0])] + flags, "add 2 and 3\n")
    assert (code, out) == (2, "")
    assert err.startswith("minifm chat: error: ") and message in err and err.count("\n") == 1


def test_chat_refuses_a_folder_without_a_run(tmp_path, monkeypatch, capsys):
    code, out, err = _chat(monkeypatch, capsys, [str(tmp_path)], "add 2 and 3\n")
    assert (code, out) == (2, "") and err.startswith("minifm: error: ")


def test_end_of_input_ends_the_chat_in_a_real_process(run):
    path, model, tokenizer = run
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "minifm", "chat", str(path)], input="add 2 and 3",
                          capture_output=True, text=True, env=env, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"assistant> {reply(model, tokenizer, 'add 2 and 3')}\n"
