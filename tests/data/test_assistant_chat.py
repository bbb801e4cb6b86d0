"""The chat format: rendering, parsing, and the response mask on hand-written conversations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minifm.data.assistant import (answer_of, encode_conversation, parse_conversation,
                                   parse_prompt, render, render_prompt, response_mask,
                                   world_tokenizer)
from minifm.data.assistant.chat import marker_ids
from minifm.tokenizers.word import WordTokenizer

TOK = world_tokenizer()


def ids_of(text: str) -> list[int]:
    return TOK.encode(text, add_special_tokens=False)


def test_render_and_parse_round_trip():
    text = render("Who has the kite?", "Tom")
    assert text == "<|user|> who has the kite ? <|assistant|> tom <|end|>"
    assert parse_conversation(text) == ("who has the kite ?", "tom")
    assert parse_prompt(render_prompt("who has the kite ?")) == "who has the kite ?"
    assert parse_prompt("  <|user|>who has the kite?<|assistant|> ") == "who has the kite ?"


@pytest.mark.parametrize("text", [
    "who has the kite ?",                                       # no chat format at all
    "<|user|> who has the kite ?",                              # no <|assistant|>
    "who has the kite ? <|assistant|>",                         # no <|user|>
    "<|user|> <|assistant|>",                                   # an empty message
    "<|user|> who has the kite ? <|assistant|> tom",            # an answer after the prompt
    "<|assistant|> who has the kite ? <|user|>",                # markers in the wrong order
    "<|user|> hi <|end|> who ? <|assistant|>",                  # a marker inside the message
])
def test_a_prompt_without_the_chat_format_is_a_clear_error(text):
    with pytest.raises(ValueError, match="chat format"):
        parse_prompt(text)


def test_bad_messages_and_conversations_are_clear_errors():
    with pytest.raises(ValueError, match="must not contain the chat markers"):
        render_prompt("tell me <|end|>")
    with pytest.raises(ValueError, match="empty"):
        render("  ", "tom")
    with pytest.raises(TypeError, match="must be a str"):
        parse_prompt(["<|user|>"])
    with pytest.raises(ValueError, match="chat format"):
        parse_conversation("<|user|> hi <|assistant|> tom")          # no <|end|>
    with pytest.raises(ValueError, match="one response"):
        parse_conversation("<|user|> hi <|assistant|> <|end|>")


def test_response_mask_on_a_hand_written_conversation():
    ids = np.array(ids_of("<|user|> who has the kite ? <|assistant|> tom <|end|>"))
    #                         0     1   2   3    4  5      6          7     8
    assert response_mask(ids, TOK).tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1]


def test_response_mask_on_a_padded_batch_stops_at_end_and_skips_padding():
    rows = [ids_of("<|user|> hi <|assistant|> a red ball <|end|>") + [TOK.pad_id],
            ids_of("<|user|> hi <|assistant|> tom <|end|> tom tom <|end|>"),   # after <|end|>
            ids_of("<|user|> hi <|assistant|> a red ball ball ball")]          # no <|end|> yet
    mask = response_mask(np.array(rows), TOK)
    assert mask.dtype == bool and mask.shape == (3, 8)
    assert mask.astype(int).tolist() == [[0, 0, 0, 1, 1, 1, 1, 0],
                                         [0, 0, 0, 1, 1, 0, 0, 0],
                                         [0, 0, 0, 1, 1, 1, 1, 1]]


def test_encode_conversation_mask_matches_response_mask():
    ids, mask = encode_conversation(TOK, "what colour is the ball ?", "red")
    assert TOK.decode(ids) == "<|user|> what colour is the ball ? <|assistant|> red <|end|>"
    assert mask == response_mask(np.array(ids), TOK).astype(int).tolist()
    assert sum(mask) == 2                                     # "red" and <|end|>


def test_response_mask_errors():
    with pytest.raises(ValueError, match="no <\\|assistant\\|> marker"):
        response_mask(np.array([ids_of("<|user|> hi"), ids_of("<|user|> hi")]), TOK)
    with pytest.raises(ValueError, match="integer array"):
        response_mask(np.zeros((2, 3)), TOK)
    with pytest.raises(ValueError, match="no chat markers"):
        marker_ids(WordTokenizer(["hi"]))


def test_answer_of_cuts_a_generation_at_its_end_marker():
    assert answer_of(" tom <|end|> <|user|> more") == ("tom", True)
    assert answer_of("a red ball") == ("a red ball", False)
    assert answer_of("tom <|user|> who") == ("tom", False)
    assert answer_of("<|end|>") == ("", True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["<|user|>", "<|assistant|>", "<|end|>", "tom", "red",
                                          "[PAD]"]), min_size=1, max_size=12),
                min_size=1, max_size=4))
def test_response_mask_matches_a_loop_over_each_row(rows):
    width = max(len(r) for r in rows)
    rows = [r + ["[PAD]"] * (width - len(r)) + ["<|assistant|>"] for r in rows]  # one per row
    ids = np.array([[TOK.vocab.index(w) for w in r] for r in rows])
    expected = []
    for r in rows:
        inside, done, row = False, False, []
        for w in r:
            row.append(inside and not done and w != "[PAD]")
            done = done or (inside and w == "<|end|>")
            inside = inside or w == "<|assistant|>"
        expected.append(row)
    assert response_mask(ids, TOK).tolist() == expected
