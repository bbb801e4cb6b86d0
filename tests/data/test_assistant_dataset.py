"""The assistant world's splits and batches: seeded, held-out parts kept out, every reference
judged right, every conversation inside a short context."""

import re

import numpy as np
import pytest

from minifm.data.assistant import (HELD_OUT_NAMES, SPLITS, TASKS, ChatData, examples, judge,
                                   length_stats, response_mask, world_tokenizer)
from minifm.data.assistant import codegen, harmless, qa, summary, translation
from minifm.data.assistant.chat import marker_ids
from minifm.data.corpora import NOUNS, parse_sentence
from minifm.tokenizers import tokenizer_from_dict

TOK = world_tokenizer()
N = 300                                    # per task and split: every held-out part shows up


@pytest.fixture(scope="module")
def splits():
    return {s: examples(s, N, np.random.default_rng([7, i])) for i, s in enumerate(SPLITS)}


def text(e) -> str:
    return f"{e.message} {e.response}"


def held_out_in_text(e) -> list[str]:
    """The held-out parts found in an example's words, read off the text, not its tags."""
    t, words = text(e), set(text(e).split())
    found = [f"name:{n}" for n in HELD_OUT_NAMES if n in words]
    found += [f"pair:{c} {x}" for c, x in qa.HELD_OUT_PAIRS if f" {c} {x} " in f" {t} "]
    for adj, noun in translation.HELD_OUT_PAIRS:
        plural = next(p for s, p in NOUNS if s == noun)
        zin_noun, zin_adj = translation.ZIN[noun], translation.ZIN[adj]
        if re.search(rf"\b{adj} ({noun}|{plural})\b|\b{zin_noun} (ka )?{zin_adj}\b", t):
            found.append(f"pair:{adj} {noun}")
    if e.task == "code":
        first = e.message.split()[0]
        second = re.search(r"then (\w+)", e.message)
        steps = (first, second.group(1) if second else "none")
        found += [f"steps:{steps[0]} {steps[1]}"] if steps in codegen.HELD_OUT_STEPS else []
    found += [f"meal:{f} {a}" for f, a in summary.HELD_OUT_MEALS if f"the {f} is {a}" in t]
    found += ["request:please share"] if "please share" in t else []
    anna, ben = summary.HELD_OUT_CHARACTER, harmless.HELD_OUT_KEEPER
    found += [f"entity:{anna}"] if e.task == "summary" and anna in words else []
    found += [f"keeper:{ben}"] if f"secret word of {ben} is" in t else []
    return found


def test_examples_are_deterministic_from_the_generator():
    a = examples("train", 20, np.random.default_rng(3))
    assert a == examples("train", 20, np.random.default_rng(3))
    assert a != examples("train", 20, np.random.default_rng(4))
    assert [e.task for e in a[:10]] == list(TASKS) * 2


def test_held_out_parts_never_reach_the_training_split(splits):
    for split in ("train", "seen"):
        assert all(held_out_in_text(e) == [] and e.held_out == () for e in splits[split])
        words = {w for e in splits[split] for w in text(e).split()}
        assert not words & set(HELD_OUT_NAMES)
    # the task/entity pairs' entities are in training, only never in that task or role
    train = splits["train"]
    assert any(summary.HELD_OUT_CHARACTER in text(e).split() for e in train)
    assert any(f" {harmless.HELD_OUT_KEEPER} has " in f" {e.message}" for e in train
               if e.task == "harmless")


def test_every_held_out_example_uses_a_held_out_part_and_all_kinds_appear(splits):
    held = splits["heldout"]
    assert all(e.held_out and sorted(e.held_out) == sorted(held_out_in_text(e)) for e in held)
    kinds = {(e.task, part.split(":")[0]) for e in held for part in e.held_out}
    assert kinds == {("qa", "name"), ("qa", "pair"), ("translation", "pair"), ("code", "steps"),
                     ("summary", "name"), ("summary", "meal"), ("summary", "entity"),
                     ("harmless", "name"), ("harmless", "pair"), ("harmless", "request"),
                     ("harmless", "keeper")}
    names = {part for e in held for part in e.held_out if part.startswith("name:")}
    assert names == {f"name:{n}" for n in HELD_OUT_NAMES}


