"""Named random streams: one run seed, many independent generators, each called by what it does.

A run has one seed (``TrainConfig.seed``, ``--seed``). Everything random in it draws from its own
stream, ``np.random.default_rng([seed, number])``: NumPy's ``SeedSequence`` turns the pair into
an independent generator, so drawing more from one stream never shifts another (changing the
batch size does not change the initial weights). The numbers are fixed here, once, by name:

    rng = stream(seed, "init")          # a model's initial weights (and dropout generators)
    rng = stream(seed, "eval_batches")  # the validation batches, the same at every validation

A stream's number never changes, so runs stay reproducible across versions of minifm.
"""

from __future__ import annotations

import numpy as np

STREAMS: dict[str, int] = {
    "eval_batches": 1,       # Trainer.evaluate: the same validation batches every time
    "init": 2,               # initial weights of a model trained from scratch
    "vqvae_init": 3,         # the VQ-VAE image tokenizer: weights, k-means start, code restarts
    "image_tokenizer_fit": 4,   # the images an image tokenizer is fitted on
    "image_tokenizer_report": 5,  # the fresh images its reconstructions are measured on
    "pictures": 6,           # images drawn for the plots of a run
    "classifier_init": 7,    # a classification head put on a pre-trained encoder
    "task_head_init": 20,    # a tagging or span head (and its encoder, from scratch): lesson 12
    "lora_init": 21,         # the LoRA adapters' A matrices
    "probe_control": 40,     # the control task's random labels per word type (tasks.probes)
    "assistant_pretrain_text": 50,   # the assistant world's examples whose words are pre-trained on
    "assistant_pretrain_order": 51,  # the shuffled order of those pre-training lines
    "assistant_examples": 52,        # the fine-tuning conversations
    "assistant_val": 53,             # the conversations of fine-tuning's validation loss
    "assistant_seen": 54,            # the judged prompts of the training distribution
    "assistant_heldout": 55,         # the judged prompts with a held-out part
    "assistant_reward_head": 56,     # the reward model's fresh scalar head
    "assistant_reward_samples": 57,  # the SFT model's sampled answers that make preference pairs
    "decoder_init": 60,      # the diffusion decoder over CLIP image embeddings (DALL-E 2)
    "prior_init": 61,        # a prior from CLIP text to image embeddings (DALL-E 2)
    "diffusion_pool": 62,    # the captioned images (and CLIP embeddings) DALL-E 2 trains on
    "assistant_rl_prompts": 70,      # the training prompts of each RL step
    "assistant_rl_samples": 71,      # the policy's sampled answers to them
}


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of stream ``name`` for run seed ``seed`` (see ``STREAMS``)."""
    if name not in STREAMS:
        raise ValueError(f"unknown random stream {name!r}; the streams are "
                         f"{', '.join(STREAMS)} (add a new one to minifm.training.seeds.STREAMS)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"a seed must be an integer >= 0, got {seed!r}")
    return np.random.default_rng([int(seed), STREAMS[name]])
