"""``minifm tour``: the flags of the guided tour (the tour itself is ``minifm.tour``)."""

from __future__ import annotations

import argparse

from minifm.cli.outputs import check_output_dir
from minifm.tour import STOPS, take_tour


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minifm tour``."""
    parser.add_argument("--out", default="tour_out", metavar="DIR",
                        help="folder for the plots and checkpoints")
    parser.add_argument("--only", choices=[s.family for s in STOPS], action="append",
                        metavar="FAMILY",
                        help=f"run only this stop (repeatable); one of "
                             f"{', '.join(s.family for s in STOPS)}")


def run(args: argparse.Namespace) -> int:
    """Take the guided tour: tiny models trained on built-in data, before and after."""
    take_tour(check_output_dir(args.out, "--out"), only=args.only)
    return 0
