"""A generated named-entity world, BIO tags on WordPieces, and entity-level precision, recall
and F1 (the CoNLL-2003 convention: Tjong Kim Sang & De Meulder 2003).

Dimensions: B batch, T time (tokens), N words of a sentence.

Sentences are in the toy language of the stories (lower case, words and "." split by spaces)
and mention four kinds of entity: people (PER), places (LOC), organisations (ORG) and dates
(DATE), some of them two words long:

    on friday olga stone walks to san diego .
    O  B-DATE B-PER I-PER O     O  B-LOC I-LOC O

The "train" split's people, places and organisations are invented words ("kedu", "mosa tivo"),
its dates come from ``DATES_TRAIN``; "val" draws every entity from the ``*_HELD_OUT`` lists,
whose words never occur in "train". So a tagger cannot pass "val" by remembering names: it must
read the frame around them ("walks to ...", "works at ...", "on ...").

BERT's NER setup (Devlin et al. 2019, section 5.3): a word of several WordPieces is labelled on
its first piece; the continuations, [CLS], [SEP] and padding carry ``IGNORE_INDEX`` so the loss
skips them, and a prediction reads each word's tag off its first piece.

    data = NERData({"train": ner_sentences(200, "train"), "val": ...}, tokenizer, 64)
    ids, segments, attention, labels = data.get_batch("train", 16, rng)    # each (B, T)

Lesson: lessons/12_bert_at_work.md.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from minifm.functional.losses import IGNORE_INDEX
from minifm.tokenizers.wordpiece import WordPieceTokenizer

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-DATE", "I-DATE")
TAG_ID = {t: i for i, t in enumerate(TAGS)}
SPLITS = ("train", "val")

# Held-out names: only in "val". Training names are invented, a fresh one nearly every time, so
# a tagger that memorised them would have nothing to go on: it must learn the frames.
PEOPLE_HELD_OUT = ["olga", "ravi", "kofi", "yuki", "ines", "olga stone", "ravi patel"]
PLACES_HELD_OUT = ["lima", "delhi", "kyoto", "accra", "san diego", "buenos aires"]
ORGS_HELD_OUT = ["initech", "hooli", "sun labs", "hill college"]
DATES_TRAIN = ["monday", "tuesday", "wednesday", "thursday", "may first", "june second"]
DATES_HELD_OUT = ["friday", "saturday", "sunday", "july third", "april fifth"]
HELD_OUT = {"PER": PEOPLE_HELD_OUT, "LOC": PLACES_HELD_OUT, "ORG": ORGS_HELD_OUT,
            "DATE": DATES_HELD_OUT}
HELD_OUT_WORDS = {w for names in HELD_OUT.values() for name in names for w in name.split()}
SYLLABLES = ["ba", "bo", "da", "du", "fe", "ga", "ha", "jo", "ka", "ke", "lu", "ma", "mo", "na",
             "ni", "pe", "ru", "sa", "su", "ta", "ti", "vo", "we", "zo"]


def invented_name(rng: np.random.Generator) -> str:
    """One or two invented words of 2-3 syllables ("kedu", "mosa tivo"), none a held-out word."""
    words = []
    for _ in range(1 + int(rng.random() < 0.3)):
        word = ""
        while not word or word in HELD_OUT_WORDS:
            word = "".join(SYLLABLES[int(i)] for i in rng.integers(len(SYLLABLES),
                                                                    size=int(rng.integers(2, 4))))
        words.append(word)
    return " ".join(words)


def entity(rng: np.random.Generator, kind: str, split: str) -> str:
    """A name of ``kind`` for ``split``: invented (dates: the training list) or held out."""
    if split == "val":
        names = HELD_OUT[kind]
    elif kind == "DATE":
        names = DATES_TRAIN
    else:
        return invented_name(rng)
    return names[int(rng.integers(len(names)))]


# {KIND} slots; a second person is {PER2}. The frames, not the names, say what a word is.
TEMPLATES = ["{PER} works at {ORG} .",
             "on {DATE} {PER} walks to {LOC} .",
             "{PER} feeds the cat in {LOC} .",
             "{ORG} opens a shop in {LOC} on {DATE} .",
             "{PER} meets {PER2} at {ORG} .",
             "for lunch {PER} eats soup in {LOC} .",
             "{PER} visits {LOC} with {PER2} on {DATE} .",
             "it is rainy in {LOC} today .",
             "on {DATE} {ORG} buys apples ."]


def tagged_sentence(rng: np.random.Generator, split: str) -> tuple[list[str], list[str]]:
    """One sentence of ``split``: its words (N) and their BIO tags (N)."""
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    words: list[str] = []
    tags: list[str] = []
    for slot in template.split():
        if not slot.startswith("{"):
            words.append(slot)
            tags.append("O")
            continue
        kind = slot.strip("{}").rstrip("2")
        name = entity(rng, kind, split).split()
        words += name
        tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
    return words, tags


def ner_sentences(n: int, split: str, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """``n`` tagged sentences of ``split`` ("train": training names, "val": held-out names)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = np.random.default_rng(seed)
    return [tagged_sentence(rng, split) for _ in range(n)]


