"""Sum's interpreter: values of valid programs, and clear errors for malformed ones."""

import pytest

from minifm.data.assistant.programs import MAX_DEPTH, ProgramError, literals, run, tokens


@pytest.mark.parametrize("source, value", [
    ("( 12 + 35 ) * 2", 94),
    ("(12+35)*2", 94),
    ("12 + 35 * 2", 82),                  # "*" binds tighter
    ("9 - 4 - 2", 3),                     # left to right
    ("9 - ( 4 - 2 )", 7),
    ("2 * 3 * 4", 24),
    ("((7))", 7),
    ("3 - 10", -7),
    ("0", 0),
])
def test_valid_programs_evaluate(source, value):
    assert run(source) == value


@pytest.mark.parametrize("source, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("12 +", "ends where a number"),
    ("( 12 + 35", "expected '\\)'"),
    ("12 + 35 )", "unexpected '\\)'"),
    ("12 35", "unexpected '35'"),
    ("* 3", "expected a number or '\\('"),
    ("( )", "expected a number or '\\('"),
    ("12 / 4", "unknown symbol '/'"),
    ("add 12 and 35", "unknown symbol 'a'"),
    ("2 ** 3", "expected a number or '\\('"),
    ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "nested deeper"),
])
def test_malformed_programs_raise_program_error(source, message):
    with pytest.raises(ProgramError, match=message):
        run(source)


def test_program_error_is_a_value_error_and_tokens_need_a_str():
    assert issubclass(ProgramError, ValueError)
    with pytest.raises(TypeError, match="must be a str"):
        run(12)


def test_tokens_and_literals():
    assert tokens("(12+35)*2") == ["(", "12", "+", "35", ")", "*", "2"]
    assert literals("( 12 + 35 ) * 2") == [12, 35, 2]
    assert run("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1
