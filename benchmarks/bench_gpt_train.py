"""Train minifm's GPT and its PyTorch twin side by side on one text and compare their loss curves.

    python benchmarks/bench_gpt_train.py [--text input.txt] [--threads N] [--steps 2000]
                                         [--out benchmarks/out]

The baby-GPT recipe (see harness.Recipe) at character level: both models start from the same
weights, take their steps in turn on the *same* batches with the same learning-rate schedule, and
are validated every ``--eval-interval`` steps on the same fixed validation batches; the final
validation loss uses ``--final-eval-batches`` batches. Without ``--text``, a ~1 MB text is built
from this Python's standard-library sources (``stdlib_text``). Prints both curves, writes
``gpt_train.png`` and ``gpt_train.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from harness import Recipe, baby_config, make_runners, pin_threads
from minifm.data.text import TokenData, read_text_file
from minifm.training.optim import cosine_with_warmup
from minifm.tokenizers.char import CharTokenizer


def stdlib_text(size: int = 1_000_000) -> Path:
    """Write the first ``size`` characters of the standard library's ASCII ``.py`` files (sorted
    by path, tests left out) to a temporary file and return its path: English-like text that
    every machine with Python has."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, total = [], 0
    for path in sorted(root.rglob("*.py")):
        if total >= size:
            break
        folders = path.relative_to(root).parts[:-1]
        if {"test", "tests", "idle_test", "site-packages"} & set(folders):
            continue
        text = path.read_bytes()
        if not text.isascii():
            continue
        parts.append(text.decode("ascii"))
        total += len(parts[-1])
    out = Path(tempfile.mkdtemp(prefix="minifm_bench_")) / "stdlib.txt"
    out.write_text("".join(parts)[:size], encoding="ascii")
    return out


def validate(runners: list, batches: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean validation loss of each runner over the same batches."""
    return {r.name: float(np.mean([r.eval_loss(x, y) for x, y in batches])) for r in runners}


def plot(history: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, losses), style in zip(history["val"].items(), ("-", "--")):   # dashed on top:
        ax.plot(history["steps"], losses, style, marker="o", markersize=3,      # both visible
                label=f"{name} (val)")                                          # when equal
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss (nats / char)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 text file (default: built from the stdlib)")
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--eval-interval", type=int, default=100)
    parser.add_argument("--eval-batches", type=int, default=20)
    parser.add_argument("--final-eval-batches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = parser.parse_args()
    threads = pin_threads(args.threads)

    text_path = Path(args.text) if args.text else stdlib_text()
    text = read_text_file(text_path)
    tokenizer = CharTokenizer.train(text)
    recipe = Recipe(steps=args.steps)
    config = baby_config(len(tokenizer.chars))
    data = TokenData.from_text(text, tokenizer, config.context_length)
    print(f"{text_path}: {len(text):,} chars, V={config.vocab_size}; {recipe.steps} steps of "
          f"batch {recipe.batch_size} x {config.context_length}, {threads} thread(s)")

    runners = make_runners(config, recipe, args.seed)
    batch_rng, val_rng = np.random.default_rng(args.seed), np.random.default_rng(args.seed + 1)
    val_batches = [data.get_batch("val", recipe.batch_size, val_rng)
                   for _ in range(args.final_eval_batches)]
    history = {"steps": [], "val": {r.name: [] for r in runners}}
    seconds = {r.name: 0.0 for r in runners}
    for step in tqdm(range(recipe.steps + 1), desc="training", mininterval=5):
        if step % args.eval_interval == 0 or step == recipe.steps:
            history["steps"].append(step)
            for name, loss in validate(runners, val_batches[:args.eval_batches]).items():
                history["val"][name].append(loss)
            tqdm.write(f"step {step:5d}  val " + "  ".join(
                f"{name} {losses[-1]:.4f}" for name, losses in history["val"].items()))
        if step == recipe.steps:
            break
        x, y = data.get_batch("train", recipe.batch_size, batch_rng)
        lr = cosine_with_warmup(step, recipe.lr, recipe.min_lr, recipe.warmup_steps, recipe.steps)
        for runner in runners:
            start = time.perf_counter()
            runner.step(x, y, lr)
            seconds[runner.name] += time.perf_counter() - start

    final = validate(runners, val_batches)
    gap = final["minifm"] - final["pytorch"]
    for name, loss in final.items():
        print(f"{name:8s} final val loss {loss:.4f} ({args.final_eval_batches} batches), "
              f"training {seconds[name]:.0f} s ({1e3 * seconds[name] / recipe.steps:.1f} ms/step)")
    print(f"minifm - pytorch = {gap:+.4f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(history, out / "gpt_train.png",
         f"baby GPT on {text_path.name}: minifm vs PyTorch twin ({recipe.steps} steps)")
    with open(out / "gpt_train.json", "w") as f:
        json.dump({"text": str(text_path), "chars": len(text), "vocab_size": config.vocab_size,
                   "threads": threads, "history": history, "final_val": final, "gap": gap,
                   "train_seconds": seconds}, f, indent=2)
    print(f"wrote {out / 'gpt_train.png'} and {out / 'gpt_train.json'}")


if __name__ == "__main__":
    main()
