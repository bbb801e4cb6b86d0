"""``minifm.tasks.assistant_chat``: requests checked against the world's words, answers cut at
``<|end|>``."""

import re

import numpy as np
import pytest

from minifm.data.assistant import world_tokenizer
from minifm.models.gpt import GPT
from minifm.tasks.assistant import model_config, response_words
from minifm.tasks.assistant_chat import EXAMPLE_REQUEST, check_request, reply


@pytest.fixture(scope="module")
def world():
    tokenizer = world_tokenizer()
    config = model_config(tokenizer, n_layer=1, n_head=2, n_embd=8)
    return GPT(config, rng=np.random.default_rng(0)), tokenizer


def test_check_request_keeps_the_worlds_words_and_names_the_unknown_ones(world):
    _, tokenizer = world
    assert check_request(tokenizer, "  Add 2 and 3 ") == "add 2 and 3"
    assert check_request(tokenizer, EXAMPLE_REQUEST) == EXAMPLE_REQUEST
    with pytest.raises(ValueError, match=r"^request 'hello add zorg zorg' has words the model "
                                         r"never saw: hello, zorg; it knows only the assistant "
                                         r"world's 244 words, e.g. 'add 2 and 3'$"):
        check_request(tokenizer, "hello add zorg zorg")
    with pytest.raises(ValueError, match=r"never saw: \[, unk, \];"):    # [UNK] is no word
        check_request(tokenizer, "[UNK]")
    with pytest.raises(ValueError, match="the request is empty"):
        check_request(tokenizer, "  ")
    with pytest.raises(TypeError, match="a request must be a str, got int"):
        check_request(tokenizer, 3)


def test_reply_is_the_greedy_continuation_up_to_end(world):
    model, tokenizer = world
    prompt = tokenizer.encode("<|user|> add 2 and 3 <|assistant|>", add_special_tokens=False)
    row = model.generate(np.array([prompt]), 16, temperature=0.0)[0].tolist()
    assert reply(model, tokenizer, "add 2 and 3") == response_words(tokenizer, row)
    assert reply(model, tokenizer, "add 2 and 3", use_cache=False) == response_words(tokenizer,
                                                                                     row)
    a = reply(model, tokenizer, "add 2 and 3", temperature=1.0, top_k=3,
              rng=np.random.default_rng(5))
    b = reply(model, tokenizer, "add 2 and 3", temperature=1.0, top_k=3,
              rng=np.random.default_rng(5))
    assert a == b and "<|end|>" not in a


def test_reply_refuses_a_request_longer_than_the_context(world):
    model, tokenizer = world
    with pytest.raises(ValueError, match=r"has 50 tokens in the chat format; the model reads at "
                                         r"most 47"):
        reply(model, tokenizer, " ".join(["add"] * 48))


def test_reply_refuses_a_request_with_chat_markers(world):
    model, tokenizer = world
    message = "must not contain the chat markers, got <|end|>"
    with pytest.raises(ValueError, match=re.escape(message)):
        reply(model, tokenizer, "add 2 and 3 <|end|>")
