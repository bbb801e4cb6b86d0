"""The skewed occupation corpus: the skew it is asked for is the skew it has."""

from __future__ import annotations

import pytest

from minifm.data.occupations import (HE_LEANING, OCCUPATIONS, SHE_LEANING, documents,
                                     occupation_sentences, she_probability, she_shares)


def test_counted_skew_is_near_the_asked_one():
    shares = she_shares(occupation_sentences(8000, skew=0.8, seed=0))
    assert set(shares) == set(OCCUPATIONS)
    # ~1000 sentences per job: the binomial std of a share is 0.013, 4 std is 0.05
    for job in SHE_LEANING:
        assert shares[job] == pytest.approx(0.8, abs=0.05)
    for job in HE_LEANING:
        assert shares[job] == pytest.approx(0.2, abs=0.05)


def test_extreme_skews_are_exact_and_the_corpus_is_seeded():
    assert all(s == 1.0 for j, s in she_shares(occupation_sentences(200, 1.0)).items()
               if j in SHE_LEANING)
    assert all(s == 1.0 for j, s in she_shares(occupation_sentences(200, 0.0)).items()
               if j in HE_LEANING)
    assert occupation_sentences(50, seed=3) == occupation_sentences(50, seed=3)
    assert occupation_sentences(50, seed=3) != occupation_sentences(50, seed=4)


def test_sentences_are_lower_case_words_with_one_pronoun():
    for s in occupation_sentences(100, seed=1):
        words = s.split(" ")
        assert s == s.lower() and words[0] == "the" and words[1] in OCCUPATIONS
        assert sum(w in ("he", "she") for w in words) == 1 and words[-1] == "."


def test_documents_and_bad_arguments():
    docs = documents(occupation_sentences(10), per_document=3)
    assert [len(d) for d in docs] == [3, 3, 3]
    assert she_probability("nurse", 0.8) == 0.8 and she_probability("pilot", 0.8) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="occupation"):
        she_probability("wizard", 0.8)
    with pytest.raises(ValueError, match="skew"):
        occupation_sentences(10, skew=1.5)
    with pytest.raises(ValueError, match="n_sentences"):
        occupation_sentences(0)
