"""Batches for BERT: masked-language-model masking, next-sentence pairs, labelled texts.

Dimensions: B batch, T time (sequence length), S sentences in the corpus, L longest sentence.

Masking (Devlin et al. 2019, "BERT", section 3.1 and appendix A.1). In each sequence, 15% of the
*real* tokens (never [CLS], [SEP] or [PAD]) are chosen, at least one; the model must recover
them. Of the chosen tokens

    80% are replaced by [MASK]          "the cat [MASK] ."
    10% are replaced by a random token  "the cat apple ."
    10% are left unchanged              "the cat meows ."

so the model cannot learn that only [MASK] positions matter: any token might be a question. The
labels hold the original id at chosen positions and ``IGNORE_INDEX`` everywhere else, so the
loss (``cross_entropy_forward(..., ignore_index=IGNORE_INDEX)``) ignores every other position.

Next-sentence prediction: sentence A is followed by sentence B, which is the true next sentence
of A's document half of the time (label ``IS_NEXT`` = 0) and a random sentence of another
document otherwise (label ``NOT_NEXT`` = 1), laid out as ``[CLS] A [SEP] B [SEP]`` with
segment ids 0 for ``[CLS] A [SEP]`` and 1 for ``B [SEP]``. Labels follow the original
code (and Hugging Face): 0 means "B follows A".

    data = PretrainingData(story_corpus(2000), tokenizer)
    ids, segments, attention, mlm_labels, nsp_labels = data.get_batch("train", 32, rng)

Lesson: lessons/09_bert.md.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from minifm.functional.losses import IGNORE_INDEX    # label of the positions the MLM loss skips
from minifm.tokenizers.wordpiece import WordPieceTokenizer
from minifm.validation import check_batch_request, check_ids

IS_NEXT, NOT_NEXT = 0, 1    # next-sentence labels, as in the original BERT
SPLITS = ("train", "val")


def mask_tokens(input_ids: np.ndarray, rng: np.random.Generator, *, special_ids: Sequence[int],
                mask_id: int, vocab_size: int, mask_prob: float = 0.15
                ) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masking of a batch: returns (masked input ids, MLM labels), both (B, T) int64.

    input_ids: (B, T) ints. Tokens whose id is in ``special_ids`` (including the padding id) are
    never chosen. In each row, ``max(1, round(mask_prob * n))`` of its n real tokens are chosen
    uniformly at random (none if n = 0); each chosen token becomes ``mask_id`` with probability
    0.8, a uniformly random non-special id in [0, vocab_size) with probability 0.1, and stays
    itself otherwise. Labels: the original id where chosen, ``IGNORE_INDEX`` elsewhere.
    """
    check_ids(input_ids, "input_ids", vocab_size=vocab_size, ndim=2, axes="(B, T)")
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
    maskable = ~np.isin(input_ids, special_ids)                        # (B, T)
    n_real = maskable.sum(axis=1)                                      # (B,)
    n_chosen = np.where(n_real > 0, np.maximum(1, np.rint(mask_prob * n_real)), 0)
    # choose n_chosen real positions per row: rank random keys, specials always ranked last
    keys = np.where(maskable, rng.random(input_ids.shape), 2.0)        # (B, T)
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)                # rank within the row
    chosen = rank < n_chosen[:, None]                                  # (B, T) bool
    labels = np.where(chosen, input_ids, IGNORE_INDEX).astype(np.int64)

    u = rng.random(input_ids.shape)
    regular = np.setdiff1d(np.arange(vocab_size), special_ids)         # ids a random token may take
    random_ids = regular[rng.integers(len(regular), size=input_ids.shape)]
    masked = np.where(chosen & (u < 0.8), mask_id, input_ids)
    masked = np.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, masked)
    return masked.astype(np.int64), labels


def _special_ids(tokenizer: WordPieceTokenizer) -> list[int]:
    return [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id,
            tokenizer.sep_token_id, tokenizer.mask_token_id]


