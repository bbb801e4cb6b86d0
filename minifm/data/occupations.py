"""A toy corpus with a bias put in on purpose: occupations followed by "he" or "she" in a chosen
proportion, so what a model learns can be compared with a skew that is known exactly.

    sentences = occupation_sentences(3000, skew=0.8, seed=0)
    # "the nurse said that she was tired ." -- "she" after 80% of the SHE_LEANING jobs'
    # sentences and after 20% of the HE_LEANING jobs' sentences
    she_shares(sentences)                      # {"nurse": 0.79..., "pilot": 0.21..., ...}

``skew=0.5`` gives the balanced corpus that a model is fine-tuned on to measure how much of the
learned skew it unlearns. Every sentence is one of ``TEMPLATES`` with a job and a pronoun;
words are lower case and separated by single spaces (the period too), so a word-level
tokenizer and a character tokenizer read the same text.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

HE_LEANING = ("pilot", "farmer", "builder", "driver")     # "he" is the majority pronoun
SHE_LEANING = ("nurse", "dancer", "teacher", "baker")     # "she" is the majority pronoun
OCCUPATIONS = HE_LEANING + SHE_LEANING
PRONOUNS = ("he", "she")
# each template: the words before the pronoun, and after it
TEMPLATES = (("the {job} said that", "was tired ."),
             ("the {job} came home and", "slept ."),
             ("the {job} smiled because", "had won ."))


def she_probability(job: str, skew: float) -> float:
    """How often ``job`` is followed by "she" in a corpus of ``skew``: skew for the
    SHE_LEANING jobs, 1 - skew for the HE_LEANING ones."""
    if job not in OCCUPATIONS:
        raise ValueError(f"unknown occupation {job!r}; the corpus has {', '.join(OCCUPATIONS)}")
    return skew if job in SHE_LEANING else 1.0 - skew


def occupation_sentences(n_sentences: int, skew: float = 0.8, seed: int = 0) -> list[str]:
    """``n_sentences`` sentences, each a uniform template, job and a pronoun drawn as
    ``she_probability(job, skew)`` says."""
    if isinstance(n_sentences, bool) or not isinstance(n_sentences, int) or n_sentences < 1:
        raise ValueError(f"n_sentences must be a positive int, got {n_sentences!r}")
    if not 0.0 <= skew <= 1.0:
        raise ValueError(f"skew must be a probability in [0, 1], got {skew}")
    rng = np.random.default_rng(seed)
    templates = rng.integers(len(TEMPLATES), size=n_sentences)
    jobs = rng.integers(len(OCCUPATIONS), size=n_sentences)
    draws = rng.random(n_sentences)
    sentences = []
    for t, j, u in zip(templates, jobs, draws):
        job = OCCUPATIONS[j]
        pronoun = "she" if u < she_probability(job, skew) else "he"
        before, after = TEMPLATES[t]
        sentences.append(f"{before.format(job=job)} {pronoun} {after}")
    return sentences


def she_shares(sentences: Sequence[str]) -> dict[str, float]:
    """The skew the text really has: per occupation, the share of its sentences whose pronoun
    is "she" (of those with "he" or "she"). Occupations that never occur are left out."""
    counts = {job: [0, 0] for job in OCCUPATIONS}                 # job -> [he, she]
    for sentence in sentences:
        words = sentence.split()
        if len(words) < 2 or words[1] not in counts:
            continue
        for w in words[2:]:
            if w in PRONOUNS:
                counts[words[1]][PRONOUNS.index(w)] += 1
                break
    return {job: she / (he + she) for job, (he, she) in counts.items() if he + she}


def documents(sentences: Sequence[str], per_document: int = 3) -> list[list[str]]:
    """The sentences cut into documents of ``per_document`` (for BERT's sentence pairs); a
    shorter remainder is dropped."""
    if per_document < 1:
        raise ValueError(f"per_document must be >= 1, got {per_document}")
    n = len(sentences) // per_document
    return [list(sentences[i * per_document:(i + 1) * per_document]) for i in range(n)]
