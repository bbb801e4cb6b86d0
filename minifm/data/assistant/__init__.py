"""The assistant world: chat-formatted requests of five tasks, each with an exact judge.

Lesson: "From GPT to assistant" (issue 12). Generated from a ``np.random.Generator``; nothing
here imports a model (the stages of issue 12 sit above, in ``minifm.tasks``).

    chat         the format ``<|user|> ... <|assistant|> ... <|end|>`` and the response mask
    qa           question answering over a context in the prompt        (exact match, token F1)
    translation  English (the grammar's) <-> Zin, a toy language        (exact, token accuracy)
    codegen      a request in words -> a program in Sum                 (run by ``programs``)
    summary      a short story -> who, what, why                        (field by field)
    harmless     requests for a secret are off limits -> a refusal      (refusal, false refusal)
    judges       ``judge``, ``aggregate``, ``rank``, ``preference_pairs``
    dataset      splits (train / seen / heldout), the tokenizer, ``ChatData`` batches
"""

from minifm.data.assistant.chat import (answer_of, encode_conversation, encode_prompt,
                                        parse_conversation, parse_prompt, render, render_prompt,
                                        response_mask)
from minifm.data.assistant.dataset import (SPLITS, ChatData, examples, length_stats,
                                           world_tokenizer)
from minifm.data.assistant.example import HELD_OUT_NAMES, NAMES, TASKS, Example, Verdict
from minifm.data.assistant.judges import TaskScore, aggregate, judge, preference_pairs, rank

__all__ = ["HELD_OUT_NAMES", "NAMES", "SPLITS", "TASKS", "ChatData", "Example", "TaskScore",
           "Verdict", "aggregate", "answer_of", "encode_conversation", "encode_prompt",
           "examples", "judge", "length_stats", "parse_conversation", "parse_prompt",
           "preference_pairs", "rank", "render", "render_prompt", "response_mask",
           "world_tokenizer"]