class PretrainingData:
    """Sentence pairs from documents, masked afresh on every call: MLM + NSP batches.

    documents: list of documents, each a list of at least one sentence (str). The first
    ``1 - val_fraction`` of the documents form the "train" split, the rest "val"; a pair never
    crosses splits. Every sentence is tokenised once, here.
    """

    def __init__(self, documents: Sequence[Sequence[str]], tokenizer: WordPieceTokenizer, *,
                 val_fraction: float = 0.1, mask_prob: float = 0.15):
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if any(len(doc) == 0 for doc in documents):
            raise ValueError("every document needs at least one sentence")
        n_val = max(2, round(val_fraction * len(documents)))
        if len(documents) - n_val < 2:
            raise ValueError(f"need at least 2 documents in each split, got {len(documents)} "
                             f"documents with val_fraction={val_fraction}")
        self.tokenizer, self.mask_prob = tokenizer, mask_prob
        pieces = [tokenizer.encode(s, add_special_tokens=False) for doc in documents for s in doc]
        L = max(len(p) for p in pieces)
        self.tokens = np.full((len(pieces), L), tokenizer.pad_token_id, dtype=np.int64)  # (S, L)
        for i, p in enumerate(pieces):
            self.tokens[i, :len(p)] = p
        self.lengths = np.array([len(p) for p in pieces])                                 # (S,)
        doc_sizes = np.array([len(doc) for doc in documents])
        self.doc = np.repeat(np.arange(len(documents)), doc_sizes)                        # (S,)
        self.doc_start = np.repeat(np.cumsum(doc_sizes) - doc_sizes, doc_sizes)           # (S,)
        self.doc_size = np.repeat(doc_sizes, doc_sizes)                                   # (S,)
        first_val = int(np.sum(doc_sizes[:len(documents) - n_val]))    # sentence where val starts
        self.ranges = {"train": (0, first_val), "val": (first_val, len(pieces))}
        has_next = self.doc_start + self.doc_size - 1 > np.arange(len(pieces))
        self.firsts = {split: np.flatnonzero(has_next[lo:hi]) + lo
                       for split, (lo, hi) in self.ranges.items()}
        for split, firsts in self.firsts.items():
            if len(firsts) == 0:
                raise ValueError(f"the {split!r} split has no document with two sentences")
        self.longest_pair = 2 * L + 3     # tokens in the longest possible [CLS] A [SEP] B [SEP]

    def sample_pairs(self, split: str, batch_size: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sentence indices a, b (B,) and NSP labels (B,): b follows a, or is from another doc."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        lo, hi = self.ranges[split]
        a = self.firsts[split][rng.integers(len(self.firsts[split]), size=batch_size)]
        labels = np.where(rng.random(batch_size) < 0.5, IS_NEXT, NOT_NEXT).astype(np.int64)
        # a uniform sentence of the split outside a's document: draw among the others, then
        # skip over a's document, which is one contiguous block
        others = rng.integers(hi - lo - self.doc_size[a]) + lo                       # (B,)
        others = np.where(others >= self.doc_start[a], others + self.doc_size[a], others)
        b = np.where(labels == IS_NEXT, a + 1, others)
        return a, b, labels

    def pair_batch(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``[CLS] A [SEP] B [SEP]`` for sentence indices a, b (B,): ids, segment ids and
        attention mask, each (B, T) int64 with T the longest pair, padded with [PAD]."""
        tok = self.tokenizer
        la, lb = self.lengths[a][:, None], self.lengths[b][:, None]                  # (B, 1)
        T = int(np.max(la + lb)) + 3
        t = np.arange(T)[None, :]                                                    # (1, T)
        L = self.tokens.shape[1]
        tokens_a = self.tokens[a[:, None], np.clip(t - 1, 0, L - 1)]                 # (B, T)
        tokens_b = self.tokens[b[:, None], np.clip(t - la - 2, 0, L - 1)]            # (B, T)
        end = la + lb + 2                                             # where the last [SEP] goes
        ids = np.full(tokens_a.shape, tok.pad_token_id, dtype=np.int64)
        ids = np.where((t >= 1) & (t <= la), tokens_a, ids)
        ids = np.where((t > la + 1) & (t < end), tokens_b, ids)
        ids = np.where((t == la + 1) | (t == end), tok.sep_token_id, ids)
        ids[:, 0] = tok.cls_token_id
        segments = ((t > la + 1) & (t <= end)).astype(np.int64)
        attention = (t <= end).astype(np.int64)
        return ids, segments, attention

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, ...]:
        """(input_ids, token_type_ids, attention_mask, mlm_labels, nsp_labels): four (B, T)
        int64 arrays, masked with ``mask_tokens``, and nsp_labels (B,) int64."""
        check_batch_request(batch_size, rng)
        a, b, nsp_labels = self.sample_pairs(split, batch_size, rng)
        ids, segments, attention = self.pair_batch(a, b)
        masked, mlm_labels = mask_tokens(ids, rng, special_ids=_special_ids(self.tokenizer),
                                         mask_id=self.tokenizer.mask_token_id,
                                         vocab_size=self.tokenizer.vocab_size,
                                         mask_prob=self.mask_prob)
        return masked, segments, attention, mlm_labels, nsp_labels


class LabelledTextData:
    """Texts with integer class labels, per split, for fine-tuning a classifier.

    splits: {"train": (texts, labels), "val": (texts, labels)}, labels (N,) ints. Each split is
    tokenised once as ``[CLS] text [SEP]``, truncated to ``context_length`` tokens (the
    longest input of the model it is for).
    """

    def __init__(self, splits: dict[str, tuple[Sequence[str], np.ndarray]],
                 tokenizer: WordPieceTokenizer, context_length: int):
        if set(splits) != set(SPLITS):
            raise ValueError(f"LabelledTextData needs the splits {SPLITS}, got {sorted(splits)}")
        self.encoded: dict[str, dict[str, np.ndarray]] = {}
        self.labels: dict[str, np.ndarray] = {}
        for split, (texts, labels) in splits.items():
            labels = np.asarray(labels)
            if labels.shape != (len(texts),) or not np.issubdtype(labels.dtype, np.integer):
                raise ValueError(f"split {split!r}: expected {len(texts)} integer labels, got "
                                 f"{labels.dtype} array of shape {labels.shape}")
            self.encoded[split] = tokenizer.batch_encode(list(texts), max_length=context_length,
                                                         padding=True, truncation=True)
            self.labels[split] = labels.astype(np.int64)

    def rows(self, split: str, index: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(input_ids, token_type_ids, attention_mask, labels) of the given rows (default all),
        cropped to the longest of them."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        enc = self.encoded[split]
        index = np.arange(len(self.labels[split])) if index is None else index
        attention = enc["attention_mask"][index]
        T = int(attention.sum(axis=1).max())
        return (enc["input_ids"][index, :T], enc["token_type_ids"][index, :T], attention[:, :T],
                self.labels[split][index])

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, ...]:
        """``batch_size`` rows drawn with replacement: ids, segments, attention (B, T) and
        labels (B,)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        check_batch_request(batch_size, rng)
        return self.rows(split, rng.integers(len(self.labels[split]), size=batch_size))
