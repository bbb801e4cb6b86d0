"""minifm/tasks/assistant_reward.py: judged preference pairs from sampled answers, the reward
model trained on them, its pair accuracy, and the errors for an empty preference set."""

import numpy as np
import pytest

from minifm.data.assistant import examples, parse_prompt, world_tokenizer
from minifm.data.assistant.harmless import REFUSAL
from minifm.data.assistant.judges import preference_key
from minifm.models.gpt import GPT, GPTConfig
from minifm.tasks.assistant import CONTEXT_LENGTH, model_config, response_words
from minifm.tasks.assistant_reward import (PairData, new_reward_model, pair_accuracy,
                                           preference_data)
from minifm.training.trainer import TrainConfig, Trainer

TOK = world_tokenizer()
ASSISTANT = TOK.encode("<|assistant|>", add_special_tokens=False)[0]
PROMPTS = examples("train", 6, np.random.default_rng(0))


class Cycler:
    """Stands in for a sampling GPT: copy j of a prompt (rows come k copies in a row) answers
    with the reference (j = 0), the refusal (j = 1) or "tom" (j = 2), or repeats ``same``."""

    def __init__(self, same: str | None = None, confident: bool = False):
        self.config = GPTConfig(vocab_size=TOK.vocab_size, context_length=CONTEXT_LENGTH)
        self.references = {e.message: e.response for e in PROMPTS}
        self.same, self.confident = same, confident

    def generate(self, idx, max_new_tokens, temperature, rng):
        assert temperature == 1.0                        # pairs come from samples
        rows = []
        for j, ids in enumerate(idx.tolist()):
            message = parse_prompt(TOK.decode(ids))
            words = self.same or [self.references[message], REFUSAL, "tom"][
                0 if self.confident else j % 3]
            new = TOK.encode(f"{words} <|end|>", add_special_tokens=False)
            new = (new + [TOK.pad_id] * max_new_tokens)[:max_new_tokens]
            rows.append(ids + new)
        return np.array(rows, dtype=np.int64)


def test_preference_pairs_put_the_judges_choice_first():
    pairs = preference_data(Cycler(), TOK, PROMPTS, k=3, rng=np.random.default_rng(0),
                            variants=False)
    assert pairs.chosen.shape[0] == pairs.rejected.shape[0] == len(pairs.tasks) >= len(PROMPTS)
    by_message = {e.message: e for e in PROMPTS}
    for chosen, rejected in zip(pairs.chosen.tolist(), pairs.rejected.tolist()):
        chosen = [t for t in chosen if t != TOK.pad_id]
        rejected = [t for t in rejected if t != TOK.pad_id]
        cut = chosen.index(TOK.encode("<|assistant|>", add_special_tokens=False)[0]) + 1
        assert chosen[:cut] == rejected[:cut]            # the same prompt
        example = by_message[parse_prompt(TOK.decode(chosen[:cut]))]
        assert preference_key(example, response_words(TOK, chosen)) > \
            preference_key(example, response_words(TOK, rejected))
    assert set(pairs.tasks) == {"qa", "translation", "code", "summary", "harmless"}


def test_an_empty_preference_set_is_refused():
    with pytest.raises(ValueError, match="no preference pairs: the judges could not tell apart"):
        preference_data(Cycler(same="tom"), TOK, PROMPTS, k=3, rng=np.random.default_rng(0),
                        variants=False)
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        preference_data(Cycler(), TOK, PROMPTS, k=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one prompt"):
        preference_data(Cycler(), TOK, [], k=3, rng=np.random.default_rng(0))


def test_variants_make_pairs_where_a_confident_model_samples_one_answer():
    """A model that samples the reference answer k times gives no pair by itself; the rambling
    and swapped variants give the judges something to rank below it (and to rank among
    themselves, by partial credit)."""
    confident = Cycler(confident=True)
    with pytest.raises(ValueError, match="no preference pairs"):
        preference_data(confident, TOK, PROMPTS, k=3, rng=np.random.default_rng(0),
                        variants=False)
    pairs = preference_data(confident, TOK, PROMPTS, k=3, rng=np.random.default_rng(0),
                            variants=True)
    by_message = {e.message: e for e in PROMPTS}
    references = {e.response for e in PROMPTS}
    kinds = set()
    for chosen, rejected in zip(pairs.chosen.tolist(), pairs.rejected.tolist()):
        example = by_message[parse_prompt(TOK.decode(chosen[:chosen.index(ASSISTANT) + 1]))]
        answer, worse = response_words(TOK, chosen), response_words(TOK, rejected)
        assert preference_key(example, answer) > preference_key(example, worse)
        if answer != example.response:                   # two variants ranked by their credit
            continue
        first = example.message.split(" . ")[0].split(" : ")[0].split(" ? ")[0]
        if worse.startswith(f"{answer} {first}"):
            kinds.add("rambling")
        else:
            assert worse in references and worse != answer  # another prompt's answer
            kinds.add("swapped")
    assert kinds == {"rambling", "swapped"}
    assert set(pairs.tasks) == {"qa", "translation", "code", "summary", "harmless"}


def test_a_short_reward_training_ranks_its_pairs():
    """60 Bradley–Terry steps of a 1-layer width-16 reward model on the cycler's pairs (~2 s).
    Measured: 44 % of the 61 pairs
    ranked right at the start, 100 % after (every task)."""
    pairs = preference_data(Cycler(), TOK, PROMPTS, k=3, rng=np.random.default_rng(0),
                            variants=False)
    sft = GPT(model_config(TOK, n_layer=1, n_head=2, n_embd=16), rng=np.random.default_rng(0))
    model = new_reward_model(sft, TOK, seed=0)
    before = pair_accuracy(model, pairs)["overall"]
    Trainer(model, PairData(pairs, pairs, TOK.pad_id),
            TrainConfig(steps=60, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=5,
                        eval_interval=60, eval_batches=1), quiet=True).run()
    after = pair_accuracy(model, pairs)
    assert after["overall"] >= before + 0.3 and after["overall"] >= 0.9, (before, after)
    batch = PairData(pairs, pairs, TOK.pad_id).get_batch("train", 4, np.random.default_rng(0))
    assert all((rows != TOK.pad_id).sum(axis=1).max() == rows.shape[1] for rows in batch)
