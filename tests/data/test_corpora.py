"""Built-in toy corpora: deterministic from a seed, and scorers that judge text correctly."""

import re

import pytest

from minifm.data.corpora import (GrammarScore, agreement_accuracy, agreement_corpus,
                                 agreement_examples, arithmetic_accuracy, arithmetic_corpus,
                                 arithmetic_problems, grammar_corpus, parse_sentence,
                                 score_grammar)


def test_grammar_corpus_is_deterministic_from_the_seed():
    assert grammar_corpus(50, seed=3) == grammar_corpus(50, seed=3)
    assert grammar_corpus(50, seed=3) != grammar_corpus(50, seed=4)


def test_grammar_corpus_has_one_sentence_per_line_and_every_one_is_grammatical():
    lines = grammar_corpus(500, seed=0).splitlines()
    assert len(lines) == 500
    assert all(line.endswith(".") and line.count(".") == 1 for line in lines)
    assert score_grammar("\n".join(lines)) == GrammarScore(500, 500, 500)


def test_grammar_corpus_has_agreement_across_relative_clauses():
    # "<det> [adj] <noun> that <verb> <det> [adj] <noun> ..." where the two nouns differ in number
    lines = grammar_corpus(1000, seed=0).splitlines()
    relative = [line for line in lines if " that " in line]
    assert 300 < len(relative) < 500                            # P_RELATIVE = 0.4
    attractor = [line for line in relative
                 if re.match(r"^\S+ (\S+ )?(cat|dog|bird|child|teacher|fox|mouse|robot) that \S+ "
                             r"\S+ (\S+ )?(cats|dogs|birds|children|teachers|foxes|mice|robots) ",
                             line)]
    assert len(attractor) > 50


@pytest.mark.parametrize("sentence, parses, agrees", [
    ("the cat sleeps.", True, True),
    ("the cats sleep.", True, True),
    ("a small cat that chases the dogs sleeps.", True, True),
    ("these children that see a fox help the quiet mouse.", True, True),
    ("the cat that chases the dogs sleep.", True, False),      # main verb agrees with "dogs"
    ("the cats that chases the dogs sleep.", True, False),     # relative-clause verb disagrees
    ("a cats sleep.", True, False),                            # determiner disagrees
    ("the cat chases these mouse.", True, False),              # object determiner disagrees
    ("the cat sleeps the dog.", False, False),                 # intransitive verb with an object
    ("the cat chases.", False, False),                         # transitive verb without one
    ("cat the sleeps.", False, False),
    ("the cat that that sleeps runs.", False, False),
    ("the cat sleeps runs.", False, False),
    ("", False, False),
    ("the cats\nsleep.", False, False),                       # one sentence per line
    ("\nthe cats sleep.\n", True, True),
])
def test_parse_sentence_judges_word_order_and_agreement(sentence, parses, agrees):
    assert parse_sentence(sentence) == (parses, agrees)


def test_score_grammar_counts_complete_sentences_only():
    text = "the cat sleeps. the cats sleeps.\ncat the. . the dog"
    score = score_grammar(text)
    assert score == GrammarScore(sentences=4, parsed=2, grammatical=1)
    assert score.grammaticality == 0.25 and score.parse_rate == 0.5
    assert score_grammar("no period here").grammaticality == 0.0


def test_agreement_corpus_labels_match_the_parser():
    lines = agreement_corpus(400, seed=1).splitlines()
    labels = [line.rsplit(" ", 1)[1] for line in lines]
    assert set(labels) == {"yes", "no"}
    assert 150 < labels.count("no") < 250
    for line in lines:
        sentence, label = line.rsplit(" ", 1)
        parses, agrees = parse_sentence(sentence)
        assert parses and agrees == (label == "yes"), line


def test_agreement_accuracy_checks_the_first_word_of_the_completion():
    examples = agreement_examples(50, seed=3)
    labels = {f"{sentence} ": label for sentence, label in examples}

    def oracle(prompts):
        return [labels[p] + "\nthe cat" for p in prompts]

    assert agreement_accuracy(oracle, examples) == 1.0
    share_yes = sum(label == "yes" for _, label in examples) / 50
    assert agreement_accuracy(lambda ps: ["yes"] * len(ps), examples) == share_yes
    assert agreement_accuracy(lambda ps: ["yesno"] * len(ps), examples) == 0.0
    assert agreement_corpus(50, seed=3) == "".join(f"{s} {l}\n" for s, l in examples)


def test_agreement_corpus_uses_only_characters_of_the_grammar_corpus():
    assert set(agreement_corpus(300, seed=2)) <= set(grammar_corpus(300, seed=0))


@pytest.mark.parametrize("digits", [1, 2, 3])
def test_arithmetic_corpus_lines_are_correct_sums(digits):
    lines = arithmetic_corpus(300, digits=digits, seed=0).splitlines()
    assert len(lines) == 300
    for line in lines:
        a, b, c = map(int, re.fullmatch(r"(\d+)\+(\d+)=(\d+)", line).groups())
        assert a < 10 ** digits and b < 10 ** digits and a + b == c
    assert arithmetic_corpus(20, digits, seed=5) == arithmetic_corpus(20, digits, seed=5)


def test_arithmetic_test_problems_never_appear_in_the_training_corpus():
    train = set(arithmetic_corpus(5000, digits=2, seed=0).splitlines())
    problems = arithmetic_problems(200, digits=2, seed=1)
    assert len(problems) == 200
    assert not {f"{a}+{b}={a + b}" for a, b in problems} & train
    share = len({p for p in problems}) / 200
    assert share > 0.9                                          # mostly distinct problems


def test_arithmetic_accuracy_is_exact_match_on_the_first_line():
    problems = [(1, 2), (10, 5), (0, 0), (7, 8)]

    def oracle(prompts):
        return [str(eval(p[:-1])) + "\n9+9=18" for p in prompts]

    assert arithmetic_accuracy(oracle, problems) == 1.0
    assert arithmetic_accuracy(lambda ps: ["3", "15x", "0", "150"], problems) == 0.5
    with pytest.raises(ValueError, match="completions"):
        arithmetic_accuracy(lambda ps: ["3"], problems)


@pytest.mark.parametrize("call", [lambda: arithmetic_corpus(10, digits=0),
                                  lambda: arithmetic_corpus(10, digits=10),
                                  lambda: arithmetic_corpus(0),
                                  lambda: grammar_corpus(0),
                                  lambda: agreement_corpus(0),
                                  lambda: agreement_accuracy(lambda ps: ps, []),
                                  lambda: arithmetic_accuracy(lambda ps: ps, [])])
def test_corpora_reject_bad_sizes(call):
    with pytest.raises(ValueError):
        call()
