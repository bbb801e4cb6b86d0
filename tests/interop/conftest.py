"""What the Hugging Face interop tests share: skip without torch and transformers, quiet
transformers' logging, and a small byte-level BPE tokenizer trained on a multilingual text."""

import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from minifm.tokenizers.bpe import BPETokenizer  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

# words with and without leading spaces, digits, punctuation, accents, CJK, emoji, newlines
TEXT = ("The cat sat on the mat. The dog didn't sit; it ran 42 laps, then 7 more!\n"
        "Über naïve café — déjà vu? 猫が好きです。 emoji 🙂🙂 and tabs\tand  double  spaces.\n\n"
        "x_1 = y_2 + 3.14;  print(x_1)\n") * 20
END = "<|endoftext|>"


@pytest.fixture(scope="session")
def bpe() -> BPETokenizer:
    """minifm's own split pattern, 200 merges and the end-of-text token (V = 457)."""
    return BPETokenizer.train(TEXT, vocab_size=457, special_tokens=[END])
