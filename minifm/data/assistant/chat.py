"""The chat format: a conversation as one token row, and the mask of the assistant's tokens.

Lesson: "From GPT to assistant" (issue 12). Dimension letters: B batch, T time (positions).

A conversation is the user's message and the assistant's answer between three markers, each one
token of the world's word-level tokenizer (``minifm.tokenizers.word`` keeps ``<|name|>`` whole):

    <|user|> who has the kite ? <|assistant|> tom <|end|>
    '-------------- prompt --------------'  '-response-'

A *prompt* is everything up to and including ``<|assistant|>``: what a model is given before it
answers. The *response* is the answer and the ``<|end|>`` that closes it, so a model learns when
to stop. Supervised fine-tuning trains on the response only: ``response_mask`` is 1 on the
response's tokens (``<|end|>`` included) and 0 on the prompt and on padding.
"""

from __future__ import annotations

import numpy as np

from minifm.tokenizers.word import WordTokenizer, split_words

USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"
MARKERS = (USER, ASSISTANT, END)


def _check_message(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    words = split_words(text)
    if not words:
        raise ValueError(f"{what} is empty")
    markers = [w for w in words if w in MARKERS]
    if markers:
        raise ValueError(f"{what} must not contain the chat markers, got {markers[0]} in {text!r}")
    return " ".join(words)


def render_prompt(message: str) -> str:
    """``<|user|> message <|assistant|>``: what a model reads before it answers."""
    return f"{USER} {_check_message(message, 'the user message')} {ASSISTANT}"


def render(message: str, response: str) -> str:
    """The whole conversation, ``<|user|> message <|assistant|> response <|end|>``."""
    return f"{render_prompt(message)} {_check_message(response, 'the response')} {END}"


def parse_prompt(text: str) -> str:
    """The user message of a prompt ``<|user|> message <|assistant|>``.

    Raises ValueError, showing what arrived, for text without that format (no markers, markers
    out of order, an empty message, or an answer already after ``<|assistant|>``)."""
    if not isinstance(text, str):
        raise TypeError(f"a prompt must be a str, got {type(text).__name__}")
    words = split_words(text)
    if len(words) < 3 or words[0] != USER or words[-1] != ASSISTANT \
            or any(w in MARKERS for w in words[1:-1]):
        raise ValueError(f"a prompt must have the chat format '{USER} message {ASSISTANT}' "
                         f"(one message, nothing after {ASSISTANT}), got {text!r}")
    return " ".join(words[1:-1])


def parse_conversation(text: str) -> tuple[str, str]:
    """(message, response) of ``<|user|> message <|assistant|> response <|end|>``."""
    if not isinstance(text, str):
        raise TypeError(f"a conversation must be a str, got {type(text).__name__}")
    words = split_words(text)
    if ASSISTANT not in words or words[-1:] != [END]:
        raise ValueError(f"a conversation must have the chat format '{USER} message {ASSISTANT} "
                         f"response {END}', got {text!r}")
    cut = words.index(ASSISTANT) + 1
    response = words[cut:-1]
    if not response or any(w in MARKERS for w in response):
        raise ValueError(f"a conversation needs one response between {ASSISTANT} and {END}, "
                         f"got {text!r}")
    return parse_prompt(" ".join(words[:cut])), " ".join(response)


def answer_of(generated: str) -> tuple[str, bool]:
    """The answer in a model's continuation of a prompt: its words up to the first ``<|end|>``,
    and whether an ``<|end|>`` came (False: the answer ran out of room before it finished).
    A stray ``<|user|>`` or ``<|assistant|>`` also ends it (the model began a new turn)."""
    words = split_words(generated)
    for i, w in enumerate(words):
        if w in MARKERS:
            return " ".join(words[:i]), w == END
    return " ".join(words), False


def marker_ids(tokenizer: WordTokenizer) -> tuple[int, int, int]:
    """The ids of ``<|user|>``, ``<|assistant|>`` and ``<|end|>`` in ``tokenizer``."""
    ids = [tokenizer.encode(m, add_special_tokens=False) for m in MARKERS]
    if any(len(i) != 1 or i[0] == tokenizer.unk_id for i in ids):
        raise ValueError(f"the tokenizer has no chat markers {MARKERS}; use the assistant "
                         "world's tokenizer (minifm.data.assistant.world_tokenizer())")
    return ids[0][0], ids[1][0], ids[2][0]


def encode_prompt(tokenizer: WordTokenizer, message: str) -> list[int]:
    """The ids of ``render_prompt(message)``, with no [BOS] / [EOS] (``<|user|>`` opens a row)."""
    marker_ids(tokenizer)
    return tokenizer.encode(render_prompt(message), add_special_tokens=False)


def encode_conversation(tokenizer: WordTokenizer, message: str,
                        response: str) -> tuple[list[int], list[int]]:
    """The ids of ``render(message, response)`` and its response mask (0/1 per id)."""
    ids = encode_prompt(tokenizer, message)
    answer = tokenizer.encode(f"{_check_message(response, 'the response')} {END}",
                              add_special_tokens=False)
    return ids + answer, [0] * len(ids) + [1] * len(answer)


def response_mask(ids: np.ndarray, tokenizer: WordTokenizer) -> np.ndarray:
    """1 on the response's tokens, 0 on the prompt and padding; same shape as ``ids``.

    ids: (T,) or (B, T) token ids, each row one conversation (right-padded with [PAD]), e.g. a
    prompt and what a model generated after it. The response is every token after the row's
    first ``<|assistant|>``, up to and including the first ``<|end|>`` after it, or to the end of
    the row if no ``<|end|>`` came. Returns a bool array; a row without ``<|assistant|>`` is a
    ValueError (it has no response)."""
    ids = np.asarray(ids)
    if ids.ndim not in (1, 2) or not np.issubdtype(ids.dtype, np.integer) or ids.size == 0:
        raise ValueError(f"response_mask needs a non-empty (T,) or (B, T) integer array of ids, "
                         f"got {ids.dtype} array of shape {ids.shape}")
    _, assistant, end = marker_ids(tokenizer)
    rows = np.atleast_2d(ids)                                         # (B, T)
    is_assistant = rows == assistant
    missing = ~is_assistant.any(axis=1)
    if missing.any():
        raise ValueError(f"row {int(np.argmax(missing))} of the ids has no {ASSISTANT} marker, "
                         "so no response; every row must hold a chat prompt")
    after = np.cumsum(is_assistant, axis=1) - is_assistant > 0        # strictly after it
    is_end = (rows == end) & after
    ended = np.cumsum(is_end, axis=1) - is_end > 0                    # an <|end|> came before
    mask = after & ~ended & (rows != tokenizer.pad_id)                # (B, T)
    return mask.reshape(ids.shape)