# ---- words <-> WordPieces ------------------------------------------------------------------------
def word_pieces(tokenizer: WordPieceTokenizer, words: Sequence[str]) -> tuple[list[int], list[int]]:
    """The ids of every word's WordPieces, concatenated, and for each token the index of the word
    it belongs to. A word the tokenizer splits further (punctuation) stays one word; a word with
    no pieces at all is an error."""
    ids: list[int] = []
    owner: list[int] = []
    for n, word in enumerate(words):
        pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
        if not pieces:
            raise ValueError(f"word {n} ({word!r}) has no WordPieces")
        ids += pieces
        owner += [n] * len(pieces)
    return ids, owner


def encode_tagged(tokenizer: WordPieceTokenizer, words: Sequence[str],
                  tags: Sequence[str] | None, context_length: int
                  ) -> tuple[list[int], list[int], list[int]]:
    """``[CLS] pieces [SEP]``: ids (T), labels (T; the tag id on each word's first piece,
    IGNORE_INDEX elsewhere; all IGNORE_INDEX without ``tags``) and the first-piece position of
    each word (N). Raises if it does not fit ``context_length`` or a tag is not in ``TAGS``."""
    if tags is not None:
        if len(tags) != len(words):
            raise ValueError(f"got {len(words)} words but {len(tags)} tags")
        unknown = [t for t in tags if t not in TAG_ID]
        if unknown:
            raise ValueError(f"tag {unknown[0]!r} is not in the tag set {TAGS}")
    pieces, owner = word_pieces(tokenizer, words)
    if len(pieces) + 2 > context_length:
        raise ValueError(f"the sentence is {len(pieces) + 2} tokens long with [CLS] and [SEP]; "
                         f"the model reads at most {context_length}")
    ids = [tokenizer.cls_token_id] + pieces + [tokenizer.sep_token_id]
    first = [1 + owner.index(n) for n in range(len(words))]
    labels = [IGNORE_INDEX] * len(ids)
    if tags is not None:
        for n, t in enumerate(first):
            labels[t] = TAG_ID[tags[n]]
    return ids, labels, first


def pad_rows(rows: Sequence[Sequence[int]], pad: int) -> np.ndarray:
    """Right-pad lists of ints with ``pad`` into one (B, T) int64 array, T the longest row."""
    T = max(len(r) for r in rows)
    return np.array([list(r) + [pad] * (T - len(r)) for r in rows], dtype=np.int64)


class NERData:
    """Tagged sentences per split, encoded once, as batches for ``BertForTokenClassification``.

    splits: {"train": [(words, tags), ...], "val": [...]}.
    """

    def __init__(self, splits: dict[str, Sequence[tuple[Sequence[str], Sequence[str]]]],
                 tokenizer: WordPieceTokenizer, context_length: int):
        if set(splits) != set(SPLITS):
            raise ValueError(f"NERData needs the splits {SPLITS}, got {sorted(splits)}")
        self.sentences = {s: list(rows) for s, rows in splits.items()}
        self.ids, self.labels, self.attention = {}, {}, {}
        for split, rows in self.sentences.items():
            if not rows:
                raise ValueError(f"split {split!r} has no sentences")
            encoded = [encode_tagged(tokenizer, w, t, context_length) for w, t in rows]
            self.ids[split] = pad_rows([e[0] for e in encoded], tokenizer.pad_token_id)
            self.labels[split] = pad_rows([e[1] for e in encoded], IGNORE_INDEX)
            self.attention[split] = pad_rows([[1] * len(e[0]) for e in encoded], 0)

    def rows(self, split: str, index: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(input_ids, token_type_ids, attention_mask, labels), each (B, T), of the given rows
        (default all), cropped to the longest of them."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        index = np.arange(len(self.ids[split])) if index is None else index
        attention = self.attention[split][index]
        T = int(attention.sum(axis=1).max())
        ids = self.ids[split][index, :T]
        return ids, np.zeros_like(ids), attention[:, :T], self.labels[split][index, :T]

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, ...]:
        """``batch_size`` rows drawn with replacement (see ``rows``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.rows(split, rng.integers(len(self.ids[split]), size=batch_size))


# ---- entity-level scores -------------------------------------------------------------------------
def bio_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of one BIO sequence as (kind, first word, last word + 1), as conlleval reads
    them: an entity starts at B-X, or at I-X after O or after another kind (a stray I- opens an
    entity); it goes on over I-X and ends before anything else."""
    entities: list[tuple[str, int, int]] = []
    kind, start = None, 0
    for n, tag in enumerate(list(tags) + ["O"]):
        prefix, _, this = tag.partition("-")
        if kind is not None and not (prefix == "I" and this == kind):
            entities.append((kind, start, n))
            kind = None
        if prefix in ("B", "I") and kind is None:
            kind, start = this, n
    return entities


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
                  ) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 over sentences: a predicted entity counts
    only if its kind, first and last word all match a gold one (exact span match). Each score is
    0.0 when its denominator is."""
    if len(gold) != len(predicted):
        raise ValueError(f"got {len(gold)} gold and {len(predicted)} predicted sentences")
    n_gold = n_pred = n_correct = 0
    for n, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n}: {len(g)} gold tags but {len(p)} predicted")
        g_set, p_set = set(bio_entities(g)), set(bio_entities(p))
        n_gold, n_pred, n_correct = n_gold + len(g_set), n_pred + len(p_set), \
            n_correct + len(g_set & p_set)
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
