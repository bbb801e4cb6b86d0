"""minifm/tasks/assistant.py: pre-training text, the response-only SFT loss through GPT, greedy
answers up to <|end|>, judged evaluation, and the errors for input of the wrong kind."""

import numpy as np
import pytest

from minifm.data.assistant import HELD_OUT_NAMES, examples, render_prompt, world_tokenizer
from minifm.data.assistant.chat import MARKERS
from minifm.functional.losses import IGNORE_INDEX, cross_entropy_backward, cross_entropy_forward
from minifm.gradcheck import numerical_gradient_of_scalar, rel_error
from minifm.models.gpt import GPT, GPTConfig
from minifm.tasks.assistant import (CONTEXT_LENGTH, answer, check_world, evaluate,
                                    generate_conversations, load_run, model_config, pretrain_data, pretrain_text,
                                    score_table, sft, sft_data)
from minifm.tokenizers import CharTokenizer, WordTokenizer
from minifm.training.optim import AdamW, param_groups
from minifm.training.checkpoint import save_checkpoint
from minifm.training.trainer import TrainConfig

TOK = world_tokenizer()


def tiny_gpt(dtype=np.float32, seed=0, **overrides) -> GPT:
    fields = dict(context_length=CONTEXT_LENGTH, n_layer=1, n_head=2, n_embd=16, **overrides)
    return GPT(GPTConfig(vocab_size=TOK.vocab_size, **fields), rng=np.random.default_rng(seed),
               dtype=dtype)


def test_pretrain_text_is_the_worlds_words_without_chat_markers_or_held_out_names():
    lines = pretrain_text(20)
    assert len(lines) == 2 * 20 * 5                      # a message and an answer per example
    words = {w for line in lines for w in line.split()}
    assert not words & set(MARKERS)
    assert not words & set(HELD_OUT_NAMES)
    assert {"zin", "translate", "secret", "summarise", "sorry"} <= words
    assert pretrain_text(20) == lines                    # the same world for every run
    data = pretrain_data(TOK, lines)
    x, y = data.get_batch("train", 4, np.random.default_rng(0))
    assert x.shape == y.shape == (4, CONTEXT_LENGTH)
    assert np.array_equal(x[:, 1:], y[:, :-1])


def test_sft_targets_ignore_exactly_the_prompt_and_padding():
    data = sft_data(TOK, n_per_task=4)
    idx, targets = data.get_batch("train", 8, np.random.default_rng(0))
    assistant, end = TOK.encode("<|assistant|> <|end|>", add_special_tokens=False)
    for row, target in zip(idx, targets):
        start = int(np.argmax(row == assistant))         # the prompt's last token
        kept = np.flatnonzero(target != IGNORE_INDEX)
        assert kept[0] == start and target[kept[-1]] == end
        assert np.array_equal(kept, np.arange(start, kept[-1] + 1))
        assert np.array_equal(target[kept[:-1]], row[kept[:-1] + 1])   # the next token


def test_response_only_loss_gives_prompt_logits_exactly_zero_gradient_through_gpt():
    model = tiny_gpt(np.float64)
    data = sft_data(TOK, n_per_task=2)
    idx, targets = data.get_batch("train", 3, np.random.default_rng(1))
    idx, targets = idx[:, :20], targets[:, :20]          # keep the gradient check quick
    logits, loss = model(idx, targets)
    prompt = targets == IGNORE_INDEX
    assert prompt.any() and (~prompt).any()
    # the model's loss is the mean over the response positions only (by hand)
    z = logits - logits.max(axis=-1, keepdims=True)
    nll = np.log(np.exp(z).sum(axis=-1)) - np.take_along_axis(
        z, np.where(prompt, 0, targets)[..., None], axis=-1)[..., 0]
    assert loss == pytest.approx(nll[~prompt].mean(), rel=1e-12)
    # the same cross-entropy pair GPT.backward runs: exactly 0.0 on every prompt position
    dlogits = cross_entropy_backward(1.0, cross_entropy_forward(logits, targets)[1])
    assert np.all(dlogits[prompt] == 0.0)
    assert np.all(np.abs(dlogits[~prompt]).sum(axis=-1) > 0)
    # and GPT.backward is the gradient of that masked loss: checked here on the final
    # LayerNorm (every position's gradient flows through it; the whole model's check with an
    # ignored target is tests/models/test_gpt.py's), < 1e-5 as for a whole model in float64
    model.zero_grad()
    model(idx, targets)
    model.backward()
    for p in (model.ln_f.weight, model.ln_f.bias):
        numerical = numerical_gradient_of_scalar(lambda: model(idx, targets)[1], p.data)
        assert rel_error(p.grad, numerical) < 1e-5


class Scripted:
    """Stands in for a GPT: "generates" a fixed continuation after every prompt."""

    def __init__(self, continuation: str | list[int]):
        self.config = GPTConfig(vocab_size=TOK.vocab_size, context_length=CONTEXT_LENGTH)
        self.new = (TOK.encode(continuation, add_special_tokens=False)
                    if isinstance(continuation, str) else continuation)

    def generate(self, idx, max_new_tokens, temperature=1.0, rng=None):
        assert temperature == 0.0                        # answers are greedy
        new = np.array([self.new[:max_new_tokens]] * len(idx), dtype=np.int64)
        return np.concatenate([idx, new], axis=1)


