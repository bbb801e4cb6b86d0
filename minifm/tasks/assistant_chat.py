"""Talking to an assistant-world GPT: one request in, one answer out (what ``minifm chat`` runs).

Lesson 15, "From GPT to assistant" (issue 12). Dimension letters: B batch (1 here), T time.

    model, tokenizer = load_run("out/assistant-sft")
    reply(model, tokenizer, "add 2 and 3")                  # e.g. "2 + 3" (greedy by default)
    reply(model, tokenizer, "add 2 and 3", temperature=0.8, top_k=5, rng=rng)

The request is wrapped in the chat format (``<|user|> request <|assistant|>``) and the model
continues it until ``<|end|>``, as in ``minifm.tasks.assistant.answer``, with the sampling knobs
of ``minifm sample``. A word the world's tokenizer does not know would become [UNK], which the
model never read in training, so such a request is refused with the unknown words named.
"""

from __future__ import annotations

import numpy as np

from minifm.data.assistant import render_prompt
from minifm.models.gpt import GPT
from minifm.tasks.assistant import MAX_ANSWER_TOKENS, check_world, response_words
from minifm.tokenizers.word import SPECIAL_TOKENS, WordTokenizer, split_words

EXAMPLE_REQUEST = "add 2 and 3"      # a request in the world's words, shown when one is refused


def check_request(tokenizer: WordTokenizer, request: str) -> str:
    """``request`` as the world's words joined by spaces; a ValueError that names the words the
    world does not know (or says the request is empty)."""
    if not isinstance(request, str):
        raise TypeError(f"a request must be a str, got {type(request).__name__}")
    words = split_words(request)
    if not words:
        raise ValueError(f"the request is empty; try e.g. {EXAMPLE_REQUEST!r}")
    known = set(tokenizer.vocab) - set(SPECIAL_TOKENS)
    unknown = list(dict.fromkeys(w for w in words if w not in known))
    if unknown:
        raise ValueError(f"request {request!r} has words the model never saw: "
                         f"{', '.join(unknown)}; it knows only the assistant world's "
                         f"{len(known)} words, e.g. {EXAMPLE_REQUEST!r}")
    return " ".join(words)


def reply(model: GPT, tokenizer: WordTokenizer, request: str, *,
          max_new_tokens: int = MAX_ANSWER_TOKENS, temperature: float = 0.0,
          top_k: int | None = None, top_p: float | None = None,
          rng: np.random.Generator | None = None, use_cache: bool = True) -> str:
    """The model's answer to one request in the world's words: its tokens after
    ``<|assistant|>`` up to the first ``<|end|>`` (at most ``max_new_tokens``, never past the
    context). Sampling as in ``GPT.generate`` (temperature 0 = greedy)."""
    check_world(tokenizer, model.config)
    ids = tokenizer.encode(render_prompt(check_request(tokenizer, request)),
                           add_special_tokens=False)
    room = model.config.context_length - len(ids)
    if room < 1:
        raise ValueError(f"request {request!r} has {len(ids)} tokens in the chat format; the "
                         f"model reads at most {model.config.context_length - 1}")
    idx = np.array([ids], dtype=np.int64)                                   # (1, T0)
    out = model.generate(idx, min(max_new_tokens, room), temperature, top_k, top_p, rng=rng,
                         use_cache=use_cache)                               # (1, T0 + new)
    return response_words(tokenizer, out[0].tolist())
