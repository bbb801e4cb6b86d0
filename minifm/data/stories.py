"""A built-in, seeded corpus of little stories for pre-training BERT, and a labelled task on it.

Each *document* is one day in the life of one character, told in short sentences whose order
follows fixed rules. It always opens with the character waking up and ends with them going to
bed; in between come, in this order, a random subset of five episodes:

    weather   "it is rainy today ."                 ->  "so she takes her umbrella ."
    pet       "tom feeds his cat ."                 ->  "the cat meows ."
    outing    "then he walks to the library ."      ->  "at the library he reads a book ."
    lunch     "for lunch mia eats soup ."           ->  "the soup is tasty so she smiles ."
    dinner    "for dinner mia eats rice ."          ->  "the rice is stale so she frowns ."

So there is something to learn from both of BERT's pre-training tasks:

* masked words are predictable from context: the pronoun from the name ("mia ... she"), the
  umbrella from the rain, "meows" from the cat, the activity from the place, and the reaction
  from the adjective (a *tasty* soup makes you smile, a *stale* one makes you frown);
* whether sentence B follows sentence A is predictable: the same character and pronoun, the
  same pet or place, the episode order (the umbrella comes after the weather, lunch comes after
  the outing, bed comes last).

The labelled task (``sentiment_examples``): "for lunch tom eats pie . the pie is lovely ."
-> 1 (liked) or 0 (disliked), with the reaction left out, so the label is carried by the
adjective alone. The labelled *training* adjectives are only ``LABELLED_ADJECTIVES``; the held-out
split uses the other ``HELD_OUT_ADJECTIVES``. A model trained from scratch on the small labelled
set has never seen the held-out adjectives next to a label; a pre-trained encoder has seen all of
them in the stories, each next to a smile or a frown, and can transfer that.
"""

from __future__ import annotations

import numpy as np

# (name, subject pronoun, possessive)
CHARACTERS = [("tom", "he", "his"), ("ben", "he", "his"), ("sam", "he", "his"),
              ("leo", "he", "his"), ("max", "he", "his"), ("anna", "she", "her"),
              ("mia", "she", "her"), ("lily", "she", "her"), ("emma", "she", "her"),
              ("zoe", "she", "her")]
WEATHER = {"rainy": "umbrella", "sunny": "hat", "cold": "coat", "windy": "kite"}
PETS = {"dog": "barks", "cat": "meows", "bird": "sings", "horse": "neighs"}
OUTINGS = {"library": "reads a book", "park": "plays football", "pool": "swims",
           "market": "buys apples", "school": "learns to count"}
FOODS = ["soup", "pie", "rice", "bread", "cake", "pasta"]
POSITIVE = ["tasty", "sweet", "fresh", "lovely", "delicious", "perfect", "yummy", "great"]
NEGATIVE = ["awful", "bitter", "stale", "bland", "burnt", "soggy", "salty", "gross"]
LIKES = ["smiles", "asks for more", "eats it all"]
DISLIKES = ["frowns", "leaves it", "pushes it away"]

# The adjectives a labelled training example may use; the held-out split uses the rest.
LABELLED_ADJECTIVES = POSITIVE[:3] + NEGATIVE[:3]
HELD_OUT_ADJECTIVES = POSITIVE[3:] + NEGATIVE[3:]


def _pick(rng: np.random.Generator, items: list | dict) -> str:
    items = list(items)
    return items[int(rng.integers(len(items)))]


def _meal(rng: np.random.Generator, meal: str, name: str, pron: str,
          adjectives: list[str] | None = None) -> tuple[str, str, str, bool]:
    """The meal sentences (eat, judge with reaction, judge alone) and whether it was liked."""
    food = _pick(rng, FOODS)
    adj = _pick(rng, adjectives if adjectives is not None else POSITIVE + NEGATIVE)
    liked = adj in POSITIVE
    reaction = _pick(rng, LIKES if liked else DISLIKES)
    return (f"for {meal} {name} eats {food} .", f"the {food} is {adj} so {pron} {reaction} .",
            f"the {food} is {adj} .", liked)


def story(rng: np.random.Generator) -> list[str]:
    """One document: a list of sentences (lower case, words and "." separated by spaces)."""
    name, pron, poss = CHARACTERS[int(rng.integers(len(CHARACTERS)))]
    sentences = [_pick(rng, [f"{name} wakes up early .", f"{name} gets out of bed .",
                             f"in the morning {name} wakes up ."])]
    if rng.random() < 0.6:
        weather = _pick(rng, WEATHER)
        sentences += [f"it is {weather} today .", f"so {pron} takes {poss} {WEATHER[weather]} ."]
    if rng.random() < 0.6:
        pet = _pick(rng, PETS)
        sentences += [f"{name} feeds {poss} {pet} .", f"the {pet} {PETS[pet]} ."]
    if rng.random() < 0.6:
        place = _pick(rng, OUTINGS)
        sentences += [f"then {pron} walks to the {place} .",
                      f"at the {place} {pron} {OUTINGS[place]} ."]
    for meal, p in (("lunch", 0.8), ("dinner", 0.5)):
        if rng.random() < p:
            eat, judged, _, _ = _meal(rng, meal, name, pron)
            sentences += [eat, judged]
    sentences.append(_pick(rng, [f"in the evening {name} goes to bed .",
                                 f"at night {pron} falls asleep ."]))
    return sentences


def story_corpus(n_documents: int, seed: int = 0) -> list[list[str]]:
    """``n_documents`` stories drawn with ``np.random.default_rng(seed)`` (same seed, same text)."""
    rng = np.random.default_rng(seed)
    return [story(rng) for _ in range(n_documents)]


def sentiment_examples(n: int, split: str, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` labelled reviews and their labels (N,) int64: 1 = liked, 0 = disliked, balanced.

    split "train" uses only ``LABELLED_ADJECTIVES``; "val" (held out) only ``HELD_OUT_ADJECTIVES``.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    adjectives = LABELLED_ADJECTIVES if split == "train" else HELD_OUT_ADJECTIVES
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        name, pron, _ = CHARACTERS[int(rng.integers(len(CHARACTERS)))]
        polarity = POSITIVE if i % 2 == 0 else NEGATIVE
        eat, _, judged, liked = _meal(rng, "lunch", name, pron,
                                      [a for a in adjectives if a in polarity])
        texts.append(f"{eat} {judged}")
        labels.append(int(liked))
    return texts, np.array(labels, dtype=np.int64)
