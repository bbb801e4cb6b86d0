"""``minifm export RUN --to hf OUT``: a trained run as a Hugging Face folder (argparse and
printing only; the work is ``minifm.tasks.export``)."""

from __future__ import annotations

import argparse

from minifm.tasks.export import FORMATS, export_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minifm export``."""
    parser.add_argument("checkpoint", metavar="RUN", help="a run folder (or its checkpoint.npz)")
    parser.add_argument("--to", choices=FORMATS, required=True,
                        help="the format: hf, a folder transformers loads with from_pretrained")
    parser.add_argument("out", metavar="OUT", help="the folder to write")


def run(args: argparse.Namespace) -> int:
    """Export a trained run to a Hugging Face folder (config.json, model.safetensors, tokenizer)."""
    files = export_run(args.checkpoint, args.out, args.to)
    print(f"wrote {args.out}: {', '.join(files)}")
    return 0


COMMANDS = {"export": (add_arguments, run)}
