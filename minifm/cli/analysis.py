"""Measure what the source warns about: scale, bias, and what is inside the models.

    minifm scaling --out out/scaling          (a grid of tiny GPTs; fits of L(N), L(D), frontier)
    minifm bias --out out/bias                (learned he/she skew; WEAT on MiniLM if installed)
    minifm probe --out out/probe              (linear probes per layer of a grammar BERT)
    minifm heads out/gpt --out out/heads      (a GPT trained with --corpus grammar: attention
                                               maps, head ablations, the logit lens)

Each command prints its numbers and writes its figures (and a JSON of the numbers) to --out.
``--size tiny`` runs the settings the tests use. The work is done by ``minifm.tasks.scaling``,
``.bias``, ``.probes`` and ``.agreement_heads``; the figures by ``minifm.plots.analysis``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from minifm.analysis.heads import attention_maps
from minifm.analysis.logit_lens import lens_probabilities, logit_lens
from minifm.data.occupations import OCCUPATIONS
from minifm.cli.flags import integer
from minifm.cli.outputs import check_output_dir
from minifm.plots.analysis import (plot_ablation, plot_attention, plot_logit_lens, plot_probes,
                                   plot_scaling, plot_skew)
from minifm.pretrained import load_bert, minilm_path
from minifm.tasks import bias, probes, scaling
from minifm.tasks.agreement_heads import agreement_heads
from minifm.tasks.gpt import load_pretrained

HEADS_SENTENCE = "the dog that chases the cats sleeps."


def _add_size_and_out(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--size", choices=["classroom", "tiny"], default="classroom",
                        help="classroom (the measured setting) or tiny (seconds, for tests)")
    parser.add_argument("--out", metavar="DIR", default=default_out,
                        help=f"folder for the figures and numbers (default {default_out})")


def _save(out: Path, figures: dict[str, Any], numbers: dict[str, Any]) -> None:
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=100)
    (out / "numbers.json").write_text(json.dumps(numbers, indent=1) + "\n")
    print(f"saved to {out}/ ({', '.join([*figures, 'numbers.json'])})")


def _law(law: Any) -> dict[str, float] | None:
    return None if law is None else {"a": law.a, "alpha": law.alpha, "c": float(law.c)}


# ---- minifm scaling -----------------------------------------------------------------------------
def scaling_run(args: argparse.Namespace) -> int:
    """Train a grid of tiny GPTs and fit L(N), L(D) and the compute-efficient frontier."""
    out = check_output_dir(args.out, "--out")          # before any work
    result = scaling.run_scaling(scaling.GRIDS[args.size], quiet=False)
    for name, law in (("L(N)", result.fit_n), ("L(D)", result.fit_d),
                      ("L(compute) on the frontier", result.fit_frontier)):
        shown = "too few points" if law is None else \
            f"{law.a:.3g} x^-{law.alpha:.3f} + {law.c:.3f}"
        print(f"{name}: {shown}")
    sizes = result.grid.sizes
    print("frontier: " + ", ".join(f"L={sizes[i][0]} C={sizes[i][1]} steps="
                                   f"{result.grid.steps[j]}" for i, j in result.frontier_runs()))
    exponent = result.optimal_size_exponent()
    print(f"N_opt ~ compute^a on the frontier: a = "
          f"{'n/a' if exponent is None else f'{exponent:.2f}'}; {result.seconds:.0f} s in all")
    _save(out, {"scaling.png": plot_scaling(result)},
          {"sizes": sizes, "steps": result.grid.steps, "params": result.params.tolist(),
           "tokens": result.tokens.tolist(), "compute": result.compute.tolist(),
           "loss": result.loss.tolist(), "fit_n": _law(result.fit_n),
           "fit_d": _law(result.fit_d), "fit_frontier": _law(result.fit_frontier),
           "frontier": result.frontier_runs(), "optimal_size_exponent": exponent,
           "seconds": result.seconds})
    return 0


# ---- minifm bias --------------------------------------------------------------------------------
def add_bias_arguments(parser: argparse.ArgumentParser) -> None:
    _add_size_and_out(parser, "out/bias")
    parser.add_argument("--no-weat", action="store_true",
                        help="skip WEAT on the real MiniLM (it is skipped anyway when the "
                             "MiniLM package is not installed)")


def bias_run(args: argparse.Namespace) -> int:
    """Measure the he/she skew a GPT and a BERT learn from 80/20 text, and after balancing.

    Also WEAT on MiniLM's embeddings."""
    out = check_output_dir(args.out, "--out")          # before any work
    report = bias.measure_bias(bias.SETTINGS[args.size])
    print(f"share of 'she'   {'data':>6} {'GPT':>6} {'BERT':>6}   after balanced fine-tuning:"
          f" {'data':>6} {'GPT':>6} {'BERT':>6}")
    for j, job in enumerate(OCCUPATIONS):
        print(f"  {job:<14} {report.data_before[j]:6.2f} {report.gpt_before[j]:6.2f} "
              f"{report.bert_before[j]:6.2f}   {'':27} {report.data_after[j]:6.2f} "
              f"{report.gpt_after[j]:6.2f} {report.bert_after[j]:6.2f}")
    numbers: dict[str, Any] = {"occupations": OCCUPATIONS,
                               **{k: v.tolist() for k, v in report.__dict__.items()}}
    if not args.no_weat:
        try:
            path = minilm_path()
        except FileNotFoundError as e:
            print(f"WEAT skipped: {e}")
        else:
            numbers["weat"] = {}
            for name, r in bias.weat_tests(*load_bert(path)).items():
                print(f"WEAT {name}: effect size {r.effect_size:+.2f}, p = {r.p_value:.4f} "
                      f"(exact, {r.n_partitions} partitions)")
                numbers["weat"][name] = {"effect_size": r.effect_size, "p_value": r.p_value,
                                         "statistic": r.statistic}
    _save(out, {"skew.png": plot_skew(report)}, numbers)
    return 0


