"""How the command line reads and explains its flags: one place for numeric flag types, the help
format (defaults and metavars) and the one-line usage error.

    g.add_argument("--steps", type=integer(least=1))           # "--steps must be >= 1, got 0"
    g.add_argument("--top-p", type=real(0, 1, low_open=True))  # "--top-p must be in (0, 1], ..."

Every numeric flag of every command is typed with ``integer`` or ``real``, so a value out of
range is refused while the command line is read, in the flag's own terms, before any work
starts. ``HelpFormatter`` shows each flag's default (when it has one) and names every integer
``N`` and every real number ``X``. ``Parser.error`` prints a usage mistake as one line and exits
with code 2.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Callable, NoReturn


def integer(least: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer, at least ``least`` if given."""
    def parse(text: str) -> int:
        value = int(text)                       # argparse reports "invalid int value: 'x'"
        if least is not None and value < least:
            raise argparse.ArgumentTypeError(f"must be >= {least}, got {value}")
        return value
    parse.__name__, parse.metavar = "int", "N"  # type: ignore[attr-defined]
    return parse


def real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
         high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite real number in the range from ``low`` to ``high`` (either may
    be None: unbounded), each end included unless ``low_open`` / ``high_open``."""
    if low is not None and high is not None:
        expected = (f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}")
    elif low is not None:
        expected = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        expected = f"{'<' if high_open else '<='} {high:g}"
    else:
        expected = "a finite number"
    finite = expected if expected == "a finite number" else f"a finite number {expected}"

    def parse(text: str) -> float:
        value = float(text)                     # argparse reports "invalid float value: 'x'"
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value):                # inf and nan, whatever the range says
            raise argparse.ArgumentTypeError(f"must be {finite}, got {text}")
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text}")
        return value
    parse.__name__, parse.metavar = "float", "X"  # type: ignore[attr-defined]
    return parse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each flag's default (unless it has none or its help already says it),
    ``N`` for integers and ``X`` for real numbers."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        no_default = any(action.default is d for d in (None, False, argparse.SUPPRESS))
        if no_default or "default" in help_text:          # (0 is a default; False is not)
            return help_text
        return super()._get_help_string(action)

    def _get_default_metavar_for_optional(self, action: argparse.Action) -> str:
        metavar = getattr(action.type, "metavar", None)
        if metavar is None:
            metavar = {int: "N", float: "X"}.get(action.type)   # type: ignore[call-overload]
        return metavar or super()._get_default_metavar_for_optional(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, ``PROG: error: ...`` (with a pointer
    to ``--help``), and exit code 2. "argument --steps: must be >= 1" reads "--steps must be
    >= 1"."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): must ", r"\1 must ", message)
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)
