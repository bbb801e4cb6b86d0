"""Summarisation: a short story -> one sentence saying who did what and why, judged field by field.

Lesson: "From GPT to assistant" (issue 12).

The stories are the BERT stories' (``minifm.data.stories``: its characters, weather, pets,
outings, foods and reactions), cut down to a day with one cause and its effect among other
events:

    summarise : mia wakes up . mia feeds her cat . it is rainy today . so she takes her umbrella .
                at night she sleeps .
    ->  mia takes her umbrella because it is rainy .

The cause is the weather (-> what the character takes) or a meal (-> how they react to it):
"tom frowns because the soup is stale .". A summary has the form ``WHO WHAT because WHY .``.

Judge: the three fields are read off the answer and compared one by one (who = the first word;
what = up to "because"; why = after it, before the final "."); correct = all three right and
the form exact; score = the share of the four checks (three fields and the form) passed.
Held out: the held-out names, ``HELD_OUT_CHARACTER`` (a task/entity pair: she is in the training
questions of the other tasks, never in a training story) and the (food, adjective) pairs of
``HELD_OUT_MEALS``, never in a training story.
"""

from __future__ import annotations

import numpy as np

from minifm.data.assistant.example import Example, character, names_held_out, pick
from minifm.data.stories import (DISLIKES, FOODS, LIKES, NEGATIVE, OUTINGS, PETS, POSITIVE,
                                 WEATHER)
from minifm.tokenizers.word import split_words

TASK = "summary"
FIELDS = ("who", "what", "why")
HELD_OUT_CHARACTER = "anna"
HELD_OUT_MEALS = tuple((food, adjs[i]) for i, food in enumerate(FOODS)
                       for adjs in (POSITIVE, NEGATIVE))
_STORY_WORDS = ("summarise", ":", "wakes", "up", "feeds", "then", "walks", "to", "the", "at",
                "night", "sleeps", "it", "is", "today", "so", "takes", "for", "lunch", "eats",
                "because", ".")
WORDS = frozenset(list(_STORY_WORDS) + ["he", "she", "his", "her"] + list(WEATHER)
                  + list(WEATHER.values()) + list(PETS) + list(OUTINGS) + FOODS + POSITIVE
                  + NEGATIVE + [w for phrase in LIKES + DISLIKES for w in phrase.split()])


def _cause(rng: np.random.Generator, name: str, pron: str,
           poss: str) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(sentences, fields, held-out parts) of the story's cause and effect."""
    if rng.random() < 0.5:
        weather = pick(rng, list(WEATHER))
        return (f"it is {weather} today . so {pron} takes {poss} {WEATHER[weather]} .",
                {"who": name, "what": f"takes {poss} {WEATHER[weather]}",
                 "why": f"it is {weather}"}, ())
    food, adj = pick(rng, FOODS), pick(rng, POSITIVE + NEGATIVE)
    reaction = pick(rng, LIKES if adj in POSITIVE else DISLIKES)
    held = (f"meal:{food} {adj}",) if (food, adj) in HELD_OUT_MEALS else ()
    return (f"for lunch {name} eats {food} . the {food} is {adj} so {pron} {reaction} .",
            {"who": name, "what": reaction, "why": f"the {food} is {adj}"}, held)


def generate(rng: np.random.Generator) -> Example:
    """A four-event story and its one-sentence summary."""
    name, pron, poss = character(rng)
    cause, fields, held = _cause(rng, name, pron, poss)
    other = pick(rng, [f"{name} feeds {poss} {pick(rng, list(PETS))} .",
                       f"then {pron} walks to the {pick(rng, list(OUTINGS))} ."])
    middle = [other, cause] if rng.random() < 0.5 else [cause, other]
    story = " ".join([f"{name} wakes up ."] + middle + [f"at night {pron} sleeps ."])
    answer = f"{fields['who']} {fields['what']} because {fields['why']} ."
    entity = (f"entity:{name}",) if name == HELD_OUT_CHARACTER else ()
    return Example(TASK, f"summarise : {story}", answer, fields,
                   held_out=names_held_out(name) + entity + held)


def read_fields(answer: str) -> tuple[dict[str, str], bool]:
    """The (who, what, why) of a summary and whether it has the form ``WHO WHAT because WHY .``."""
    got = split_words(answer)
    if "because" not in got:
        return {"who": " ".join(got[:1]), "what": " ".join(got[1:]), "why": ""}, False
    cut = got.index("because")
    why = got[cut + 1:]
    form = cut >= 2 and why[-1:] == ["."] and len(why) >= 2
    return {"who": " ".join(got[:1]), "what": " ".join(got[1:cut]),
            "why": " ".join(why[:-1] if why[-1:] == ["."] else why)}, form


def grade(example: Example, answer: str) -> tuple[bool, float, dict]:
    """Each field against the story's, and the form; the share of checks passed as credit."""
    fields, form = read_fields(answer)
    checks = {f: fields[f] == " ".join(split_words(example.facts[f])) for f in FIELDS}
    checks["form"] = form
    return all(checks.values()), sum(checks.values()) / len(checks), checks