# ---- minifm probe -------------------------------------------------------------------------------
def probe_run(args: argparse.Namespace) -> int:
    """Pre-train a BERT on the grammar corpus and probe every layer (with control tasks)."""
    out = check_output_dir(args.out, "--out")          # before any work
    setting = probes.SETTINGS[args.size]
    model, tokenizer = probes.pretrain_grammar_bert(setting)
    reports = probes.probe_grammar_bert(model, tokenizer, setting)
    for name, layer_reports in reports.items():
        print(f"{name}:")
        for layer, r in enumerate(layer_reports):
            where = "embeddings" if layer == 0 else f"block {layer - 1}"
            print(f"  {where:<11} task {r.task_accuracy:.3f}  control {r.control_accuracy:.3f}"
                  f"  selectivity {r.selectivity:+.3f}")
    _save(out, {"probes.png": plot_probes(reports)},
          {name: [{"task": r.task_accuracy, "control": r.control_accuracy} for r in rs]
           for name, rs in reports.items()})
    return 0


# ---- minifm heads RUN ---------------------------------------------------------------------------
def add_heads_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN",
                        help="a `minifm train gpt --corpus grammar` folder or checkpoint.npz")
    parser.add_argument("--pairs", type=integer(1), default=1000,
                        help="minimal pairs of each kind for the agreement accuracy (1000)")
    parser.add_argument("--sentence", default=HEADS_SENTENCE,
                        help=f"the text whose attention and logit lens are drawn "
                             f"(default {HEADS_SENTENCE!r})")
    parser.add_argument("--out", metavar="DIR", default="out/heads",
                        help="folder for the figures and numbers (default out/heads)")


def heads_run(args: argparse.Namespace) -> int:
    """Attention maps, single-head ablations and the logit lens of a grammar GPT."""
    model, tokenizer = load_pretrained(args.run_dir)
    ids = np.array([tokenizer.encode(args.sentence)], dtype=np.int64)
    if ids.shape[1] < 2:
        raise ValueError(f"--sentence needs at least two tokens (inputs and a next token), got "
                         f"{args.sentence!r}")
    out = check_output_dir(args.out, "--out")          # before the long work
    report = agreement_heads(model, tokenizer, n_pairs=args.pairs)
    print(f"agreement accuracy {report.accuracy:.3f} (attractors {report.attractor_accuracy:.3f},"
          f" chance 0.5); held-out loss {report.loss:.3f}")
    print("drop in attractor accuracy / rise in loss with one head ablated:")
    for (layer, head), drop in np.ndenumerate(report.attractor_drops):
        print(f"  layer {layer} head {head}: {drop:+.3f} / {report.loss_rise[layer, head]:+.3f}")
    ids = ids[:, :model.config.context_length + 1]                        # (1, T + 1)
    tokens = [tokenizer.decode([i]) for i in ids[0, :-1]]
    maps = attention_maps(model, ids[:, :-1])[:, 0]                       # (L, H, T, T)
    lens = logit_lens(model, ids[:, :-1])                                 # (L + 1, 1, T, V)
    probs = lens_probabilities(lens, ids[:, 1:])[:, 0]                    # (L + 1, T)
    top = [[tokenizer.decode([i]) for i in row] for row in lens[:, 0].argmax(-1)]
    _save(out,
          {"attention.png": plot_attention(maps, tokens),
           "ablation.png": plot_ablation(report.attractor_drops, "attractor agreement accuracy"),
           "loss_rise.png": plot_ablation(report.loss_rise, "held-out loss", change="rise"),
           "logit_lens.png": plot_logit_lens(probs, tokens, top)},
          {"accuracy": report.accuracy, "attractor_accuracy": report.attractor_accuracy,
           "loss": report.loss, "drops": report.drops.tolist(),
           "attractor_drops": report.attractor_drops.tolist(),
           "loss_rise": report.loss_rise.tolist(), "lens_probabilities": probs.tolist()})
    return 0


def _add_scaling_arguments(parser: argparse.ArgumentParser) -> None:
    _add_size_and_out(parser, "out/scaling")


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    _add_size_and_out(parser, "out/probe")


COMMANDS = {"scaling": (_add_scaling_arguments, scaling_run),
            "bias": (add_bias_arguments, bias_run),
            "probe": (_add_probe_arguments, probe_run),
            "heads": (add_heads_arguments, heads_run)}
