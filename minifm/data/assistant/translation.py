"""Translation between the grammar's English and Zin, a toy language with its own words and order.

Lesson: "From GPT to assistant" (issue 12).

English is the grammar corpus's language (``minifm.data.corpora``: its nouns, verbs, adjectives
and determiners, with number agreement), in sentences without a relative clause. Zin has a word
for each English lemma (``ZIN``) and another word order:

    English   Det [Adj] N  V  [Det [Adj] N] .      subject - verb - object, the verb agrees
    Zin       N [ka] [Adj] Det  [N [ka] [Adj] Det]  V .   subject - object - verb; "ka" after a
                                                        plural noun; the verb never changes

    the small cat sees two dogs .   <->   miro pik lo vask ka du voti .

Both directions are deterministic: Zin marks the number on the noun (``ka``), English on the
noun, the determiner and the verb. Requests read ``translate to zin : ...`` or
``translate to english : ...``.

Judge: correct = exact match; score = token accuracy, the share of positions where the answer
has the reference's word (over the longer of the two), so the right words in the wrong order
score low. Held out: the (adjective, noun) pairs of ``HELD_OUT_PAIRS`` (one noun per adjective),
never in a training sentence.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minifm.data.assistant.example import Example, pick, token_accuracy
from minifm.data.corpora import ADJECTIVES, DETERMINERS, INTRANSITIVE, NOUNS, PL, SG, TRANSITIVE
from minifm.tokenizers.word import split_words

TASK = "translation"
ZIN = {   # English lemma (singular noun, plural verb form) -> Zin word
    "cat": "miro", "dog": "vask", "bird": "pilu", "child": "tani", "teacher": "doka",
    "fox": "relo", "mouse": "sipi", "robot": "gorm",
    "sleep": "nema", "run": "kaso", "sing": "lalu", "wait": "bovi", "laugh": "hiha",
    "see": "voti", "like": "amu", "chase": "fuga", "follow": "segi", "help": "jutu",
    "small": "pik", "big": "gran", "happy": "jolo", "lazy": "mol", "red": "ruj", "quiet": "sil",
    "tiny": "mik",
    "a": "un", "one": "en", "this": "tis", "every": "oma", "the": "lo", "two": "du",
    "these": "tes", "some": "kel", "many": "mul",
}
PLURAL = "ka"
P_ADJECTIVE = 0.4
HELD_OUT_PAIRS = tuple((ADJECTIVES[i % len(ADJECTIVES)], NOUNS[i][0]) for i in range(len(NOUNS)))
LANGUAGES = ("zin", "english")
WORDS = frozenset([w for pair in NOUNS + INTRANSITIVE + TRANSITIVE for w in pair]
                  + ADJECTIVES + DETERMINERS[SG] + DETERMINERS[PL] + list(ZIN.values())
                  + [PLURAL, "translate", "to", ":", "."] + list(LANGUAGES))


class Phrase(NamedTuple):
    """A noun phrase: determiner, adjective (or None), noun lemma (singular), number."""

    det: str
    adj: str | None
    noun: str
    number: str


class Sentence(NamedTuple):
    subject: Phrase
    verb: int              # index into INTRANSITIVE (object None) or TRANSITIVE
    object: Phrase | None


def _phrase(rng: np.random.Generator) -> Phrase:
    number = pick(rng, (SG, PL))
    adj = pick(rng, ADJECTIVES) if rng.random() < P_ADJECTIVE else None
    return Phrase(pick(rng, DETERMINERS[number]), adj, pick(rng, NOUNS)[0], number)


def draw_sentence(rng: np.random.Generator) -> Sentence:
    """A random sentence: a subject, a verb and, for a transitive verb, an object."""
    subject = _phrase(rng)
    if rng.random() < 0.5:
        return Sentence(subject, int(rng.integers(len(INTRANSITIVE))), None)
    return Sentence(subject, int(rng.integers(len(TRANSITIVE))), _phrase(rng))


def _english_np(p: Phrase) -> list[str]:
    noun = next(pair for pair in NOUNS if pair[0] == p.noun)[0 if p.number == SG else 1]
    return [p.det] + ([p.adj] if p.adj else []) + [noun]


def _zin_np(p: Phrase) -> list[str]:
    return ([ZIN[p.noun]] + ([PLURAL] if p.number == PL else []) + ([ZIN[p.adj]] if p.adj else [])
            + [ZIN[p.det]])


def english(s: Sentence) -> str:
    """The sentence in English, e.g. ``the small cat sees two dogs .``"""
    verbs = TRANSITIVE if s.object else INTRANSITIVE
    verb = verbs[s.verb][0 if s.subject.number == SG else 1]
    obj = _english_np(s.object) if s.object else []
    return " ".join(_english_np(s.subject) + [verb] + obj + ["."])


def zin(s: Sentence) -> str:
    """The sentence in Zin, e.g. ``miro pik lo vask ka du voti .``"""
    lemma = (TRANSITIVE if s.object else INTRANSITIVE)[s.verb][1]     # the plural form is the lemma
    obj = _zin_np(s.object) if s.object else []
    return " ".join(_zin_np(s.subject) + obj + [ZIN[lemma], "."])


def held_out_parts(s: Sentence) -> tuple[str, ...]:
    phrases = [p for p in (s.subject, s.object) if p is not None]
    return tuple(dict.fromkeys(f"pair:{p.adj} {p.noun}" for p in phrases
                               if (p.adj, p.noun) in HELD_OUT_PAIRS))


def generate(rng: np.random.Generator) -> Example:
    """A request to translate one sentence, into Zin or into English (half each)."""
    s = draw_sentence(rng)
    target = pick(rng, LANGUAGES)
    source, answer = (english(s), zin(s)) if target == "zin" else (zin(s), english(s))
    return Example(TASK, f"translate to {target} : {source}", answer, {"answer": answer},
                   held_out=held_out_parts(s))


def grade(example: Example, answer: str) -> tuple[bool, float, dict]:
    """Exact match, with token accuracy as partial credit."""
    got, want = split_words(answer), split_words(example.facts["answer"])
    accuracy = token_accuracy(got, want)
    return got == want, accuracy, {"exact": got == want, "token_accuracy": accuracy}
