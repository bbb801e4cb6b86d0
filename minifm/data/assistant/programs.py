"""Sum, a tiny expression language, and its interpreter: the code task's judge runs the answer.

Lesson: "From GPT to assistant" (issue 12).

A program is one arithmetic expression over whole numbers, written with spaces or without:

    expr   -> term (("+" | "-") term)*        left to right: 9 - 4 - 2 is (9 - 4) - 2
    term   -> factor ("*" factor)*            "*" binds tighter than "+" and "-"
    factor -> NUMBER | "(" expr ")"           NUMBER: digits, e.g. 12

``run(source)`` parses with recursive descent (one function per rule above) and evaluates as it
parses; it never calls Python's ``eval``. A malformed program raises ``ProgramError`` saying
what is wrong and where: an unknown symbol, a missing number or ")", text left after the
expression, an empty program, parentheses nested deeper than ``MAX_DEPTH``.
``literals(source)`` lists the numbers a program is written with.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\s*(?:(\d+)|(.))")     # a number, or any other single character
MAX_DEPTH = 32                               # nested parentheses allowed (the parser recurses)


class ProgramError(ValueError):
    """A malformed Sum program."""


def tokens(source: str) -> list[str]:
    """The program's tokens: numbers and the symbols ``+ - * ( )``."""
    if not isinstance(source, str):
        raise TypeError(f"a program must be a str, got {type(source).__name__}")
    out = []
    for number, symbol in _TOKEN.findall(source.rstrip()):
        if symbol and symbol not in "+-*()":
            raise ProgramError(f"unknown symbol {symbol!r} (a program has numbers and + - * ( ))")
        out.append(number or symbol)
    return out


class _Parser:
    """Recursive descent over the token list; each method parses one rule and returns its value."""

    def __init__(self, toks: list[str]):
        self.toks, self.i, self.depth = toks, 0, 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expr(self) -> int:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> int:
        value = self.factor()
        while self.peek() == "*":
            self.take()
            value *= self.factor()
        return value

    def factor(self) -> int:
        tok = self.peek()
        if tok is None:
            raise ProgramError("the program ends where a number or '(' should come")
        if tok.isdigit():
            return int(self.take())
        if tok == "(":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ProgramError(f"parentheses nested deeper than {MAX_DEPTH}")
            value = self.expr()
            self.depth -= 1
            if self.peek() != ")":
                raise ProgramError(f"expected ')' at token {self.i}, got "
                                   f"{self.peek() or 'the end'!r}")
            self.take()
            return value
        raise ProgramError(f"expected a number or '(' at token {self.i}, got {tok!r}")


def run(source: str) -> int:
    """The value of a Sum program; ProgramError if it is malformed."""
    toks = tokens(source)
    if not toks:
        raise ProgramError("the program is empty")
    parser = _Parser(toks)
    value = parser.expr()
    if parser.peek() is not None:
        raise ProgramError(f"unexpected {parser.peek()!r} at token {parser.i} after a complete "
                           "expression")
    return value


def literals(source: str) -> list[int]:
    """The numbers written in a program, in order (``"(12 + 35) * 2"`` -> [12, 35, 2])."""
    return [int(t) for t in tokens(source) if t.isdigit()]
