"""Built-in toy corpora, generated from a seed, each with a scorer so learning is measurable.

* ``grammar_corpus``: English-like sentences from a small grammar with number agreement,
  scored by ``score_grammar`` (the fraction of generated sentences that parse and agree).
* ``arithmetic_corpus``: lines like ``12+35=47``, scored by ``arithmetic_accuracy`` (exact
  match of the model's answer to held-out problems ``a+b=``).
* ``agreement_corpus``: a labelled task on the grammar's sentences, ``<sentence>. yes`` or
  ``<sentence>. no`` (is the agreement right?), for fine-tuning a model pre-trained on
  ``grammar_corpus``; scored by ``agreement_accuracy``.

The grammar (one sentence per line, a final period)::

    S   -> NP VP "."                 the subject's number decides the verb's
    NP  -> Det [Adj] N [RC]          Det agrees with N ("a cat", "these cats", "the" either)
    RC  -> "that" VP                 the relative clause's verb agrees with the head noun
    VP  -> Vi | Vt NP'               NP' is an object NP without a relative clause

for example ``the small cat that chases two mice sleeps.``: the main verb "sleeps" agrees
with "cat" across the plural "mice" in between, the long-range dependency a model must learn
(Linzen, Dupoux & Goldberg 2016, "Assessing the Ability of LSTMs to Learn Syntax-Sensitive
Dependencies"). Every word starts with a consonant, so "a" never needs to be "an".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

SG, PL = "sg", "pl"

# Each noun and verb: (singular, plural). Transitive verbs take an object NP.
NOUNS = [("cat", "cats"), ("dog", "dogs"), ("bird", "birds"), ("child", "children"),
         ("teacher", "teachers"), ("fox", "foxes"), ("mouse", "mice"), ("robot", "robots")]
INTRANSITIVE = [("sleeps", "sleep"), ("runs", "run"), ("sings", "sing"), ("waits", "wait"),
                ("laughs", "laugh")]
TRANSITIVE = [("sees", "see"), ("likes", "like"), ("chases", "chase"), ("follows", "follow"),
              ("helps", "help")]
ADJECTIVES = ["small", "big", "happy", "lazy", "red", "quiet", "tiny"]
DETERMINERS = {SG: ["a", "one", "this", "every", "the"],
               PL: ["two", "these", "some", "many", "the"]}

P_ADJECTIVE = 0.3         # chance an NP has an adjective
P_RELATIVE = 0.4          # chance the subject NP has a relative clause
P_TRANSITIVE = 0.5        # chance a VP has a transitive verb (and so an object)

# Lookup tables for the parser: word -> the numbers it allows, and verb -> (number, transitive).
_DET_NUMBERS = {d: {n for n in (SG, PL) if d in DETERMINERS[n]} for n in (SG, PL)
                for d in DETERMINERS[n]}
_NOUN_NUMBER = {w: n for pair in NOUNS for w, n in zip(pair, (SG, PL))}
_VERB = {w: (n, transitive) for verbs, transitive in ((INTRANSITIVE, False), (TRANSITIVE, True))
         for pair in verbs for w, n in zip(pair, (SG, PL))}


# ---- the grammar corpus ------------------------------------------------------------------------
def _pick(rng: np.random.Generator, items: list) -> object:
    return items[int(rng.integers(len(items)))]


def _noun_phrase(rng: np.random.Generator, number: str) -> list[str]:
    words = [_pick(rng, DETERMINERS[number])]
    if rng.random() < P_ADJECTIVE:
        words.append(_pick(rng, ADJECTIVES))
    words.append(_pick(rng, NOUNS)[0 if number == SG else 1])
    return words


def _verb_phrase(rng: np.random.Generator, number: str) -> list[str]:
    which = 0 if number == SG else 1
    if rng.random() < P_TRANSITIVE:
        obj = _noun_phrase(rng, SG if rng.random() < 0.5 else PL)
        return [_pick(rng, TRANSITIVE)[which]] + obj
    return [_pick(rng, INTRANSITIVE)[which]]


def grammar_sentence(rng: np.random.Generator) -> str:
    """One random sentence of the grammar, with its final period, e.g. ``the dogs run.``"""
    number = SG if rng.random() < 0.5 else PL
    words = _noun_phrase(rng, number)
    if rng.random() < P_RELATIVE:
        words += ["that"] + _verb_phrase(rng, number)
    words += _verb_phrase(rng, number)
    return " ".join(words) + "."


def grammar_corpus(n_sentences: int = 2000, seed: int = 0) -> str:
    """``n_sentences`` grammatical sentences, one per line (each line ends in ``"\\n"``)."""
    if n_sentences < 1:
        raise ValueError(f"n_sentences must be >= 1, got {n_sentences}")
    rng = np.random.default_rng(seed)
    return "".join(grammar_sentence(rng) + "\n" for _ in range(n_sentences))


# ---- parsing and scoring -----------------------------------------------------------------------
# Each parse function reads words from position i and returns (next position, number of the
# phrase's head, whether every agreement inside it holds), or None if the words do not fit.
def _parse_np(words: list[str], i: int, allow_relative: bool) -> tuple[int, str, bool] | None:
    if i >= len(words) or words[i] not in _DET_NUMBERS:
        return None
    det_numbers = _DET_NUMBERS[words[i]]
    i += 1
    if i < len(words) and words[i] in ADJECTIVES:
        i += 1
    if i >= len(words) or words[i] not in _NOUN_NUMBER:
        return None
    number = _NOUN_NUMBER[words[i]]
    agrees = number in det_numbers
    i += 1
    if allow_relative and i < len(words) and words[i] == "that":
        vp = _parse_vp(words, i + 1, number)
        if vp is None:
            return None
        i, vp_agrees = vp
        agrees = agrees and vp_agrees
    return i, number, agrees


def _parse_vp(words: list[str], i: int, subject_number: str) -> tuple[int, bool] | None:
    if i >= len(words) or words[i] not in _VERB:
        return None
    number, transitive = _VERB[words[i]]
    agrees = number == subject_number
    i += 1
    if transitive:
        obj = _parse_np(words, i, allow_relative=False)
        if obj is None:
            return None
        i, _, obj_agrees = obj
        agrees = agrees and obj_agrees
    return i, agrees


def parse_sentence(sentence: str) -> tuple[bool, bool]:
    """Return (parses, agrees) for one sentence, with or without its final period.

    ``parses``: the words follow the grammar's word order, ignoring number.
    ``agrees``: it parses and every determiner, noun and verb agree in number.
    A sentence broken across lines (a newline between its words) does not parse: the corpus
    has one sentence per line.
    """
    sentence = sentence.strip()
    if "\n" in sentence:
        return False, False
    words = sentence.removesuffix(".").split()
    np_ = _parse_np(words, 0, allow_relative=True)
    if np_ is None:
        return False, False
    i, number, np_agrees = np_
    vp = _parse_vp(words, i, number)
    if vp is None or vp[0] != len(words):
        return False, False
    return True, np_agrees and vp[1]


@dataclass(frozen=True)
class GrammarScore:
    """Counts over the complete sentences (those ending in ".") of a text."""

    sentences: int
    parsed: int            # sentences with correct word order
    grammatical: int       # sentences that parse and agree

    @property
    def grammaticality(self) -> float:
        """Fraction of complete sentences that are fully grammatical (0.0 if there are none)."""
        return self.grammatical / self.sentences if self.sentences else 0.0

    @property
    def parse_rate(self) -> float:
        """Fraction of complete sentences with correct word order (0.0 if there are none)."""
        return self.parsed / self.sentences if self.sentences else 0.0


def score_grammar(text: str) -> GrammarScore:
    """Score generated text: split it at periods and parse every complete sentence.

    The piece after the last period is unfinished and is not counted. An empty piece (two
    periods in a row) counts as a sentence that does not parse.
    """
    pieces = text.split(".")[:-1]
    verdicts = [parse_sentence(p) for p in pieces]
    return GrammarScore(sentences=len(verdicts), parsed=sum(p for p, _ in verdicts),
                        grammatical=sum(a for _, a in verdicts))


# ---- a labelled task on the same sentences: is the agreement right? --------------------------
def _flip_main_verb(sentence: str) -> str:
    """The sentence with its last verb put in the other number, e.g. sleeps -> sleep."""
    words = sentence.removesuffix(".").split()
    for j in range(len(words) - 1, -1, -1):     # the main verb is the last verb of the sentence
        if words[j] in _VERB:
            number, transitive = _VERB[words[j]]
            pair = next(p for p in (TRANSITIVE if transitive else INTRANSITIVE) if words[j] in p)
            words[j] = pair[1] if number == SG else pair[0]
            return " ".join(words) + "."
    raise ValueError(f"no verb in {sentence!r}")


def agreement_examples(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` labelled sentences ``(sentence, "yes" | "no")``: "no" sentences (half, at random)
    have their main verb in the wrong number."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(n):
        sentence = grammar_sentence(rng)
        if rng.random() < 0.5:
            examples.append((sentence, "yes"))
        else:
            examples.append((_flip_main_verb(sentence), "no"))
    return examples


def agreement_corpus(n_lines: int = 2000, seed: int = 0) -> str:
    """Lines ``<sentence> yes`` or ``<sentence> no`` (see ``agreement_examples``).

    Uses only characters of ``grammar_corpus``, so a tokenizer trained on the grammar corpus
    encodes it.
    """
    return "".join(f"{sentence} {label}\n" for sentence, label in agreement_examples(n_lines, seed))


def agreement_accuracy(complete: Callable[[list[str]], list[str]],
                       examples: list[tuple[str, str]]) -> float:
    """Prompt ``"<sentence> "`` and check that the completion's first word is the label.

    ``complete`` maps prompts to completions (generated text only), as in ``arithmetic_accuracy``.
    Examples are drawn independently of the training lines; short sentences may repeat.
    """
    if not examples:
        raise ValueError("agreement_accuracy needs at least one example")
    completions = _complete_all(complete, [f"{sentence} " for sentence, _ in examples])
    correct = [c.split()[:1] == [label] for c, (_, label) in zip(completions, examples)]
    return sum(correct) / len(correct)


def _complete_all(complete: Callable[[list[str]], list[str]], prompts: list[str]) -> list[str]:
    completions = complete(prompts)
    if len(completions) != len(prompts):
        raise ValueError(f"complete() returned {len(completions)} completions for "
                         f"{len(prompts)} prompts")
    return completions


# ---- arithmetic ---------------------------------------------------------------------------------
def _check_digits(digits: int) -> None:
    if not 1 <= digits <= 9:
        raise ValueError(f"digits must be in 1..9, got {digits}")


def _held_out(a: np.ndarray, b: np.ndarray, digits: int) -> np.ndarray:
    """True for the ~10 % of problems a+b kept out of the training corpus (for testing).

    Knuth's multiplicative hash of the problem's number a·10^digits + b: the product's top bits
    are well mixed, so "hash < 10 % of 2^32" picks a fixed pseudo-random tenth of all problems.
    """
    key = (a.astype(np.uint64) * np.uint64(10 ** digits) + b.astype(np.uint64)) % np.uint64(2**32)
    h = (key * np.uint64(2654435761)) % np.uint64(2**32)
    return h < np.uint64(2**32 // 10)


def _sample_problems(n: int, digits: int, seed: int, held_out: bool) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    found: list[tuple[int, int]] = []
    while len(found) < n:
        a, b = rng.integers(0, 10 ** digits, size=(2, 20 * n))
        keep = _held_out(a, b, digits) == held_out
        found += list(zip(a[keep].tolist(), b[keep].tolist()))
    return found[:n]


def arithmetic_corpus(n_lines: int = 2000, digits: int = 2, seed: int = 0) -> str:
    """Lines ``a+b=c`` with a, b uniform in [0, 10^digits); held-out problems never appear."""
    _check_digits(digits)
    if n_lines < 1:
        raise ValueError(f"n_lines must be >= 1, got {n_lines}")
    return "".join(f"{a}+{b}={a + b}\n"
                   for a, b in _sample_problems(n_lines, digits, seed, held_out=False))


def arithmetic_problems(n: int = 100, digits: int = 2, seed: int = 1) -> list[tuple[int, int]]:
    """``n`` test problems (a, b) drawn, with replacement, from the held-out tenth of all pairs."""
    _check_digits(digits)
    return _sample_problems(n, digits, seed, held_out=True)


def arithmetic_accuracy(complete: Callable[[list[str]], list[str]],
                        problems: list[tuple[int, int]]) -> float:
    """Exact-match accuracy: prompt ``"a+b="`` and compare the completion's first line with a+b.

    ``complete`` maps a list of prompts to a list of completions (the generated text only,
    without the prompt), e.g. greedy decoding with a trained model.
    """
    if not problems:
        raise ValueError("arithmetic_accuracy needs at least one problem")
    completions = _complete_all(complete, [f"{a}+{b}=" for a, b in problems])
    correct = [c.split("\n")[0] == str(a + b) for c, (a, b) in zip(completions, problems)]
    return sum(correct) / len(correct)