def test_every_reference_answer_is_judged_right_and_others_wrong(splits):
    for split, exs in splits.items():
        for e in exs:
            v = judge(e, e.response)
            assert v.correct and v.score == 1.0 and v.refusal == e.off_limits, (split, e)
    # another example's reference, for the same task: right only if it means the same thing
    for a, b in zip(splits["seen"], splits["seen"][len(TASKS):]):
        v = judge(a, b.response)
        assert 0.0 <= v.score <= 1.0 and (v.score == 1.0) == v.correct


def test_harmless_mixes_off_limits_and_allowed_requests(splits):
    exs = [e for e in splits["train"] if e.task == "harmless"]
    off = [e for e in exs if e.off_limits]
    assert 0.35 < len(off) / len(exs) < 0.65
    assert all(e.response == harmless.REFUSAL for e in off)
    assert all(not e.off_limits for e in splits["train"] if e.task != "harmless")


def test_translation_english_is_grammatical_and_zin_words_are_its_own(splits):
    for e in (e for e in splits["train"] if e.task == "translation"):
        english = e.response if e.message.startswith("translate to english") \
            else e.message.split(" : ")[1]
        assert parse_sentence(english) == (True, True), english
    english_words = set().union(qa.WORDS, codegen.WORDS, summary.WORDS, harmless.WORDS)
    assert not set(translation.ZIN.values()) & english_words
    assert len(set(translation.ZIN.values())) == len(translation.ZIN)


def test_the_world_tokenizer_covers_every_example_and_round_trips(splits):
    assert TOK.vocab_size == 248
    assert marker_ids(TOK) == (4, 5, 6)
    for e in (e for exs in splits.values() for e in exs):
        assert TOK.unk_id not in TOK.encode(text(e), add_special_tokens=False)
    assert tokenizer_from_dict(TOK.to_dict()).vocab == TOK.vocab


def test_every_conversation_fits_a_short_context(splits):
    # measured: 47 tokens at most (a summary), 26 on average; a GPT reads all but the last token
    every = [e for exs in splits.values() for e in exs]
    stats = length_stats(every, TOK)
    assert set(stats) == set(TASKS) | {"overall"}
    assert stats["overall"].total_max <= 48 and stats["overall"].total_mean < 30
    assert all(s.prompt_max < s.total_max for s in stats.values())
    ChatData(every, TOK, context_length=stats["overall"].total_max - 1)       # no error


def test_chat_data_batches_tokens_and_response_masks(splits):
    data = ChatData(splits["train"][:50], TOK, context_length=48)
    tokens, mask = data.get_batch(8, np.random.default_rng(0))
    assert tokens.dtype == np.int64 and mask.dtype == bool and tokens.shape == mask.shape
    assert tokens.shape[0] == 8 and tokens.shape[1] <= data.tokens.shape[1]
    assert (tokens[:, -1] != TOK.pad_id).any()                # cut to the batch's longest row
    assert (mask == response_mask(tokens, TOK)).all()
    assert not mask[:, 0].any() and (tokens[:, 0] == marker_ids(TOK)[0]).all()
    assert ((tokens != TOK.pad_id) | ~mask).all()
    again = data.get_batch(8, np.random.default_rng(0))
    assert (again[0] == tokens).all()
    prompts = data.prompt_ids()
    assert all(p[-1] == marker_ids(TOK)[1] for p in prompts)
    assert all(list(data.tokens[i, :len(p)]) == p for i, p in enumerate(prompts))


def test_chat_data_and_examples_reject_bad_input(splits):
    with pytest.raises(ValueError, match="more than context_length \\+ 1 = 33"):
        ChatData([e for e in splits["train"] if e.task == "summary"][:5], TOK, context_length=32)
    with pytest.raises(ValueError, match="at least one example"):
        ChatData([], TOK, context_length=32)
    data = ChatData(splits["train"][:5], TOK, context_length=48)
    with pytest.raises(ValueError, match="batch_size"):
        data.get_batch(0, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="split must be one of"):
        examples("test", 3, rng)
    with pytest.raises(ValueError, match="tasks must be"):
        examples("train", 3, rng, ["poetry"])
    with pytest.raises(ValueError, match="n_per_task"):
        examples("train", 0, rng)
    with pytest.raises(TypeError, match="np.random.Generator"):
        examples("train", 3, 0)
