"""Where a minifm training step spends its time, for GPT, BERT, CLIP and DALL-E (the token model).

    python benchmarks/profile_step.py [--family gpt|bert|clip|dalle|all] [--steps 30] [--json F]

Runs on one thread (steady, and the whole step is then on the calling thread, so CPU time is step
time) on random batches of each family's classroom shapes (GPT: the baby GPT). Reports the step's
CPU time split into forward, backward and optimizer (zero_grad + clipping + AdamW), and per
functional op: every ``*_forward`` / ``*_backward`` function that a layer or model calls is
wrapped to add up its thread CPU time and the minor page faults it causes; "rest" is the step
minus the wrapped calls (residual adds, reshapes, heads written inline, Python).
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import pkgutil
import resource
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from harness import Recipe, baby_config, make_runner, pin_threads
import minifm.models
import minifm.nn
from minifm.functional.losses import IGNORE_INDEX
from minifm.models.bert import BertConfig, BertForPreTraining
from minifm.models.clip import CLIP, CLIPConfig
from minifm.models.dalle import DALLE, DALLEConfig
from minifm.training.memory import keep_freed_memory
from minifm.training.optim import AdamW, clip_grad_norm, param_groups


@dataclass
class Family:
    """A model, how to draw one random batch of its training shapes, and the batch's size."""

    model: object
    batch: Callable[[np.random.Generator], tuple]
    examples: int


def gpt_family() -> Family:
    config, B = baby_config(65), Recipe().batch_size                  # the baby GPT, batch 12
    model = make_runner("minifm", config, Recipe()).model
    T = config.context_length
    return Family(model, lambda rng: tuple(rng.integers(0, 65, size=(2, B, T))), B)


def bert_family(B: int = 32) -> Family:
    """BERT pre-training (masked LM on 15 % of positions + next sentence), classroom size."""
    config = BertConfig()
    model = BertForPreTraining(config, rng=np.random.default_rng(0))
    T = config.context_length

    def batch(rng):
        idx = rng.integers(5, config.vocab_size, size=(B, T))
        segments = (np.arange(T) >= T // 2).astype(np.int64).repeat(B).reshape(T, B).T
        labels = np.where(rng.random((B, T)) < 0.15, idx, IGNORE_INDEX)
        return idx, segments, np.ones((B, T), dtype=bool), labels, rng.integers(0, 2, size=B)
    return Family(model, batch, B)


def clip_family(B: int = 64) -> Family:
    """CLIP on 16 x 16 images and 12-token captions, classroom size."""
    config = CLIPConfig()
    model = CLIP(config, rng=np.random.default_rng(0))
    S, T = config.image_size, config.context_length

    def batch(rng):
        images = rng.standard_normal((B, S, S, config.channels), dtype=np.float32)
        return images, rng.integers(1, config.vocab_size, size=(B, T))
    return Family(model, batch, B)


def dalle_family(B: int = 32) -> Family:
    """DALL-E's token model: a caption then 64 image codes, classroom size."""
    config = DALLEConfig()
    model = DALLE(config, rng=np.random.default_rng(0))

    def batch(rng):
        return (rng.integers(1, config.text_vocab_size, size=(B, config.text_length)),
                rng.integers(0, config.image_vocab_size, size=(B, config.image_tokens)))
    return Family(model, batch, B)


FAMILIES = {"gpt": gpt_family, "bert": bert_family, "clip": clip_family, "dalle": dalle_family}


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class OpTimer:
    """Wraps every functional ``*_forward`` / ``*_backward`` that minifm.nn and minifm.models
    call by name, adding up thread CPU seconds and page faults per op name."""

    def __init__(self):
        self.seconds, self.faults = collections.Counter(), collections.Counter()
        for package in (minifm.nn, minifm.models):
            for info in pkgutil.iter_modules(package.__path__):
                module = importlib.import_module(f"{package.__name__}.{info.name}")
                for name, fn in list(vars(module).items()):
                    if (name.endswith(("_forward", "_backward")) and callable(fn)
                            and getattr(fn, "__module__", "").startswith("minifm.functional")):
                        setattr(module, name, self._timed(name, fn))

    def _timed(self, name: str, fn):
        def wrapper(*args, **kwargs):
            f0, t0 = faults(), time.thread_time()
            out = fn(*args, **kwargs)
            self.seconds[name] += time.thread_time() - t0
            self.faults[name] += faults() - f0
            return out
        return wrapper

    def clear(self) -> None:
        self.seconds.clear()
        self.faults.clear()


def profile(name: str, timer: OpTimer, steps: int) -> dict:
    """CPU ms per step of one family: the forward/backward/optimizer split and each op."""
    family = FAMILIES[name]()
    model = family.model
    params = model.parameters()
    opt = AdamW(param_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)
    phases = collections.Counter()
    for i in range(steps + 3):                        # 3 warm-up steps, not counted
        if i == 3:
            timer.clear()
            phases.clear()
            f0 = faults()
        batch = family.batch(rng)
        t0 = time.thread_time()
        opt.zero_grad()
        t1 = time.thread_time()
        model(*batch)
        t2 = time.thread_time()
        model.backward()
        t3 = time.thread_time()
        clip_grad_norm(params, 1.0)
        opt.step()
        t4 = time.thread_time()
        phases.update(forward=t2 - t1, backward=t3 - t2, optimizer=(t1 - t0) + (t4 - t3))
    ms = {k: 1e3 * v / steps for k, v in phases.items()}
    total = sum(ms.values())
    ops = {op: {"ms": 1e3 * s / steps, "faults": timer.faults[op] / steps}
           for op, s in timer.seconds.most_common()}
    ops["rest (forward + backward)"] = {"ms": ms["forward"] + ms["backward"]
                                        - sum(o["ms"] for o in ops.values()), "faults": None}
    return {"family": name, "step_ms": total, "examples_per_step": family.examples,
            "examples_per_s": 1e3 * family.examples / total, **{f"{k}_ms": v for k, v in ms.items()},
            "faults_per_step": (faults() - f0) / steps, "ops": ops}


def print_profile(r: dict) -> None:
    print(f"{r['family']}: {r['step_ms']:.2f} ms CPU per step of {r['examples_per_step']} "
          f"examples ({r['examples_per_s']:.0f}/s): forward {r['forward_ms']:.2f}, backward "
          f"{r['backward_ms']:.2f}, optimizer {r['optimizer_ms']:.2f}; "
          f"{r['faults_per_step']:.0f} page faults")
    for op, o in r["ops"].items():
        faults_text = "" if o["faults"] is None else f"  {o['faults']:6.0f} faults"
        print(f"  {op:28s} {o['ms']:6.2f} ms{faults_text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=(*FAMILIES, "all"), default="gpt")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    pin_threads(1)
    keep_freed_memory()
    timer = OpTimer()
    results = [profile(name, timer, args.steps)
               for name in (FAMILIES if args.family == "all" else [args.family])]
    for r in results:
        print_profile(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
