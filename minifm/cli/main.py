"""``minifm`` (and ``python -m minifm``): the parser built from the family modules, and ``main``.

Bad flags, missing files and invalid values end with one ``minifm: error: ...`` line and exit
code 2 (see ``minifm.cli`` for what a family module provides).
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType
from typing import Callable, Sequence

from minifm.cli import (analysis, assistant, assistant_tuning, bert, bert_tasks, clip, common,
                        dalle, diffusion, export, gpt, tour)
from minifm.cli.flags import HelpFormatter, Parser

FAMILIES: dict[str, ModuleType] = {"gpt": gpt, "bert": bert, "clip": clip, "dalle": dalle,
                                   "diffusion": diffusion, "assistant": assistant}
# Modules with commands (COMMANDS) but no ``train FAMILY`` of their own.
TOOLS: tuple[ModuleType, ...] = (assistant_tuning, bert_tasks, export, analysis)


def _help_line(obj: object) -> str:
    return (obj.__doc__ or "").strip().split("\n")[0]


def _add_command(sub: argparse._SubParsersAction, name: str, help_line: str,
                 add_arguments: Callable[[argparse.ArgumentParser], None],
                 run: Callable[[argparse.Namespace], int]) -> None:
    if name in sub.choices:
        raise RuntimeError(f"two families define the command {name!r}")
    parser = sub.add_parser(name, help=help_line, description=help_line,
                            formatter_class=HelpFormatter)
    add_arguments(parser)
    parser.set_defaults(run=run)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: ``train FAMILY`` per family, the families' commands, and ``tour``."""
    parser = Parser(
        prog="minifm", formatter_class=HelpFormatter, description="Foundation models from "
        "scratch in NumPy: train, sample, fine-tune and explore GPT, BERT, CLIP and an "
        "image-token model.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = sub.add_parser("train", help="train a model family from scratch (or resume)",
                           description="Train a model family from scratch, or resume a run.",
                           formatter_class=HelpFormatter)
    families = train.add_subparsers(dest="family", metavar="FAMILY", required=True)
    for family, module in FAMILIES.items():
        p = families.add_parser(family, help=_help_line(module), description=_help_line(module),
                                formatter_class=HelpFormatter)
        common.add_common_train_arguments(p, getattr(module, "TRAIN_DEFAULTS", None))
        module.add_train_arguments(p)
        p.set_defaults(run=module.train)
    for module in [*FAMILIES.values(), *TOOLS]:
        for name, (add_arguments, run) in getattr(module, "COMMANDS", {}).items():
            _add_command(sub, name, _help_line(run), add_arguments, run)
    _add_command(sub, "tour", _help_line(tour.run), tour.add_arguments, tour.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad usage or input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:               # --help (0) or a bad flag (2, message already printed)
        return int(e.code or 0)
    try:
        return int(args.run(args) or 0)
    except OSError as e:                  # FileNotFoundError, IsADirectoryError, ...
        message = f"{e.strerror}: {e.filename}" if e.filename else str(e)
    except ValueError as e:
        message = str(e)
    except KeyboardInterrupt:
        print("minifm: interrupted", file=sys.stderr)
        return 130
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 2