def test_answer_stops_at_end_and_keeps_prompts_in_order():
    prompts = [render_prompt("add 2 and 3"), render_prompt("who has the kite ?"),
               render_prompt("add 4 and 5")]
    assert answer(Scripted("2 + 3 <|end|> tom tom"), TOK, prompts) == ["2 + 3"] * 3
    assert answer(Scripted("<|end|> 2"), TOK, prompts[:1]) == [""]
    assert answer(Scripted("tom <|user|> add"), TOK, prompts[:1]) == ["tom"]
    rows = generate_conversations(Scripted("2 + 3 <|end|> tom"), TOK, prompts[:1])
    assert rows == [TOK.encode(prompts[0] + " 2 + 3 <|end|>", add_special_tokens=False)]
    tom = TOK.encode("tom", add_special_tokens=False)
    rows = generate_conversations(Scripted(tom + [TOK.pad_id] + tom), TOK, prompts[:1])
    assert rows[0][-1] == tom[0] and TOK.pad_id not in rows[0]       # a [PAD] ends the row
    words = answer(tiny_gpt(), TOK, prompts)             # a real GPT, through its KV cache
    assert len(words) == 3 and not any(m in a for a in words for m in MARKERS)


def test_evaluate_scores_every_task_and_overall():
    scores = evaluate(tiny_gpt(), TOK, "heldout", n_per_task=2)
    assert list(scores) == ["qa", "translation", "code", "summary", "harmless", "overall"]
    assert scores["overall"].n == 10 and 0.0 <= scores["overall"].accuracy <= 1.0
    table = score_table({"untrained": scores})
    assert table.splitlines()[0].split()[:3] == ["stage", "qa", "translation"]
    with pytest.raises(ValueError, match="split must be 'seen' or 'heldout', got 'train'"):
        evaluate(tiny_gpt(), TOK, "train")


def test_a_prompt_without_the_chat_format_is_refused():
    for bad in ["add 2 and 3", "<|user|> add 2 and 3", "<|user|> add 2 <|assistant|> 2 + 3"]:
        with pytest.raises(ValueError, match="chat format"):
            answer(tiny_gpt(), TOK, [bad])
    with pytest.raises(TypeError, match="prompts must be a list of chat prompts, got a single str"):
        answer(tiny_gpt(), TOK, render_prompt("add 2 and 3"))


def test_a_tokenizer_or_model_of_another_world_is_refused():
    with pytest.raises(ValueError, match="the assistant world's"):
        answer(tiny_gpt(), WordTokenizer(["tom", "ben"]), [render_prompt("add 2 and 3")])
    with pytest.raises(ValueError, match="context_length must be at least 48 .*, got 32"):
        model_config(TOK, context_length=32)
    with pytest.raises(ValueError, match="vocab_size must be the assistant world's"):
        check_world(TOK, GPTConfig(vocab_size=65, context_length=CONTEXT_LENGTH))


def test_a_checkpoint_of_another_world_is_refused(tmp_path):
    chars = CharTokenizer.train("the cat sleeps.")
    model = GPT(GPTConfig(vocab_size=chars.vocab_size, context_length=CONTEXT_LENGTH, n_layer=1,
                          n_embd=8, n_head=2), rng=np.random.default_rng(0))
    path = save_checkpoint(tmp_path / "checkpoint.npz", model=model,
                           optimizer=AdamW(param_groups(model, 0.1), lr=1e-3), step=0,
                           rng=np.random.default_rng(0), train_config=None, tokenizer=chars,
                           family="gpt")
    with pytest.raises(ValueError, match="the assistant world's .* got CharTokenizer"):
        load_run(path)


def test_a_short_sft_run_raises_the_judged_accuracy_on_seen_prompts():
    """150 steps of a 1-layer width-32 GPT (~3 s). Measured (seeds 0, 1, 2): the untrained model
    scores 0.0 overall and refuses nothing; after the run (seed 0) 6 % overall, every
    off-limits request refused, and 14 % of the allowed ones too (so short a run over-refuses).
    The bounds leave room for BLAS rounding."""
    model = GPT(model_config(TOK, n_layer=1, n_head=2, n_embd=32), rng=np.random.default_rng(0))
    before = evaluate(model, TOK, "seen", n_per_task=20)["overall"]
    assert before.accuracy == 0.0 and before.refusal_rate == 0.0
    sft(model, TOK, TrainConfig(steps=150, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=10,
                                eval_interval=150, eval_batches=1, seed=0),
        n_per_task=200, quiet=True)
    after = evaluate(model, TOK, "seen", n_per_task=20)["overall"]
    assert after.accuracy >= before.accuracy + 0.03
    assert after.refusal_rate >= 0.9 and after.false_refusal_rate <= 0.3
